"""Refusals of the subscription services, mapped once to API responses (``LoyaltyError``) and form errors."""

from django.utils.translation import gettext_lazy as _

from ..exceptions import LoyaltyError


class SubscriptionExists(LoyaltyError):
    """The member already has a live subscription: change its plan instead of starting another."""

    code = "subscription_exists"
    http_status = 409
    default_message = _("This member already has a live subscription.")


class ExternalIdTaken(LoyaltyError):
    code = "external_id_taken"
    http_status = 409
    field = "external_id"
    default_message = _("This subscription id was already used.")


class PlanNotAvailable(LoyaltyError):
    code = "plan_not_available"
    field = "plan"
    default_message = _("This plan is not available.")


class TrialNotAvailable(LoyaltyError):
    code = "trial_not_available"
    field = "trial"
    default_message = _("This plan has no free trial, or the member has already had one.")


class SubscriptionEnded(LoyaltyError):
    code = "subscription_ended"
    default_message = _("This subscription has ended; start a new one.")


class InvalidSubscriptionChange(LoyaltyError):
    code = "invalid_subscription_change"
    default_message = _("This change does not apply to the subscription as it is.")
