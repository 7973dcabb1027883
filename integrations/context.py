"""Which integration the running code acts for: the API key of the request being served, or none.

The API's base view sets it once the key is authenticated and clears it when the response is built, so anything
the request causes (a purchase, the tier change it brings, a referral it qualifies, a voucher it uses) is
attributed to that key, wherever in the call stack the event is raised. Outside an API request (the member site,
the admin, batch jobs, tasks) nothing is acting: events are the program's, caused by no integration.

Webhooks read it to decide who may receive an event (``integrations.services.webhook_event_enqueue``).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import APIKey

_acting: ContextVar[APIKey | None] = ContextVar("integrations_acting_api_key", default=None)


def acting_api_key() -> APIKey | None:
    """The API key whose request is being served, or None."""
    return _acting.get()


@contextmanager
def acting_as(api_key: APIKey | None):
    """Run a block as ``api_key``'s integration (None: as nobody); the previous value comes back afterwards."""
    token = _acting.set(api_key)
    try:
        yield api_key
    finally:
        _acting.reset(token)


def acting_set(api_key: APIKey | None) -> None:
    """Set the acting key for the rest of the enclosing ``acting_as`` block (the base view, once authenticated)."""
    _acting.set(api_key)
