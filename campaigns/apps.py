from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        from members import hooks

        from . import tasks  # noqa: F401  (registered before a launch enqueues them by name)
        from .engine import campaign_awards, campaign_awards_reserve
        from .selectors import member_export
        from .services.emails import member_email_log_erase
        from .services.refunds import campaign_refund_record

        hooks.register(hooks.earning_providers, campaign_awards)
        hooks.register(hooks.award_reservers, campaign_awards_reserve)
        hooks.register(hooks.purchase_refunded, campaign_refund_record)
        hooks.register(hooks.export_providers, member_export)
        hooks.register(hooks.member_closed, member_email_log_erase)
