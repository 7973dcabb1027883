"""Domain errors of the rewards app. Each carries a stable ``code`` for the API and a message for people."""

from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


class RewardNotAvailable(LoyaltyError):
    code = "not_available"
    default_message = _("This reward is not available.")


class RewardOutOfStock(LoyaltyError):
    code = "out_of_stock"
    default_message = _("Sorry, this reward is out of stock.")


class TierTooLow(LoyaltyError):
    code = "tier_too_low"
    default_message = _("This reward is for %(tier)s members and above.")

    def __init__(self, message=None, *, tier="", **kwargs):
        super().__init__(message, tier=tier, **kwargs)


class RedemptionLimitReached(LoyaltyError):
    code = "limit_reached"
    default_message = _("You have reached the limit for this reward.")


class InvalidRedemption(LoyaltyError):
    """The request itself is wrong: a bad quantity, too few points for a donation, a missing address."""

    code = "invalid_redemption"
    default_message = _("This redemption request is not valid.")


class VoucherNotFound(LoyaltyError):
    code = "voucher_not_found"
    default_message = _("No voucher with this code.")
    field = "code"


class VoucherWrongPlace(LoyaltyError):
    """A partner's voucher presented anywhere but at that partner's tills."""

    code = "voucher_wrong_partner"
    default_message = _("This voucher can only be used at %(partner)s.")
    field = "code"


class VoucherAlreadyUsed(LoyaltyError):
    code = "voucher_used"
    default_message = _("This voucher was already used on %(used_at)s.")
    field = "code"

    def __init__(self, message=None, *, used_at="", **kwargs):
        super().__init__(message, used_at=used_at, **kwargs)


class VoucherExpired(LoyaltyError):
    code = "voucher_expired"
    default_message = _("This voucher expired on %(expires_at)s.")
    field = "code"

    def __init__(self, message=None, *, expires_at="", **kwargs):
        super().__init__(message, expires_at=expires_at, **kwargs)


class VoucherCancelled(LoyaltyError):
    code = "voucher_cancelled"
    default_message = _("This voucher was cancelled and can no longer be used.")
    field = "code"


class CancellationNotAllowed(LoyaltyError):
    code = "cancellation_not_allowed"
    default_message = _("This can no longer be cancelled.")


class FulfilmentNotAllowed(LoyaltyError):
    code = "fulfilment_not_allowed"
    default_message = _("This redemption cannot move to that fulfilment step.")


class PartnerCodeUploadError(LoyaltyError):
    code = "partner_codes_invalid"
    default_message = _("The partner code file could not be read.")
    field = "file"


class RewardImageInvalid(LoyaltyError):
    code = "image_invalid"
    default_message = _("The image could not be read.")
    field = "image"


class MembersOnly(LoyaltyError):
    code = "members_only"
    default_message = _("Only %(plan)s members can redeem this reward.")

    def __init__(self, message=None, *, plan="", **kwargs):
        super().__init__(message, plan=plan, **kwargs)
