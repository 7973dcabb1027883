"""The rewards API's scopes and the rewards app's webhook events, registered with the integration platform."""

from integrations.registry import event_register, scope_register

REWARDS_READ = scope_register("rewards:read", "List rewards")
REDEMPTIONS_WRITE = scope_register("redemptions:write", "Redeem rewards for members")
VOUCHERS_READ = scope_register("vouchers:read", "Check vouchers")
VOUCHERS_REDEEM = scope_register("vouchers:redeem", "Use vouchers at a till")

# A voucher code is a bearer instrument: only the integration whose request issued or used it is told the code.
REWARD_REDEEMED = event_register("reward.redeemed", "Reward redeemed", secret_fields=("voucher_code",))
VOUCHER_USED = event_register("voucher.used", "Voucher used", secret_fields=("voucher_code",))
