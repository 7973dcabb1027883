from decimal import Decimal

from django.db import migrations

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION members_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'members_ledgerentry is append-only: post a reversing entry instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER members_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON members_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION members_ledger_append_only();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS members_ledgerentry_append_only ON members_ledgerentry;
DROP FUNCTION IF EXISTS members_ledger_append_only();
"""


def ledger_append_only(apps, schema_editor):
    # The trigger is the database's own guarantee on PostgreSQL; on SQLite the model refuses updates.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


def default_program(apps, schema_editor):
    ProgramSettings = apps.get_model("members", "ProgramSettings")
    Tier = apps.get_model("members", "Tier")
    ProgramSettings.objects.get_or_create(pk=1)
    defaults = [
        ("Bronze", 0, Decimal("0"), Decimal("1.0"), "#8c6239", "Earn 1 point per euro\nBirthday gift"),
        ("Silver", 1, Decimal("1000"), Decimal("1.25"), "#6b7280", "25% more points\nBirthday gift\nEarly access to sales"),
        ("Gold", 2, Decimal("5000"), Decimal("1.5"), "#a16207", "50% more points\nBirthday gift\nFree delivery\nPriority support"),
    ]
    if not Tier.objects.exists():
        for name, rank, threshold, multiplier, colour, perks in defaults:
            Tier.objects.create(
                name=name, rank=rank, threshold=threshold, earn_multiplier=multiplier, colour=colour, perks=perks
            )


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        migrations.RunPython(ledger_append_only, drop_append_only),
        migrations.RunPython(default_program, migrations.RunPython.noop),
    ]
