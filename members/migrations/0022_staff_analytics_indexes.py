"""Indexes for the staff analytics and points-accounting queries.

Created with SQL rather than in the models' Meta because those models belong to the members core; on PostgreSQL
they are covering indexes (INCLUDE), so period aggregates are answered by index-only scans.
"""

from django.db import migrations

INDEXES = [
    ("staff_purchase_occurred_idx", "members_purchase", "occurred_at", "member_id, total"),
    ("staff_ledger_created_idx", "members_ledgerentry", "created_at", "kind, points, pending_delta"),
    ("staff_tierhistory_created_idx", "members_tierhistory", "created_at", None),
]


def create_indexes(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for name, table, column, include in INDEXES:
        extra = f" INCLUDE ({include})" if postgres and include else ""
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column}){extra}")


def drop_indexes(apps, schema_editor):
    for name, _table, _column, _include in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("members", "0021_staff_roles")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
