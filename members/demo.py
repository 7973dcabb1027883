"""Demo data for `make run`: a staff login, a demo member with some history, and a few more members."""

import contextlib
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
    _seed_earning_rules(staff)
    _seed_feedback_history()  # before the demo member buys: the open link below is then theirs to try
    _seed_membership(member)
    _seed_purchases(member)
    _seed_ledger_extras(member, staff)
    _seed_actions(member)
    _seed_feedback_link(member, stdout=stdout)
    _seed_paid_with_points(member)
    _seed_partners(member, staff)
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


# --- earning actions and feedback --------------------------------------------------------------------------------

DEMO_ACTIONS = [
    # code, name, description, points, unit, limits, approval
    (
        "survey",
        "Tell us how we did",
        "Answer our one-question survey after a purchase (we email you the link).",
        25,
        "",
        {"limit_per_month": 2},
        False,
    ),
    (
        "review",
        "Review a product",
        "Write a review of something you bought on our webshop.",
        50,
        "",
        {"limit_per_week": 2, "limit_per_year": 24},
        False,
    ),
    (
        "recycle",
        "Bring back old gear",
        "Return used coffee capsules, grinders or mugs in store; we recycle them.",
        10,
        "item recycled",
        {"limit_per_month": 20},
        False,
    ),
    ("social_follow", "Follow us", "Follow us on social media.", 100, "", {"limit_total": 1}, False),
    (
        "event",
        "Join a tasting",
        "Come to a coffee tasting in one of our stores; staff confirm your visit.",
        150,
        "",
        {"limit_per_month": 1},
        True,
    ),
]

DEMO_STORES = [
    # store, channel, scores to draw from (weighted by repetition), comments
    ("Amsterdam Centraal", "in_store", [10, 10, 9, 9, 9, 8, 10, 9, 7], ["Friendly baristas", "Always fresh beans"]),
    ("Utrecht", "in_store", [9, 8, 7, 9, 6, 10, 8, 10, 4], ["Queue was long", "Great cake", "Could not find the tea"]),
    (
        "webshop",
        "online",
        [10, 9, 9, 8, 6, 10, 9, 7, 5],
        ["Slow delivery", "Easy checkout", "Box arrived damaged"],
    ),
    ("Partner: CityBikes", "partner", [8, 9, 6, 9, 7, 10], ["Bike was fine", "Points showed up late"]),
]
DEMO_SHOPPERS = 60
DEMO_FEEDBACK_WEEKS = 12


def _seed_actions(member):
    """The five standard actions and a little history for the demo member (one event waits for review)."""
    from .models import EarningAction
    from .services.actions import action_record, earning_action_save

    for index, (code, name, description, points, unit, limits, approval) in enumerate(DEMO_ACTIONS):
        if not EarningAction.objects.filter(code=code).exists():
            action = EarningAction(
                code=code,
                name=name,
                description=description,
                points=points,
                unit_name=unit,
                requires_approval=approval,
                sort_order=index,
                **limits,
            )
            earning_action_save(action=action, actor=None)
    now = timezone.now()
    for code, external_id, quantity, days_ago in (
        ("review", "demo:review-1", 1, 20),
        ("recycle", "demo:recycle-1", 3, 10),
        ("social_follow", "demo:follow", 1, 60),
        ("event", "demo:tasting-1", 1, 1),
    ):
        action_record(
            member=member,
            action_code=code,
            external_id=external_id,
            source="demo",
            quantity=quantity,
            occurred_at=now - timedelta(days=days_ago),
            reference="demo",
        )


def _seed_feedback_history():
    """Twelve weeks of purchases by demo shoppers, feedback requests and answers (about three in four answer), so
    the NPS dashboard has weeks, stores and channels to compare. Once: skipped when the shoppers have answers."""
    import random

    from .models import FeedbackRequest, FeedbackResponse
    from .services.feedback import feedback_answer, feedback_requests_create, feedback_token
    from .services.purchases import PurchaseLineInput, purchase_record

    if not FeedbackResponse.objects.filter(member__user__email__startswith="shopper").exists():
        chooser = random.Random(2026)  # noqa: S311 - demo data, not security
        shoppers = []
        for index in range(1, DEMO_SHOPPERS + 1):
            user = _user(f"shopper{index}@example.com", DEMO_MEMBER_PASSWORD, first_name=f"Shopper{index}")
            shoppers.append(member_enroll(user=user, marketing_consent=index % 3 == 0))
        now = timezone.now()
        for day in range(DEMO_FEEDBACK_WEEKS * 7, 1, -1):
            moment = now - timedelta(days=day, hours=chooser.randint(0, 8))
            for shopper in chooser.sample(shoppers, 3):
                store, channel, _scores, _comments = chooser.choice(DEMO_STORES)
                purchase_record(
                    member=shopper,
                    external_id=f"DEMO-FB-{shopper.pk}-{day}",
                    source="demo",
                    channel=channel,
                    store=store,
                    occurred_at=moment,
                    currency="EUR",
                    lines=[PurchaseLineInput(sku="COF-250", category="coffee", quantity=1, unit_price=Decimal("8.50"))],
                )
            sent_at = moment + timedelta(days=1, hours=1)
            stores = {store: (scores, comments) for store, _channel, scores, comments in DEMO_STORES}
            for request in FeedbackRequest.objects.filter(pk__in=feedback_requests_create(now=sent_at)).select_related(
                "purchase"
            ):
                if chooser.random() > 0.72:
                    continue  # not everyone answers
                scores, comments = stores[request.purchase.store]
                score = chooser.choice(scores)
                if request.purchase.store == "webshop" and day < 28:
                    score = max(score - 3, 0)  # a recent dip online, for the chart to show
                feedback_answer(
                    token=feedback_token(request),
                    score=score,
                    comment=chooser.choice(comments) if chooser.random() < 0.5 else "",
                    now=sent_at + timedelta(hours=chooser.randint(1, 30)),
                )


def _seed_feedback_link(member, *, stdout=None):
    """The demo member's purchase of three days ago is due for a request: it stays open, so the link can be tried."""
    from django.conf import settings
    from django.urls import reverse

    from .models import FeedbackRequest
    from .services.feedback import feedback_requests_create, feedback_token

    feedback_requests_create()
    request = FeedbackRequest.objects.filter(member=member, answered_at__isnull=True).order_by("-sent_at").first()
    if stdout is not None and request is not None and request.expires_at > timezone.now():
        link = settings.SITE_URL.rstrip("/") + reverse("feedback", kwargs={"token": feedback_token(request)})
        stdout.write(f"  Feedback link of the demo member: {link}")


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
