import threading
from decimal import Decimal

import pytest
from django.db import connection

from campaigns.models import Campaign, CampaignParticipation
from tests.factories import MemberFactory, buy, campaign_factory

# serialized_rollback: the flush after a transactional test must not re-create content types and tiers under new
# ids, or a later test that restores the serialized database (the referrals' concurrency tests do) collides.


def _race(*jobs):
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(index, job):
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_purchases_racing_for_the_last_of_the_budget():
    first, second = MemberFactory(), MemberFactory()
    campaign = campaign_factory(multiplier=Decimal("2"), budget_points=15)
    results = _race(lambda: buy(first, "10"), lambda: buy(second, "10"))
    bonuses = sorted(result.purchase.points_bonus for result in results)
    assert bonuses == [5, 10]
    campaign.refresh_from_db()
    assert campaign.points_awarded == 15 and campaign.budget_exhausted
    assert sum(CampaignParticipation.objects.filter(campaign=campaign).values_list("points_awarded", flat=True)) == 15


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_many_purchases_never_overspend_the_budget():
    members = MemberFactory.create_batch(6)
    campaign = campaign_factory(multiplier=Decimal("2"), budget_points=35)
    results = _race(*[lambda m=m: buy(m, "10") for m in members])
    assert sum(result.purchase.points_bonus for result in results) == 35
    assert Campaign.objects.get(pk=campaign.pk).points_awarded == 35


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_same_member_racing_against_the_per_member_cap():
    member = MemberFactory()
    campaign_factory(multiplier=Decimal("2"), per_member_cap=15)
    results = _race(lambda: buy(member, "10"), lambda: buy(member, "10"))
    assert sorted(result.purchase.points_bonus for result in results) == [5, 10]
