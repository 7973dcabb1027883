from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: API keys and webhooks"

    def ready(self):
        from . import checks, connections, tasks  # noqa: F401  (registers the platform's system checks and Celery tasks)
        from .cache import request_began, request_ended
        from .models import APIKey, WebhookEndpoint
        from .services import api_keys_changed, webhook_subscriptions_clear

        # Cache invalidation only (the subscriptions every purchase asks for).
        for model in (APIKey, WebhookEndpoint):
            for signal in (post_save, post_delete):
                signal.connect(
                    webhook_subscriptions_clear, sender=model, dispatch_uid=f"webhooks-clear-{model.__name__}"
                )
        # Keys cached per process are confirmed against a shared version on every request; any save or delete
        # of a key moves it.
        for signal in (post_save, post_delete):
            signal.connect(api_keys_changed, sender=APIKey, dispatch_uid="api-keys-changed")
        # The configuration's shared version is read once per request (integrations.cache).
        request_started.connect(request_began, dispatch_uid="config-version-request-began")
        request_finished.connect(request_ended, dispatch_uid="config-version-request-ended")
        # A reused connection that served a request cleanly a moment ago skips its health check
        # (integrations.connections); connected after Django's close_old_connections, which runs first.
        request_started.connect(connections.request_began, dispatch_uid="db-health-request-began")
        request_finished.connect(connections.request_ended, dispatch_uid="db-health-request-ended")
