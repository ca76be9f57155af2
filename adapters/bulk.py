"""Statements run thousands of times a page (the log's inserts, the CRM write-back):
compiled by SQLAlchemy once, then executed by the driver on plain tuples.

SQLAlchemy Core stays the author of every statement and the owner of its types: each
parameter goes through the bind processor SQLAlchemy itself would apply for its type on
this dialect (dates as SQLite text, JSON through the engine's serializer, booleans), so
the driver receives exactly what `conn.execute(statement, dicts)` sends it; what is skipped
is Core's per-row parameter machinery. Inserts into PostgreSQL through psycopg2 go by COPY.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Collection, Sequence
from operator import itemgetter
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


class DriverStatement:
    """One Core statement compiled for one dialect, executed with rows of values given in
    `names` order (the statement's bind names). Values of the names in `prebound` come
    bound already: their caller binds them with `processor` (once per value that repeats)."""

    def __init__(
        self,
        statement: sa.ClauseElement,
        names: Sequence[str],
        dialect: sa.Dialect,
        prebound: Collection[str] = (),
    ) -> None:
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect))  # DML compiles to SQL
        if set(names) != set(compiled.binds) or len(set(names)) != len(names):
            raise ValueError(f"parameters {sorted(names)} are not those of {compiled}")
        self.sql = str(compiled)
        self.names = tuple(names)
        self._processors = {name: _processor(compiled, name, dialect) for name in names}
        self.processors = [
            (i, p)
            for i, name in enumerate(names)
            if name not in prebound and (p := self._processors[name]) is not None
        ]
        self._shape: Callable[[Sequence[Any]], Any] | None = None
        if compiled.positional:
            order = [self.names.index(name) for name in compiled.positiontup or ()]
            if order != list(range(len(names))):
                self._shape = itemgetter(*order) if len(order) > 1 else _single(order[0])
        else:
            escaped = compiled.escaped_bind_names
            keys = tuple(escaped.get(name, name) for name in names)
            self._shape = lambda row: dict(zip(keys, row, strict=True))

    def processor(self, name: str) -> Processor:
        """How SQLAlchemy binds parameter `name` on this dialect (unchanged if it does not)."""
        return self._processors[name] or _unchanged

    def bound(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """The rows with each value as SQLAlchemy binds its column's type on this dialect."""
        processors = self.processors
        if not processors:
            return list(rows)
        out: list[Sequence[Any]] = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def execute(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Run the statement once per row, in one driver `executemany`, on `conn`."""
        if not rows:
            return
        bound = self.bound(rows)
        shape = self._shape
        conn.exec_driver_sql(self.sql, bound if shape is None else [shape(r) for r in bound])


class BulkInsert:
    """Rows into one table, as tuples of every column in `columns` order: COPY on psycopg2
    (one stream a page instead of a multi-row INSERT the server parses), the driver's
    executemany elsewhere."""

    def __init__(
        self,
        table: sa.Table,
        columns: Sequence[str],
        dialect: sa.Dialect,
        prebound: Collection[str] = (),
    ) -> None:
        self.statement = DriverStatement(sa.insert(table), columns, dialect, prebound)
        self.dialect = dialect
        self.copy: str | None = None
        if dialect.name == "postgresql" and dialect.driver == "psycopg2":
            quote = dialect.identifier_preparer
            names = ", ".join(quote.quote(table.c[c].name) for c in columns)
            self.copy = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"

    def execute(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert the rows on `conn`, inside its transaction."""
        if not rows:
            return
        if self.copy is None:
            self.statement.execute(conn, rows)
            return
        text = copy_text(self.statement.bound(rows))
        raw: Any = conn.connection.dbapi_connection
        error = self.dialect.loaded_dbapi.Error
        try:
            with raw.cursor() as cursor:
                cursor.copy_expert(self.copy, io.StringIO(text))
        except error as e:
            gone = self.dialect.is_disconnect(e, raw, None)
            if gone:
                conn.invalidate()
            raise DBAPIError.instance(
                self.copy, None, e, error, connection_invalidated=gone
            ) from None


def copy_text(rows: Sequence[Sequence[Any]]) -> str:
    """Bound rows in PostgreSQL's COPY text format: tab-separated, `\\N` for null,
    backslash, tab, newline and carriage return escaped."""
    lines = []
    width = len(rows[0]) - 1 if rows else 0
    for row in rows:
        fields = [_copy_field(v) for v in row]
        line = "\t".join(fields)
        if line.count("\t") != width or "\n" in line or "\r" in line:
            line = "\t".join(_escaped(f) for f in fields)
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


def _copy_field(value: Any) -> str:
    """One value as COPY text; a backslash in text doubled (the rare tab or newline is
    escaped by `copy_text` on the line's second pass)."""
    if value is None:
        return "\\N"
    if type(value) is str:
        return value.replace("\\", "\\\\") if "\\" in value else value
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"no COPY text form for a {type(value).__name__} value")


def _escaped(field: str) -> str:
    """A field (its backslashes doubled already) with tab, newline and CR escaped too."""
    return field.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _processor(compiled: SQLCompiler, name: str, dialect: sa.Dialect) -> Processor | None:
    """The bind processor SQLAlchemy applies to parameter `name` on this dialect, if any."""
    type_ = compiled.binds[name].type
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _unchanged(value: Any) -> Any:
    """A value a type without a bind processor sends as it is."""
    return value


def _single(index: int) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A one-parameter row in the compiled order (itemgetter of one index gives no tuple)."""
    return lambda row: (row[index],)
