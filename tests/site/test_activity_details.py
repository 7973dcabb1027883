"""The activity page tells what each line was: the purchase's own date and its store or channel, and a referral
bonus names the friend as the referrals page does."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from referrals.models import Referral
from tests.factories import MemberFactory, buy, referral_program_set, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db


def test_a_purchase_line_shows_when_and_where_it_was_bought(client):
    member = MemberFactory()
    bought = timezone.now() - timedelta(days=9)
    buy(member, "25.00", external_id="TILL-1", store="Utrecht", occurred_at=bought)
    buy(member, "10.00", external_id="WEB-1", channel="online", occurred_at=bought)
    client.force_login(member.user)
    body = client.get(reverse("members:activity")).content.decode()
    day = date_format(timezone.localtime(bought), "DATE_FORMAT")
    assert "Purchase TILL-1" in body and "Utrecht" in body
    assert "Purchase WEB-1" in body and "Online" in body
    assert body.count(f"bought {day}") == 2


def test_a_referral_bonus_names_the_friend(client):
    referral_program_set(min_purchase_amount="5.00", referrer_points=100)
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer, first_name="Alex")
    referral_purchase(friend, "50.00")
    referral.refresh_from_db()
    assert referral.state == Referral.State.QUALIFIED
    client.force_login(referrer.user)
    body = client.get(reverse("members:activity")).content.decode()
    assert "Referral bonus: Alex made a first purchase" in body
    assert friend.member_number not in body
