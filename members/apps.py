from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and points"

    def ready(self):
        from . import hooks
        from .api import tasks  # noqa: F401  (registers the API's Celery tasks)
        from .services.integrations import on_points_changed, on_purchase_recorded

        hooks.register(hooks.purchase_recorded, on_purchase_recorded)
        hooks.register(hooks.points_changed, on_points_changed)
