"""Statements the ORM cannot express in one round trip, for the hot earning path.

Standard SQL (``INSERT … ON CONFLICT … RETURNING``) that PostgreSQL and SQLite ≥ 3.35 both run; column lists
come from model metadata so they stay in step with the models.
"""

from __future__ import annotations

from django.db import connection, models


def _insert_parts(instance: models.Model) -> tuple[list[models.Field], list]:
    fields = [
        field
        for field in instance._meta.concrete_fields
        if not (field.primary_key and getattr(instance, field.attname) is None)
    ]
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    return fields, values


def insert_unless_exists(instance: models.Model, *, unique_fields: list[str]) -> bool:
    """INSERT ``instance`` unless a row with the same ``unique_fields`` exists; True (and the pk set) if inserted.

    One statement instead of a look-up followed by an insert. The conflict is settled by the unique constraint
    itself, so a concurrent insert of the same key waits for the other transaction rather than racing it.
    """
    quote = connection.ops.quote_name
    meta = instance._meta
    fields, values = _insert_parts(instance)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique_fields)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Identifiers come from model metadata, quoted; values are parameters.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT ({conflict}) DO NOTHING RETURNING {pk}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    setattr(instance, meta.pk.attname, row[0])
    instance._state.adding = False
    instance._state.db = connection.alias
    return True
