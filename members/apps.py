from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and points"

    def ready(self):
        from integrations.registry import domain_error_register, key_owner_provider_register
        from integrations.services import on_event

        from . import (
            hooks,
            metrics,
            privacy,
            selectors,
            tasks,  # noqa: F401  (registered before a tier move enqueues its email by name)
            webhooks,
        )
        from .api import scopes  # noqa: F401  (registers the members API's scopes)
        from .exceptions import LoyaltyError

        domain_error_register(LoyaltyError)
        # Partners own API keys through the platform's opaque owner label; members says which labels exist.
        key_owner_provider_register(selectors.partner_owner_choices)
        hooks.register(hooks.purchase_settled, webhooks.on_purchase_settled)
        hooks.register(hooks.purchase_settled, metrics.on_purchase_settled)
        hooks.register(hooks.points_changed, on_event)
        hooks.register(hooks.member_closed, privacy.on_member_closed)
