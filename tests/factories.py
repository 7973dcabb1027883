"""factory-boy factories. Members are created through the enrolment service, as sign-up does."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from members.models import EarningRule, Tier, User
from members.services import member_enroll


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    is_staff = True


class SuperUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"admin{n}@example.com")
    is_staff = True
    is_superuser = True


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("rank",)

    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 10)
    threshold = Decimal("0")
    earn_multiplier = Decimal("1.0")


class EarningRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EarningRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = EarningRule.Kind.SPEND
    rate = Decimal("1")


def member_factory(**kwargs):
    """A member enrolled through the service, with a user from ``UserFactory(**user_kwargs)``."""
    member_fields = {k: kwargs.pop(k) for k in ("birthday", "phone", "marketing_consent", "channel") if k in kwargs}
    user = kwargs.pop("user", None) or UserFactory(**kwargs)
    return member_enroll(user=user, **member_fields)


class MemberFactory:
    """``MemberFactory()`` / ``MemberFactory(email=...)`` — callable like a factory-boy factory."""

    def __new__(cls, **kwargs):
        return member_factory(**kwargs)

    @classmethod
    def create_batch(cls, size, **kwargs):
        return [member_factory(**kwargs) for _ in range(size)]


def now():
    return timezone.now()


# --- rewards ------------------------------------------------------------------------------------------------------


class RewardFactory(factory.django.DjangoModelFactory):
    """A €5 discount voucher for 500 points by default; pass ``kind=`` and the fields that kind needs."""

    class Meta:
        model = "rewards.Reward"

    kind = "fixed_discount"
    name = factory.Sequence(lambda n: f"Reward {n}")
    slug = factory.Sequence(lambda n: f"reward-{n}")
    description = "A reward for loyal customers."
    category = "vouchers"
    points_cost = 500
    value = Decimal("5.00")


def points_give(member, points, *, key=None):
    """Credit ``points`` to a member through the ledger (a staff adjustment)."""
    from members.services import points_adjust

    return points_adjust(
        member=member,
        points=points,
        reason="test credit",
        actor=None,
        idempotency_key=key or f"test-credit:{member.pk}:{timezone.now().timestamp()}:{points}",
    )


# --- referrals ------------------------------------------------------------------------------------------------


def referral_program_set(**fields):
    """Change the referral program's rules for a test (saving clears the cached copy)."""
    from referrals.selectors import referral_program_get

    program = referral_program_get()
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()
    return program


def referral_code_for(member):
    from referrals.services import referral_code_get_or_create

    return referral_code_get_or_create(member=member)


def referred_friend(referrer, *, code=None, request_meta=None, now=None, **member_kwargs):
    """A new member attached to ``referrer`` through the service, as sign-up does; returns (friend, referral)."""
    from referrals.services import referral_attach

    friend = member_factory(**member_kwargs)
    referral = referral_attach(
        friend=friend, code=code or referral_code_for(referrer).code, request_meta=request_meta, now=now
    )
    return friend, referral


_referral_purchase_ids = iter(range(1, 10**9))


def referral_purchase(member, amount="20.00", *, external_id=None, occurred_at=None):
    """Record a one-line purchase of ``amount`` (EUR) for ``member`` through the purchase service."""
    from members.services.purchases import PurchaseLineInput, purchase_record

    return purchase_record(
        member=member,
        external_id=external_id or f"REF-{next(_referral_purchase_ids)}",
        lines=[PurchaseLineInput(sku="SKU-1", quantity=1, unit_price=Decimal(amount))],
        channel="in_store",
        occurred_at=occurred_at or timezone.now(),
        currency="EUR",
    )


class DisposableEmailDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "referrals.DisposableEmailDomain"
        django_get_or_create = ("domain",)

    domain = factory.Sequence(lambda n: f"throwaway{n}.example")


# --- webhooks -------------------------------------------------------------------------------------------------


def webhook_endpoint_for(events, *, name="Shop", audience="program"):
    """An active endpoint (on a fresh API key) subscribed to ``events``; nothing listens at its URL, so only the
    delivery rows matter (tests never run the after-commit send unless they capture it).

    Program-wide by default (as if staff granted it), so that it hears the events services raise outside an API
    request; ``audience="own"`` for one that hears only its own key's requests."""
    from integrations.services import api_key_create, webhook_endpoint_create

    api_key, _raw = api_key_create(name=name, scopes=[])
    return webhook_endpoint_create(
        api_key=api_key, url="http://127.0.0.1:9/hooks", events=list(events), audience=audience
    )


# --- campaigns ------------------------------------------------------------------------------------------------


def segment_factory(**kwargs):
    """A segment; ``tiers`` (a list) is set after saving."""
    from campaigns.models import Segment

    tiers = kwargs.pop("tiers", None)
    kwargs.setdefault("name", f"Segment {Segment.objects.count() + 1}-{timezone.now().timestamp()}")
    segment = Segment.objects.create(**kwargs)
    if tiers:
        segment.tiers.set(tiers)
    return segment


def campaign_factory(**kwargs):
    """A running campaign (active, started yesterday, ending in a week) unless told otherwise.

    Written straight to the table, like data that is already there; lifecycle tests use the services.
    """
    from campaigns.engine import campaigns_cache_invalidate
    from campaigns.models import Campaign

    moment = timezone.now()
    kwargs.setdefault("name", f"Campaign {Campaign.objects.count() + 1}")
    kwargs.setdefault("kind", Campaign.Kind.MULTIPLIER)
    kwargs.setdefault("status", Campaign.Status.ACTIVE)
    kwargs.setdefault("starts_at", moment - timezone.timedelta(days=1))
    kwargs.setdefault("ends_at", moment + timezone.timedelta(days=7))
    if kwargs["kind"] == Campaign.Kind.MULTIPLIER:
        kwargs.setdefault("multiplier", Decimal("2"))
    if kwargs["status"] != Campaign.Status.DRAFT:
        kwargs.setdefault("launched_at", kwargs["starts_at"])
    campaign = Campaign.objects.create(**kwargs)
    campaigns_cache_invalidate()
    return campaign


def buy(
    member,
    amount="10.00",
    *,
    external_id=None,
    category="coffee",
    sku="COF-1",
    channel="in_store",
    store="",
    occurred_at=None,
    quantity=1,
    lines=None,
    partner=None,
    now=None,
):
    """Record a purchase for ``member`` through the service (one line unless ``lines`` is given); ``partner``
    records it at that coalition partner, ``now`` when it is recorded (a late till batch)."""
    from members.services.purchases import PurchaseLineInput, purchase_record

    buy.counter = getattr(buy, "counter", 0) + 1
    if lines is None:
        lines = [PurchaseLineInput(sku=sku, quantity=quantity, unit_price=Decimal(amount), category=category)]
    return purchase_record(
        member=member,
        external_id=external_id or f"T-{buy.counter}-{timezone.now().timestamp()}",
        lines=lines,
        channel=channel,
        store=store,
        occurred_at=occurred_at or now or timezone.now(),
        currency="EUR",
        partner=partner,
        now=now,
    )


# --- earning actions and feedback ------------------------------------------------------------------------------


def earning_action_factory(**fields):
    """An earning action (default: a 50-point ``review``), created as staff would in the admin."""
    from members.models import EarningAction

    values = {"code": "review", "name": "Write a review", "points": 50, **fields}
    return EarningAction.objects.create(**values)


# --- coalition partners -----------------------------------------------------------------------------------------


def partner_factory(*, name="Café Noir", slug=None, rate_from=None, price="0.010000", reimbursement="0.008000", **kw):
    """A partner with one rate row in force from ``rate_from`` (default: a year ago)."""
    from members.models import Partner, PartnerRate

    partner = Partner.objects.create(name=name, slug=slug or name.lower().replace(" ", "-").replace("é", "e"), **kw)
    PartnerRate.objects.create(
        partner=partner,
        effective_from=rate_from or timezone.now() - timedelta(days=365),
        price_per_point_issued=Decimal(price),
        reimbursement_per_point_redeemed=Decimal(reimbursement),
    )
    return partner


def partner_client(partner, scopes=None, name=None):
    """An API client sending a key that belongs to ``partner`` (all scopes unless given)."""
    from rest_framework.test import APIClient

    from integrations import registry
    from integrations.services import api_key_create

    api_key, raw_key = api_key_create(
        name=name or f"{partner.name} tills",
        scopes=sorted(registry.scopes) if scopes is None else scopes,
        owner=partner.owner_label,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    client.api_key, client.raw_key = api_key, raw_key
    return client
