"""The API scopes of the members core's endpoints, registered with the integration platform."""

from integrations.registry import scope_register

PURCHASES_WRITE = scope_register("purchases:write", "Record purchases and refunds")
PURCHASES_READ = scope_register("purchases:read", "Preview what baskets earn")
MEMBERS_READ = scope_register("members:read", "Look up members, balances and activity")
MEMBERS_WRITE = scope_register("members:write", "Enrol members")
#: Paying with points spends them as a redemption does: the same scope (rewards registers it too, same code).
POINT_PAYMENTS_WRITE = scope_register("redemptions:write", "Redeem rewards and pay with points")
