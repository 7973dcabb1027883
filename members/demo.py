"""Demo data for `make run`: a staff login, a demo member with some history, and a few more members."""

import contextlib
from datetime import timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone

from .services import member_enroll

DEMO_MEMBER_EMAIL = "demo@example.com"
DEMO_MEMBER_PASSWORD = "demo-points-2026"  # noqa: S105 - published demo credentials
DEMO_STAFF_EMAIL = "staff@example.com"
DEMO_STAFF_PASSWORD = "staff-console-2026"  # noqa: S105 - published demo credentials

DEMO_BASKETS = [
    # (external id, days ago, channel, store, [(sku, category, qty, unit price)])
    (
        "DEMO-1001",
        200,
        "in_store",
        "Amsterdam Centraal",
        [("COF-250", "coffee", 2, "7.50"), ("MUG-01", "homeware", 1, "12.00")],
    ),
    ("DEMO-1002", 120, "online", "webshop", [("TEA-100", "tea", 3, "4.95"), ("SHIP", "shipping", 1, "3.95")]),
    (
        "DEMO-1003",
        45,
        "in_store",
        "Utrecht",
        [("COF-1KG", "coffee", 1, "24.00"), ("CAKE", "bakery", 2, "3.50")],
    ),
    ("DEMO-1004", 20, "partner", "Partner: CityBikes", [("BIKE-DAY", "partner", 1, "15.00")]),
    (
        "DEMO-1005",
        3,
        "online",
        "webshop",
        [("GRN-500", "coffee", 2, "11.25"), ("GIFT-25", "gift_card", 1, "25.00")],
    ),
]


def _user(email, password, **extra):
    user_model = get_user_model()
    user = user_model.objects.filter(email=email).first()
    if user is None:
        user = user_model.objects.create_user(email=email, password=password, **extra)
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def seed(*, stdout=None):
    staff = _user(DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD, is_staff=True, is_superuser=True, first_name="Sam")
    demo = _user(DEMO_MEMBER_EMAIL, DEMO_MEMBER_PASSWORD, first_name="Dana", last_name="Demo")
    member = member_enroll(user=demo, marketing_consent=True)
    if member.birthday is None:
        member.birthday = timezone.localdate().replace(year=1990)
        member.save(update_fields=["birthday"])
    for index in range(1, 6):
        other = _user(f"member{index}@example.com", DEMO_MEMBER_PASSWORD, first_name=f"Member{index}")
        member_enroll(user=other, marketing_consent=index % 2 == 0)
    _seed_purchases(member)
    _seed_ledger_extras(member, staff)
    _seed_paid_with_points(member)
    return {"staff": staff, "member": member}


def _seed_ledger_extras(member, staff):
    """A staff goodwill adjustment and a family transfer, so the admin and activity pages show more than earning.

    Both carry fixed idempotency keys: a second run posts nothing.
    """
    from .models import Member
    from .services import points_adjust, points_transfer

    points_adjust(
        member=member, points=50, reason="Welcome to the demo", actor=staff, idempotency_key="demo:welcome-bonus"
    )
    family = Member.objects.filter(user__email="member1@example.com").first()
    if family is not None:
        points_transfer(sender=member, recipient=family, points=20, idempotency_key="demo:family-transfer")


def _seed_purchases(member):
    try:
        from .services.purchases import PurchaseLineInput, purchase_record
    except ImportError:  # the earning engine is not there yet
        return
    now = timezone.now()
    for external_id, days_ago, channel, store, lines in DEMO_BASKETS:
        purchase_record(
            member=member,
            external_id=external_id,
            source="demo",
            channel=channel,
            store=store,
            occurred_at=now - timedelta(days=days_ago),
            currency="EUR",
            lines=[
                PurchaseLineInput(sku=sku, category=category, quantity=qty, unit_price=Decimal(price))
                for sku, category, qty, price in lines
            ],
        )


def _seed_paid_with_points(member):
    """A till purchase with a 10 % code, paid partly with points: the activity shows the payment, and the purchase
    earns on what was paid in money after the discount. Fixed ids: a second run changes nothing."""
    from .exceptions import InsufficientPoints
    from .services.point_payments import point_payment_make
    from .services.purchases import PurchaseDiscountInput, PurchaseLineInput, purchase_record

    # A demo program whose rules earned less: the purchase is still worth showing without the payment.
    with contextlib.suppress(InsufficientPoints):
        point_payment_make(
            member=member, points=50, external_id="DEMO-PAY-1006", source="demo", purchase_external_id="DEMO-1006"
        )
    purchase_record(
        member=member,
        external_id="DEMO-1006",
        source="demo",
        channel="in_store",
        store="Utrecht",
        occurred_at=timezone.now() - timedelta(days=1),
        currency="EUR",
        lines=[
            PurchaseLineInput(sku="COF-1KG", category="coffee", quantity=1, unit_price=Decimal("24.00")),
            PurchaseLineInput(sku="MUG-01", category="homeware", quantity=1, unit_price=Decimal("12.00")),
        ],
        discounts=[PurchaseDiscountInput(amount=Decimal("3.60"), kind="order", code="WELCOME10")],
    )
