"""Real concurrency on PostgreSQL: row locks, not luck, keep a referral bonus from being paid twice."""

import threading

import pytest
from django.db import connection

from members.models import LedgerEntry, PointsAccount
from referrals.models import Referral
from referrals.services import referral_qualify
from tests.factories import MemberFactory, referral_program_set, referral_purchase, referred_friend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _run_together(*targets):
    barrier = threading.Barrier(len(targets))
    errors = []

    def run(target):
        try:
            barrier.wait(timeout=10)
            target()
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors


def test_two_qualifying_purchases_at_once_pay_the_bonus_once():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    _run_together(
        lambda: referral_purchase(friend, "25.00", external_id="CONC-A"),
        lambda: referral_purchase(friend, "30.00", external_id="CONC-B"),
    )
    referral.refresh_from_db()
    assert referral.state == Referral.State.QUALIFIED
    assert referral.qualifying_purchase.external_id in {"CONC-A", "CONC-B"}
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL).count() == 2
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 500
    assert PointsAccount.objects.get(pk=friend.pk).balance == 250


def test_the_same_qualification_delivered_twice_at_once_pays_once():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    referral_program_set(min_purchase_amount="100.00")
    purchase = referral_purchase(friend, "25.00").purchase  # too small then: recorded, nothing paid
    referral_program_set(min_purchase_amount="10.00")
    _run_together(
        lambda: referral_qualify(referral=referral, purchase=purchase),
        lambda: referral_qualify(referral=referral, purchase=purchase),
    )
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL).count() == 2
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 500
