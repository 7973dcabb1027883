"""``Authorization: Api-Key <key>`` for integrations; members use their browser session (with CSRF)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header

from ..services import api_key_authenticate, api_keys_version

KEYWORD = "Api-Key"


class IntegrationUser:
    """``request.user`` for an API-key request: authenticated, but no person and no staff rights."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key):
        self.api_key = api_key

    def __str__(self):
        return f"integration {self.api_key.name}"

    def has_perm(self, *args, **kwargs):
        return False


class APIKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Api-Key header: use 'Authorization: Api-Key <key>'."))
        try:
            raw_key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid API key.")) from None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if getattr(view, "confirms_cached_api_keys", False):
            api_key = api_key_authenticate(raw_key=raw_key, trust_local=True)  # the view confirms it later
        else:
            api_key = api_key_authenticate(raw_key=raw_key, version=api_keys_version())
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return IntegrationUser(api_key), api_key

    def authenticate_header(self, request):
        return f'{KEYWORD} realm="api"'


class MemberSessionAuthentication(SessionAuthentication):
    """The site's session login, for members reading their own data (CSRF checked on unsafe methods)."""


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = APIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Api-Key <key>`; keys are created by staff and carry scopes.",
        }


class MemberSessionScheme(OpenApiAuthenticationExtension):
    target_class = MemberSessionAuthentication
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
