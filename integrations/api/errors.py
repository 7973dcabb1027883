"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

``api_exception_handler`` is DRF's ``EXCEPTION_HANDLER``. It maps validation errors to 400 with messages per
field, authentication to 401 (with ``WWW-Authenticate``), scopes to 403, missing things to 404, conflicts to
409, domain refusals (the exception classes apps register in ``integrations.registry.domain_errors``, such as
``members.exceptions.LoyaltyError`` and its subclasses) to 422 with the error's ``code`` (or the exception's own
``http_status``), throttling to 429 with ``Retry-After``, an unreachable database to 503 with ``Retry-After``
(nothing was committed; the same request may be retried with the same Idempotency-Key), and anything unexpected
to a logged 500.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

from .. import registry

logger = logging.getLogger(__name__)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = _("The request body is too large.")


#: Seconds a client should wait before retrying a write the database could not take (``Retry-After``).
DATABASE_UNAVAILABLE_RETRY_AFTER = 5


class DatabaseUnavailable(exceptions.APIException):
    """The database could not be reached (or dropped the connection, or cancelled the statement): nothing of the
    request was committed, and its Idempotency-Key was not kept, so the same request may be retried as it is."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = _("The service is briefly unavailable; nothing was recorded. Retry with the same Idempotency-Key.")


class IdempotencyKeyMissing(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "idempotency_key_missing"
    default_detail = _("Writes need an Idempotency-Key header.")


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = _("This Idempotency-Key was already used for a different request.")


class IdempotencyInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_request_in_progress"
    default_detail = _("A request with this Idempotency-Key is still being processed; retry shortly.")


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}, **extra}}


def _field_messages(detail) -> dict:
    """DRF's nested ValidationError detail as ``{"field": ["message", …], "lines.0.sku": [...]}``."""
    fields: dict[str, list[str]] = {}

    def walk(value, path):
        if isinstance(value, dict):
            for key, inner in value.items():
                # An object-level error inside a field ("lines.0") belongs to that field.
                nested = path if key == api_settings.NON_FIELD_ERRORS_KEY and path else None
                walk(inner, nested or (f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list) and value and not all(isinstance(item, str) for item in value):
            for index, inner in enumerate(value):
                if inner:
                    walk(inner, f"{path}.{index}" if path else str(index))
        else:
            items = value if isinstance(value, list) else [value]
            fields.setdefault(path or "non_field_errors", []).extend(str(item) for item in items)

    walk(detail, "")
    return fields


def _domain_error_status(exc) -> int:
    explicit = getattr(exc, "http_status", None)
    if explicit:
        return explicit
    if exc.code.endswith("_not_found"):
        return status.HTTP_404_NOT_FOUND
    return status.HTTP_422_UNPROCESSABLE_ENTITY


def api_exception_handler(exc, context):
    if registry.domain_errors and isinstance(exc, tuple(registry.domain_errors)):
        set_rollback()
        extra = exc.api_extra() if hasattr(exc, "api_extra") else {}
        fields = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body(exc.code, exc.message, fields, **extra), status=_domain_error_status(exc))
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    if isinstance(exc, OperationalError | InterfaceError):
        # The transaction rolled back (or never began): a retry is safe, and the key it carries is free.
        logger.warning("Database unavailable in API view: %s", exc)
        set_rollback()
        response = Response(
            error_body(DatabaseUnavailable.default_code, DatabaseUnavailable.default_detail),
            status=DatabaseUnavailable.status_code,
        )
        response["Retry-After"] = str(DATABASE_UNAVAILABLE_RETRY_AFTER)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled error in API view", exc_info=exc)
        set_rollback()
        return Response(
            error_body("server_error", _("Something went wrong on our side.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response = exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After and rolls back
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", _("Invalid input."), _field_messages(exc.detail))
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = exc.default_code if code in {"authentication_failed", "not_authenticated"} else code
    message = exc.detail if isinstance(exc.detail, str) else exc.default_detail
    response.data = error_body(code, message)
    return response


def json_error(request, status_code: int, code: str, message) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


@csrf_exempt  # an unknown address answers 404 whatever the method: CSRF's HTML 403 would hide that
def not_found(request, *args, **kwargs):
    return json_error(request, 404, "not_found", _("No such API endpoint."))


def csrf_failure(request, reason: str = ""):
    """``CSRF_FAILURE_VIEW``: under ``/api/`` the refusal keeps the API's JSON shape; elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return json_error(request, 403, "csrf_failed", _("A browser session's write needs the CSRF token."))
    from django.views.csrf import csrf_failure as page

    return page(request, reason=reason)
