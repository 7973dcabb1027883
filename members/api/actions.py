"""Members API: earning actions and feedback answers recorded by integrations. Thin: validate, call a service,
shape the answer from the stored rows."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from integrations.api.base import IDEMPOTENCY_HEADER, LoyaltyAPIView, error_responses, idempotent, validated

from ..models import FeedbackResponse, Member, Purchase
from ..selectors import member_get
from ..services.actions import ActionResult, action_record
from ..services.feedback import MAX_COMMENT_LENGTH, FeedbackResult, feedback_record
from . import scopes

MAX_METADATA_BYTES = 4096
MAX_AGE = timedelta(days=366)
MAX_AHEAD = timedelta(minutes=5)


def _occurred_at_checked(value):
    now = timezone.now()
    if value > now + MAX_AHEAD:
        raise serializers.ValidationError(_("This is in the future."))
    if value < now - MAX_AGE:
        raise serializers.ValidationError(_("Actions older than a year cannot be recorded."))
    return value


class ActionInSerializer(serializers.Serializer):
    action = serializers.SlugField(max_length=40, help_text=_("The action's code: survey, review, recycle, …"))
    external_id = serializers.CharField(max_length=100, help_text=_("Your id of this occurrence; unique per key."))
    quantity = serializers.IntegerField(
        min_value=1, max_value=1_000_000, default=1, help_text=_("Units, for per-unit actions.")
    )
    occurred_at = serializers.DateTimeField(required=False, help_text=_("Default: now."))
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)

    def validate_occurred_at(self, value):
        return _occurred_at_checked(value)

    def validate_metadata(self, value):
        encoded = json.dumps(value)
        if len(encoded) > MAX_METADATA_BYTES:
            raise serializers.ValidationError(_("At most 4 KB of metadata."))
        if "\\u0000" in encoded:  # PostgreSQL's jsonb refuses NUL characters
            raise serializers.ValidationError(_("Null characters are not allowed."))
        return value


class LimitOutSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()


class ActionOutSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["credited", "pending_review", "rejected"])
    points = serializers.IntegerField(help_text=_("Points credited now (0 while waiting for review)."))
    balance = serializers.IntegerField()
    limit_remaining = serializers.IntegerField(
        allow_null=True, help_text=_("Units left under the tightest limit; null when the action has none.")
    )
    limits = serializers.DictField(
        child=LimitOutSerializer(), help_text=_("Per period: day, week, month, year, total.")
    )
    occurrence_id = serializers.IntegerField()
    action = serializers.CharField()
    external_id = serializers.CharField()
    quantity = serializers.IntegerField()
    points_on_approval = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    replayed = serializers.BooleanField()


def _member(member_number: str) -> Member:
    member = member_get(member_number=member_number)
    if member is None:
        raise NotFound(_("No member with this number."))
    return member


def action_data(result: ActionResult) -> dict:
    occurrence = result.occurrence
    credited = occurrence.status == occurrence.Status.CREDITED
    return ActionOutSerializer(
        {
            "status": occurrence.status,
            "points": occurrence.points if credited else 0,
            "balance": result.balance,
            "limit_remaining": result.limit_remaining,
            "limits": {
                left.period: {"limit": left.limit, "used": left.used, "remaining": left.remaining}
                for left in result.limits
            },
            "occurrence_id": occurrence.pk,
            "action": occurrence.action.code,
            "external_id": occurrence.external_id,
            "quantity": occurrence.quantity,
            "points_on_approval": occurrence.points,
            "occurred_at": occurrence.occurred_at,
            "replayed": result.replayed,
        }
    ).data


class MemberActionView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.ACTIONS_WRITE,)}

    @extend_schema(
        operation_id="members_actions_record",
        summary="Record an earning action (a review, recycling, an event, …)",
        description="Credits the action's points, or queues the occurrence for staff review when the action needs "
        "approval. Once per `external_id` for this key: 201 when recorded, 200 with `replayed` when that id was "
        "already recorded (nothing changes). 422 `action_not_available`, `action_limit_reached`.",
        request=ActionInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: ActionOutSerializer, 200: ActionOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=["members"],
    )
    @idempotent
    def post(self, request, member_number):
        data = validated(ActionInSerializer, request.data)
        result = action_record(
            member=_member(member_number),
            action_code=data["action"],
            external_id=data["external_id"],
            source=request.auth.source,
            quantity=data["quantity"],
            occurred_at=data.get("occurred_at"),
            reference=data["reference"],
            metadata=data["metadata"],
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(action_data(result), status=code)


class FeedbackInSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=10, help_text=_("How likely to recommend us, 0–10."))
    comment = serializers.CharField(max_length=MAX_COMMENT_LENGTH, required=False, allow_blank=True, default="")
    purchase = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text=_("A purchase's external id.")
    )
    external_id = serializers.CharField(max_length=100, help_text=_("Your id of this answer; unique per key."))


class FeedbackOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member_number = serializers.CharField()
    score = serializers.IntegerField()
    group = serializers.ChoiceField(choices=FeedbackResponse.Group.choices)
    comment = serializers.CharField()
    external_id = serializers.CharField()
    purchase = serializers.CharField(allow_null=True)
    store = serializers.CharField()
    channel = serializers.CharField()
    answered_at = serializers.DateTimeField()
    points = serializers.IntegerField(help_text=_("Points the survey action credited for it."))
    balance = serializers.IntegerField()
    replayed = serializers.BooleanField()


def feedback_data(result: FeedbackResult, member: Member) -> dict:
    response = result.response
    return FeedbackOutSerializer(
        {
            "id": response.pk,
            "member_number": member.member_number,
            "score": response.score,
            "group": response.group,
            "comment": response.comment,
            "external_id": response.external_id,
            "purchase": response.purchase.external_id if response.purchase else None,
            "store": response.store,
            "channel": response.channel,
            "answered_at": response.answered_at,
            "points": result.points,
            "balance": result.balance,
            "replayed": result.replayed,
        }
    ).data


class MemberFeedbackView(LoyaltyAPIView):
    required_scopes = {"POST": (scopes.FEEDBACK_WRITE,)}

    @extend_schema(
        operation_id="members_feedback_record",
        summary="Record a feedback answer (NPS, 0–10) collected elsewhere",
        description="Stored with the purchase's store and channel; credits the `survey` action once per purchase. "
        "Once per `external_id` for this key (200 with `replayed` again). 422 `feedback_already_given` when the "
        "purchase was already answered.",
        request=FeedbackInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: FeedbackOutSerializer, 200: FeedbackOutSerializer, **error_responses(400, 404, 409, 413, 422)},
        tags=["members"],
    )
    @idempotent
    def post(self, request, member_number):
        data = validated(FeedbackInSerializer, request.data)
        member = _member(member_number)
        purchase = None
        if data["purchase"]:
            purchase = Purchase.objects.filter(
                source=request.auth.source, external_id=data["purchase"], member_id=member.pk
            ).first()
            if purchase is None:
                raise ValidationError(
                    {"purchase": [_("No purchase of this member with this external id from this integration.")]}
                )
        result = feedback_record(
            member=member,
            score=data["score"],
            comment=data["comment"],
            purchase=purchase,
            external_id=data["external_id"],
            source=request.auth.source,
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(feedback_data(result, member), status=code)
