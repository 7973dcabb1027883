"""Domain errors of the loyalty program.

Each carries a stable machine ``code`` (used by the API's error body) and a human ``message``. Forms and the API
map them in one place each (``members.forms.apply_domain_error`` and the API's exception handler).
"""

from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "loyalty_error"
    default_message = _("The request could not be completed.")
    #: Form or API field the error belongs to, if any.
    field: str | None = None

    def __init__(self, message=None, *, field=None, **params):
        self.message = str(message or self.default_message)
        if params:
            self.message = self.message % params
        if field is not None:
            self.field = field
        self.params = params
        super().__init__(self.message)


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    default_message = _("Not enough points: %(needed)s needed, %(available)s available.")

    def __init__(self, message=None, *, needed=0, available=0, **kwargs):
        super().__init__(message, needed=needed, available=available, **kwargs)
        if message is None:
            # The numbers in the sentence follow the locale ("1,250 needed"); ``params`` keep the integers.
            self.message = str(self.default_message) % {
                "needed": number_format(needed, force_grouping=True),
                "available": number_format(available, force_grouping=True),
            }
            self.args = (self.message,)


class AccountClosed(LoyaltyError):
    code = "account_closed"
    default_message = _("This membership is closed.")


class DuplicateRequest(LoyaltyError):
    """The same idempotency key was used for a different request."""

    code = "idempotency_key_reused"
    default_message = _("This idempotency key was already used for a different request.")


class ExternalIdTaken(DuplicateRequest):
    """A purchase id this integration already recorded for another member: not a retry, a clash of ids."""

    code = "external_id_taken"
    default_message = _("This purchase id was already recorded for another member.")
    field = "external_id"


class InvalidPurchase(LoyaltyError):
    code = "invalid_purchase"
    default_message = _("The purchase is not valid.")


class PartnerInactive(LoyaltyError):
    code = "partner_inactive"
    default_message = _("This partner is not taking part in the program at the moment.")


class PartnerNotAllowed(LoyaltyError):
    """A partner's key asked for something only the operator may do or see."""

    code = "partner_not_allowed"
    http_status = 403
    default_message = _("A partner's key cannot do this.")


class RefundExceedsPurchase(LoyaltyError):
    code = "refund_exceeds_purchase"
    default_message = _("The refund is larger than what is left of the purchase.")


class TransferNotAllowed(LoyaltyError):
    code = "transfer_not_allowed"
    default_message = _("This transfer is not allowed.")


class AdjustmentNotAllowed(LoyaltyError):
    code = "adjustment_not_allowed"
    default_message = _("This adjustment is not allowed.")


class OwnAccountNotAllowed(LoyaltyError):
    """Staff change points of other people's accounts only: their own goes to a second person."""

    code = "own_account"
    default_message = _("Nobody may approve, adjust or reverse points on their own member account.")


class ActionNotAvailable(LoyaltyError):
    """The earning action is unknown, switched off, outside its window or above the member's tier."""

    code = "action_not_available"
    default_message = _("This action does not earn points at the moment.")
    field = "action"


class ActionLimitReached(LoyaltyError):
    code = "action_limit_reached"
    default_message = _("The limit for this action is reached.")


class ActionReviewNotAllowed(LoyaltyError):
    code = "action_review_not_allowed"
    default_message = _("Only occurrences waiting for review can be approved or rejected.")


class FeedbackAlreadyGiven(LoyaltyError):
    code = "feedback_already_given"
    default_message = _("Feedback on this purchase was already given. Thank you!")


class FeedbackLinkInvalid(LoyaltyError):
    """A feedback link that was never ours (a forged or mangled token)."""

    code = "feedback_link_invalid"
    default_message = _("This feedback link is not valid.")
    http_status = 404


class FeedbackLinkExpired(LoyaltyError):
    code = "feedback_link_expired"
    default_message = _("This feedback link has expired.")


class InvalidPointPayment(LoyaltyError):
    """A point payment that cannot be made, cancelled or applied as asked (the message says why)."""

    code = "invalid_point_payment"
    default_message = _("This point payment is not possible.")
