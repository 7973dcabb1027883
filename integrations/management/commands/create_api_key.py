from django.core.management.base import BaseCommand, CommandError

from integrations import registry
from integrations.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an integration and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Which integration the key is for, e.g. 'Shop tills'.")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Comma-separated scopes among: {', '.join(sorted(registry.scopes))}.",
        )
        parser.add_argument(
            "--owner",
            default="",
            help="Whose key it is, e.g. 'partner:3' for a coalition partner (see the admin's choices); "
            "default: the program operator.",
        )

    def handle(self, *args, name, scopes, owner="", **options):
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        if not wanted:
            raise CommandError("Give at least one scope.")
        owners = dict(registry.key_owner_choices())
        if owner not in owners:
            raise CommandError(f"Unknown owner {owner!r}: one of {', '.join(repr(o) for o in owners)}.")
        try:
            key, raw_key = api_key_create(name=name, scopes=wanted, owner=owner)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created API key {key.prefix} for {key.name} ({owners[owner]}) with scopes {', '.join(key.scopes)}."
        )
        self.stderr.write("Store it now: it cannot be shown again.")
        self.stdout.write(raw_key)
