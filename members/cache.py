"""Cache keys of the program's rules (settings, tiers, earning rules), and their one invalidation.

Read by ``members.selectors`` through the per-process configuration layer (``integrations.cache``); the models'
``save``/``delete`` (the admin deletes row by row) draw a new configuration version, so every process reads them
again. A module of its own so that the models need not import the selectors that import them.
"""

from integrations.cache import config_changed

PROGRAM_SETTINGS_CACHE_KEY = "members:program-settings:v1"
TIERS_CACHE_KEY = "members:tiers:v1"
EARNING_RULES_CACHE_KEY = "members:earning-rules:v2"
PARTNERS_CACHE_KEY = "members:partners:v1"


def program_cache_clear() -> None:
    config_changed()
