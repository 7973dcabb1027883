from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Staff console"

    def ready(self):
        from . import tasks  # noqa: F401  (registers the console's Celery tasks in web processes and workers)
