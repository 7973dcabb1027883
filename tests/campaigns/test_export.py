"""The member's data export (members:export) includes what the campaigns app holds about them."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Segment
from campaigns.services import campaign_emails_send, segment_list_upload
from members.models import Member
from members.services import points_adjust
from tests.factories import MemberFactory, StaffUserFactory, buy, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db


def test_export_contains_participations_emails_and_segment_lists(client):
    member = MemberFactory(email="ada@example.com", marketing_consent=True)
    other = MemberFactory(email="bob@example.com", marketing_consent=True)
    listed = segment_factory(name="VIP list", base=Segment.Base.LIST_ONLY)
    segment_list_upload(segment=listed, content=f"{member.member_number}\n{other.member_number}\n", excluded=False)
    double = campaign_factory(name="Double points", multiplier=Decimal("2"), segment=listed)
    buy(member, "10")
    buy(other, "10")
    for someone in (member, other):
        points_adjust(
            member=someone, points=500, reason="t", actor=StaffUserFactory(), idempotency_key=f"t{someone.pk}"
        )
    Member.objects.filter(pk=member.pk).update(last_purchase_at=timezone.now() - timedelta(days=90))
    winback = campaign_factory(
        name="We miss you",
        kind=Campaign.Kind.WINBACK,
        audience_days=60,
        email_subject="Come back",
        email_body="Hi {{ name }}",
    )
    assert campaign_emails_send(campaign_id=winback.pk).sent == 1  # the other member bought recently

    client.force_login(member.user)
    data = json.loads(client.get(reverse("members:export")).content)

    [participation] = data["campaign_participations"]
    assert participation["campaign__name"] == double.name and participation["points_awarded"] == 10
    assert participation["holdout"] is False and participation["awards"] == 1
    [email] = data["campaign_emails"]
    assert (email["campaign__name"], email["campaign__email_subject"], email["status"]) == (
        "We miss you",
        "Come back",
        "sent",
    )
    assert email["sent_at"]
    assert data["segment_lists"] == [
        {"segment__name": "VIP list", "excluded": False, "created_at": data["segment_lists"][0]["created_at"]}
    ]
    assert "bob@example.com" not in json.dumps(data)
