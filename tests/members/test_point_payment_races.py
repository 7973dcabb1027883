"""Burns racing each other and a reward redemption on PostgreSQL: one account lock, so nothing overdraws."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from members.models import LedgerEntry, PointPayment
from members.services import point_payments
from members.services.point_payments import point_payment_make
from rewards.models import Redemption
from rewards.services import reward_redeem
from tests.concurrency import race
from tests.factories import MemberFactory, RewardFactory, points_give
from tests.members.conftest import assert_consistent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_burn_holding_the_lock_makes_a_racing_redemption_see_what_it_left(monkeypatch):
    member = MemberFactory()
    points_give(member, 600)
    reward = RewardFactory(points_cost=500)
    locked = threading.Event()
    post = point_payments.ledger_post

    def slow_post(**kwargs):
        # The burn holds the account lock and has checked nothing yet against the balance the redemption reads.
        locked.set()
        time.sleep(1)
        return post(**kwargs)

    monkeypatch.setattr(point_payments, "ledger_post", slow_post)
    results = [None, None]

    def burn():
        try:
            results[0] = point_payment_make(member=member, points=500, external_id="PAY-1", source="till")
        except Exception as exc:  # inspected below
            results[0] = exc
        finally:
            connection.close()

    def redeem():
        try:
            assert locked.wait(timeout=30)
            results[1] = reward_redeem(member=member, reward=reward, idempotency_key="r-1")
        except Exception as exc:  # inspected below
            results[1] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=burn), threading.Thread(target=redeem)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert isinstance(results[0], PointPayment), results
    assert type(results[1]).__name__ == "InsufficientPoints", results
    assert not Redemption.objects.exists()
    assert assert_consistent(member).balance == 100


def test_burns_and_redemptions_racing_for_one_balance_never_overdraw():
    member = MemberFactory()
    points_give(member, 1000)
    reward = RewardFactory(points_cost=300)
    calls = [
        lambda n=n: point_payment_make(member=member, points=300, external_id=f"PAY-{n}", source="till")
        for n in range(4)
    ] + [lambda n=n: reward_redeem(member=member, reward=reward, idempotency_key=f"r-{n}") for n in range(4)]

    results = race(calls)

    kinds = Counter(type(result).__name__ for result in results)
    assert kinds["InsufficientPoints"] == 5, results
    assert kinds["PointPayment"] + kinds["Redemption"] == 3, results
    account = assert_consistent(member)
    assert account.balance == 100
    spent = LedgerEntry.objects.filter(account_id=member.pk, kind__in=["payment", "redeem"]).count()
    assert spent == 3
