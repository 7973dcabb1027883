"""Shared helpers for the benchmark scripts: a PostgreSQL database of their own and fast set-based data loads.

The scripts never touch a development database: they create (or recreate) the database named in
``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/loyalty_bench``), migrate it, and generate
rows with ``INSERT … SELECT generate_series`` so a million members take seconds, not hours.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench"


def setup_django(url: str | None = None, *, recreate: bool = False, template: str | None = None) -> str:
    """Point Django at the benchmark database (creating it, optionally from scratch) and migrate it.

    With ``template``, the database is recreated as a file-level copy of that database (``CREATE DATABASE … TEMPLATE``),
    which takes seconds where regenerating takes many minutes.
    """
    url = url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        sys.exit("The benchmarks need PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    name = parsed.path.lstrip("/")
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and (recreate or template):
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measure what production runs: DEBUG off (no query logging), persistent connections.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def database_snapshot(url: str, snapshot: str) -> None:
    """Save the benchmark database as ``snapshot`` so later runs can start from the same data (see ``template``)."""
    import psycopg
    from django.db import connections

    connections.close_all()
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{snapshot}"')
        conn.execute(f'CREATE DATABASE "{snapshot}" TEMPLATE "{name}"')


def database_exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@contextmanager
def timed(label: str, results: dict | None = None):
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed:.2f} s", flush=True)
    if results is not None:
        results[label] = elapsed


def _literal(field) -> str:
    """A SQL literal for a column the generator does not set explicitly: its Python default, or NULL."""
    from django.db import connection

    if field.null and not field.has_default():
        return "NULL"
    default = field.get_default()
    if default is None:
        return "NULL"
    if isinstance(default, bool):
        return "TRUE" if default else "FALSE"
    if isinstance(default, int | float):
        return str(default)
    # compose_sql quotes client-side whichever cursor class the connection uses (server-side binding has no mogrify).
    literal = connection.ops.compose_sql("%s", [field.get_db_prep_value(default, connection)])
    return literal.decode() if isinstance(literal, bytes) else literal


def insert_select(model, expressions: dict[str, str], from_sql: str) -> None:
    """``INSERT INTO model SELECT …``: ``expressions`` maps column names to SQL, the rest get their defaults.

    Building the column list from the model keeps the generator working when a field with a default is added.
    """
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in expressions:
            continue
        columns.append(f'"{field.column}"')
        values.append(expressions.get(field.column) or _literal(field))
    unknown = set(expressions) - {f.column for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"unknown columns for {model.__name__}: {unknown}")
    sql = f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) SELECT {", ".join(values)} {from_sql}'
    with connection.cursor() as cursor:
        cursor.execute(sql)
