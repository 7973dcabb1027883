"""The cached list of membership plans and its one invalidation (cleared by ``MembershipPlan.save``)."""

from integrations.cache import config_changed

PLANS_CACHE_KEY = "members:membership-plans:v1"


def plans_cache_clear() -> None:
    config_changed()
