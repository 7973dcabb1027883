"""Reads of the members app. Pages, the API and other apps use these instead of ad-hoc queries."""

from __future__ import annotations

from django.core.cache import cache

from .models import EarningRule, ProgramSettings, Tier

PROGRAM_SETTINGS_CACHE_KEY = "members:program-settings:v1"
TIERS_CACHE_KEY = "members:tiers:v1"
EARNING_RULES_CACHE_KEY = "members:earning-rules:v1"


def program_settings_get() -> ProgramSettings:
    """The program's rules; cached because they change rarely and are read on every earn and page."""
    program = cache.get(PROGRAM_SETTINGS_CACHE_KEY)
    if program is None:
        program, _ = ProgramSettings.objects.get_or_create(pk=1)
        cache.set(PROGRAM_SETTINGS_CACHE_KEY, program, 300)
    return program


def tiers_list() -> list[Tier]:
    """All tiers, lowest rank first (cached; invalidated when a tier is saved or deleted)."""
    tiers = cache.get(TIERS_CACHE_KEY)
    if tiers is None:
        tiers = list(Tier.objects.order_by("rank"))
        cache.set(TIERS_CACHE_KEY, tiers, 300)
    return tiers


def earning_rules_active() -> list[EarningRule]:
    """Active earning rules (cached; invalidated when a rule is saved or deleted, and short-lived in any case)."""
    rules = cache.get(EARNING_RULES_CACHE_KEY)
    if rules is None:
        rules = list(EarningRule.objects.filter(is_active=True))
        cache.set(EARNING_RULES_CACHE_KEY, rules, 60)
    return rules


def program_cache_clear() -> None:
    cache.delete_many([PROGRAM_SETTINGS_CACHE_KEY, TIERS_CACHE_KEY, EARNING_RULES_CACHE_KEY])
