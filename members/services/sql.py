"""Statements the ORM cannot express in one round trip, for the hot earning path.

Every earn waits on PostgreSQL once per statement, so the earn's inserts are grouped: a purchase with its lines,
and a ledger entry with its lot and the account's new balances, each go as one statement (data-modifying
``WITH`` clauses, PostgreSQL only; other databases take the ORM's statements one by one). Column lists come
from model metadata so they stay in step with the models; every value is a parameter.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


@functools.cache
def _columns(model: type[models.Model]) -> tuple[tuple[models.Field, str], ...]:
    # Built once per model: quoting through the connection proxy costs more than the earn can spare.
    return tuple((field, quote(field.column)) for field in model._meta.concrete_fields)


def insert_values(instance: models.Model, *, expressions: dict[str, str] | None = None) -> tuple[str, str, list]:
    """``(columns, values, params)`` for an INSERT of ``instance`` (its primary key left to the database).

    ``expressions`` gives SQL to use instead of a parameter for some columns (e.g. the id a previous ``WITH``
    clause returned).
    """
    expressions = expressions or {}
    columns, values, params = [], [], []
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: every attribute read through the proxy costs
    for field, column in _columns(type(instance)):
        if field.primary_key and getattr(instance, field.attname) is None:
            continue
        columns.append(column)
        if field.column in expressions:
            values.append(expressions[field.column])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(instance, True), db))
    return ", ".join(columns), ", ".join(values), params


def mark_saved(instance: models.Model, pk) -> None:
    setattr(instance, instance._meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = connection.alias


def insert_unless_exists(
    instance: models.Model, *, unique_fields: list[str], children: list[models.Model] = (), child_fk: str = ""
) -> bool:
    """INSERT ``instance`` unless a row with the same ``unique_fields`` exists; True (and the pk set) if inserted.

    One statement instead of a look-up followed by an insert: the unique constraint settles it, so a concurrent
    insert of the same key waits for the other transaction rather than racing it. On PostgreSQL ``children``
    (rows whose ``child_fk`` points at ``instance``) are inserted by the same statement, and only if the parent
    was; elsewhere they are bulk-inserted afterwards.
    """
    meta = instance._meta
    columns, values, params = insert_values(instance)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique_fields)
    pk = quote(meta.pk.column)
    parent = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {pk}"
    )
    with_children = bool(children) and connection.vendor == "postgresql"
    if with_children:
        child_meta = children[0]._meta
        fk_column = child_meta.get_field(child_fk).column
        parent_id = f"(SELECT {pk} FROM parent)"  # noqa: S608 - a quoted column name from model metadata
        rows = [insert_values(child, expressions={fk_column: parent_id}) for child in children]
        child_columns = rows[0][0]
        tuples = ", ".join(f"({row_values})" for _columns, row_values, _params in rows)
        sql = (
            f"WITH parent AS ({parent}), children AS ("  # noqa: S608
            f"INSERT INTO {quote(child_meta.db_table)} ({child_columns}) "
            f"SELECT * FROM (VALUES {tuples}) AS rows WHERE EXISTS (SELECT 1 FROM parent)"
            f") SELECT {pk} FROM parent"
        )
        params = params + [param for _columns, _values, row_params in rows for param in row_params]
    else:
        sql = parent
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    mark_saved(instance, row[0])
    for child in children:
        setattr(child, child_fk, instance)
    if children and not with_children:
        type(children[0]).objects.bulk_create(children)
    return True
