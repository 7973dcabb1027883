"""Request validation and response shapes of the paid-membership endpoints. Serializers validate and shape;
``members.subscriptions.services`` decides."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import MONEY
from .fields import AwareDateTimeField, FeeField

Money = {"max_digits": MONEY["max_digits"], "decimal_places": MONEY["decimal_places"]}


class BenefitsField(serializers.DictField):
    """A plan's benefits; decimals leave as strings, like every decimal of the API."""

    def to_representation(self, value):
        return _plain(value)


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class PlanOutSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(**Money)
    currency = serializers.CharField()
    period = serializers.CharField(help_text=_("`month` or `year`."))
    trial_days = serializers.IntegerField()
    benefits = BenefitsField(help_text=_("What the plan adds over the free program."))


class SubscriptionStartInSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=80, help_text=_("The plan's slug."))
    external_id = serializers.CharField(max_length=100, help_text=_("The payment provider's subscription id."))
    paid_amount = FeeField(required=False, help_text=_("Default: the price."))
    trial = serializers.BooleanField(default=False)
    started_at = AwareDateTimeField(required=False)


class RenewalInSerializer(serializers.Serializer):
    paid_amount = FeeField()
    period_end = AwareDateTimeField(
        required=False, help_text=_("Default: one plan period after the current period's end.")
    )


class CancelInSerializer(serializers.Serializer):
    at_period_end = serializers.BooleanField()


class PlanChangeInSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=80)


class ShippingSavedInSerializer(serializers.Serializer):
    amount = FeeField(help_text=_("The shipping fee the member did not pay."))
    reference = serializers.CharField(max_length=100, help_text=_("The order it was for; counted once."))


class SubscriptionOutSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    external_id = serializers.CharField(required=False)
    plan = serializers.CharField()
    plan_name = serializers.CharField()
    status = serializers.CharField(help_text=_("trialing, active, past_due, cancelled or expired."))
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField()
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    grace_until = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    pending_plan = serializers.CharField(allow_null=True, help_text=_("A downgrade waiting for the next renewal."))
    benefits_active = serializers.BooleanField()
    benefits = BenefitsField(allow_null=True)
    free_shipping = serializers.BooleanField()
    replayed = serializers.BooleanField(required=False, help_text=_("True when nothing changed (a repeat)."))
