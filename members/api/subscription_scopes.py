"""The API scopes of paid membership, registered with the integration platform."""

from integrations.registry import scope_register

SUBSCRIPTIONS_WRITE = scope_register("subscriptions:write", "Start, renew, cancel and change subscriptions")
SUBSCRIPTIONS_READ = scope_register("subscriptions:read", "Read plans and subscriptions")
