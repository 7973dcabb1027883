"""Actions reported at once on PostgreSQL: the account lock makes the limits and the once-per-id hold."""

import pytest

from members.exceptions import ActionLimitReached
from members.models import ActionOccurrence, LedgerEntry
from members.services.actions import action_record
from tests.factories import MemberFactory, earning_action_factory
from tests.members.conftest import assert_consistent
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_concurrent_reports_never_pass_the_limit():
    member = MemberFactory()
    earning_action_factory(code="recycle", points=10, unit_name="item", limit_per_day=5)

    results, errors = run_at_once(
        8, lambda index: action_record(member=member, action_code="recycle", external_id=f"R-{index}", source="t")
    )

    assert len(results) == 5 and len(errors) == 3
    assert all(isinstance(error, ActionLimitReached) for error in errors.values())
    assert assert_consistent(member).balance == 50


def test_the_same_report_sent_at_once_credits_once():
    member = MemberFactory()
    earning_action_factory(code="review", points=50)

    results, errors = run_at_once(
        6, lambda index: action_record(member=member, action_code="review", external_id="SAME", source="t")
    )

    assert not errors
    assert sorted(result.replayed for result in results.values()) == [False] + [True] * 5
    assert ActionOccurrence.objects.count() == 1 and LedgerEntry.objects.filter(kind="action").count() == 1
