"""Request validation and response shapes of the members API. Serializers validate and shape; services decide."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import MONEY, LedgerEntry, Purchase
from ..services.purchases import MAX_LINES

Money = {"max_digits": MONEY["max_digits"], "decimal_places": MONEY["decimal_places"]}
MAX_AMOUNT = Decimal(10) ** (MONEY["max_digits"] - MONEY["decimal_places"]) - Decimal("0.01")
#: Purchases older than this are back-filled by staff imports, not sent by tills.
MAX_PURCHASE_AGE = timedelta(days=366 * 5)


# --- Purchases -----------------------------------------------------------------------------------------------------


class PurchaseLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit_price = serializers.DecimalField(**Money, min_value=0)


class PurchaseInSerializer(serializers.Serializer):
    member = serializers.CharField(max_length=254, help_text=_("Member number, card number or email address."))
    external_id = serializers.CharField(max_length=100, help_text=_("The till's or shop's id; unique per key."))
    occurred_at = serializers.DateTimeField()
    channel = serializers.ChoiceField(choices=Purchase.Channel.choices, default=Purchase.Channel.IN_STORE)
    store = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text=_("ISO 4217; default: program's."))
    total = serializers.DecimalField(**Money, min_value=0, required=False)
    lines = PurchaseLineInSerializer(many=True, min_length=1, max_length=MAX_LINES)

    def validate_occurred_at(self, value):
        now = timezone.now()
        if value > now + timedelta(minutes=5):
            raise serializers.ValidationError(_("The purchase date is in the future."))
        if value < now - MAX_PURCHASE_AGE:
            raise serializers.ValidationError(_("The purchase is too old to be sent through the API."))
        return value

    def validate(self, attrs):
        if sum((line["unit_price"] * line["quantity"] for line in attrs["lines"]), Decimal(0)) > MAX_AMOUNT:
            raise serializers.ValidationError({"lines": [_("The basket's total is too large.")]})
        return attrs


class PurchasePreviewInSerializer(PurchaseInSerializer):
    member = serializers.CharField(
        max_length=254, required=False, allow_blank=True, help_text=_("Optional: preview with the member's tier.")
    )
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False)


class PurchaseLineOutSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**Money)
    points = serializers.IntegerField()


class BonusOutSerializer(serializers.Serializer):
    label = serializers.CharField()
    points = serializers.IntegerField()
    pending = serializers.BooleanField()
    campaign_id = serializers.IntegerField(allow_null=True)


class PurchaseOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    member_number = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    channel = serializers.CharField()
    store = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(**Money)
    eligible_amount = serializers.DecimalField(**Money)
    points_earned = serializers.IntegerField(help_text=_("Base, rule and bonus points together."))
    points_pending = serializers.IntegerField(help_text=_("Of which still in the return window."))
    base_points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    bonuses = BonusOutSerializer(many=True)
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


class PreviewLineOutSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**Money)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
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
        many=True, required=False, min_length=1, max_length=MAX_LINES, help_text=_("Omit for a full refund.")
    )


class RefundOutSerializer(serializers.Serializer):
    refund_id = serializers.CharField()
    external_id = serializers.CharField()
    amount = serializers.DecimalField(**Money)
    points_clawed_back = serializers.IntegerField()
    refunded_total = serializers.DecimalField(**Money, help_text=_("Refunded on this purchase so far."))
    balance = serializers.IntegerField()
    pending = serializers.IntegerField()
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
        if value is not None and value > timezone.localdate():
            raise serializers.ValidationError(_("The birthday is in the future."))
        return value


class TierOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()
    colour = serializers.CharField()


class TierProgressOutSerializer(serializers.Serializer):
    basis = serializers.CharField(help_text=_("points or spend"))
    value = serializers.DecimalField(**Money)
    next_tier = serializers.CharField(allow_null=True)
    next_threshold = serializers.DecimalField(**Money, allow_null=True)
    remaining = serializers.DecimalField(**Money, allow_null=True)
    percent = serializers.IntegerField()


class ExpiringOutSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    first_expiry = serializers.DateTimeField(allow_null=True)
    within_days = serializers.IntegerField()


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


class MemberDetailOutSerializer(MemberOutSerializer):
    tier_progress = TierProgressOutSerializer()
    expiring_soon = ExpiringOutSerializer()


class MemberLookupQuerySerializer(serializers.Serializer):
    card_number = serializers.CharField(max_length=19, required=False)
    email = serializers.EmailField(max_length=254, required=False)

    def validate(self, attrs):
        if bool(attrs.get("card_number")) == bool(attrs.get("email")):
            raise serializers.ValidationError(_("Give exactly one of card_number or email."))
        return attrs


class LedgerEntryOutSerializer(serializers.ModelSerializer):
    purchase_external_id = serializers.CharField(source="purchase.external_id", allow_null=True, default=None)

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
            "created_at",
        ]
