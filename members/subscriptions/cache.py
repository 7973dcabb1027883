"""The cached list of membership plans and its one invalidation (cleared by ``MembershipPlan.save``)."""

from django.core.cache import cache

PLANS_CACHE_KEY = "members:membership-plans:v1"


def plans_cache_clear() -> None:
    cache.delete(PLANS_CACHE_KEY)
