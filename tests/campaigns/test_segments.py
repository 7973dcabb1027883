from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.exceptions import InvalidSegmentList
from campaigns.models import Segment, SegmentMember
from campaigns.segments import (
    audience_split,
    holdout_bucket,
    holdout_bucket_sql,
    member_segment_ids,
    segment_members,
    segment_size,
)
from campaigns.services import segment_list_upload
from members.models import Member, Tier
from members.services import member_close
from tests.factories import MemberFactory, buy, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db


def ids(segment):
    return set(segment_members(segment).values_list("pk", flat=True))


def test_tier_consent_birthday_and_enrolment_rules():
    from datetime import date

    gold = Tier.objects.get(name="Gold")
    a = MemberFactory(marketing_consent=True, birthday=date(1990, 5, 3))
    b = MemberFactory(marketing_consent=False, birthday=date(1985, 5, 20))
    c = MemberFactory(marketing_consent=True, birthday=date(1990, 6, 1))
    Member.objects.filter(pk=c.pk).update(tier=gold, enrolled_at=timezone.now() - timedelta(days=400))
    assert ids(segment_factory(birthday_month=5)) == {a.pk, b.pk}
    assert ids(segment_factory(marketing_consent=Segment.Consent.YES)) == {a.pk, c.pk}
    assert ids(segment_factory(marketing_consent=Segment.Consent.NO)) == {b.pk}
    assert ids(segment_factory(tiers=[gold])) == {c.pk}
    year_ago = (timezone.now() - timedelta(days=365)).date()
    assert ids(segment_factory(enrolled_to=year_ago)) == {c.pk}
    assert ids(segment_factory(enrolled_from=year_ago)) == {a.pk, b.pk}


def test_spend_purchases_recency_and_channel_rules():
    spender, light, lapsed, never = MemberFactory(), MemberFactory(), MemberFactory(), MemberFactory()
    buy(spender, "80", channel="online")
    buy(spender, "40")
    buy(light, "10")
    buy(lapsed, "500", occurred_at=timezone.now() - timedelta(days=200))
    assert ids(segment_factory(spend_min=Decimal("100"))) == {spender.pk, lapsed.pk}
    assert ids(segment_factory(spend_min=Decimal("100"), spend_period=Segment.SpendPeriod.TWELVE_MONTHS)) == {
        spender.pk,
        lapsed.pk,
    }
    assert ids(segment_factory(spend_max=Decimal("50"))) == {light.pk, never.pk}
    assert ids(segment_factory(purchases_min=2)) == {spender.pk}
    assert ids(segment_factory(purchases_max=0)) == {never.pk}
    assert ids(segment_factory(purchased_within_days=30)) == {spender.pk, light.pk}
    assert ids(segment_factory(no_purchase_for_days=90)) == {lapsed.pk, never.pk}
    assert ids(segment_factory(channel="online")) == {spender.pk}


def test_include_and_exclude_lists_and_list_only_segments():
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    segment = segment_factory(marketing_consent=Segment.Consent.YES)  # nobody consents
    result = segment_list_upload(
        segment=segment,
        content=f"member_number\n{a.member_number}\n{b.user.email.upper()}\nM000000000\n",
        excluded=False,
    )
    assert result.matched == 2 and result.unknown == ["M000000000"]
    assert ids(segment) == {a.pk, b.pk}
    segment_list_upload(segment=segment, content=b.member_number.encode(), excluded=True)
    assert ids(segment) == {a.pk}
    assert SegmentMember.objects.get(segment=segment, member=b).excluded
    everyone = segment_factory()
    segment_list_upload(segment=everyone, content=c.member_number, excluded=True)
    assert ids(everyone) == {a.pk, b.pk}
    only = segment_factory(base=Segment.Base.LIST_ONLY)
    segment_list_upload(segment=only, content=c.member_number, excluded=False)
    assert ids(only) == {c.pk}


def test_list_upload_rejects_empty_or_binary_files():
    segment = segment_factory()
    with pytest.raises(InvalidSegmentList):
        segment_list_upload(segment=segment, content="member_number\n", excluded=False)
    with pytest.raises(InvalidSegmentList):
        segment_list_upload(segment=segment, content=b"\xff\xfe\x00bad", excluded=False)
    assert not SegmentMember.objects.exists()


def test_closed_members_are_never_in_an_audience():
    a, b = MemberFactory(), MemberFactory()
    member_close(member=b)
    assert segment_size(None) == 1
    assert ids(segment_factory()) == {a.pk}


def test_segment_size_is_one_query(django_assert_num_queries):
    MemberFactory.create_batch(3)
    segment = segment_factory(spend_min=0, purchases_min=0, channel="", balance_min=0, birthday_month=None)
    with django_assert_num_queries(1):
        assert segment_size(segment) == 3


def test_member_segment_ids_in_one_query(django_assert_num_queries):
    member = MemberFactory(marketing_consent=True)
    buy(member, "30")
    segments = [
        segment_factory(spend_min=Decimal("20")),
        segment_factory(spend_min=Decimal("50")),
        segment_factory(marketing_consent=Segment.Consent.YES, purchases_min=1),
        segment_factory(channel="online"),
    ]
    with django_assert_num_queries(1):
        inside = member_segment_ids(member_id=member.pk, segments=segments, now=timezone.now(), tier_ids={})
    assert inside == {segments[0].pk, segments[2].pk}


def test_holdout_bucket_is_the_same_in_python_and_sql():
    members = MemberFactory.create_batch(20)
    campaign = campaign_factory(holdout_percent=30)
    rows = Member.objects.annotate(bucket=holdout_bucket_sql(campaign_id=campaign.pk)).values_list("pk", "bucket")
    assert {pk: int(bucket) for pk, bucket in rows} == {
        m.pk: holdout_bucket(campaign_id=campaign.pk, member_id=m.pk) for m in members
    }
    total, holdout = audience_split(campaign)
    expected = sum(holdout_bucket(campaign_id=campaign.pk, member_id=m.pk) < 30 for m in members)
    assert (total, holdout) == (20, expected)


def test_holdout_assignment_is_spread_and_varies_by_campaign():
    buckets = [holdout_bucket(campaign_id=1, member_id=member_id) for member_id in range(1, 10001)]
    share = sum(bucket < 10 for bucket in buckets) / len(buckets)
    assert 0.08 < share < 0.12
    other = [holdout_bucket(campaign_id=2, member_id=member_id) for member_id in range(1, 10001)]
    # Independent groups: about 1% of members are held out of both 10% holdouts, not 10%.
    assert sum(a < 10 and b < 10 for a, b in zip(buckets, other, strict=True)) < 200


def test_one_member_and_whole_audience_evaluation_agree():
    members = [MemberFactory() for _ in range(4)]
    buy(members[0], "120")
    buy(members[0], "30")
    buy(members[1], "60")
    buy(members[2], "10", occurred_at=timezone.now() - timedelta(days=400))
    segments = [
        segment_factory(spend_min=Decimal("50")),
        segment_factory(spend_min=Decimal("0"), spend_max=Decimal("59.99")),
        segment_factory(spend_max=Decimal("100"), purchases_min=1),
        segment_factory(purchases_max=1, spend_period=Segment.SpendPeriod.TWELVE_MONTHS),
        segment_factory(purchases_min=0, purchases_max=0),
    ]
    now = timezone.now()
    for member in members:
        inside = member_segment_ids(member_id=member.pk, segments=segments, now=now, tier_ids={})
        expected = {segment.pk for segment in segments if member.pk in ids(segment)}
        assert inside == expected, member
