"""Rewards API: the catalogue, redeeming for a member, and vouchers at the till. Thin: the rewards services
decide; errors are the rewards app's named exceptions, mapped by the API's one exception handler."""

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from integrations.api.base import IDEMPOTENCY_HEADER, LoyaltyAPIView, error_responses, idempotent, validated
from integrations.api.pagination import StrictCursorPagination
from members.api.views import request_partner
from members.models import Purchase
from members.selectors import member_get

from ..selectors import member_balance, reward_by_slug, rewards_available, voucher_check
from ..services import ShippingAddress, reward_redeem, voucher_use
from . import scopes
from . import serializers as s
from .filters import RewardFilter


class CataloguePagination(StrictCursorPagination):
    ordering = ("sort_order", "id")


class RewardListView(LoyaltyAPIView, ListAPIView):
    required_scopes = {"GET": (scopes.REWARDS_READ,)}
    serializer_class = s.RewardOutSerializer
    pagination_class = CataloguePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = RewardFilter

    def get_queryset(self):
        rewards = rewards_available().select_related("min_tier", "required_plan", "redeemable_at")
        partner = request_partner(self.request)
        if partner is not None:
            # A partner's till offers its own rewards only.
            rewards = rewards.filter(redeemable_at=partner)
        return rewards

    @extend_schema(
        operation_id="rewards_list",
        summary="Rewards available now (active, in their window, in stock)",
        responses={200: s.RewardOutSerializer(many=True), **error_responses(400, 404)},
        tags=["rewards"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MemberRedemptionView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.REDEMPTIONS_WRITE,)}

    @extend_schema(
        operation_id="members_redeem",
        summary="Redeem a reward for a member",
        description="Debits the member's points and issues the voucher (if the reward has one). 201 when "
        "redeemed, 200 when this Idempotency-Key already redeemed it. Refusals are 422 with codes such as "
        "`insufficient_points`, `out_of_stock`, `tier_too_low`, `limit_reached`, `not_available`.",
        request=s.RedemptionInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.RedemptionOutSerializer,
            200: s.RedemptionOutSerializer,
            **error_responses(400, 404, 409, 413, 422),
        },
        tags=["rewards"],
    )
    @idempotent
    def post(self, request, member_number):
        data = validated(s.RedemptionInSerializer, request.data)
        member = member_get(member_number=member_number)
        if member is None:
            raise NotFound(_("No member with this number."))
        reward = reward_by_slug(slug=data["reward"])
        partner = request_partner(request)
        if reward is None or (partner is not None and reward.redeemable_at_id != partner.pk):
            raise ValidationError({"reward": [_("No reward with this slug.")]})
        address = data.get("shipping_address")
        redemption = reward_redeem(
            member=member,
            reward=reward,
            quantity=data["quantity"],
            points=data.get("points"),
            shipping_address=ShippingAddress(**address) if address else None,
            idempotency_key=f"api:{request.auth.pk}:{request.headers['Idempotency-Key'].strip()}",
        )
        redemption.member_number = member.member_number
        redemption.balance = member_balance(member=member)  # read after every hook ran
        code = status.HTTP_200_OK if redemption.replayed else status.HTTP_201_CREATED
        return Response(s.RedemptionOutSerializer(redemption).data, status=code)


def _voucher_data(voucher, error=None) -> dict:
    voucher.usable = error is None
    voucher.refusal = {"code": error.code, "message": error.message} if error is not None else None
    return s.VoucherCheckOutSerializer(voucher).data


class VoucherDetailView(LoyaltyAPIView):
    required_scopes = {"GET": (scopes.VOUCHERS_READ, scopes.VOUCHERS_REDEEM)}

    @extend_schema(
        operation_id="vouchers_check",
        summary="Check a voucher without using it",
        description="`usable` says whether a till may accept it now; `refusal` says why not.",
        responses={200: s.VoucherCheckOutSerializer, **error_responses(404)},
        tags=["vouchers"],
    )
    def get(self, request, code):
        check = voucher_check(code=code, partner=request_partner(request))
        if check.voucher is None:
            raise check.error
        return Response(_voucher_data(check.voucher, check.error))


class VoucherLookupView(LoyaltyAPIView):
    """The preferred way to check a voucher: the code travels in the body, so it never lands in access logs or
    proxies' URL records (a voucher code is a bearer instrument). ``GET /vouchers/{code}/`` answers the same."""

    required_scopes = {"POST": (scopes.VOUCHERS_READ, scopes.VOUCHERS_REDEEM)}

    @extend_schema(
        operation_id="vouchers_lookup",
        summary="Check a voucher without using it, the code in the body (preferred)",
        description="The same answer as `GET /vouchers/{code}/`; nothing changes, so no Idempotency-Key is needed.",
        request=s.VoucherLookupInSerializer,
        responses={200: s.VoucherCheckOutSerializer, **error_responses(400, 404, 413)},
        tags=["vouchers"],
    )
    def post(self, request):
        data = validated(s.VoucherLookupInSerializer, request.data)
        check = voucher_check(code=data["code"], partner=request_partner(request))
        if check.voucher is None:
            raise check.error
        return Response(_voucher_data(check.voucher, check.error))


class VoucherRedeemView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.VOUCHERS_REDEEM,)}

    @extend_schema(
        operation_id="vouchers_redeem",
        summary="Use a voucher at a till, once",
        description="Refusals: 404 `voucher_not_found`; 422 `voucher_used`, `voucher_expired`, `voucher_cancelled`.",
        request=s.VoucherUseInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.VoucherCheckOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=["vouchers"],
    )
    @idempotent
    def post(self, request, code):
        data = validated(s.VoucherUseInSerializer, request.data)
        purchase = None
        if data.get("purchase_external_id"):
            purchase = Purchase.objects.filter(
                source=request.auth.source, external_id=data["purchase_external_id"]
            ).first()
            if purchase is None:
                raise ValidationError({"purchase_external_id": [_("No purchase with this id from this integration.")]})
        voucher = voucher_use(
            code=code,
            purchase=purchase,
            purchase_reference=data["purchase_reference"] or (purchase.external_id if purchase else ""),
            idempotency_key=f"api:{request.auth.pk}:{request.headers['Idempotency-Key'].strip()}",
            partner=request_partner(request),
        )
        return Response(_voucher_data(voucher))
