"""One middleware at the top of the stack: request id, one JSON log line and the request metrics per request.

The line names the resolver's route template (``api/v1/vouchers/<str:code>/``), never the path, so no voucher
code, member number or e-mail that travels in a URL reaches the logs or the metrics' labels; the member appears
as ``integrations.logs.member_hash`` of their number, the API key as its public prefix. No query is made: the
member is named only when the URL carries their number or the request already loaded them.
"""

import logging
import time

from django.utils.functional import SimpleLazyObject, empty

from integrations import logs, metrics

logger = logging.getLogger("loyalty.request")

#: URL keyword arguments that carry a member number.
_MEMBER_KWARGS = ("member_number",)


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return "/" + match.route if match.route else (match.view_name or "<unnamed>")


def _member_number(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name in _MEMBER_KWARGS:
            if match.kwargs.get(name):
                return str(match.kwargs[name])
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):  # never evaluate it here: that would cost the session's queries
        user = None if user._wrapped is empty else user._wrapped
    state = getattr(user, "_state", None)
    member = state.fields_cache.get("member") if state is not None else None
    return getattr(member, "member_number", "") or ""


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = logs.request_id_new(request.headers.get("X-Request-ID"))
        token = logs.request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            duration = time.perf_counter() - started
            route = _route(request)
            metrics.REQUESTS.labels(route=route, method=request.method, status=str(status)).inc()
            metrics.REQUEST_SECONDS.labels(route=route, method=request.method).observe(duration)
            auth = getattr(request, "auth", None)
            logger.info(
                "request",
                extra={
                    "route": route,
                    "method": request.method,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "member": logs.member_hash(_member_number(request)),
                    "api_key": getattr(auth, "prefix", "") or "",
                },
            )
            logs.request_id_var.reset(token)
