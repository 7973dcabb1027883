"""Demo data for `make run`: a staff login, a demo member with some history, and a few more members."""

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
    _seed_earning_rules(staff)
    _seed_purchases(member)
    _seed_ledger_extras(member, staff)
    return {"staff": staff, "member": member}


#: (name, kind, fields): the exclusions the terms page lists, and a per-unit rule that stops further rules, beside
#: a points-per-euro rule (a per-unit rule is a base rule, so the base rate alone would no longer apply).
DEMO_EARNING_RULES = [
    ("Gift cards", "exclude_category", {"category": "gift_card", "priority": 1}),
    ("Shipping", "exclude_category", {"category": "shipping", "priority": 2}),
    (
        "50 points per 1 kg bag of coffee",
        "per_unit",
        {"sku": "COF-1KG", "rate": Decimal("50"), "priority": 10, "stop_further_rules": True},
    ),
    ("1 point per euro", "spend", {"rate": Decimal("1"), "priority": 100}),
]


def _seed_earning_rules(staff):
    """The demo program's rules, through the staff service (audited), looked up by name so a rerun adds none."""
    from .models import EarningRule
    from .services.program import earning_rule_save

    for name, kind, fields in DEMO_EARNING_RULES:
        if not EarningRule.objects.filter(name=name).exists():
            earning_rule_save(rule=EarningRule(name=name, kind=kind, **fields), actor=staff)


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
