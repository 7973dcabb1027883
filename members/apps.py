from importlib import import_module

from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and points"

    def import_models(self):
        super().import_models()
        # Paid membership keeps its models in its own sub-package; importing it here registers them with this app
        # while the registry loads models, as if they were in members/models.py.
        import_module(f"{self.name}.subscriptions.models")

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
        from .api import scopes, subscription_scopes  # noqa: F401  (register the members API's scopes)
        from .exceptions import LoyaltyError
        from .subscriptions import selectors as subscription_selectors
        from .subscriptions import services as subscription_services
        from .subscriptions import webhooks as subscription_webhooks  # noqa: F401  (registers its events)

        domain_error_register(LoyaltyError)
        hooks.register(hooks.purchase_recorded, subscription_services.on_purchase_recorded)
        # Partners own API keys through the platform's opaque owner label; members says which labels exist.
        key_owner_provider_register(selectors.partner_owner_choices)
        hooks.register(hooks.purchase_settled, webhooks.on_purchase_settled)
        hooks.register(hooks.purchase_settled, metrics.on_purchase_settled)
        hooks.register(hooks.points_changed, on_event)
        hooks.register(hooks.member_closed, privacy.on_member_closed)
        hooks.register(hooks.member_closed, subscription_services.on_member_closed)
        hooks.register(hooks.export_providers, subscription_selectors.member_export)
