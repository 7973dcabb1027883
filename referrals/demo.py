"""Demo data: the demo member's referral code and one friend who joined with it and qualified. Idempotent."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from members.demo import DEMO_MEMBER_EMAIL
from members.models import Member
from members.services import member_enroll
from members.services.purchases import PurchaseLineInput, purchase_record

from .services import referral_code_get_or_create

DEMO_FRIEND_EMAIL = "demo.friend@example.com"


def seed(*, stdout=None):
    referrer = Member.objects.filter(user__email=DEMO_MEMBER_EMAIL).first()
    if referrer is None:
        return None
    code = referral_code_get_or_create(member=referrer)
    user_model = get_user_model()
    user = user_model.objects.filter(email=DEMO_FRIEND_EMAIL).first()
    if user is None:
        user = user_model.objects.create_user(email=DEMO_FRIEND_EMAIL, first_name="Frankie", last_name="Friend")
    # Enrolment runs the same hook as sign-up, which attaches the referral (only on first enrolment).
    friend = member_enroll(user=user, context={"referral_code": code.code, "request": None})
    # The first purchase qualifies it; recording it again is a no-op (same source and external id).
    purchase_record(
        member=friend,
        external_id="DEMO-REF-1",
        source="demo",
        channel="in_store",
        store="Amsterdam Centraal",
        occurred_at=timezone.now() - timedelta(minutes=5),
        currency="EUR",
        lines=[PurchaseLineInput(sku="COF-1KG", category="coffee", quantity=1, unit_price=Decimal("24.00"))],
    )
    if stdout is not None:
        stdout.write(f"  Referral code of {DEMO_MEMBER_EMAIL}: {code.code}")
    return code
