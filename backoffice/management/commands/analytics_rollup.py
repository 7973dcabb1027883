"""Back-fill or repair the analytics roll-ups: ``analytics_rollup [--since YYYY-MM-DD | --all]``.

Without options it does what the nightly task does. ``--since`` recomputes every day from that date through
yesterday; ``--all`` rebuilds every day that has data. Safe to run at any time, and again: the upserts leave
unchanged rows alone.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from backoffice.services.rollups import analytics_rollup


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since takes a date as YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = "Roll the staff analytics up per day through yesterday (back-fill with --all, repair with --since)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--since", type=_day, help="Recompute from this day (YYYY-MM-DD) through yesterday.")
        group.add_argument("--all", action="store_true", dest="everything", help="Recompute every day with data.")

    def handle(self, *args, since=None, everything=False, **options):
        run = analytics_rollup(since=since, everything=everything)
        if run.start is None:
            self.stdout.write(f"Nothing to roll up; the roll-ups reach {run.through}.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rolled up {run.start} … {run.through} ({run.days} days): {run.rows_changed} rows changed."
                )
            )
