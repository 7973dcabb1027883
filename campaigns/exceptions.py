"""Domain errors of the campaigns app (mapped to form errors and API responses like every ``LoyaltyError``)."""

from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


class InvalidTransition(LoyaltyError):
    code = "invalid_transition"
    default_message = _("A %(status)s campaign cannot be %(action)s.")


class CampaignLocked(LoyaltyError):
    code = "campaign_locked"
    default_message = _("A launched campaign's rules cannot be edited; copy it instead. Locked: %(fields)s.")


class InvalidCampaign(LoyaltyError):
    code = "invalid_campaign"
    default_message = _("The campaign is not complete.")


class InvalidSegmentList(LoyaltyError):
    code = "invalid_segment_list"
    default_message = _("The list could not be read.")
    field = "file"


class InvalidUnsubscribeLink(LoyaltyError):
    code = "invalid_unsubscribe_link"
    default_message = _("This unsubscribe link is not valid.")
