from rest_framework.throttling import SimpleRateThrottle

from ..models import APIKey


class APIKeyRateThrottle(SimpleRateThrottle):
    """One budget per API key (``API_KEY_THROTTLE_RATE``); members' sessions get the same rate per user."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, APIKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
