from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: API keys and webhooks"

    def ready(self):
        from . import tasks  # noqa: F401  (registers the platform's Celery tasks in web processes and workers)
