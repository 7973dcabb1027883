from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from integrations.registry import event_register
        from members import hooks

        from . import selectors, services

        event_register("referral.qualified", "Referral qualified")
        hooks.register(hooks.till_member_annotations, services.till_member_annotations)
        hooks.register(hooks.purchase_co_locks, services.purchase_co_locks)
        hooks.register(hooks.refund_co_locks, services.refund_co_locks)
        hooks.register(hooks.member_enrolled, services.on_member_enrolled)
        hooks.register(hooks.signup_checks, selectors.signup_referral_code_check)
        hooks.register(hooks.purchase_recorded, services.on_purchase_recorded)
        hooks.register(hooks.purchase_refunded, services.on_purchase_refunded)
        hooks.register(hooks.export_providers, selectors.member_export)
        hooks.register(hooks.member_closed, services.member_data_erase)
