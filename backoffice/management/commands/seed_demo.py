"""Load demo data. Idempotent: objects are looked up by natural key first, so a second run changes nothing."""

from importlib import import_module
from urllib.parse import urlparse

from django.apps import apps
from django.conf import settings
from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import module_has_submodule

from backoffice import demo as backoffice_demo
from backoffice.roles import roles_setup
from backoffice.services.rollups import analytics_rollup
from members.demo import DEMO_MEMBER_EMAIL, DEMO_MEMBER_PASSWORD, DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD


class Command(BaseCommand):
    help = "Create demo tiers, members, purchases, rewards and campaigns (safe to run repeatedly)."

    def handle(self, *args, **options):
        from members import demo as members_demo

        with transaction.atomic():
            # Groups get their permissions once every app's migrations have created them.
            roles_setup()
            members_demo.seed(stdout=self.stdout)
            # Each other app may ship a demo.py with seed(stdout=...); they run after the members core.
            for app_config in apps.get_app_configs():
                if app_config.name in {"members", "backoffice"} or not module_has_submodule(app_config.module, "demo"):
                    continue
                import_module(f"{app_config.name}.demo").seed(stdout=self.stdout)
            # The console's own demo (points accounting) reads what the others created.
            backoffice_demo.seed(stdout=self.stdout)
            # Roll the demo history up, so the staff dashboards read roll-ups as they do in production. A second
            # run recomputes the same days and changes no row.
            analytics_rollup()
            _partner_months_close()
            _site_from_settings()
        site = settings.SITE_URL.rstrip("/")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Member login: {DEMO_MEMBER_EMAIL} / {DEMO_MEMBER_PASSWORD}  ({site}/accounts/login/)")
        self.stdout.write(f"  Staff login:  {DEMO_STAFF_EMAIL} / {DEMO_STAFF_PASSWORD}  ({site}/admin/)")


def _partner_months_close() -> None:
    """Close last month's settlement for each partner with a statement open, so the demo shows a frozen one."""
    from django.utils import timezone

    from backoffice import settlement
    from backoffice.services.settlement import settlement_close
    from members.demo import DEMO_STAFF_EMAIL
    from members.models import Partner, User
    from members.months import add_months

    staff = User.objects.filter(email=DEMO_STAFF_EMAIL).first()
    last_month = add_months(timezone.localdate().replace(day=1), -1)
    for partner in Partner.objects.all():
        if settlement.last_closed_month(partner) is None:
            settlement_close(partner=partner, month=last_month, actor=staff)


def _site_from_settings() -> None:
    """The Site row (its domain is what emails sent outside a request link to) follows SITE_URL, port included."""
    domain = urlparse(settings.SITE_URL).netloc
    if domain:
        Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"domain": domain})
        Site.objects.clear_cache()
