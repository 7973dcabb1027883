"""Demo rewards of every kind for `make run`. Idempotent: rewards are looked up by slug first."""

import io
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from members.models import Tier
from members.subscriptions.models import MembershipPlan
from members.subscriptions.services import subscription_period_rewards_grant

from .models import Reward, Voucher
from .services import partner_codes_upload, reward_save

DEMO_REWARDS = [
    {
        "slug": "five-euro-off",
        "kind": Reward.Kind.FIXED_DISCOUNT,
        "name": "€5 off your next order",
        "category": "vouchers",
        "points_cost": 500,
        "value": Decimal("5.00"),
        "featured": True,
        "sort_order": 10,
        "description": "Take €5 off any order of €15 or more, in store or online.",
    },
    {
        "slug": "ten-percent-off",
        "kind": Reward.Kind.PERCENT_DISCOUNT,
        "name": "10% off a whole basket",
        "category": "vouchers",
        "points_cost": 800,
        "percent_off": Decimal("10"),
        "per_member_period_limit": 1,
        "period": Reward.Period.MONTH,
        "sort_order": 20,
        "description": "One basket, any size, 10% off. Once a month.",
    },
    {
        "slug": "free-flat-white",
        "kind": Reward.Kind.FREE_PRODUCT,
        "name": "A free flat white",
        "category": "coffee",
        "points_cost": 250,
        "value": Decimal("3.40"),
        "featured": True,
        "sort_order": 5,
        "description": "Any size, any milk. On us.",
    },
    {
        "slug": "enamel-mug",
        "kind": Reward.Kind.FREE_PRODUCT,
        "name": "Enamel camping mug (shipped)",
        "category": "homeware",
        "points_cost": 1200,
        "value": Decimal("14.00"),
        "stock": 40,
        "per_member_limit": 2,
        "requires_shipping": True,
        "sort_order": 30,
        "description": "Our signature mug, sent to your door.",
    },
    {
        "slug": "store-credit-10",
        "kind": Reward.Kind.STORE_CREDIT,
        "name": "€10 store credit",
        "category": "vouchers",
        "points_cost": 1000,
        "value": Decimal("10.00"),
        "sort_order": 40,
        "description": "Turn points into credit you can spend on anything.",
    },
    {
        "slug": "donate-food-bank",
        "kind": Reward.Kind.DONATION,
        "name": "Donate to the city food bank",
        "category": "giving",
        "points_cost": 100,
        "charity": "Amsterdam Food Bank",
        "featured": True,
        "sort_order": 50,
        "description": "Every 100 points becomes €1 for the food bank. Give as much as you like.",
    },
    {
        "slug": "cupping-masterclass",
        "kind": Reward.Kind.EXPERIENCE,
        "name": "Coffee cupping masterclass",
        "category": "experiences",
        "points_cost": 3000,
        "stock": 12,
        "per_member_limit": 2,
        "min_tier_rank": 1,
        "voucher_validity_days": 60,
        "sort_order": 60,
        "description": "Two hours with our roasters, tasting this season's beans. Silver members and above.",
    },
    {
        "slug": "citybikes-day-pass",
        "kind": Reward.Kind.PARTNER,
        "name": "CityBikes day pass",
        "category": "partners",
        "points_cost": 900,
        "partner_name": "CityBikes",
        "sort_order": 70,
        "description": "A day of cycling around town with our partner CityBikes.",
    },
]


def seed(*, stdout=None):
    tiers = {tier.rank: tier for tier in Tier.objects.all()}
    now = timezone.now()
    created = 0
    for spec in DEMO_REWARDS:
        spec = dict(spec)
        if Reward.objects.filter(slug=spec["slug"]).exists():
            continue
        rank = spec.pop("min_tier_rank", None)
        reward = Reward(**spec, min_tier=tiers.get(rank), available_from=now - timedelta(days=1))
        if reward.kind == Reward.Kind.PARTNER:
            reward.stock = 0
        reward_save(reward=reward, actor=None)
        if reward.kind == Reward.Kind.PARTNER:
            codes = "code\n" + "\n".join(f"CB-DEMO-{n:04d}" for n in range(1, 26))
            partner_codes_upload(reward=reward, file=io.BytesIO(codes.encode()))
        created += 1
    created += _seed_membership_rewards(now)
    _seed_partner_rewards(now)
    if stdout is not None:
        stdout.write(f"Rewards: {created} demo rewards created.")


def _seed_membership_rewards(now) -> int:
    """Paid membership in the catalogue: Plus's monthly voucher, a members-only reward, a members-only price and
    a reward Premium members see a week early; then the demo subscriber gets this period's voucher (once)."""
    plans = {plan.slug: plan for plan in MembershipPlan.objects.filter(slug__in=["plus", "premium-year"])}
    if len(plans) < 2:
        return 0
    specs = [
        {
            "slug": "plus-monthly-voucher",
            "kind": Reward.Kind.FIXED_DISCOUNT,
            "name": "€3 Plus voucher",
            "category": "membership",
            "points_cost": 300,
            "value": Decimal("3.00"),
            "period_reward_plan": plans["plus"],
            "sort_order": 80,
            "description": "Every month of Plus brings one, free.",
        },
        {
            "slug": "roastery-tour",
            "kind": Reward.Kind.EXPERIENCE,
            "name": "Roastery tour (Premium)",
            "category": "experiences",
            "points_cost": 1200,
            "required_plan": plans["premium-year"],
            "sort_order": 85,
            "description": "A morning at our roastery, for Premium members.",
        },
        {
            "slug": "travel-mug",
            "kind": Reward.Kind.FREE_PRODUCT,
            "name": "Travel mug",
            "category": "homeware",
            "points_cost": 900,
            "member_points_cost": 600,
            "sort_order": 90,
            "description": "Keeps coffee hot for hours. Paid members pay fewer points.",
        },
        {
            "slug": "winter-blend-preview",
            "kind": Reward.Kind.FREE_PRODUCT,
            "name": "Winter blend, before release",
            "category": "coffee",
            "points_cost": 700,
            "sort_order": 95,
            "description": "Opens to everyone tomorrow; paid members with early access can have it now.",
            "available_from": now + timedelta(days=1),
        },
    ]
    created = 0
    for spec in specs:
        if Reward.objects.filter(slug=spec["slug"]).exists():
            continue
        spec.setdefault("available_from", now - timedelta(days=1))
        reward_save(reward=Reward(**spec), actor=None)
        created += 1
    subscription_period_rewards_grant(now=timezone.now())
    return created


DEMO_PARTNER_REWARDS = [
    # (partner slug, reward slug, name, points, value)
    ("cafe-noir", "cafe-noir-espresso", "A free espresso at Café Noir", 150, "2.50"),
    ("cinema-lux", "cinema-lux-ticket", "€5 off a Cinema Lux ticket", 450, "5.00"),
]


def _seed_partner_rewards(now):
    """A reward usable only at each demo partner; the demo member redeems Café Noir's and uses it there last
    month, and pays with points at Cinema Lux, so both partners have points redeemed to settle."""
    from members.demo import DEMO_MEMBER_EMAIL
    from members.models import Member, Partner, PointPayment
    from members.months import add_months
    from members.services.point_payments import point_payment_make

    from .services import reward_redeem, voucher_use

    partners = {partner.slug: partner for partner in Partner.objects.filter(slug__in=["cafe-noir", "cinema-lux"])}
    member = Member.objects.filter(user__email=DEMO_MEMBER_EMAIL).first()
    if len(partners) < 2 or member is None:
        return
    for partner_slug, slug, name, points, value in DEMO_PARTNER_REWARDS:
        if not Reward.objects.filter(slug=slug).exists():
            reward_save(
                reward=Reward(
                    slug=slug,
                    kind=Reward.Kind.FIXED_DISCOUNT,
                    name=name,
                    category="partners",
                    points_cost=points,
                    value=Decimal(value),
                    redeemable_at=partners[partner_slug],
                    available_from=now - timedelta(days=1),
                    sort_order=50,
                    description=f"Show the code at any {partners[partner_slug].name} till.",
                ),
                actor=None,
            )
    last_month = add_months(timezone.localdate().replace(day=1), -1)
    used_at = timezone.make_aware(datetime.combine(last_month.replace(day=20), time(15)))
    espresso = Reward.objects.get(slug="cafe-noir-espresso")
    if not Voucher.objects.filter(reward=espresso, member=member).exists():
        redemption = reward_redeem(member=member, reward=espresso, idempotency_key="demo:espresso")
        voucher_use(code=redemption.voucher.code, partner=partners["cafe-noir"], now=used_at)
    if not PointPayment.objects.filter(source="demo-partner:cinema-lux", external_id="CL-PAY-1").exists():
        point_payment_make(
            member=member,
            points=200,
            external_id="CL-PAY-1",
            source="demo-partner:cinema-lux",
            partner=partners["cinema-lux"],
            now=used_at,
        )
