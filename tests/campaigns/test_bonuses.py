from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignParticipation
from campaigns.segments import in_holdout
from campaigns.services import (
    campaign_birthday_run,
    campaign_create,
    campaign_launch,
    campaign_manual_bonus_run,
    campaigns_birthday_run_all,
)
from members.models import LedgerEntry, PointsAccount
from tests.factories import MemberFactory, StaffUserFactory, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind


def balance(member):
    return PointsAccount.objects.get(pk=member.pk).balance


def test_manual_bonus_credits_the_segment_once_in_batches(django_capture_on_commit_callbacks):
    from campaigns.models import Segment
    from campaigns.services import segment_list_upload

    marketer = StaffUserFactory()
    affected = MemberFactory.create_batch(5)
    bystander = MemberFactory()
    segment = segment_factory(base=Segment.Base.LIST_ONLY)
    segment_list_upload(segment=segment, content="\n".join(m.member_number for m in affected), excluded=False)
    campaign = campaign_create(
        actor=marketer, name="Sorry for the outage", kind=Kind.MANUAL_BONUS, bonus_points=150, segment=segment
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign, actor=marketer)
    assert [balance(m) for m in affected] == [150] * 5
    assert balance(bystander) == 0
    # A second run (e.g. a retried task) changes nothing; batches of two go through the same keyset.
    assert campaign_manual_bonus_run(campaign_id=campaign.pk, batch_size=2) == 0
    campaign.refresh_from_db()
    assert campaign.points_awarded == 750
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS, source_id=campaign.pk)
    assert entries.count() == 5
    assert set(entries.values_list("idempotency_key", flat=True)) == {
        f"campaign:{campaign.pk}:manual:{m.pk}" for m in affected
    }


def test_manual_bonus_stops_at_the_budget_and_skips_holdout():
    members = MemberFactory.create_batch(10)
    campaign = campaign_factory(kind=Kind.MANUAL_BONUS, bonus_points=100, budget_points=350, holdout_percent=20)
    treated = [m for m in members if not in_holdout(campaign=campaign, member_id=m.pk)]
    credited = campaign_manual_bonus_run(campaign_id=campaign.pk, batch_size=2)
    assert credited == min(3, len(treated))
    campaign.refresh_from_db()
    assert campaign.points_awarded == credited * 100 <= 350
    assert campaign.budget_exhausted_at is not None
    assert all(balance(m) == 0 for m in members if in_holdout(campaign=campaign, member_id=m.pk))


def test_birthday_gift_once_a_year_on_the_day():
    today = timezone.localdate()
    born_today = MemberFactory(birthday=today.replace(year=1990))
    other_day = MemberFactory(birthday=(today + timedelta(days=1)).replace(year=1991))
    no_birthday = MemberFactory()
    campaign = campaign_factory(kind=Kind.BIRTHDAY, bonus_points=250, ends_at=None)
    assert campaign_birthday_run(campaign_id=campaign.pk) == 1
    assert campaign_birthday_run(campaign_id=campaign.pk) == 0
    assert campaigns_birthday_run_all() == 0
    assert (balance(born_today), balance(other_day), balance(no_birthday)) == (250, 0, 0)
    entry = LedgerEntry.objects.get(source_id=campaign.pk)
    assert entry.idempotency_key == f"campaign:{campaign.pk}:birthday:{born_today.pk}:{today.year}"
    assert CampaignParticipation.objects.get(campaign=campaign).points_awarded == 250


def test_birthday_month_scope_and_leap_day_birthdays():
    moment = datetime(2025, 2, 28, 9, 0, tzinfo=timezone.get_current_timezone())  # 2025 is not a leap year
    leap = MemberFactory(birthday=date(2000, 2, 29))
    early_feb = MemberFactory(birthday=date(1999, 2, 3))
    day = campaign_factory(
        kind=Kind.BIRTHDAY, bonus_points=10, starts_at=moment - timedelta(days=30), ends_at=moment + timedelta(days=1)
    )
    month = campaign_factory(
        kind=Kind.BIRTHDAY,
        bonus_points=20,
        birthday_scope=Campaign.BirthdayScope.MONTH,
        starts_at=moment - timedelta(days=30),
        ends_at=moment + timedelta(days=1),
    )
    assert campaign_birthday_run(campaign_id=day.pk, now=moment) == 1
    assert campaign_birthday_run(campaign_id=month.pk, now=moment) == 2
    assert (balance(leap), balance(early_feb)) == (30, 20)


def test_birthday_respects_segment_and_window():
    today = timezone.localdate()
    consenting = MemberFactory(birthday=today.replace(year=1980), marketing_consent=True)
    MemberFactory(birthday=today.replace(year=1981), marketing_consent=False)
    from campaigns.models import Segment

    campaign = campaign_factory(
        kind=Kind.BIRTHDAY, bonus_points=5, segment=segment_factory(marketing_consent=Segment.Consent.YES)
    )
    assert campaign_birthday_run(campaign_id=campaign.pk) == 1
    assert balance(consenting) == 5
    later = campaign_factory(kind=Kind.BIRTHDAY, bonus_points=5, starts_at=timezone.now() + timedelta(days=1))
    assert campaign_birthday_run(campaign_id=later.pk) == 0


def test_birthday_reward_is_granted_once_a_year_with_the_points():
    from rewards.models import Redemption, Reward, Voucher
    from tests.factories import RewardFactory

    today = timezone.localdate()
    born_today = MemberFactory(birthday=today.replace(year=1990))
    reward = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, stock=5)
    campaign = campaign_factory(kind=Kind.BIRTHDAY, bonus_points=100, reward=reward, ends_at=None)

    assert campaign_birthday_run(campaign_id=campaign.pk) == 1
    assert campaign_birthday_run(campaign_id=campaign.pk) == 0
    assert balance(born_today) == 100
    redemption = Redemption.objects.get(member=born_today)
    assert redemption.is_gift and redemption.points_spent == 0
    assert redemption.idempotency_key == f"campaign:{campaign.pk}:birthday:{born_today.pk}:{today.year}:reward"
    assert Voucher.objects.filter(member=born_today).count() == 1
    reward.refresh_from_db()
    assert reward.stock == 4


def test_a_reward_only_birthday_campaign_goes_on_past_a_refused_member(caplog):
    from rewards.models import Redemption
    from tests.factories import RewardFactory

    today = timezone.localdate()
    members = [MemberFactory(birthday=today.replace(year=1990 + n)) for n in range(3)]
    reward = RewardFactory(stock=2)
    campaign = campaign_factory(kind=Kind.BIRTHDAY, bonus_points=0, reward=reward, ends_at=None)

    assert campaign_birthday_run(campaign_id=campaign.pk) == 2
    assert [balance(m) for m in members] == [0, 0, 0]
    assert Redemption.objects.filter(is_gift=True).count() == 2
    [record] = [r for r in caplog.records if r.name == "campaigns.services.bonuses"]
    assert record.getMessage().endswith(f"not given to member {members[2].pk}: out_of_stock")
    assert not LedgerEntry.objects.filter(source_id=campaign.pk).exists()


def test_a_birthday_campaign_needs_points_or_a_reward():
    from campaigns.exceptions import InvalidCampaign
    from tests.factories import RewardFactory

    marketer = StaffUserFactory()
    with pytest.raises(InvalidCampaign):
        campaign_launch(
            campaign=campaign_create(actor=marketer, name="Birthday", kind=Kind.BIRTHDAY, bonus_points=0),
            actor=marketer,
        )
    campaign = campaign_create(
        actor=marketer, name="Birthday", kind=Kind.BIRTHDAY, bonus_points=0, reward=RewardFactory()
    )
    campaign_launch(campaign=campaign, actor=marketer)
    campaign.refresh_from_db()
    assert campaign.status in (Campaign.Status.ACTIVE, Campaign.Status.SCHEDULED)
