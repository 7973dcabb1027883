"""Demo data for `make run`: a staff login, a demo member with some history, and a few more members."""

from datetime import datetime, time, timedelta
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
    _seed_partners(member, staff)
    return {"staff": staff, "member": member}


DEMO_PARTNERS = [
    {
        "slug": "cafe-noir",
        "name": "Café Noir",
        "tagline": "2 points per €1, 3 per €1 on beans",
        "description": "Espresso bars in the city centres. Pay with points at the till.",
        "website": "https://cafe-noir.example.com",
        "contact_name": "Inès Laurent",
        "contact_email": "partners@cafe-noir.example.com",
        "categories": ["coffee", "beans", "bakery"],
        "counts_toward_tiers": True,
        "price": "0.0100",
        "reimbursement": "0.0080",
        "rules": [("2 points per €1", "spend", "2", ""), ("Beans earn 1.5×", "category_multiplier", "1.5", "beans")],
        "stores": [
            ("Café Noir Centraal", "Stationsplein 12", "1012 AB", "Amsterdam"),
            ("Café Noir Dom", "Domplein 3", "3512 JC", "Utrecht"),
        ],
        # (external id, days into last month / None for this month, amount)
        "baskets": [("CN-1", 4, "coffee", "8.40"), ("CN-2", 17, "beans", "24.00"), ("CN-3", None, "coffee", "5.20")],
    },
    {
        "slug": "cinema-lux",
        "name": "Cinema Lux",
        "tagline": "1 point per €1 on tickets and snacks",
        "description": "Films every night; points pay for tickets. Points earned here do not count toward tiers.",
        "website": "https://cinema-lux.example.com",
        "contact_name": "Tom de Vries",
        "contact_email": "loyalty@cinema-lux.example.com",
        "categories": ["tickets", "snacks"],
        "counts_toward_tiers": False,
        "price": "0.0120",
        "reimbursement": "0.0090",
        "rules": [],
        "stores": [("Cinema Lux", "Leidseplein 26", "1017 PT", "Amsterdam")],
        "baskets": [("CL-1", 9, "tickets", "25.00"), ("CL-2", None, "snacks", "9.50")],
    },
]


def _seed_partners(member, staff):
    """Two coalition partners with rules, stores, a rate history and purchases last month and this month (their
    settlement: ``backoffice`` closes last month in ``seed_demo``). Looked up by slug and external id: a second run
    changes nothing."""
    from .models import EarningRule, Partner, PartnerStore
    from .months import add_months
    from .services import points_adjust
    from .services.partners import partner_rate_add
    from .services.purchases import PurchaseLineInput, purchase_record

    # Enough to spend at the partners too (rewards' demo redeems and pays with points there).
    points_adjust(
        member=member, points=600, reason="Coalition launch bonus", actor=staff, idempotency_key="demo:coalition-bonus"
    )

    now = timezone.now()
    last_month = add_months(timezone.localdate().replace(day=1), -1)
    for spec in DEMO_PARTNERS:
        fields = {
            key: spec[key]
            for key in ("name", "tagline", "description", "website", "contact_name", "contact_email", "categories")
        }
        partner, created = Partner.objects.get_or_create(
            slug=spec["slug"], defaults={**fields, "counts_toward_tiers": spec["counts_toward_tiers"]}
        )
        if created:
            partner_rate_add(
                partner=partner,
                effective_from=now - timedelta(days=400),
                price_per_point_issued=Decimal(spec["price"]),
                reimbursement_per_point_redeemed=Decimal(spec["reimbursement"]),
            )
            for name, kind, rate, category in spec["rules"]:
                EarningRule.objects.create(
                    name=name, kind=kind, rate=Decimal(rate), category=category, partner=partner, priority=10
                )
            for name, address, postcode, city in spec["stores"]:
                PartnerStore.objects.create(partner=partner, name=name, address=address, postcode=postcode, city=city)
        for external_id, day, category, amount in spec["baskets"]:
            when = (
                timezone.make_aware(datetime.combine(last_month.replace(day=day), time(12)))
                if day is not None
                else now - timedelta(hours=2)
            )
            purchase_record(
                member=member,
                external_id=external_id,
                source=f"demo-partner:{partner.slug}",
                channel="partner",
                store=partner.name,
                occurred_at=when,
                currency="EUR",
                lines=[
                    PurchaseLineInput(
                        sku=f"{category.upper()}-1", category=category, quantity=1, unit_price=Decimal(amount)
                    )
                ],
                partner=partner,
                now=when,
            )


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
