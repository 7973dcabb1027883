"""Check, set-based, that every cached balance agrees with the ledger and the lots.

For every account: ``balance == SUM(entries.points) == SUM(remaining of available lots)``,
``pending == SUM(entries.pending_delta) == SUM(remaining of pending lots)`` and ``owed == SUM(entries.owed_delta)``.
Each mismatch is printed (member number, field, cached and computed values); the exit status is non-zero if there
is any.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from members.models import LedgerEntry, Member, PointsAccount, PointsLot

CHECKS = [
    # (field, cached column, computed column)
    ("balance", "a.balance", "COALESCE(e.points, 0)", "entries"),
    ("balance", "a.balance", "COALESCE(l.available, 0)", "lots"),
    ("pending", "a.pending", "COALESCE(e.pending, 0)", "entries"),
    ("pending", "a.pending", "COALESCE(l.pending, 0)", "lots"),
    ("owed", "a.owed", "COALESCE(e.owed, 0)", "entries"),
]


class Command(BaseCommand):
    help = "Verify that every points account's cached balances equal the sums of its ledger entries and lots."

    def handle(self, *args, **options):
        accounts = PointsAccount._meta.db_table
        members = Member._meta.db_table
        entries = LedgerEntry._meta.db_table
        lots = PointsLot._meta.db_table
        columns = ", ".join(f"{cached}, {computed}" for _field, cached, computed, _source in CHECKS)
        mismatch = " OR ".join(f"{cached} <> {computed}" for _field, cached, computed, _source in CHECKS)
        sql = f"""
            SELECT m.member_number, {columns}
            FROM {accounts} a
            JOIN {members} m ON m.id = a.member_id
            LEFT JOIN (
                SELECT account_id, SUM(points) AS points, SUM(pending_delta) AS pending, SUM(owed_delta) AS owed
                FROM {entries} GROUP BY account_id
            ) e ON e.account_id = a.member_id
            LEFT JOIN (
                SELECT account_id,
                       SUM(CASE WHEN is_pending THEN 0 ELSE remaining END) AS available,
                       SUM(CASE WHEN is_pending THEN remaining ELSE 0 END) AS pending
                FROM {lots} GROUP BY account_id
            ) l ON l.account_id = a.member_id
            WHERE {mismatch}
            ORDER BY m.member_number
        """  # noqa: S608 - table names come from model metadata
        problems = 0
        with connection.cursor() as cursor:
            cursor.execute(sql)
            for row in cursor.fetchall():
                number = row[0]
                for index, (field, _cached, _computed, source) in enumerate(CHECKS):
                    cached, computed = row[1 + 2 * index], row[2 + 2 * index]
                    if cached != computed:
                        problems += 1
                        self.stdout.write(
                            f"{number}: {field} cached {cached} != {computed} from {source}",
                        )
            cursor.execute(f"SELECT COUNT(*) FROM {accounts}")  # noqa: S608
            checked = cursor.fetchone()[0]
        if problems:
            raise CommandError(f"{problems} mismatch(es) found in {checked} accounts.")
        self.stdout.write(self.style.SUCCESS(f"Ledger verified: {checked} accounts, no mismatches."))
