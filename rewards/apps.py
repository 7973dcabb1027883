from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self):
        from members import hooks

        from . import selectors, services
        from .api import scopes  # noqa: F401  (registers the rewards API's scopes and webhook events)

        hooks.register(hooks.featured_rewards, _featured)
        hooks.register(hooks.reward_suggestions, selectors.rewards_for_member_dashboard)
        hooks.register(hooks.export_providers, selectors.member_export)
        hooks.register(hooks.member_closed, services.member_data_erase)
        hooks.register(hooks.discount_codes_used, services.vouchers_use_on_purchase)
        hooks.register(hooks.subscription_period_due, services.subscription_period_rewards_grant)
        hooks.register(hooks.subscription_changed, services.on_subscription_changed)
        hooks.register(hooks.plan_benefits, selectors.plan_benefits)


def _featured(*, limit):
    from .selectors import rewards_featured

    return rewards_featured(limit=limit)
