from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.models import MONEY

from ..models import Redemption, Reward, Voucher

Money = {"max_digits": MONEY["max_digits"], "decimal_places": MONEY["decimal_places"]}


class RewardOutSerializer(serializers.ModelSerializer):
    min_tier = serializers.CharField(source="min_tier.name", allow_null=True, default=None)
    required_plan = serializers.CharField(
        source="required_plan.slug",
        allow_null=True,
        default=None,
        help_text="Members-only: the membership plan whose subscribers may redeem it.",
    )
    redeemable_at = serializers.CharField(
        source="redeemable_at.slug", allow_null=True, default=None, help_text=_("The partner whose tills take it.")
    )

    class Meta:
        model = Reward
        fields = [
            "id",
            "slug",
            "kind",
            "name",
            "description",
            "category",
            "points_cost",
            "value",
            "percent_off",
            "min_tier",
            "available_from",
            "available_until",
            "stock",
            "per_member_limit",
            "featured",
            "requires_shipping",
            "charity",
            "partner_name",
            "required_plan",
            "member_points_cost",
            "redeemable_at",
        ]


class ShippingAddressInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    postcode = serializers.CharField(max_length=20)
    city = serializers.CharField(max_length=100)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", help_text=_("ISO 3166 alpha-2."))


class RedemptionInSerializer(serializers.Serializer):
    reward = serializers.SlugField(max_length=140, help_text=_("The reward's slug."))
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    points = serializers.IntegerField(
        min_value=1, max_value=10**12, required=False, help_text=_("Donations only: how many points to give.")
    )
    shipping_address = ShippingAddressInSerializer(required=False, help_text=_("Physical rewards only."))


class VoucherOutSerializer(serializers.ModelSerializer):
    reward = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reward_name = serializers.CharField(source="reward.name")

    class Meta:
        model = Voucher
        fields = [
            "code",
            "state",
            "reward",
            "reward_name",
            "value",
            "percent_off",
            "issued_at",
            "expires_at",
            "used_at",
            "purchase_reference",
        ]


class RedemptionOutSerializer(serializers.ModelSerializer):
    reward = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    member_number = serializers.CharField()
    voucher = serializers.SerializerMethodField()
    balance = serializers.IntegerField(help_text=_("The member's spendable balance afterwards."))
    replayed = serializers.BooleanField()

    class Meta:
        model = Redemption
        fields = [
            "id",
            "member_number",
            "reward",
            "quantity",
            "points_spent",
            "status",
            "fulfilment_status",
            "charity",
            "created_at",
            "voucher",
            "balance",
            "replayed",
        ]

    @extend_schema_field(VoucherOutSerializer(allow_null=True))
    def get_voucher(self, redemption):
        voucher = getattr(redemption, "voucher", None)  # None when the reward issues no voucher
        return VoucherOutSerializer(voucher).data if voucher is not None else None


class RefusalOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class VoucherCheckOutSerializer(VoucherOutSerializer):
    redeemable_at = serializers.CharField(
        source="reward.redeemable_at.slug",
        allow_null=True,
        default=None,
        help_text=_("The partner whose tills alone take it; null: the operator's."),
    )
    usable = serializers.BooleanField()
    refusal = RefusalOutSerializer(allow_null=True, help_text=_("Why it cannot be used now, if it cannot."))

    class Meta(VoucherOutSerializer.Meta):
        fields = [*VoucherOutSerializer.Meta.fields, "redeemable_at", "usable", "refusal"]


class VoucherLookupInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text=_("The voucher code as typed or scanned at the till."))


class VoucherUseInSerializer(serializers.Serializer):
    purchase_external_id = serializers.CharField(
        max_length=100, required=False, help_text=_("A purchase this integration recorded, if any.")
    )
    purchase_reference = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text=_("The till's receipt id.")
    )
