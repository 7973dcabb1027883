from django.core.management.base import BaseCommand

from backoffice.roles import roles_setup


class Command(BaseCommand):
    help = "Create or correct the staff groups (Support, Marketer, Program manager, Auditor) and their permissions."

    def handle(self, *args, **options):
        for role, permissions in roles_setup().items():
            self.stdout.write(f"{role}: {len(permissions)} permissions")
            if options["verbosity"] > 1:
                for name in permissions:
                    self.stdout.write(f"  {name}")
