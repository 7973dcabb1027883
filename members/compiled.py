"""ORM queries compiled to SQL once per connection, for the few fixed-shape reads every till request makes.

Django builds and compiles a queryset's SQL on every call: for a one-row look-up with its joins (the member with
user, tier and account; the account lock; the live subscription) that costs more Python than the round trip.
:class:`CompiledQuery` compiles the queryset once per database connection with placeholder values, remembers
where each placeholder sits among the parameters, and later sends the same statement with the real values,
building model instances the way Django's own iterator does (``from_db``, ``select_related`` populators, the
backend's converters). What it runs is exactly what the ORM would have run.

Only for lookups that pass their value through unchanged (``exact`` and ``in`` on plain columns): a lookup that
rewrites its value (``iexact`` escapes it for SQLite's LIKE, ``contains`` wraps it in ``%``) would need the same
rewriting here, so such queries stay on the ORM. Compiling checks that every placeholder appears exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

#: Placeholders by type: values no caller passes, that every field used here keeps as they are.
_INT_MARKER = -(2**62)
_STR_MARKER = "\x1fcompiled-query-placeholder-{}\x1f"


@dataclass(frozen=True)
class _Compiled:
    alias: str
    sql: str
    params: tuple
    positions: tuple[int, ...]
    converters: dict
    compiler: object
    model: type | None  # None: the query yields one column (``values_list(..., flat=True)``)
    init_list: tuple[str, ...]
    model_slice: slice
    populators: tuple
    annotations: tuple[tuple[str, int], ...]


class CompiledQuery:
    """``build(*args)``'s rows, with the SQL compiled once per connection (see the module docstring).

    ``build`` returns the queryset for the given arguments; ``types`` says each argument's type (``int`` or
    ``str``) so that a placeholder of that type stands for it while compiling.
    """

    def __init__(self, build: Callable[..., QuerySet], *types: type):
        self._build = build
        self._types = types
        self._local = threading.local()

    def first(self, *args):
        """The first row as ``.first()`` would return it (ordered by primary key unless the queryset is ordered)."""
        rows = self._rows(args, first=True)
        return rows[0] if rows else None

    def list(self, *args) -> list:
        return self._rows(args, first=False)

    def _rows(self, args: tuple, *, first: bool) -> list:
        compiled = self._compiled(first)
        params = list(compiled.params)
        for position, value in zip(compiled.positions, args, strict=True):
            params[position] = value
        with connections[compiled.alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        if compiled.model is None:
            return [row[0] for row in rows]
        objects = []
        for row in rows:
            obj = compiled.model.from_db(compiled.alias, compiled.init_list, row[compiled.model_slice])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    def _compiled(self, first: bool) -> _Compiled:
        # Per thread, as Django's connections are: the converters belong to this thread's connection.
        cache = self._local.__dict__.setdefault("compiled", {})
        entry = cache.get(first)
        if entry is not None and connections[entry[0].alias] is entry[1]:
            return entry[0]
        compiled = self._compile(first)
        cache[first] = (compiled, connections[compiled.alias])
        return compiled

    def _markers(self) -> list:
        return [
            _INT_MARKER + index if kind is int else _STR_MARKER.format(index) for index, kind in enumerate(self._types)
        ]

    def _compile(self, first: bool) -> _Compiled:
        markers = self._markers()
        queryset = self._build(*markers)
        if first:
            queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
        alias = queryset.db
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions = []
        for marker in markers:
            found = [index for index, param in enumerate(params) if param == marker and type(param) is type(marker)]
            if len(found) != 1:
                raise ValueError(f"CompiledQuery: an argument appears {len(found)} times in {sql!r}")
            positions.append(found[0])
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        model, init_list, model_slice, populators, annotations = None, (), slice(0, 0), (), ()
        if compiler.klass_info is not None and queryset._fields is None:
            select_fields = compiler.klass_info["select_fields"]
            model_slice = slice(select_fields[0], select_fields[-1] + 1)
            model = compiler.klass_info["model"]
            init_list = tuple(column[0].target.attname for column in compiler.select[model_slice])
            populators = tuple(get_related_populators(compiler.klass_info, compiler.select, alias))
            annotations = tuple(compiler.annotation_col_map.items())
        elif len(fields) != 1:
            raise ValueError("CompiledQuery: a values query must yield one column (values_list(..., flat=True))")
        return _Compiled(
            alias=alias,
            sql=sql,
            params=tuple(params),
            positions=tuple(positions),
            converters=converters,
            compiler=compiler,
            model=model,
            init_list=init_list,
            model_slice=model_slice,
            populators=populators,
            annotations=annotations,
        )
