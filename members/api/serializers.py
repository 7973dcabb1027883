"""Request validation and response shapes of the members API. Serializers validate and shape; services decide."""

import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.api.schema import BoundedListSerializer

from .. import purchase_rules as rules
from ..member_rules import MAX_AGE_YEARS, birthday_problem
from ..models import MONEY, LedgerEntry, Purchase
from ..selectors import EXPIRY_SOON_DAYS, program_settings_get
from ..services.purchases import PurchaseDiscountInput, PurchaseLineInput
from .fields import AwareDateTimeField
from .subscription_serializers import BenefitsField

Money = {"max_digits": MONEY["max_digits"], "decimal_places": MONEY["decimal_places"]}


# --- Purchases -----------------------------------------------------------------------------------------------------
#
# The purchase fields below only parse (JSON types): the purchase rules (dates, lines, amounts) are
# ``members.purchase_rules``, run in ``PurchaseInSerializer.validate()``, so a till gets the refusals and messages
# that ``purchase_record`` and the CSV importer give. The schema still shows the rules' limits.

_WHOLE_DIGITS = MONEY["max_digits"] - MONEY["decimal_places"]
#: What an amount looks like before the rules judge its value (ASCII digits only: ``\d`` would take any script's).
_AMOUNT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
#: The amounts the rules accept, as a pattern: at most 10 whole digits after any leading zeros, at most two
#: decimals after which only zeros ("1.50", "1.500"), no sign (negative amounts are refused).
_MONEY_SCHEMA = {
    "type": "string",
    "format": "decimal",
    "pattern": rf"^0*[0-9]{{1,{_WHOLE_DIGITS}}}(?:\.[0-9]{{1,{MONEY['decimal_places']}}}0*)?$",
}


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": rules.MAX_SKU_LENGTH})
class SkuField(serializers.CharField):
    def run_validation(self, data=serializers.empty):
        # A blank SKU is the rules' to refuse, with their message; the schema still says it is required.
        if isinstance(data, str) and not data.strip():
            return ""
        return super().run_validation(data)


@extend_schema_field({"type": "string", "maxLength": rules.MAX_CATEGORY_LENGTH})
class CategoryField(serializers.CharField):
    pass


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": rules.MAX_QUANTITY})
class QuantityField(serializers.IntegerField):
    pass


@extend_schema_field(_MONEY_SCHEMA)
class AmountField(serializers.DecimalField):
    """A decimal string of ASCII digits (``"12.50"``, ``"-1"``); whether it is an amount of money is for the rules
    to say.

    Python's ``Decimal`` reads any script's digits ("١٢٫٥" too) and JSON numbers arrive as binary floats, so both
    are refused here, before DRF's parsing: an amount is exactly what the schema's pattern describes.
    """

    default_error_messages = {
        "not_a_string": _('Send amounts as strings of digits, like "12.50".'),
        "invalid": _('The amount must be digits with an optional decimal point, like "12.50".'),
    }

    def __init__(self, **kwargs):
        super().__init__(max_digits=None, decimal_places=None, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not _AMOUNT_TEXT.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class PurchaseLineInSerializer(serializers.Serializer):
    class Meta:
        list_serializer_class = BoundedListSerializer

    sku = SkuField()
    category = CategoryField(required=False, allow_blank=True, default="")
    quantity = QuantityField()
    unit_price = AmountField()


class PurchaseDiscountInSerializer(serializers.Serializer):
    code = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The discount or voucher code; a voucher of ours is marked used on this purchase."),
    )
    amount = AmountField(help_text=_("What was taken off, as a positive amount."))
    kind = serializers.ChoiceField(
        choices=[("order", "order"), ("line", "line")],
        error_messages={"invalid_choice": _('A discount\'s kind is "order" or "line".')},
        help_text=_("`order` (shared over the lines that earn) or `line`."),
    )
    line_number = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=rules.MAX_LINES,
        help_text=_("For `line` discounts: the line, from 1."),
    )


class PurchaseInSerializer(serializers.Serializer):
    member = serializers.CharField(max_length=254, help_text=_("Member number, card number or email address."))
    external_id = serializers.CharField(max_length=100, help_text=_("The till's or shop's id; unique per key."))
    occurred_at = AwareDateTimeField()
    channel = serializers.ChoiceField(choices=Purchase.Channel.choices, default=Purchase.Channel.IN_STORE)
    store = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text=_("ISO 4217; default: program's."))
    total = AmountField(required=False)
    # The rules' own limits and messages, stated in the schema too (minItems, maxItems).
    lines = PurchaseLineInSerializer(
        many=True,
        min_length=1,
        max_length=rules.MAX_LINES,
        error_messages={
            "min_length": _("A purchase needs at least one line."),
            "max_length": _("A purchase can have at most {max_length} lines."),
        },
    )
    point_payments = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=20,
        help_text=_(
            "External ids of point payments (POST …/point-payments/) that paid for part of this purchase; payments "
            "that named this purchase in `purchase_external_id` are found without being listed."
        ),
    )

    discounts = PurchaseDiscountInSerializer(
        many=True,
        required=False,
        help_text=_("Discounts applied at the till; `total` must then be the lines less the discounts."),
    )

    def validate(self, attrs):
        program = program_settings_get()
        discounts = None
        if "discounts" in attrs:
            discounts = [PurchaseDiscountInput(**discount) for discount in attrs["discounts"]]
        errors = rules.purchase_errors(
            lines=[PurchaseLineInput(**line) for line in attrs["lines"]],
            external_id=attrs.get("external_id"),
            occurred_at=attrs.get("occurred_at"),
            now=timezone.now(),
            total=attrs.get("total"),
            discounts=discounts,
            max_line_amount=program.max_line_amount,
            max_purchase_amount=program.max_purchase_amount,
        )
        if errors:
            raise serializers.ValidationError(rules.errors_by_field(errors))
        # The rules allow at most cents, so this only gives every amount its two decimals ("3.5" → 3.50).
        for line in attrs["lines"]:
            line["unit_price"] = line["unit_price"].quantize(rules.CENT)
        for discount in attrs.get("discounts", ()):
            discount["amount"] = discount["amount"].quantize(rules.CENT)
        if attrs.get("total") is not None:
            attrs["total"] = attrs["total"].quantize(rules.CENT)
        return attrs


class PurchasePreviewInSerializer(PurchaseInSerializer):
    member = serializers.CharField(
        max_length=254, required=False, allow_blank=True, help_text=_("Optional: preview with the member's tier.")
    )
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    occurred_at = AwareDateTimeField(required=False)


class PurchaseLineOutSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**Money)
    discount = serializers.DecimalField(**Money, help_text=_("Its own discounts and its share of the order's."))
    points = serializers.IntegerField()


class DiscountOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.CharField()
    line_number = serializers.IntegerField(allow_null=True)
    amount = serializers.DecimalField(**Money)


class BonusOutSerializer(serializers.Serializer):
    label = serializers.CharField()
    points = serializers.IntegerField()
    pending = serializers.BooleanField()
    campaign_id = serializers.IntegerField(allow_null=True)


class PurchaseOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    member_number = serializers.CharField()
    occurred_at = AwareDateTimeField()
    channel = serializers.CharField()
    store = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(**Money)
    discount_total = serializers.DecimalField(**Money, help_text=_("The lines add up to total + discount_total."))
    discounts = DiscountOutSerializer(many=True)
    eligible_amount = serializers.DecimalField(**Money)
    points_earned = serializers.IntegerField(help_text=_("Base, rule and bonus points together."))
    points_pending = serializers.IntegerField(help_text=_("Of which still in the return window."))
    base_points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    bonuses = BonusOutSerializer(many=True)
    points_paid = serializers.IntegerField(help_text=_("Points the member paid with for this purchase."))
    points_paid_amount = serializers.DecimalField(**Money, help_text=_("What those points were worth."))
    money_paid = serializers.DecimalField(**Money, help_text=_("The total less what points paid: what earns."))
    lines = PurchaseLineOutSerializer(many=True)
    balance = serializers.IntegerField(help_text=_("The member's spendable balance afterwards."))
    pending = serializers.IntegerField(help_text=_("The member's pending points afterwards."))
    replayed = serializers.BooleanField(help_text=_("True when this external id was already recorded."))


class StepOutSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    rule = serializers.CharField()
    kind = serializers.CharField()
    points = serializers.DecimalField(max_digits=20, decimal_places=4, help_text=_("Unrounded points added."))
    detail = serializers.CharField()
    line_numbers = serializers.ListField(child=serializers.IntegerField())
    campaign_id = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField(
        allow_null=True, help_text=_("The earning rule's priority within its stage; null for tier, cap and bonuses.")
    )
    stops_further_rules = serializers.BooleanField(
        help_text=_("True when this rule stopped the rules after it from applying to its lines.")
    )


class PreviewLineOutSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**Money)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    discount = serializers.DecimalField(max_digits=20, decimal_places=2)
    base_points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    points = serializers.IntegerField()


class PreviewBonusOutSerializer(serializers.Serializer):
    label = serializers.CharField()
    points = serializers.IntegerField()
    detail = serializers.CharField()
    campaign_id = serializers.IntegerField(allow_null=True)


class PreviewOutSerializer(serializers.Serializer):
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=20, decimal_places=2)
    eligible_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    base_points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    total_points = serializers.IntegerField()
    capped = serializers.BooleanField()
    lines = PreviewLineOutSerializer(many=True)
    steps = StepOutSerializer(many=True, help_text=_("Every rule and campaign that applied, in order."))
    bonuses = PreviewBonusOutSerializer(many=True)


# --- Refunds -------------------------------------------------------------------------------------------------------


class RefundLineInSerializer(serializers.Serializer):
    class Meta:
        list_serializer_class = BoundedListSerializer

    line_number = serializers.IntegerField(min_value=1, required=False)
    sku = serializers.CharField(max_length=64, required=False)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)

    def validate(self, attrs):
        if "line_number" not in attrs and not attrs.get("sku"):
            raise serializers.ValidationError(_("Give a line_number or a sku."))
        return attrs


class RefundInSerializer(serializers.Serializer):
    refund_id = serializers.CharField(
        max_length=100, required=False, help_text=_("The till's refund id; default: the Idempotency-Key.")
    )
    lines = RefundLineInSerializer(
        many=True,
        required=False,
        min_length=1,
        max_length=rules.MAX_LINES,
        error_messages={"min_length": _("Give at least one line, or leave lines out for a full refund.")},
        help_text=_("Omit for a full refund."),
    )


class RefundOutSerializer(serializers.Serializer):
    refund_id = serializers.CharField()
    external_id = serializers.CharField()
    amount = serializers.DecimalField(**Money)
    points_clawed_back = serializers.IntegerField()
    points_returned = serializers.IntegerField(help_text=_("Points the member had paid with, given back first."))
    refunded_total = serializers.DecimalField(**Money, help_text=_("Refunded on this purchase so far."))
    balance = serializers.IntegerField()
    pending = serializers.IntegerField()
    replayed = serializers.BooleanField()


# --- Point payments ------------------------------------------------------------------------------------------------


class PointPaymentInSerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=1, help_text=_("Points to pay with."))
    external_id = serializers.CharField(max_length=100, help_text=_("The till's payment id; unique per key."))
    purchase_external_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The purchase it pays for, when the till records that purchase afterwards."),
    )


class PointPaymentOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    member_number = serializers.CharField(source="member.member_number")
    points = serializers.IntegerField()
    point_value = serializers.DecimalField(max_digits=9, decimal_places=4)
    amount = serializers.DecimalField(**Money, help_text=_("What the points paid, in `currency`."))
    currency = serializers.CharField()
    status = serializers.CharField(help_text=_("`completed` or `cancelled`."))
    purchase_external_id = serializers.CharField(help_text=_("The purchase it pays (or will pay) for, if any."))
    purchase_recorded = serializers.BooleanField(help_text=_("Whether that purchase has been recorded."))
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    balance = serializers.IntegerField(help_text=_("The member's spendable balance afterwards."))
    replayed = serializers.BooleanField()


# --- Members -------------------------------------------------------------------------------------------------------


class MemberEnrolInSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    marketing_consent = serializers.BooleanField(required=False, default=False)
    referral_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    def validate_birthday(self, value):
        problem = None if value is None else birthday_problem(value, today=timezone.localdate())
        if problem == "future":
            raise serializers.ValidationError(_("The birthday is in the future."))
        if problem == "too_old":
            raise serializers.ValidationError(
                _("The birthday is more than %(years)s years ago.") % {"years": MAX_AGE_YEARS}
            )
        return value


class TierOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()
    colour = serializers.CharField()


class TierProgressOutSerializer(serializers.Serializer):
    """Shapes ``members.selectors.TierProgress``; the field names are the API's, kept stable."""

    basis = serializers.CharField(help_text=_("points or spend"))
    value = serializers.DecimalField(
        **Money, source="qualifying_value", help_text=_("Qualifying value in the current window.")
    )
    next_tier = serializers.CharField(source="next_tier.name", allow_null=True, help_text=_("Null at the top."))
    next_threshold = serializers.DecimalField(**Money, source="next_tier.threshold", allow_null=True)
    remaining = serializers.SerializerMethodField(help_text=_("Value still missing for the next tier."))
    percent = serializers.IntegerField(help_text=_("0–100 towards the next tier; 100 at the top."))
    needed_to_keep = serializers.DecimalField(
        **Money, help_text=_("Value still missing, in the window that counts at the review, to keep the tier.")
    )
    window_end = serializers.DateField(help_text=_("Last day of the current qualification window."))
    review_date = serializers.DateField(allow_null=True, help_text=_("When the current tier is reviewed."))

    @extend_schema_field(serializers.DecimalField(**Money, allow_null=True))
    def get_remaining(self, progress) -> str | None:
        if progress.next_tier is None:
            return None
        return serializers.DecimalField(**Money).to_representation(progress.needed_for_next)


class ExpiringOutSerializer(serializers.Serializer):
    """Shapes ``members.selectors.MemberSummary``'s expiry fields."""

    points = serializers.IntegerField(source="expiring_points", help_text=_("Points expiring within the window."))
    first_expiry = serializers.DateTimeField(
        source="expiring_at", allow_null=True, help_text=_("When the first of them expire.")
    )
    within_days = serializers.SerializerMethodField()
    expiring_on = serializers.DateField(allow_null=True, help_text=_("The local date of first_expiry."))
    all_expire_on = serializers.DateField(
        allow_null=True, help_text=_("Activity-based expiry: the day all points expire unless the member shops.")
    )

    def get_within_days(self, summary) -> int:
        return EXPIRY_SOON_DAYS


class MemberOutSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    card_number = serializers.CharField()
    status = serializers.CharField()
    email = serializers.EmailField(source="user.email")
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")
    enrolled_at = serializers.DateTimeField()
    tier = TierOutSerializer(allow_null=True)
    balance = serializers.IntegerField(source="account.balance")
    pending = serializers.IntegerField(source="account.pending")
    owed = serializers.IntegerField(source="account.owed")
    lifetime_earned = serializers.IntegerField(source="account.lifetime_earned")
    lifetime_spent = serializers.IntegerField(source="account.lifetime_spent")


class MemberSubscriptionOutSerializer(serializers.Serializer):
    external_id = serializers.CharField(required=False, help_text=_("Only for the integration that reported it."))
    plan = serializers.CharField()
    plan_name = serializers.CharField()
    status = serializers.CharField()
    current_period_end = serializers.DateTimeField()
    cancel_at_period_end = serializers.BooleanField()
    grace_until = serializers.DateTimeField(allow_null=True)
    benefits_active = serializers.BooleanField()
    benefits = BenefitsField(allow_null=True)
    free_shipping = serializers.BooleanField()


class MemberDetailOutSerializer(MemberOutSerializer):
    """A member with ``tier_progress`` (a ``TierProgress``) and ``summary`` (a ``MemberSummary``) attached."""

    points_value = serializers.DecimalField(
        **Money, source="summary.value", help_text=_("What the balance is worth, in `currency`.")
    )
    currency = serializers.CharField(source="summary.currency")
    tier_progress = TierProgressOutSerializer()
    expiring_soon = ExpiringOutSerializer(source="summary")
    subscription = MemberSubscriptionOutSerializer(
        allow_null=True, help_text=_("Paid membership: the live subscription, else the latest; null if none.")
    )


class MemberLookupQuerySerializer(serializers.Serializer):
    card_number = serializers.CharField(max_length=19, required=False)
    email = serializers.EmailField(max_length=254, required=False)

    def validate(self, attrs):
        # DRF reads a blank, optional query parameter as absent; "?email=" is a mistake to name, not to ignore.
        blank = {name: [_("This field may not be blank.")] for name in self.fields if self.initial_data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        if bool(attrs.get("card_number")) == bool(attrs.get("email")):
            raise serializers.ValidationError(_("Give exactly one of card_number or email."))
        return attrs


class TillMemberOutSerializer(serializers.Serializer):
    """What a partner's till sees of a member: who the card belongs to in the program and what can be spent, no
    profile (no name, email, tier or history elsewhere)."""

    member_number = serializers.CharField()
    card_number = serializers.CharField()
    status = serializers.CharField()
    balance = serializers.IntegerField(source="account.balance")
    points_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class LedgerEntryOutSerializer(serializers.ModelSerializer):
    purchase_external_id = serializers.CharField(source="purchase.external_id", allow_null=True, default=None)
    partner = serializers.CharField(source="partner.slug", allow_null=True, default=None)
    partner_name = serializers.CharField(source="partner.name", allow_null=True, default=None)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "points",
            "pending_delta",
            "owed_delta",
            "balance_after",
            "description",
            "purchase_external_id",
            "partner",
            "partner_name",
            "created_at",
        ]
