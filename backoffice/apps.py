from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Staff console"

    def ready(self):
        from members import hooks

        from . import tasks  # noqa: F401  (registers the console's Celery tasks in web processes and workers)
        from .services.staff import account_action_record, program_rule_change_record

        # The audit rows of other apps' services: written inside their transactions (see members.audit).
        hooks.register(hooks.rule_changed, program_rule_change_record)
        hooks.register(hooks.account_action_recorded, account_action_record)

        # The admin index is the console's front page: the staff pages and today's figures first.
        from django.contrib import admin

        from .views import admin_index_context

        admin.site.index_template = "admin/staff/index.html"
        plain_index = admin.site.index

        def index(request, extra_context=None):
            return plain_index(request, extra_context={**admin_index_context(request), **(extra_context or {})})

        admin.site.index = index
