"""Staff edits of the program's rules: its settings, tiers and earning rules.

Each save or delete runs in one transaction with its announcement to ``members.hooks.rule_changed`` (see
:mod:`members.audit`), where the staff console writes the audit row. The rows' own ``save``/``delete`` clear the
cached rules.
"""

from __future__ import annotations

from .. import audit
from ..models import EarningRule, ProgramSettings, Tier


def program_settings_save(*, program: ProgramSettings, actor) -> ProgramSettings:
    """Save the program's settings as edited by staff."""
    return audit.rule_save(program, actor=actor)


def tier_save(*, tier: Tier, actor) -> Tier:
    """Create or change a tier."""
    return audit.rule_save(tier, actor=actor)


def tier_delete(*, tier: Tier, actor) -> None:
    """Delete a tier (members and history still pointing at it protect it)."""
    audit.rule_delete(tier, actor=actor)


def earning_rule_save(*, rule: EarningRule, actor) -> EarningRule:
    """Create or change an earning rule."""
    return audit.rule_save(rule, actor=actor)


def earning_rule_delete(*, rule: EarningRule, actor) -> None:
    audit.rule_delete(rule, actor=actor)
