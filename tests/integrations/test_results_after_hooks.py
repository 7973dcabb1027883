"""What a till is told about a purchase is read from the stored rows once every purchase hook has run.

A referral pays the friend a bonus from the ``purchase_recorded`` hook, in the purchase's own transaction; the
response and the ``purchase.recorded`` webhook must carry the balance that committed, bonus included.
"""

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery
from members.models import PointsAccount
from tests.factories import MemberFactory, referral_program_set, referred_friend, webhook_endpoint_for
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"


def _today():
    return timezone.localtime().replace(microsecond=0).isoformat()


@pytest.mark.parametrize("pending_days", [0, 14])
def test_response_and_webhook_carry_the_referral_bonus_posted_by_a_later_hook(api, tiers, pending_days):
    from members.models import ProgramSettings

    ProgramSettings.objects.filter(pk=1).update(pending_days=pending_days)
    program = referral_program_set(friend_points=250, referrer_points=100, min_purchase_amount="5.00")
    webhook_endpoint_for(["purchase.recorded"])
    friend, _referral = referred_friend(MemberFactory())

    response = post(api, URL, purchase_body(friend, occurred_at=_today()))

    assert response.status_code == 201, response.json()
    body = response.json()
    account = PointsAccount.objects.get(pk=friend.pk)
    assert body["points_earned"] == 11  # the purchase's own points: the bonus is the referral's entry
    assert (body["balance"], body["pending"]) == (account.balance, account.pending)
    assert account.balance + account.pending == 11 + program.friend_points
    [delivery] = WebhookDelivery.objects.filter(event="purchase.recorded")
    assert (delivery.payload["balance"], delivery.payload["pending"]) == (account.balance, account.pending)


def test_a_replay_answers_with_the_balance_as_stored_now(api, tiers):
    referral_program_set(friend_points=250, referrer_points=100, min_purchase_amount="5.00")
    friend, _referral = referred_friend(MemberFactory())
    body = purchase_body(friend, occurred_at=_today())  # once: a second later it would be another body (422)
    first = post(api, URL, body)
    again = post(api, URL, body)
    assert again.json()["balance"] == first.json()["balance"]
    assert again.json()["pending"] == first.json()["pending"]
