"""What the apps built on the platform declare: their API scopes, their webhook events and their domain errors.

``integrations`` knows no feature. Each app registers its own names from its ``AppConfig.ready()`` (members
registers ``purchases:write`` and ``purchase.recorded``, rewards ``vouchers:redeem`` and ``reward.redeemed``, …),
and keys, endpoints, the admin and the management commands offer exactly what has been registered.
"""

from __future__ import annotations

scopes: dict[str, str] = {}
events: dict[str, str] = {}
#: Payload fields of an event that only the integration which caused it may read (a voucher code is as good as the
#: voucher): every other endpoint receives them as null.
event_secret_fields: dict[str, tuple[str, ...]] = {}
#: Callables returning ``[(owner label, human name)]``: who, besides the operator, may own a key (members
#: offers its partners as ``partner:<id>``). The platform stores the label and filters events by it, nothing more.
key_owner_providers: list = []
#: Exception classes the API maps to its error shape (422 unless the exception says otherwise).
domain_errors: list[type[Exception]] = []


def scope_register(code: str, label: str) -> str:
    scopes.setdefault(code, label)
    return code


def event_register(code: str, label: str, *, secret_fields: tuple[str, ...] = ()) -> str:
    events.setdefault(code, label)
    if secret_fields:
        event_secret_fields[code] = tuple(secret_fields)
    return code


def domain_error_register(exception_class: type[Exception]) -> None:
    """Exceptions carrying ``code``, ``message`` and ``field`` (and optionally ``http_status`` and
    ``api_extra()``) that views may let through to the API's exception handler."""
    if exception_class not in domain_errors:
        domain_errors.append(exception_class)


def scope_choices() -> list[tuple[str, str]]:
    return sorted(scopes.items())


def event_choices() -> list[tuple[str, str]]:
    return sorted(events.items())


def unknown_scopes(values) -> list[str]:
    return sorted(set(values) - set(scopes))


def unknown_events(values) -> list[str]:
    return sorted(set(values) - set(events))


def key_owner_provider_register(provider) -> None:
    if provider not in key_owner_providers:
        key_owner_providers.append(provider)


def key_owner_choices() -> list[tuple[str, str]]:
    """The operator (blank) first, then every owner the apps offer."""
    choices = [("", "Program operator")]
    for provider in key_owner_providers:
        choices.extend(provider())
    return choices
