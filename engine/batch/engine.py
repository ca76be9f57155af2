"""Batch decisions at database speed: a whole client base decided by one SQL query.

DuckDB (embedded) decides Parquet, CSV and JSONL files, pandas DataFrames and Arrow tables;
`decide_sql` / `decide_sql_rows` push the same query into a CRM's own PostgreSQL or SQLite.
One row per client comes out: `<decision>__status`, `__rule`, `__<field>` per decision, and
`errors` for invalid facts. `explain` rebuilds one client's full explanation through the
durable path. `decide_table` is the one-call entry: Outcomes for a table, by the batch path
when the pack compiles to SQL, else by the durable path.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tierwise.batch.compiler import OutputColumns, SqlCompiler, output_columns
from tierwise.batch.dialects import Dialect
from tierwise.batch.inputs import SourceColumn
from tierwise.errors import TierwiseError
from tierwise.functions import FunctionRegistry
from tierwise.lang.types import FactType
from tierwise.outcome import Outcome
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Pack
from tierwise.runtime.engine import Engine
from tierwise.stdlib import standard_functions

FILE_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}
_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
_NUMBER_TYPES = _INTEGER_TYPES | {"FLOAT", "DOUBLE", "REAL"}
PUSHDOWN_DIALECTS = ("sqlite", "postgresql")
"""The databases a decision query is pushed into (DuckDB decides files and tables here)."""
log = logging.getLogger(__name__)


class BatchError(TierwiseError):
    """A batch run that cannot start: an unreadable file, an unknown format, a bad table."""


class BatchEngine:
    """Decides a whole table of clients with one SQL query per run (DuckDB unless pushed down)."""

    def __init__(
        self, pack: Pack, *, id_field: str = "client_id", memory_limit: str = "1GB"
    ) -> None:
        self.pack = pack
        self.id_field = id_field
        self.memory_limit = memory_limit
        self.columns: OutputColumns = output_columns(pack, id_field)
        self._compilers: dict[str, SqlCompiler] = {}
        self._compiling = threading.Lock()
        self._durable: Engine | None = None
        self.compiler("duckdb")

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        functions: FunctionRegistry | None = None,
        id_field: str = "client_id",
    ) -> BatchEngine:
        """Load a rule file or folder; raises PushdownError when the pack cannot run as SQL."""
        return cls(load_pack(path, functions or standard_functions()), id_field=id_field)

    def compiler(self, dialect: str) -> SqlCompiler:
        """The pack compiled for `dialect`, once per engine (threads share it: it is immutable)."""
        with self._compiling:
            if dialect not in self._compilers:
                self._compilers[dialect] = SqlCompiler(self.pack, dialect)
            return self._compilers[dialect]

    # -- DuckDB --------------------------------------------------------------------------
    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return con

    def _duckdb_query(
        self, con: Any, relation: str, as_of: dt.date, text_mode: bool = False
    ) -> str:
        described = con.execute(f"DESCRIBE {relation}").fetchall()
        types = {row[0]: str(row[1]) for row in described}
        columns = {
            name: _source_column(name, t, types.get(name), text_mode)
            for name, t in self.pack.inputs.items()
        }
        source = sa.table(relation, *(sa.column(n) for n in types))
        compiler = self.compiler("duckdb")
        return compiler.sql_text(compiler.select(source, columns, as_of, self.id_field))

    def sql(
        self, dialect: str, source: str, columns: dict[str, str], as_of: dt.date | None = None
    ) -> str:
        """The SQL text deciding every row of table `source` (columns: name -> its SQL type)."""
        compiler = self.compiler(dialect)
        specs = {
            n: _source_column(n, t, columns.get(n), False) for n, t in self.pack.inputs.items()
        }
        table = sa.table(source, *(sa.column(n) for n in columns))
        return compiler.sql_text(
            compiler.select(table, specs, as_of or dt.date.today(), self.id_field)
        )

    def decide_arrow(self, table: Any, as_of: dt.date | None = None) -> Any:
        """Decide every row of a pyarrow Table (or pandas DataFrame); returns a pyarrow Table."""
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        con = self._connect()
        try:
            con.register("tierwise_source", table)
            query = self._duckdb_query(con, "tierwise_source", as_of or dt.date.today())
            return con.sql(query).to_arrow_table()
        finally:
            con.close()

    def decide_file(
        self, in_path: str | Path, out_path: str | Path, as_of: dt.date | None = None
    ) -> int:
        """Decide a Parquet, CSV or JSONL file into a Parquet (or CSV/JSONL) file, streamed by
        DuckDB so memory stays bounded; returns the number of clients written."""
        src, out = Path(in_path), Path(out_path)
        in_format = FILE_FORMATS.get(src.suffix.lower())
        out_format = FILE_FORMATS.get(out.suffix.lower())
        if in_format is None or out_format is None:
            bad = src if in_format is None else out
            raise BatchError(
                f"{bad}: unknown file type {bad.suffix!r}; use .parquet, .csv or .jsonl"
            )
        if not src.is_file():
            raise BatchError(f"{src}: no such file")
        reader = {
            "parquet": f"read_parquet({_quote(src)})",
            "csv": f"read_csv({_quote(src)}, all_varchar = true, header = true)",
            "json": f"read_json_auto({_quote(src)}, format = 'newline_delimited')",
        }[in_format]
        con = self._connect()
        try:
            if in_format == "parquet":
                _threads_for_row_groups(con, src)
            con.execute(f"CREATE VIEW tierwise_source AS SELECT * FROM {reader}")
            query = self._duckdb_query(
                con, "tierwise_source", as_of or dt.date.today(), in_format == "csv"
            )
            options = {
                "parquet": "FORMAT parquet",
                "csv": "FORMAT csv, HEADER true",
                "json": "FORMAT json",
            }[out_format]
            tmp = out.with_name(out.name + ".partial")
            result = con.execute(f"COPY ({query}) TO {_quote(tmp)} ({options})").fetchone()
            tmp.replace(out)
            return int(result[0]) if result else 0
        except Exception as e:
            if type(e).__module__.startswith("duckdb"):
                raise BatchError(f"{src}: {e}") from None
            raise
        finally:
            con.close()

    # -- push-down ------------------------------------------------------------------------
    def decide_sql(
        self,
        url: str | sa.Engine,
        table: str | sa.FromClause | sa.Select[Any],
        as_of: dt.date | None = None,
        *,
        into: str | None = None,
    ) -> list[dict[str, Any]] | int:
        """Run the decision query inside the database at `url` over `table`: a table, a view
        or a SELECT of facts (e.g. an SQL adapter's query), one client per row. Returns the
        result rows as a list (`decide_sql_rows` streams them instead), or with `into`
        replaces table `into` with them in one transaction (idempotent) and returns the row
        count."""
        if into is None:
            return list(self.decide_sql_rows(url, table, as_of))
        engine, dialect, query = self._pushdown(url, table, as_of)
        with engine.begin() as conn:
            cursor = conn.connection.cursor()  # the driver's own: no parameter parsing of '%'
            try:
                for statement in dialect.session:
                    cursor.execute(statement)
                target = engine.dialect.identifier_preparer.quote(into)
                cursor.execute(f"DROP TABLE IF EXISTS {target}")
                cursor.execute(f"CREATE TABLE {target} AS {query}")
                cursor.execute(f"SELECT count(*) FROM {target}")
                row = cursor.fetchone()
                return int(row[0]) if row else 0
            finally:
                cursor.close()

    def decide_sql_rows(
        self,
        url: str | sa.Engine,
        table: str | sa.FromClause | sa.Select[Any],
        as_of: dt.date | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """The rows of `decide_sql`, streamed: fetched `page_size` at a time through a
        server-side cursor (PostgreSQL) or a stepped statement (SQLite), so memory stays flat
        however big the table. The read transaction stays open until the rows are consumed
        or the iterator is closed."""
        if page_size < 1:
            raise BatchError(f"decide_sql_rows: page_size must be at least 1, not {page_size}")
        engine, dialect, query = self._pushdown(url, table, as_of)  # errors now, not at next()
        return self._stream(engine, dialect, query, page_size)

    def _stream(
        self, engine: sa.Engine, dialect: Dialect, query: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """Rows of `query`, `page_size` per round trip, inside one read transaction."""
        with engine.begin() as conn:
            raw = conn.connection
            setup = raw.cursor()
            for statement in dialect.session:
                setup.execute(statement)
            setup.close()
            # a named cursor is DECLARE ... CURSOR, server side; a plain one is the driver's
            # own, which does no parameter parsing of '%'
            cursor = raw.cursor(name="tierwise_decide") if dialect.named_cursor else raw.cursor()
            try:
                cursor.execute(query)
                names: list[str] | None = None
                while page := cursor.fetchmany(page_size):
                    if names is None:  # a named cursor describes its rows after a fetch
                        names = [c[0] for c in cursor.description]
                    for row in page:
                        yield dict(zip(names, row, strict=True))
            except engine.dialect.loaded_dbapi.Error as e:
                where = engine.url.render_as_string(hide_password=True)
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BatchError(f"{where}: the decision query failed: {first}") from None
            finally:
                cursor.close()

    def _pushdown(
        self,
        url: str | sa.Engine,
        table: str | sa.FromClause | sa.Select[Any],
        as_of: dt.date | None,
    ) -> tuple[sa.Engine, Dialect, str]:
        """The engine, its dialect and the decision query's text over `table` in it."""
        engine = url if isinstance(url, sa.Engine) else sa.create_engine(_with_driver(url))
        name = engine.dialect.name
        if name not in PUSHDOWN_DIALECTS:
            raise BatchError(f"push-down supports SQLite and PostgreSQL, not {name}")
        compiler = self.compiler(name)
        if isinstance(table, sa.Select):
            table = table.subquery("facts")
        source = table if isinstance(table, sa.FromClause) else _reflect(engine, table)
        columns = {
            n: _db_source_column(n, t, source, compiler.dialect)
            for n, t in self.pack.inputs.items()
        }
        query = compiler.sql_text(
            compiler.select(source, columns, as_of or dt.date.today(), self.id_field)
        )
        return engine, compiler.dialect, query

    # -- one client ------------------------------------------------------------------------
    def explain(self, client_facts: dict[str, Any], as_of: dt.date | None = None) -> Outcome:
        """One client's full outcome with explanations, rebuilt through the durable path."""
        if self._durable is None:
            self._durable = Engine(self.pack, id_field=self.id_field)
        return self._durable.decide(client_facts, as_of=as_of or dt.date.today())


def _threads_for_row_groups(con: Any, path: Path) -> None:
    """DuckDB reads one Parquet row group per thread: a file of fewer row groups than
    threads is decided on that many threads (the idle ones only cost CPU, measured 10-20%)."""
    groups = con.execute(
        f"SELECT num_row_groups FROM parquet_file_metadata({_quote(path)})"
    ).fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    if 0 < groups < threads:
        con.execute(f"SET threads = {int(groups)}")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _with_driver(url: str) -> str:
    from tierwise.adapters.db import with_driver

    return with_driver(url)


def _reflect(engine: sa.Engine, name: str) -> sa.Table:
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise BatchError(
            f"{engine.url.render_as_string(hide_password=True)}: no table or view {name!r}"
        ) from None


def _source_column(name: str, t: FactType, sql_type: str | None, text_mode: bool) -> SourceColumn:
    """How DuckDB should read fact `name` from a column of DuckDB type `sql_type`."""
    if sql_type is None:
        return SourceColumn(None, "absent")
    if text_mode:
        return SourceColumn(name, "text")
    base = sql_type.upper().split("(")[0]
    ok = {
        "number": base in _NUMBER_TYPES or base == "DECIMAL",
        "integer": base in _INTEGER_TYPES,
        "string": base == "VARCHAR" or base.startswith("ENUM"),
        "bool": base == "BOOLEAN",
        "date": base == "DATE",
        "datetime": base.startswith("TIMESTAMP"),
        "list": sql_type.upper() == "VARCHAR[]",
    }[t.kind]
    if ok:
        return SourceColumn(name, "native")
    if base == "VARCHAR" and t.kind in ("date", "datetime"):
        return SourceColumn(name, "iso")
    return SourceColumn(name, "wrong")


def _db_source_column(
    name: str, t: FactType, source: sa.FromClause, dialect: Dialect
) -> SourceColumn:
    """How a database column is read, as the dialect says (absent: no such column)."""
    if name not in source.c:
        return SourceColumn(None, "absent")
    return SourceColumn(name, dialect.column_mode(t.kind, source.c[name].type))
