"""Paid-membership API: plans, starting a subscription and its lifecycle as the shop reports it. Thin: validate,
call a service or selector, shape the answer from the stored row. A subscription is found by its external id
among this integration's own."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from integrations.api.base import IDEMPOTENCY_HEADER, LoyaltyAPIView, error_responses, idempotent, validated

from ..selectors import member_get
from ..subscriptions import selectors as subs
from ..subscriptions import services
from ..subscriptions.exceptions import PlanNotAvailable
from ..subscriptions.models import Subscription
from . import subscription_serializers as s
from .subscription_scopes import SUBSCRIPTIONS_READ, SUBSCRIPTIONS_WRITE

TAGS = ["subscriptions"]


def subscription_data(subscription: Subscription, *, replayed: bool | None = None) -> dict:
    subscription = subs.subscription_get(source=subscription.source, external_id=subscription.external_id)
    data = {"member_number": subscription.member.member_number, **subs.subscription_payload(subscription)}
    if replayed is not None:
        data["replayed"] = replayed
    return s.SubscriptionOutSerializer(data).data


def _plan(slug: str):
    plan = next((plan for plan in subs.plans_list() if plan.slug == slug), None)
    if plan is None:
        raise PlanNotAvailable(_("No plan with this slug."))
    return plan


class PlanListView(LoyaltyAPIView):
    required_scopes = {"GET": (SUBSCRIPTIONS_READ, SUBSCRIPTIONS_WRITE)}

    @extend_schema(
        operation_id="plans_list",
        summary="Active membership plans with price, period and benefits",
        responses={200: s.PlanOutSerializer(many=True), **error_responses()},
        tags=TAGS,
    )
    def get(self, request):
        plans = subs.plans_active()
        benefits = subs.plans_benefits(plans)
        rows = [
            {
                "slug": plan.slug,
                "name": plan.name,
                "description": plan.description,
                "price": plan.price,
                "currency": plan.currency,
                "period": plan.period,
                "trial_days": plan.trial_days,
                "benefits": benefits[plan.pk],
            }
            for plan in plans
        ]
        return Response(s.PlanOutSerializer(rows, many=True).data)


class MemberSubscriptionCreateView(LoyaltyAPIView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_start",
        summary="Start a member's subscription (paid, or as a free trial)",
        description="409 `subscription_exists` when the member already has a live subscription; 422 "
        "`plan_not_available` for an unknown or inactive plan, `trial_not_available` when the plan has no trial or "
        "the member had one.",
        request=s.SubscriptionStartInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.SubscriptionOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request, member_number):
        data = validated(s.SubscriptionStartInSerializer, request.data)
        member = member_get(member_number=member_number)
        if member is None:
            raise NotFound(_("No member with this number."))
        subscription = services.subscription_start(
            member=member,
            plan=_plan(data["plan"]),
            external_id=data["external_id"],
            source=request.auth.source,
            paid_amount=data.get("paid_amount"),
            trial=data["trial"],
            started_at=data.get("started_at"),
        )
        return Response(subscription_data(subscription), status=status.HTTP_201_CREATED)


class _SubscriptionView(LoyaltyAPIView):
    def subscription(self, request, external_id: str) -> Subscription:
        subscription = subs.subscription_get(source=request.auth.source, external_id=external_id)
        if subscription is None:
            raise NotFound(_("No subscription with this external id from this integration."))
        return subscription


class SubscriptionDetailView(_SubscriptionView):
    required_scopes = {"GET": (SUBSCRIPTIONS_READ, SUBSCRIPTIONS_WRITE)}

    @extend_schema(
        operation_id="subscriptions_retrieve",
        summary="A subscription: plan, status, period, benefits",
        responses={200: s.SubscriptionOutSerializer, **error_responses(404)},
        tags=TAGS,
    )
    def get(self, request, external_id):
        return Response(subscription_data(self.subscription(request, external_id)))


def _changed_status(changed: bool) -> int:
    return status.HTTP_201_CREATED if changed else status.HTTP_200_OK


class SubscriptionRenewalView(_SubscriptionView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_renew",
        summary="Record a paid renewal",
        description="201 when renewed; the same renewal again (same `period_end`, or none while already paid ahead) "
        "changes nothing and answers 200 with `replayed` true. A past-due subscription recovers. 422 "
        "`subscription_ended` for an ended subscription.",
        request=s.RenewalInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.SubscriptionOutSerializer,
            200: s.SubscriptionOutSerializer,
            **error_responses(400, 404, 409, 413, 422),
        },
        tags=TAGS,
    )
    @idempotent
    def post(self, request, external_id):
        data = validated(s.RenewalInSerializer, request.data)
        subscription, changed = services.subscription_renew(
            subscription=self.subscription(request, external_id),
            paid_amount=data["paid_amount"],
            period_end=data.get("period_end"),
        )
        return Response(subscription_data(subscription, replayed=not changed), status=_changed_status(changed))


class SubscriptionPaymentFailedView(_SubscriptionView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_payment_failed",
        summary="A renewal payment failed: past due, benefits continue for the plan's grace days",
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.SubscriptionOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request, external_id):
        subscription, changed = services.subscription_payment_failed(
            subscription=self.subscription(request, external_id)
        )
        return Response(subscription_data(subscription, replayed=not changed))


class SubscriptionCancelView(_SubscriptionView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_cancel",
        summary="Cancel now or at the period end",
        request=s.CancelInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.SubscriptionOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request, external_id):
        data = validated(s.CancelInSerializer, request.data)
        subscription, changed = services.subscription_cancel(
            subscription=self.subscription(request, external_id), at_period_end=data["at_period_end"]
        )
        return Response(subscription_data(subscription, replayed=not changed))


class SubscriptionPlanChangeView(_SubscriptionView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_plan_change",
        summary="Change plan: an upgrade now, a downgrade at the next renewal",
        request=s.PlanChangeInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.SubscriptionOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request, external_id):
        data = validated(s.PlanChangeInSerializer, request.data)
        subscription, changed = services.subscription_plan_change(
            subscription=self.subscription(request, external_id), plan=_plan(data["plan"])
        )
        return Response(subscription_data(subscription, replayed=not changed))


class SubscriptionShippingView(_SubscriptionView):
    required_scopes = {"POST": (SUBSCRIPTIONS_WRITE,)}

    @extend_schema(
        operation_id="subscriptions_shipping_saved",
        summary="Report a shipping fee a subscriber did not pay (free shipping), for their savings",
        request=s.ShippingSavedInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.SubscriptionOutSerializer,
            200: s.SubscriptionOutSerializer,
            **error_responses(400, 404, 409, 413, 422),
        },
        tags=TAGS,
    )
    @idempotent
    def post(self, request, external_id):
        data = validated(s.ShippingSavedInSerializer, request.data)
        subscription = self.subscription(request, external_id)
        recorded = services.subscription_shipping_saved(
            subscription=subscription, amount=data["amount"], reference=data["reference"]
        )
        return Response(subscription_data(subscription, replayed=not recorded), status=_changed_status(recorded))
