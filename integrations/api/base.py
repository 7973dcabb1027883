"""The base view of the integration API and the ``Idempotency-Key`` handling of its writes."""

import functools
import re
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, NotFound, PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..context import acting_as, acting_set
from ..models import APIKey
from ..services import (
    api_key_current,
    api_keys_version,
    idempotency_begin,
    idempotency_record_get,
    idempotency_request_hash,
    idempotency_store,
)
from .authentication import APIKeyAuthentication, IntegrationUser, MemberSessionAuthentication
from .errors import IdempotencyInFlight, IdempotencyKeyMissing, IdempotencyKeyReused, RequestTooLarge
from .parsers import BoundedJSONParser
from .permissions import HasScope
from .throttling import APIKeyRateThrottle

REPLAY_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
#: What an ``Idempotency-Key`` may be, exactly as the schema says: visible ASCII, spaces only inside, 1–255 long.
IDEMPOTENCY_KEY_PATTERN = rf"[\x21-\x7e](?:[\x20-\x7e]{{0,{MAX_IDEMPOTENCY_KEY_LENGTH - 2}}}[\x21-\x7e])?"
IDEMPOTENCY_KEY_TEXT = re.compile(IDEMPOTENCY_KEY_PATTERN)
#: Responses worth replaying: the work was done, or refused for a reason a retry would meet again.
#: Invalid input (400), server errors and an unreachable database (503) free the key so the client can fix the
#: request, or wait, and retry with it.
STORED_STATUSES = {200, 201, 404, 409, 422}


def validated(serializer_class, data) -> dict:
    """``data`` checked by ``serializer_class``; a 400 with field messages otherwise.

    The serializer's bound fields are built once per class (DRF deep-copies every declared field for each new
    serializer, the largest part of validating a small body); validating keeps no state on fields, so one set
    serves every request. Serializers here read no ``context``.
    """
    serializer = serializer_class(data=data)
    serializer.__dict__["fields"] = _prototype(serializer_class).fields  # ``fields`` is a cached_property
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def represented(serializer_class, instance) -> dict:
    """``serializer_class(instance).data`` from one serializer per class, built once (see ``validated``)."""
    return _prototype(serializer_class).to_representation(instance)


@functools.cache
def _prototype(serializer_class):
    return serializer_class()


class LoyaltyAPIView(APIView):
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    authentication_classes = [APIKeyAuthentication, MemberSessionAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [APIKeyRateThrottle]
    #: ``{"POST": ("purchases:write",)}``: any one of the scopes lets a key make that request.
    required_scopes: dict[str, tuple[str, ...]] = {}
    #: Methods a member signed in on the site may use (on their own data only).
    member_session_methods: tuple[str, ...] = ()
    #: Authentication may answer from this process's cached keys: ``check_throttles`` confirms the key against the
    #: shared keys' version the throttle read in its one cache round trip.
    confirms_cached_api_keys = True

    def dispatch(self, request, *args, **kwargs):
        # Whatever the request causes is attributed to its API key (webhooks: ``integrations.context``), and only
        # while it is served.
        with acting_as(None):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        # Refuse oversized bodies before authenticating or parsing anything.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise RequestTooLarge()
        super().initial(request, *args, **kwargs)
        repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
        if repeated:
            # No parameter of the API is a list: answering with one of the values would hide the client's mistake.
            raise ValidationError({name: [_("Give this parameter once.")] for name in repeated})
        acting_set(request.auth if isinstance(request.auth, APIKey) else None)
        if any("\x00" in str(value) for value in kwargs.values()):
            raise NotFound()  # no id contains NUL, and PostgreSQL refuses NUL in text

    def check_permissions(self, request):
        try:
            super().check_permissions(request)
        except PermissionDenied:
            if not self._api_key_confirm(request):  # a cached key's scopes may have grown elsewhere
                raise
            super().check_permissions(request)

    def check_throttles(self, request):
        try:
            super().check_throttles(request)
        finally:  # a revoked key is refused as revoked, even when it is over its rate too
            if self._api_key_confirm(request):
                super().check_permissions(request)

    def _api_key_confirm(self, request) -> bool:
        """Confirm a key served from this process's cache against the shared version, so revocations and scope
        changes made anywhere take effect on the next request. True when the key changed and was read again (the
        caller checks its scopes again); 401 when it was revoked."""
        key = request.auth
        if not isinstance(key, APIKey) or getattr(key, "local_version", None) is None:
            return False
        version = getattr(request, "api_keys_version", None)
        current = api_key_current(key, version if version is not None else api_keys_version())
        key.local_version = None  # confirmed: once per request
        if current is None:
            raise AuthenticationFailed(_("Invalid or revoked API key."))
        if current is key:
            return False
        request.user, request.auth = IntegrationUser(current), current
        return True


class _StoredMeanwhile(Exception):
    """A request with the same key stored its response between this one's read and its store."""


def idempotent(handler):
    """Make an API-key POST idempotent on its ``Idempotency-Key`` header, like Stripe's.

    The request runs in one transaction that claims the key (``idempotency_begin``), does the work and stores the
    response (``idempotency_store``), so the work and its stored answer commit together. The same key and body
    later get the stored first response with ``Idempotent-Replayed: true``; the same key with another body gets
    422; a request racing one still in flight gets 409. Refusals worth replaying (404, 409, 422) roll the work back
    and are stored on their own. Keys are scoped to the API key.
    """

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        api_key = request.auth if isinstance(request.auth, APIKey) else None
        if api_key is None:
            return handler(view, request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key", "")
        if not IDEMPOTENCY_KEY_TEXT.fullmatch(key):
            raise IdempotencyKeyMissing(
                _(
                    "Writes need an Idempotency-Key header: 1 to %(max)s visible ASCII characters (a UUID), "
                    "spaces only inside."
                )
                % {"max": MAX_IDEMPOTENCY_KEY_LENGTH}
            )
        try:
            body = request.body
        except RequestDataTooBig:
            raise RequestTooLarge() from None
        request_hash = idempotency_request_hash(method=request.method, path=request.get_full_path(), body=body)
        claim_refused = None
        try:
            with transaction.atomic():
                claim = idempotency_begin(api_key=api_key, key=key, request_hash=request_hash)
                if not claim.owned:
                    claim_refused = claim
                else:
                    response = handler(view, request, *args, **kwargs)
                    if response.status_code in STORED_STATUSES and not idempotency_store(
                        api_key=api_key,
                        key=key,
                        request_hash=request_hash,
                        status=response.status_code,
                        body=response.data,
                    ):
                        raise _StoredMeanwhile()
                    return response
        except _StoredMeanwhile:
            return _replay(idempotency_record_get(api_key=api_key, key=key), request_hash)
        except Exception as exc:  # the work rolled back; answer as DRF would, and keep refusals worth replaying
            response = view.handle_exception(exc)
            if response.status_code in STORED_STATUSES:
                with transaction.atomic():
                    if not idempotency_store(
                        api_key=api_key,
                        key=key,
                        request_hash=request_hash,
                        status=response.status_code,
                        body=response.data,
                    ):
                        return _replay(idempotency_record_get(api_key=api_key, key=key), request_hash)
            return response
        return _replay(claim_refused.record, request_hash, conflict=claim_refused.conflict)

    return wrapper


def _replay(record, request_hash: str, conflict: str = "") -> Response:
    if conflict == "mismatch" or (record is not None and record.request_hash != request_hash):
        raise IdempotencyKeyReused()
    if conflict == "in_flight" or record is None:
        raise IdempotencyInFlight()
    return Response(record.response_body, status=record.response_status, headers={REPLAY_HEADER: "true"})


# --- Schema helpers ------------------------------------------------------------------------------------------------

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
                "member_number": serializers.CharField(required=False),
            },
        )
    },
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
        "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$",
    },
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per write (e.g. a UUID). Retries with the same key and body get the first response.",
)

_ERROR_TEXT = {
    400: "Invalid input; `fields` says what is wrong per field.",
    401: "Missing, invalid or revoked API key.",
    403: "The key lacks the scope (`insufficient_scope`), or a member reads someone else's data.",
    404: "Not found.",
    409: "Conflict (e.g. the same Idempotency-Key is in flight).",
    413: "The request body is too large.",
    422: "Business refusal; `code` says why (e.g. `insufficient_points`, `idempotency_key_reused`).",
    429: "Throttled; see `Retry-After`.",
    503: "The database is briefly unreachable (`service_unavailable`); nothing was recorded. Retry after "
    "`Retry-After` seconds with the same Idempotency-Key.",
}


def error_responses(*statuses: int) -> dict:
    codes = sorted({401, 403, 429, 503, *statuses})
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code]) for code in codes}
