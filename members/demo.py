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
    _seed_membership(member)
    _seed_purchases(member)
    _seed_ledger_extras(member, staff)
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


DEMO_PLANS = [
    {
        "slug": "plus",
        "name": "Plus",
        "description": "Double points on every purchase, a monthly voucher and free shipping.",
        "price": Decimal("4.99"),
        "period": "month",
        "trial_days": 30,
        "grace_days": 7,
        "earn_multiplier": Decimal("2"),
        "multiplier_combination": "multiply",
        "free_shipping": True,
        "early_access_days": 2,
        "sort_order": 10,
    },
    {
        "slug": "premium-year",
        "name": "Premium (yearly)",
        "description": "Triple points (or your tier's, if higher), members-only rewards and a week's early access.",
        "price": Decimal("79.00"),
        "period": "year",
        "trial_days": 0,
        "grace_days": 14,
        "earn_multiplier": Decimal("3"),
        "multiplier_combination": "larger",
        "free_shipping": True,
        "early_access_days": 7,
        "sort_order": 20,
    },
]


def _seed_membership(member):
    """Two plans and the demo member subscribed to Plus since 20 days ago (so recent purchases earn double).
    Plans are found by slug and the subscription by its external id: a second run changes nothing."""
    from .subscriptions.models import MembershipPlan, Subscription
    from .subscriptions.services import membership_plan_save, subscription_start

    plans = {}
    for spec in DEMO_PLANS:
        plan = MembershipPlan.objects.filter(slug=spec["slug"]).first()
        if plan is None:
            plan = membership_plan_save(plan=MembershipPlan(**spec), actor=None)
        plans[plan.slug] = plan
    if not Subscription.objects.filter(source="demo", external_id="demo-sub-plus").exists():
        subscription_start(
            member=member,
            plan=plans["plus"],
            external_id="demo-sub-plus",
            source="demo",
            paid_amount=Decimal("4.99"),
            started_at=timezone.now() - timedelta(days=20),
        )
