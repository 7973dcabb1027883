"""Detractors (and promoters, passives) as a campaign audience: the member's latest answer decides."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Segment
from campaigns.segments import member_segment_ids, segment_members, segment_size
from members.models import FeedbackResponse
from members.services.feedback import feedback_record
from tests.factories import MemberFactory, segment_factory

pytestmark = pytest.mark.django_db


def answer(member, score, *, days_ago, key):
    feedback_record(
        member=member, score=score, external_id=key, source="app", now=timezone.now() - timedelta(days=days_ago)
    )


def test_latest_answer_decides_the_group():
    detractor, recovered, promoter, silent = (MemberFactory() for _ in range(4))
    answer(detractor, 9, days_ago=40, key="d1")
    answer(detractor, 2, days_ago=3, key="d2")
    answer(recovered, 4, days_ago=40, key="r1")
    answer(recovered, 10, days_ago=2, key="r2")
    answer(promoter, 9, days_ago=1, key="p1")

    detractors = segment_factory(feedback_group=FeedbackResponse.Group.DETRACTOR)
    promoters = segment_factory(feedback_group=FeedbackResponse.Group.PROMOTER)

    assert set(segment_members(detractors).values_list("pk", flat=True)) == {detractor.pk}
    assert set(segment_members(promoters).values_list("pk", flat=True)) == {recovered.pk, promoter.pk}
    assert segment_size(segment_factory(feedback_group=FeedbackResponse.Group.PASSIVE)) == 0
    assert silent.pk not in set(segment_members(detractors).values_list("pk", flat=True))


def test_within_days_and_the_per_member_check_agree():
    old, recent = MemberFactory(), MemberFactory()
    answer(old, 3, days_ago=60, key="o")
    answer(recent, 5, days_ago=5, key="n")
    segment = segment_factory(feedback_group=FeedbackResponse.Group.DETRACTOR, feedback_within_days=30)

    assert set(segment_members(segment).values_list("pk", flat=True)) == {recent.pk}
    now = timezone.now()
    assert member_segment_ids(member_id=recent.pk, segments=[segment], now=now, tier_ids={}) == {segment.pk}
    assert member_segment_ids(member_id=old.pk, segments=[segment], now=now, tier_ids={}) == set()
    assert Segment.objects.get(pk=segment.pk).get_feedback_group_display() == "Detractor (0–6)"
