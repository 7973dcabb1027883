"""Domain errors of the referral program (see ``members.exceptions``)."""

from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


class ReferralError(LoyaltyError):
    code = "referral_error"
    default_message = _("The referral could not be processed.")


class ReferralCodeInvalid(ReferralError):
    code = "referral_code_invalid"
    default_message = _("This referral code does not exist.")
    field = "referral_code"


class SelfReferral(ReferralError):
    code = "self_referral"
    default_message = _("You cannot refer yourself.")
    field = "referral_code"


class AlreadyReferred(ReferralError):
    code = "already_referred"
    default_message = _("This member was already referred by someone else.")
    field = "referral_code"


class ReferralNotReviewable(ReferralError):
    code = "referral_not_reviewable"
    default_message = _("Only held or pending referrals can be reviewed; this one is %(state)s.")


class ReasonRequired(ReferralError):
    code = "reason_required"
    default_message = _("Please give a reason.")
    field = "reason"
