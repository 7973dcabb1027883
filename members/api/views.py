"""Members API: purchases, preview, refunds, enrolment, member look-up and activity. Thin: validate, call a
service or selector, shape the answer."""

from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from integrations.api.base import (
    IDEMPOTENCY_HEADER,
    LoyaltyAPIView,
    error_responses,
    idempotent,
    represented,
    validated,
)
from integrations.api.pagination import NewestFirstCursorPagination
from integrations.models import APIKey

from ..exceptions import PartnerNotAllowed
from ..models import LedgerEntry, Member, Partner, PointPayment, PointsAccount, Purchase
from ..selectors import (
    member_find,
    member_get,
    member_summary,
    member_tier_progress,
    member_with_expiring_get,
    partner_for_key,
    program_settings_get,
)
from ..services import member_register
from ..services.point_payments import point_payment_cancel, point_payment_make
from ..services.purchases import (
    PurchaseDiscountInput,
    PurchaseLineInput,
    PurchaseResult,
    RefundLineInput,
    purchase_preview,
    purchase_record,
    purchase_refund,
)
from ..subscriptions.selectors import never_subscribed, subscription_latest, subscription_payload
from . import scopes
from . import serializers as s


def request_partner(request) -> Partner | None:
    """The coalition partner whose key made the request; None for the operator's keys and members' sessions."""
    return partner_for_key(request.auth) if isinstance(request.auth, APIKey) else None


def _member_or_400(identifier: str, partner: Partner | None = None) -> Member:
    if partner is not None and "@" in identifier:
        # A partner's till identifies a member by card (or member number); an email address would let it probe
        # who is a member.
        raise ValidationError({"member": [_("A partner's till identifies members by card number.")]})
    member = member_find(identifier=identifier)
    if member is None:
        raise ValidationError({"member": [_("No member with this member number, card number or email.")]})
    return member


def _lines(data: dict) -> list[PurchaseLineInput]:
    return [
        PurchaseLineInput(
            sku=line["sku"], quantity=line["quantity"], unit_price=line["unit_price"], category=line["category"]
        )
        for line in data["lines"]
    ]


def _discounts(data: dict) -> list[PurchaseDiscountInput] | None:
    if "discounts" not in data:
        return None
    return [PurchaseDiscountInput(**discount) for discount in data["discounts"]]


def member_for_request(request, member_number: str, *, with_expiring: bool = False) -> Member:
    """The member, if this caller may see them: any with ``members:read``, only themselves with a session.
    ``with_expiring``: with the points expiring soon read in the same statement (for ``member_summary``)."""
    member = (member_with_expiring_get if with_expiring else member_get)(member_number=member_number)
    if member is None:
        raise NotFound(_("No member with this number."))
    if not isinstance(request.auth, APIKey) and member.user_id != request.user.pk:
        # Never confirm to one member that another member's number exists.
        raise NotFound(_("No member with this number."))
    return member


def till_member_data(member: Member) -> dict:
    """A partner's view of a member: the balance that can be spent at the till, nothing of the profile."""
    program = program_settings_get()
    member.points_value = (Decimal(member.account.balance) * program.point_value).quantize(Decimal("0.01"))
    member.currency = program.currency
    return represented(s.TillMemberOutSerializer, member)


def member_detail_data(member: Member, *, source: str | None = None) -> dict:
    """The member with tier progress, balances and paid membership as the member site shows them (three
    queries). The subscription's ``external_id`` is shown only to the integration that reported it."""
    member.tier_progress = member_tier_progress(member)
    member.summary = member_summary(member)
    subscription = None if never_subscribed(member) else subscription_latest(member_id=member.pk)
    member.subscription = subscription_payload(subscription)
    if member.subscription is not None and subscription.source != source:
        del member.subscription["external_id"]
    return represented(s.MemberDetailOutSerializer, member)


def purchase_data(result: PurchaseResult, member: Member) -> dict:
    purchase = result.purchase
    bonuses = [
        {
            "label": entry.description,
            "points": entry.points + entry.pending_delta,
            "pending": entry.pending_delta > 0,
            "campaign_id": entry.source_id,
        }
        for entry in result.bonus_entries
    ]
    payload = {
        "external_id": purchase.external_id,
        "member_number": member.member_number,
        "occurred_at": purchase.occurred_at,
        "channel": purchase.channel,
        "store": purchase.store,
        "currency": purchase.currency,
        "total": purchase.total,
        "discount_total": purchase.discount_total,
        "discounts": list(purchase.discounts.all()) if purchase.discount_total else [],
        "eligible_amount": purchase.eligible_amount,
        "points_earned": result.points_earned,
        "points_pending": result.points_pending,
        "base_points": purchase.points_earned,
        "bonus_points": purchase.points_bonus,
        "bonuses": bonuses,
        "points_paid": purchase.points_paid,
        "points_paid_amount": purchase.points_paid_amount,
        "money_paid": purchase.money_paid,
        "lines": result.lines if result.lines is not None else list(purchase.lines.order_by("line_number")),
        "balance": result.balance,
        "pending": result.pending,
        "replayed": result.replayed,
    }
    return represented(s.PurchaseOutSerializer, payload)


class PurchaseCreateView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.PURCHASES_WRITE,)}

    @extend_schema(
        operation_id="purchases_record",
        summary="Record a purchase",
        description="Posts the points the basket earns, once per `external_id` for this key. "
        "201 when recorded, 200 when that external id was already recorded (nothing posted again).",
        request=s.PurchaseInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.PurchaseOutSerializer, 200: s.PurchaseOutSerializer, **error_responses(400, 409, 413, 422)},
        tags=["purchases"],
    )
    @idempotent
    def post(self, request):
        data = validated(s.PurchaseInSerializer, request.data)
        partner = request_partner(request)
        member = _member_or_400(data["member"], partner)
        result = purchase_record(
            partner=partner,
            member=member,
            external_id=data["external_id"],
            lines=_lines(data),
            channel=data["channel"],
            occurred_at=data["occurred_at"],
            currency=data.get("currency") or program_settings_get().currency,
            store=data["store"],
            source=request.auth.source,
            total=data.get("total"),
            point_payments=data["point_payments"],
            discounts=_discounts(data),
            savepoint=False,  # @idempotent's transaction ends on any exception
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(purchase_data(result, member), status=code)


class PurchasePreviewView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.PURCHASES_READ, scopes.PURCHASES_WRITE)}

    @extend_schema(
        operation_id="purchases_preview",
        summary="Preview what a basket would earn",
        description="Line by line, with every rule and campaign that applied in order. Writes nothing, so no "
        "Idempotency-Key is needed.",
        request=s.PurchasePreviewInSerializer,
        responses={200: s.PreviewOutSerializer, **error_responses(400, 413, 422)},
        tags=["purchases"],
    )
    def post(self, request):
        data = validated(s.PurchasePreviewInSerializer, request.data)
        partner = request_partner(request)
        member = _member_or_400(data["member"], partner) if data.get("member") else None
        result = purchase_preview(
            partner=partner,
            member=member,
            lines=_lines(data),
            channel=data["channel"],
            store=data["store"],
            occurred_at=data.get("occurred_at"),
            currency=data.get("currency") or "",
            discounts=_discounts(data),
            total=data.get("total"),
        )
        bonus_by_line: dict[int, int] = {}
        for award in result.awards:
            for number, points in award.line_points.items():
                bonus_by_line[number] = bonus_by_line.get(number, 0) + points
        lines = []
        for number, line in enumerate(data["lines"], start=1):
            base, bonus = result.line_points.get(number, 0), bonus_by_line.get(number, 0)
            lines.append(
                {
                    **line,
                    "line_number": number,
                    "amount": line["unit_price"] * line["quantity"],
                    "discount": result.line_discounts.get(number, 0),
                    "base_points": base,
                    "bonus_points": bonus,
                    "points": base + bonus,
                }
            )
        payload = {
            "currency": (data.get("currency") or program_settings_get().currency).upper(),
            "total": sum((line["amount"] - line["discount"] for line in lines), 0),
            "discount_total": sum((line["discount"] for line in lines), 0),
            "eligible_amount": result.eligible_amount,
            "base_points": result.base_points,
            "bonus_points": result.bonus_points,
            "total_points": result.total_points,
            "capped": result.capped,
            "lines": lines,
            "steps": [
                {
                    "order": order,
                    "rule": step.rule,
                    "kind": step.kind,
                    "points": step.points,
                    "detail": step.detail,
                    "line_numbers": list(step.line_numbers),
                    "campaign_id": step.campaign_id,
                    "priority": step.priority,
                    "stops_further_rules": step.stops_further_rules,
                }
                for order, step in enumerate(result.steps, start=1)
            ],
            "bonuses": [
                {
                    "label": award.label,
                    "points": award.points,
                    "detail": award.detail,
                    "campaign_id": getattr(award.source, "pk", None),
                }
                for award in result.awards
            ],
        }
        return Response(s.PreviewOutSerializer(payload).data)


class PurchaseRefundView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.PURCHASES_WRITE,)}

    @extend_schema(
        operation_id="purchases_refund",
        summary="Refund a purchase, fully or by lines",
        description="Claws back the points the refunded lines earned. `refund_id` (default: the Idempotency-Key) "
        "makes it happen once: 201 when refunded, 200 when that refund id was already applied.",
        request=s.RefundInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.RefundOutSerializer, 200: s.RefundOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=["purchases"],
    )
    @idempotent
    def post(self, request, external_id):
        data = validated(s.RefundInSerializer, request.data)
        purchase = (
            Purchase.objects.select_related("member")
            .filter(source=request.auth.source, external_id=external_id)
            .first()
        )
        if purchase is None:
            raise NotFound(_("No purchase with this external id from this integration."))
        lines = None
        if "lines" in data:
            lines = [
                RefundLineInput(line_number=line.get("line_number"), sku=line.get("sku", ""), quantity=line["quantity"])
                for line in data["lines"]
            ]
        refund_id = data.get("refund_id") or request.headers["Idempotency-Key"].strip()
        result = purchase_refund(purchase=purchase, lines=lines, refund_id=refund_id)
        account = PointsAccount.objects.get(pk=purchase.member_id)
        payload = {
            "refund_id": refund_id,
            "external_id": purchase.external_id,
            "amount": result.amount,
            "points_clawed_back": result.points_clawed_back,
            "points_returned": result.points_returned,
            "refunded_total": result.purchase.refunded_total,
            "balance": account.balance,
            "pending": account.pending,
            "replayed": result.replayed,
        }
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(s.RefundOutSerializer(payload).data, status=code)


class MemberListView(LoyaltyAPIView):
    required_scopes = {"GET": (scopes.MEMBERS_READ,), "POST": (scopes.MEMBERS_WRITE,)}

    @extend_schema(
        operation_id="members_lookup",
        summary="Look a member up by card number or email",
        description="Give exactly one of `card_number` and `email` (400 otherwise).",
        parameters=[
            OpenApiParameter(
                "card_number",
                {"type": "string", "minLength": 1, "maxLength": 19},
                description="The number on the member's card.",
            ),
            OpenApiParameter("email", {"type": "string", "format": "email", "minLength": 1, "maxLength": 254}),
        ],
        responses={200: s.MemberOutSerializer(many=True), **error_responses(400)},
        tags=["members"],
    )
    def get(self, request):
        query = validated(s.MemberLookupQuerySerializer, request.query_params)
        if request_partner(request) is not None:
            if query.get("email"):
                raise ValidationError({"email": [_("A partner's till looks members up by card number.")]})
            member = member_find(identifier=query["card_number"])
            return Response([till_member_data(member)] if member else [])
        member = member_find(identifier=query.get("email") or query["card_number"])
        return Response(s.MemberOutSerializer([member] if member else [], many=True).data)

    @extend_schema(
        operation_id="members_enrol",
        summary="Enrol a customer",
        description="409 with the existing `member_number` when the email is already a member.",
        request=s.MemberEnrolInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.MemberDetailOutSerializer, **error_responses(400, 409, 413, 422)},
        tags=["members"],
    )
    @idempotent
    def post(self, request):
        if request_partner(request) is not None:
            # Enrolling answers "already a member" for any email: a partner could learn who its rivals' customers
            # are. Customers join on the site or at the operator's tills.
            raise PartnerNotAllowed(_("Partners' keys cannot enrol members."))
        data = validated(s.MemberEnrolInSerializer, request.data)
        member = member_register(
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            birthday=data["birthday"],
            phone=data["phone"],
            marketing_consent=data["marketing_consent"],
            referral_code=data["referral_code"],
            channel="api",
        )
        member = member_get(member_number=member.member_number)
        return Response(member_detail_data(member), status=status.HTTP_201_CREATED)


class MemberDetailView(LoyaltyAPIView):
    required_scopes = {"GET": (scopes.MEMBERS_READ,)}
    member_session_methods = ("GET",)

    @extend_schema(
        operation_id="members_retrieve",
        summary="A member's balance, pending points, tier, tier progress and points expiring soon",
        responses={200: s.MemberDetailOutSerializer, **error_responses(404)},
        tags=["members"],
    )
    def get(self, request, member_number):
        member = member_for_request(request, member_number, with_expiring=True)
        if request_partner(request) is not None:
            return Response(till_member_data(member))
        source = request.auth.source if isinstance(request.auth, APIKey) else None
        return Response(member_detail_data(member, source=source))


class MemberActivityView(LoyaltyAPIView, ListAPIView):
    required_scopes = {"GET": (scopes.MEMBERS_READ,)}
    member_session_methods = ("GET",)
    serializer_class = s.LedgerEntryOutSerializer
    pagination_class = NewestFirstCursorPagination
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        member = member_for_request(self.request, self.kwargs["member_number"])
        entries = LedgerEntry.objects.filter(account_id=member.pk).select_related("purchase", "partner")
        partner = request_partner(self.request)
        if partner is not None:
            # A partner sees what happened at its own tills, never the member's history elsewhere.
            entries = entries.filter(partner=partner)
        return entries

    @extend_schema(
        operation_id="members_activity",
        summary="A member's ledger entries, newest first (cursor-paginated)",
        responses={200: s.LedgerEntryOutSerializer(many=True), **error_responses(400, 404)},
        tags=["members"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def point_payment_data(payment: PointPayment, member: Member) -> dict:
    """The payment as stored, with the member's balance read afterwards."""
    payment.member = member
    payload = {
        "external_id": payment.external_id,
        "member": member,
        "points": payment.points,
        "point_value": payment.point_value,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "purchase_external_id": payment.purchase.external_id if payment.purchase_id else payment.purchase_external_id,
        "purchase_recorded": payment.purchase_id is not None,
        "created_at": payment.created_at,
        "cancelled_at": payment.cancelled_at,
        "balance": PointsAccount.objects.values_list("balance", flat=True).get(pk=member.pk),
        "replayed": getattr(payment, "replayed", False),
    }
    return represented(s.PointPaymentOutSerializer, payload)


def _member_or_404(member_number: str) -> Member:
    member = member_get(member_number=member_number)
    if member is None:
        raise NotFound(_("No member with this number."))
    return member


def _point_payment_or_404(request, member: Member, external_id: str) -> PointPayment:
    payment = (
        PointPayment.objects.select_related("purchase")
        .filter(source=request.auth.source, member=member, external_id=external_id)
        .first()
    )
    if payment is None:
        raise NotFound(_("No point payment with this external id from this integration for this member."))
    return payment


class PointPaymentCreateView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.POINT_PAYMENTS_WRITE,)}

    @extend_schema(
        operation_id="point_payments_create",
        summary="Pay with points",
        description="Debits the points as a payment worth `points × point value` and answers its `amount` in the "
        "program's currency. Once per `external_id` for this key: 201 when paid, 200 when that id was already "
        "paid (nothing debited again). 422 `insufficient_points` when the balance does not cover it.",
        request=s.PointPaymentInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.PointPaymentOutSerializer,
            200: s.PointPaymentOutSerializer,
            **error_responses(400, 404, 409, 413, 422),
        },
        tags=["point payments"],
    )
    @idempotent
    def post(self, request, member_number):
        data = validated(s.PointPaymentInSerializer, request.data)
        member = _member_or_404(member_number)
        payment = point_payment_make(
            member=member,
            points=data["points"],
            external_id=data["external_id"],
            purchase_external_id=data["purchase_external_id"],
            source=request.auth.source,
            partner=request_partner(request),
        )
        code = status.HTTP_200_OK if payment.replayed else status.HTTP_201_CREATED
        return Response(point_payment_data(payment, member), status=code)


class PointPaymentDetailView(LoyaltyAPIView):
    required_scopes = {"GET": (scopes.POINT_PAYMENTS_WRITE, scopes.MEMBERS_READ)}

    @extend_schema(
        operation_id="point_payments_retrieve",
        summary="A point payment this key made",
        responses={200: s.PointPaymentOutSerializer, **error_responses(404)},
        tags=["point payments"],
    )
    def get(self, request, member_number, external_id):
        member = _member_or_404(member_number)
        return Response(point_payment_data(_point_payment_or_404(request, member, external_id), member))


class PointPaymentCancelView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.POINT_PAYMENTS_WRITE,)}

    @extend_schema(
        operation_id="point_payments_cancel",
        summary="Void a point payment and give the points back",
        description="For a sale voided at the till before its purchase was recorded (after that, refund the "
        "purchase: 422 `invalid_point_payment`). 200 with the payment, now `cancelled`; again 200 when it "
        "already was (`replayed`).",
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.PointPaymentOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=["point payments"],
    )
    @idempotent
    def post(self, request, member_number, external_id):
        member = _member_or_404(member_number)
        payment = point_payment_cancel(payment=_point_payment_or_404(request, member, external_id))
        return Response(point_payment_data(payment, member), status=status.HTTP_200_OK)
