"""SQL sources (`sqlite:///crm.db`, `postgresql://...`): clients read in pages through a
server-side cursor, facts from the clients table plus aggregates over related tables
(orders, tickets, surveys) that the database computes in one query, and write-back of
decision outputs into CRM columns. The mapping file says which tables and columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from tierwise.lang.types import FactType
from tierwise.outcome import Outcome
from tierwise.pack.ir import Pack
from tierwise.runtime.facts import printable
from tierwise.runtime.records import read_record, row_id, without_id

from .base import ID_KEY, AdapterError, Record, UnreadableClient
from .bulk import DriverStatement
from .db import connect, reason, safe_url
from .mapping import AggregateSpec, load_mapping
from .mapping import Mapping as MappingFile

FETCH_SIZE = 1000
"""Rows fetched per round trip from the server-side cursor."""


class _Tables:
    """Reflected tables, each checked against the mapping that names it."""

    def __init__(self, engine: sa.Engine, mapping: MappingFile, url: str) -> None:
        self.engine = engine
        self.mapping = mapping
        self.url = url
        self.metadata = sa.MetaData()
        self._known: list[str] | None = None

    def table(self, name: str, path: tuple[str | int, ...]) -> sa.Table:
        if name in self.metadata.tables:
            return self.metadata.tables[name]
        try:
            return sa.Table(name, self.metadata, autoload_with=self.engine)
        except NoSuchTableError:
            known = ", ".join(sorted(sa.inspect(self.engine).get_table_names())) or "none"
            raise self.mapping.error(
                path, f"table {name!r} does not exist in {self.url} (tables: {known})"
            ) from None
        except DBAPIError as e:
            raise self.mapping.error(path, f"cannot read table {name!r}: {reason(e)}") from None

    def column(
        self, table: sa.Table, name: str, path: tuple[str | int, ...], *, key: bool = False
    ) -> sa.Column[Any]:
        if name not in table.c:
            known = ", ".join(c.name for c in table.columns)
            raise self.mapping.error(
                path, f"table {table.name!r} has no column {name!r} (columns: {known})", key=key
            )
        return table.c[name]


class SqlSource:
    """Clients of a SQL database, as the mapping file describes them."""

    def __init__(self, url: str, mapping: MappingFile) -> None:
        self.url = safe_url(url)
        check_sqlite_file(url)
        self.engine = connect(url, undecodable=True)
        self.mapping = mapping
        tables = _Tables(self.engine, mapping, self.url)
        m = mapping.model
        self.clients_table = tables.table(m.clients.table, ("clients", "table"))
        self.id_column = tables.column(
            self.clients_table, m.clients.id or _default_id(self.clients_table), ("clients", "id")
        )
        self.fact_columns = {
            fact: tables.column(self.clients_table, column, ("facts", fact))
            for fact, column in m.facts.items()
        }
        self.aggregates = {
            fact: _Aggregate(fact, spec, tables) for fact, spec in m.aggregates.items()
        }
        self.padded = _padded(self.clients_table, self.fact_columns, self.aggregates)
        self.writeback: SqlWriteback | None = (
            SqlWriteback(self.engine, tables, mapping, self.clients_table, self.id_column)
            if m.writeback is not None
            else None
        )

    def query(self, as_of: dt.date, types: Mapping[str, FactType]) -> Any:
        """One SELECT: the client's columns, and every aggregate as a LEFT JOIN of a
        GROUP BY subquery (or, for `latest`, a correlated subquery), ordered by id.
        Values come back as the driver gives them, so one bad value is one client's error
        (coerced per row) instead of a failure of the whole result."""
        columns: list[Any] = [self.id_column.label(ID_KEY)]
        named = set(self.fact_columns) | set(self.aggregates)
        columns += [col.label(fact) for fact, col in self.fact_columns.items()]
        columns += [
            col.label(col.name)
            for col in self.clients_table.columns
            if col.name in types and col.name not in named and col.name != ID_KEY
        ]
        source: Any = self.clients_table
        for aggregate in self.aggregates.values():
            expression, source = aggregate.attach(source, self.id_column, as_of)
            columns.append(expression.label(aggregate.fact))
        raw = [sa.type_coerce(c, sa.types.NullType()).label(c.name) for c in columns]
        return sa.select(*raw).select_from(source).order_by(self.id_column)

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        """Every client once, in id order, streamed through a server-side cursor."""
        statement = self.query(as_of, types)
        table = self.clients_table.name
        try:
            with self.engine.connect() as conn:
                options = {"stream_results": True, "yield_per": FETCH_SIZE}
                result = conn.execution_options(**options).execute(statement)
                unnamed = 0
                for row in result.mappings():
                    if row[ID_KEY] is None:
                        unnamed += 1
                        yield without_id(self.unnamed_label(unnamed), self.id_column.name)
                        continue
                    yield self.record(dict(row), types)
        except DBAPIError as e:
            raise AdapterError(
                f"{self.url}: reading clients from {table!r} failed: {reason(e)}"
            ) from None

    def fact_origin(self, fact: str) -> str:
        """Where this source takes a fact from: its mapping entry, or a column of the same
        name, or the fact that it has neither (for the warnings of a run)."""
        mapping = self.mapping
        if fact in self.fact_columns:
            return f"column {self.fact_columns[fact].name} ({mapping.where('facts', fact)})"
        if fact in self.aggregates:
            spec = self.aggregates[fact].spec
            what = f"{spec.function}({spec.table}.{spec.column or '*'})"
            return f"the aggregate {what} ({mapping.where('aggregates', fact)})"
        if fact in self.clients_table.c:
            return f"column {self.clients_table.name}.{fact}"
        return (
            f"nowhere: {mapping.name} has no entry for {fact} and table "
            f"{self.clients_table.name!r} no column of that name"
        )

    def record(self, row: dict[str, Any], types: Mapping[str, FactType]) -> Record:
        """One row of `query` as a client record (CHAR padding stripped, its id and facts
        checked), or that client's error; every reader of this source's rows uses it."""
        for label in self.padded:
            value = row.get(label)
            if type(value) is str:
                row[label] = value.rstrip(" ")
        where = f"{self.clients_table.name} {self.id_column.name}={printable(str(row[ID_KEY]))}"
        cid = row_id(row[ID_KEY], where, self.id_column.name)
        if isinstance(cid, UnreadableClient):
            return cid
        return read_record(row, types, cid, where)

    def unnamed_label(self, n: int) -> str:
        """The label of the n-th client row whose id is null (in the query's id order)."""
        return f"{self.clients_table.name} row {n} with a null {self.id_column.name}"

    def close(self) -> None:
        self.engine.dispose()


class _Aggregate:
    """One mapped aggregate, its table and columns checked when the source opens."""

    def __init__(self, fact: str, spec: AggregateSpec, tables: _Tables) -> None:
        path: tuple[str | int, ...] = ("aggregates", fact)
        self.fact = fact
        self.spec = spec
        table = tables.table(spec.table, (*path, "table"))
        tables.column(table, spec.key, (*path, "key"))
        for name, part in ((spec.column, "column"), (spec.date, "date")):
            if name is not None:
                tables.column(table, name, (*path, part))
        for name in spec.where:
            tables.column(table, name, (*path, "where", name), key=True)
        # an alias of its own, so an aggregate over the clients table (referrals) or two
        # aggregates over one table never correlate with each other or the outer query
        rows = table.alias(f"{spec.table}_{fact}")
        self.key = rows.c[spec.key]
        self.value = rows.c[spec.column] if spec.column else None
        self.date = rows.c[spec.date] if spec.date else None
        self.filters = [
            rows.c[name].in_(value) if isinstance(value, list) else rows.c[name] == value
            for name, value in spec.where.items()
        ]

    def conditions(self, as_of: dt.date) -> list[Any]:
        conditions = list(self.filters)
        if self.date is not None:
            upper = as_of + dt.timedelta(days=1)
            conditions.append(self.date < _bound(self.date, upper))
            if self.spec.window_days:
                lower = upper - dt.timedelta(days=self.spec.window_days)
                conditions.append(self.date >= _bound(self.date, lower))
        return conditions

    def attach(self, source: Any, client_id: sa.Column[Any], as_of: dt.date) -> tuple[Any, Any]:
        """The aggregate's column expression, and the FROM clause extended to compute it."""
        conditions = self.conditions(as_of)
        if self.spec.function == "latest":
            assert self.value is not None and self.date is not None
            latest = (
                sa.select(self.value)
                .where(self.key == client_id, *conditions)
                .order_by(self.date.desc())
                .limit(1)
                .scalar_subquery()
            )
            return latest, source
        function = getattr(sa.func, self.spec.function)
        value = function() if self.spec.function == "count" and self.value is None else None
        if value is None:
            assert self.value is not None
            value = function(self.value)
        grouped = (
            sa.select(self.key.label("key"), value.label("value"))
            .where(*conditions)
            .group_by(self.key)
            .subquery(f"agg_{self.fact}")
        )
        expression: Any = grouped.c.value
        if self.spec.function in ("count", "sum"):
            # no rows for the client: 0; rows whose values are all null: unknown, not 0
            expression = sa.case((grouped.c.key.is_(None), 0), else_=grouped.c.value)
        return expression, source.outerjoin(grouped, grouped.c.key == client_id)


class SqlWriteback:
    """Writes decision output fields into CRM columns, one UPDATE batch per page.

    Idempotent (it sets values), so a rerun after a crash rewrites the same values.
    A client whose facts were invalid keeps its columns; one with no decision gets null.
    `write_on` runs the same UPDATEs on a connection of the caller's (the decision log's
    transaction, when the log lives in the CRM's database).
    """

    def __init__(
        self,
        engine: sa.Engine,
        tables: _Tables,
        mapping: MappingFile,
        clients: sa.Table,
        id_column: sa.Column[Any],
    ) -> None:
        spec = mapping.model.writeback
        assert spec is not None
        self.engine = engine
        self.mapping = mapping
        self.table = tables.table(spec.table, ("writeback", "table")) if spec.table else clients
        self.key = (
            tables.column(self.table, spec.key, ("writeback", "key"))
            if spec.key
            else (
                id_column
                if self.table is clients
                else tables.column(self.table, ID_KEY, ("writeback",))
            )
        )
        self.targets = {
            tables.column(self.table, column, ("writeback", "columns", column)).name: tuple(
                target.split(".", 1)
            )
            for column, target in spec.columns.items()
        }
        self._key_type = _python_type(self.key)
        self._compiled: dict[sa.Dialect, DriverStatement] = {}
        self.target = f"{_identity(engine.url)} table {self.table.name}"

    def check(self, pack: Pack) -> None:
        """Every target must name a decision of the pack and one of its output fields."""
        for column, (decision, field) in self.targets.items():
            path = ("writeback", "columns", column)
            if decision not in pack.names:
                known = ", ".join(pack.names)
                raise self.mapping.error(
                    path, f"no decision {decision!r} in the pack (decisions: {known})"
                )
            fields = pack.decision(decision).output_types
            if field not in fields:
                raise self.mapping.error(
                    path,
                    f"decision {decision!r} has no output {field!r} (outputs: {', '.join(fields)})",
                )

    def write(self, outcomes: Sequence[Outcome]) -> None:
        """Update the configured columns of every decided client of a page, in one transaction."""
        try:
            with self.engine.begin() as conn:
                self.write_on(conn, outcomes)
        except DBAPIError as e:
            raise self._failed(e) from None

    def write_on(self, conn: sa.Connection, outcomes: Sequence[Outcome]) -> None:
        """The page's UPDATEs on `conn`, inside the caller's transaction."""
        params = [self._params(o) for o in outcomes if not o.errors and o.client_id is not None]
        if not params:
            return
        try:
            self._statement(conn.dialect).execute(conn, params)
        except DBAPIError as e:
            raise self._failed(e) from None

    def _statement(self, dialect: sa.Dialect) -> DriverStatement:
        """The UPDATE of one client's columns, compiled once for `dialect`."""
        found = self._compiled.get(dialect)
        if found is None:
            statement = (
                sa.update(self.table)
                .where(self.key == sa.bindparam("_key"))
                .values({column: sa.bindparam(f"_{column}") for column in self.targets})
            )
            names = ["_key", *(f"_{column}" for column in self.targets)]
            found = self._compiled[dialect] = DriverStatement(statement, names, dialect)
        return found

    def _failed(self, error: DBAPIError) -> AdapterError:
        where = safe_url(self.engine.url)
        return AdapterError(
            f"write-back into table {self.table.name!r} of {where} failed: {reason(error)}"
        )

    def _params(self, outcome: Outcome) -> tuple[Any, ...]:
        """The UPDATE's values for one client: its key, then each column's (`_statement`)."""
        params: list[Any] = [self._key(outcome.client_id)]
        decisions = outcome.decisions
        for decision, field in self.targets.values():
            result = decisions.get(decision)
            output = result.output if result is not None else None
            if isinstance(output, list):
                values = [str(o.get(field)) for o in output if o.get(field) is not None]
                params.append("; ".join(values) if values else None)
            else:
                params.append(output.get(field) if isinstance(output, dict) else None)
        return tuple(params)

    def _key(self, client_id: Any) -> Any:
        if self._key_type is int:
            try:
                return int(client_id)
            except ValueError:
                return client_id
        return client_id


def _identity(url: sa.URL) -> str:
    """A database URL without its password, a SQLite file by its absolute path: the same
    CRM table gets the same write-back target name from any working folder."""
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not file.startswith("file:"):
        url = url.set(database=str(Path(file).resolve()))
    return safe_url(url)


def _padded(
    clients: sa.Table, facts: Mapping[str, sa.Column[Any]], aggregates: Mapping[str, _Aggregate]
) -> frozenset[str]:
    """Result labels read from CHAR columns, which PostgreSQL pads with blanks to their
    length (`'gold      '`); the source strips them, as comparisons in SQL ignore them."""
    labels = {c.name for c in clients.columns if _is_char(c)}
    labels |= {fact for fact, column in facts.items() if _is_char(column)}
    labels |= {
        fact
        for fact, a in aggregates.items()
        if a.value is not None and a.spec.function in ("latest", "min", "max") and _is_char(a.value)
    }
    return frozenset(labels)


def _is_char(column: Any) -> bool:
    """Whether a column is blank-padded CHAR (or NCHAR)."""
    return isinstance(column.type, sa.CHAR | sa.NCHAR)


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _bound(column: sa.Column[Any], day: dt.date) -> Any:
    """A date bound in the column's own terms: datetime, date, or ISO text."""
    if isinstance(column.type, sa.DateTime):
        return dt.datetime.combine(day, dt.time.min)
    if isinstance(column.type, sa.Date):
        return day
    return day.isoformat()


def _default_id(table: sa.Table) -> str:
    keys = [c.name for c in table.primary_key.columns]
    if len(keys) == 1:
        return keys[0]
    return ID_KEY if ID_KEY in table.c else "id"


def check_sqlite_file(url: str) -> None:
    """A sqlite URL whose file does not exist is an error (SQLite would create it)."""
    if not url.startswith("sqlite:"):
        return
    database = sa.engine.make_url(url).database
    if (
        database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).is_file()
    ):
        raise AdapterError(f"{url}: no such database file: {database}")


def open_sql(url: str, mapping: str | Path | None = None) -> SqlSource:
    """The adapter factory for SQL URLs (sqlite, postgresql, and any SQLAlchemy dialect)."""
    return SqlSource(url, load_mapping(mapping))
