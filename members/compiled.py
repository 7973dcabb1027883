"""ORM queries compiled to SQL once per connection, for the few fixed-shape reads every till request makes.

Django builds and compiles a queryset's SQL on every call: for a one-row look-up with its joins (the member with
user, tier and account; the account lock; the live subscription) that costs more Python than the round trip.
:class:`CompiledQuery` compiles the queryset once per database connection with placeholder values, remembers
where each placeholder sits among the parameters, and later sends the same statement with the real values,
building model instances the way Django's own iterator does (``from_db``, ``select_related`` populators, the
backend's converters). What it runs is exactly what the ORM would have run.

Only for lookups that pass their value through as the field stores it (``exact``, ``in``, ``lt``/``lte``/``gt``/
``gte`` on plain columns; dates and datetimes go through the backend's own adaptation): a lookup that rewrites its
value (``iexact`` escapes it for SQLite's LIKE, ``contains`` wraps it in ``%``) would need the same rewriting here,
so such queries stay on the ORM, as does any value the build computes from an argument (pass it as an argument of
its own). Compiling checks that every placeholder appears among the parameters. Where the query's shape depends
on something (a list's length, an optional join), ``shaped=True`` compiles once per ``shape`` value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import FlatValuesListIterable, ValuesListIterable, get_related_populators

#: Placeholders by type: values no caller passes (the year 1900, a negative id).
_INT_MARKER = -(2**62)
_STR_MARKER = "\x1fcompiled-query-placeholder-{}\x1f"
_DATETIME_MARKER = datetime(1900, 1, 1, tzinfo=UTC)
_DATE_MARKER = date(1900, 1, 1)


#: Compiled statements kept per query and thread, at most.
_MAX_SHAPES = 64


def _marker(kind: type, index: int):
    if kind is int:
        return _INT_MARKER + index
    if kind is str:
        return _STR_MARKER.format(index)
    if kind is datetime:
        return _DATETIME_MARKER + timedelta(microseconds=index)
    if kind is date:
        return _DATE_MARKER + timedelta(days=index)
    raise TypeError(f"CompiledQuery: no placeholder for {kind.__name__}")


def _adapter(kind: type, connection):
    """How the field would hand a value of ``kind`` to the driver (dates and datetimes: the backend's way)."""
    if kind is datetime:
        return connection.ops.adapt_datetimefield_value
    if kind is date:
        return connection.ops.adapt_datefield_value
    return None


@dataclass(frozen=True)
class _Compiled:
    alias: str
    sql: str
    params: tuple
    positions: tuple[tuple[int, ...], ...]  # per argument, where it sits among the parameters
    adapters: tuple
    converters: dict
    compiler: object
    model: type | None  # None: the query yields rows of values (``values_list``)
    flat: bool
    init_list: tuple[str, ...]
    model_slice: slice
    populators: tuple
    annotations: tuple[tuple[str, int], ...]


class CompiledQuery:
    """``build(*args)``'s rows, with the SQL compiled once per connection (see the module docstring).

    ``build`` returns the queryset for the given arguments; ``types`` says each argument's type (``int``, ``str``,
    ``date`` or ``datetime``) so that a placeholder of that type stands for it while compiling. With
    ``shaped=True`` the build is ``build(shape, *args)`` and each ``shape`` (hashable) is compiled on its own.
    """

    def __init__(self, build: Callable[..., QuerySet], *types: type, shaped: bool = False):
        self._build = build
        self._types = types
        self._shaped = shaped
        self._local = threading.local()

    def first(self, *args, shape=None):
        """The first row as ``.first()`` would return it (ordered by primary key unless the queryset is ordered)."""
        rows = self._rows(args, shape, first=True)
        return rows[0] if rows else None

    def list(self, *args, shape=None) -> list:
        return self._rows(args, shape, first=False)

    def _rows(self, args: tuple, shape, *, first: bool) -> list:
        compiled = self._compiled(shape, first)
        params = list(compiled.params)
        for positions, adapter, value in zip(compiled.positions, compiled.adapters, args, strict=True):
            if adapter is not None and value is not None:
                value = adapter(value)
            for position in positions:
                wrapper = type(compiled.params[position])
                params[position] = value if value is None or wrapper is type(value) else wrapper(value)
        with connections[compiled.alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        if compiled.model is None:
            return [row[0] for row in rows] if compiled.flat else [tuple(row) for row in rows]
        objects = []
        for row in rows:
            obj = compiled.model.from_db(compiled.alias, compiled.init_list, row[compiled.model_slice])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    def _compiled(self, shape, first: bool) -> _Compiled:
        # Per thread, as Django's connections are: the converters belong to this thread's connection.
        cache = self._local.__dict__.setdefault("compiled", {})
        entry = cache.get((shape, first))
        if entry is not None and connections[entry[0].alias] is entry[1]:
            return entry[0]
        compiled = self._compile(shape, first)
        if len(cache) >= _MAX_SHAPES:  # shapes that come and go (sets of campaigns): start afresh, never grow
            cache.clear()
        cache[(shape, first)] = (compiled, connections[compiled.alias])
        return compiled

    def _compile(self, shape, first: bool) -> _Compiled:
        markers = [_marker(kind, index) for index, kind in enumerate(self._types)]
        queryset = self._build(shape, *markers) if self._shaped else self._build(*markers)
        if first:
            queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
        alias = queryset.db
        connection = connections[alias]
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        adapters = tuple(_adapter(kind, connection) for kind in self._types)
        positions = []
        for marker, adapter in zip(markers, adapters, strict=True):
            expected = adapter(marker) if adapter is not None else marker
            # isinstance: PostgreSQL's backend wraps some integers in psycopg's typed ints (Int4, Int8).
            found = tuple(
                index for index, param in enumerate(params) if isinstance(param, type(expected)) and param == expected
            )
            if not found:
                raise ValueError(f"CompiledQuery: an argument is not among the parameters of {sql!r}")
            positions.append(found)
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        model, init_list, model_slice, populators, annotations = None, (), slice(0, 0), (), ()
        iterable = queryset._iterable_class
        if iterable not in (FlatValuesListIterable, ValuesListIterable):
            if compiler.klass_info is None or queryset._fields is not None:
                raise ValueError("CompiledQuery: only model rows and values_list() rows")
            select_fields = compiler.klass_info["select_fields"]
            model_slice = slice(select_fields[0], select_fields[-1] + 1)
            model = compiler.klass_info["model"]
            init_list = tuple(column[0].target.attname for column in compiler.select[model_slice])
            populators = tuple(get_related_populators(compiler.klass_info, compiler.select, alias))
            annotations = tuple(compiler.annotation_col_map.items())
        return _Compiled(
            alias=alias,
            sql=sql,
            params=tuple(params),
            positions=tuple(positions),
            adapters=adapters,
            converters=converters,
            compiler=compiler,
            model=model,
            flat=iterable is FlatValuesListIterable,
            init_list=init_list,
            model_slice=model_slice,
            populators=populators,
            annotations=annotations,
        )
