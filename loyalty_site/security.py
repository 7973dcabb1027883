"""The Content-Security-Policy of every response: our own scripts, styles, images and fonts only.

Nothing on the site loads from elsewhere, so the policy names only ``'self'``. Scripts are never inline (the
templates have none), which is what stops an injected ``<script>``. Inline ``style=""`` attributes are allowed:
the tier colours are set that way, and a style attribute runs no code. Django 6 brings a middleware of its own for
this; on 5.2 one header is all it takes.
"""

from functools import wraps

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


def relaxed_script_policy(view):
    """For a third-party page that starts itself with an inline script (the ReDoc API docs): the same policy with
    inline scripts allowed on that page alone."""
    policy = settings.CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = policy
        return response

    return wrapped
