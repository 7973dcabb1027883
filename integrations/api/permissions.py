"""Scopes: each view names the scope(s) a key needs per HTTP method; any one of them is enough."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from ..models import APIKey


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"
    default_detail = _("This API key lacks the scope this request needs.")


class HasScope(BasePermission):
    """API keys need the view's scope for the method; a member's session may only use ``member_session_methods``.

    Whether a session member may see *this* member is decided by the view when it loads the object (404 for
    anyone else's number).
    """

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            return True  # describing the endpoint, or a 405 from the view
        if isinstance(request.auth, APIKey):
            needed = view.required_scopes.get(method, ())
            if not needed or not any(request.auth.has_scope(scope) for scope in needed):
                raise InsufficientScope(
                    _("This API key needs the scope %(scope)s.") % {"scope": " or ".join(needed) or "(none)"}
                )
            return True
        if method in getattr(view, "member_session_methods", ()):
            return True
        raise exceptions.PermissionDenied(_("Use an API key for this request."))
