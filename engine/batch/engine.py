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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tierwise.batch import profile as sql_profile
from tierwise.batch.compiler import OutputColumns, SqlCompiler, compiled, output_columns
from tierwise.batch.connect import with_driver
from tierwise.batch.dialects import Dialect, PostgreSQL
from tierwise.batch.errors import BatchError, first_line
from tierwise.batch.inputs import SourceColumn
from tierwise.batch.session import PushdownSession, cursor_for, set_up, stream
from tierwise.batch.unreadable import Unreadable, set_apart
from tierwise.functions import FunctionRegistry
from tierwise.outcome import Outcome
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Pack
from tierwise.profile import Profile, checked
from tierwise.runtime.engine import Engine
from tierwise.stdlib import standard_functions

FILE_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}
PUSHDOWN_DIALECTS = ("sqlite", "postgresql")
"""The databases a decision query is pushed into (DuckDB decides files and tables here)."""
log = logging.getLogger(__name__)


class BatchEngine:
    """Decides a whole table of clients with one SQL query per run (DuckDB unless pushed down)."""

    def __init__(
        self,
        pack: Pack,
        *,
        id_field: str = "client_id",
        memory_limit: str = "1GB",
        dialect: str = "duckdb",
    ) -> None:
        """Raises PushdownError now if the pack cannot run as SQL in `dialect`, the one
        it is going to run in (DuckDB for tables and files)."""
        self.pack = pack
        self.id_field = id_field
        self.memory_limit = memory_limit
        self.columns: OutputColumns = output_columns(pack, id_field)
        self._durable: Engine | None = None
        self.compiler(dialect)

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
        return compiled(self.pack, dialect)

    # -- DuckDB --------------------------------------------------------------------------
    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return con

    def _duckdb_source(
        self, con: Any, relation: str, text_mode: bool
    ) -> tuple[sa.TableClause, dict[str, SourceColumn]]:
        """A DuckDB relation as a source of facts, and how each input is read from it."""
        described = con.execute(f"DESCRIBE {relation}").fetchall()
        types = {row[0]: str(row[1]) for row in described}
        duckdb = self.compiler("duckdb").dialect
        columns = {
            name: _source_column(name, types, "text" if text_mode else None, duckdb)
            for name in self.pack.inputs
        }
        return sa.table(relation, *(sa.column(n) for n in types)), columns

    def _duckdb_query(
        self,
        con: Any,
        relation: str,
        as_of: dt.date,
        text_mode: bool,
        statistics: Mapping[str, Any] | None,
    ) -> str:
        source, columns = self._duckdb_source(con, relation, text_mode)
        compiler = self.compiler("duckdb")
        query = compiler.select(source, columns, as_of, self.id_field, statistics=statistics)
        return compiler.sql_text(query)

    def statistics(self, profile: Profile | None) -> dict[str, Any] | None:
        """The run's statistics as the decision query's constants (None: the pack reads
        none); ProfileError when the pack needs a profile and `profile` is none or misfits."""
        fitting = checked(self.pack, profile)
        return None if fitting is None else dict(fitting.values)

    def sql(
        self,
        dialect: str,
        source: str,
        columns: dict[str, str],
        as_of: dt.date | None = None,
        *,
        profile: Profile | None = None,
    ) -> str:
        """The SQL text deciding every row of table `source` (columns: name -> its SQL type)."""
        compiler = self.compiler(dialect)
        specs = {n: _source_column(n, columns, None, compiler.dialect) for n in self.pack.inputs}
        table = sa.table(source, *(sa.column(n) for n in columns))
        day, stats = as_of or dt.date.today(), self.statistics(profile)
        return compiler.sql_text(
            compiler.select(table, specs, day, self.id_field, statistics=stats)
        )

    def decide_arrow(
        self, table: Any, as_of: dt.date | None = None, *, profile: Profile | None = None
    ) -> Any:
        """Decide every row of a pyarrow Table (or pandas DataFrame); returns a pyarrow Table.
        A pack that reads base statistics needs the run's `profile` (profile_arrow)."""
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        import duckdb

        stats = self.statistics(profile)
        con = self._connect()
        try:
            con.register("tierwise_source", table)
            query = self._duckdb_query(
                con, "tierwise_source", as_of or dt.date.today(), False, stats
            )
            return con.sql(query).to_arrow_table()
        except duckdb.Error as e:
            raise BatchError(
                f"deciding a table of {table.num_rows} rows: {first_line(e)}"
            ) from None
        finally:
            con.close()

    def decide_file(
        self,
        in_path: str | Path,
        out_path: str | Path,
        as_of: dt.date | None = None,
        *,
        columns: Mapping[str, str] | None = None,
        profile: Profile | None = None,
    ) -> int:
        """Decide a Parquet, CSV or JSONL file into a Parquet (or CSV/JSONL) file, streamed by
        DuckDB so memory stays bounded; returns the number of clients written.

        `columns` maps the id field and facts to the file columns that hold them (a mapping
        file's `clients.id` and `facts`, as the file sources apply them). CSV is read as
        RFC 4180 (commas, double quotes), as the CSV source reads it. A CSV or JSONL file
        DuckDB cannot read whole (a ragged row, bytes that are not UTF-8, a broken JSON
        line) is decided without those records, each of which comes out in its place as
        that client's error."""
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
        import duckdb

        file = _TableFile(src, in_format, dict(columns or {}), self.id_field)
        day, stats = as_of or dt.date.today(), self.statistics(profile)
        try:
            return self._decide_file(file, out, out_format, day, stats)
        except duckdb.Error as e:
            if in_format == "parquet":
                raise BatchError(f"{src}: {first_line(e)}") from None
            return self._decide_apart(file, out, out_format, day, stats, e)

    def _decide_file(
        self,
        file: _TableFile,
        out: Path,
        out_format: str,
        as_of: dt.date,
        stats: Mapping[str, Any] | None,
    ) -> int:
        """One COPY of the decision query over the file into `out` (written whole or not)."""
        con = self._connect()
        try:
            if file.format == "parquet":
                _threads_for_row_groups(con, file.path)
            con.execute(f"CREATE VIEW tierwise_source AS {file.select(con)}")
            query = self._duckdb_query(con, "tierwise_source", as_of, file.format == "csv", stats)
            tmp = out.with_name(out.name + ".partial")
            try:
                copied = con.execute(f"COPY ({query}) TO {_quote(tmp)} ({_COPY[out_format]})")
                result = copied.fetchone()
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            tmp.replace(out)
            return int(result[0]) if result else 0
        finally:
            con.close()

    def _decide_apart(
        self,
        file: _TableFile,
        out: Path,
        out_format: str,
        as_of: dt.date,
        stats: Mapping[str, Any] | None,
        error: Exception,
    ) -> int:
        """The file decided without the records DuckDB cannot read, those merged back in
        their places as errors; the first error when every record is readable."""
        import duckdb

        clean = out.with_name(out.name + ".readable" + file.path.suffix)
        decided = out.with_name(out.name + ".decided.parquet")
        try:
            apart, kept = set_apart(file.path, file.format, file.id_column, file.facts, clean)
            if not apart:
                raise BatchError(f"{file.path}: {first_line(error)}") from None
            log.info("%s: %d record(s) cannot be read; deciding the others", file.path, len(apart))
            if kept:
                self._decide_file(file.moved(clean), decided, "parquet", as_of, stats)
            rows = decided if kept else None
            return _merge(self.columns, rows, apart, out, _COPY[out_format], self._connect())
        except duckdb.Error as e:
            raise BatchError(f"{file.path}: {first_line(e)}") from None
        finally:
            clean.unlink(missing_ok=True)
            decided.unlink(missing_ok=True)

    # -- push-down ------------------------------------------------------------------------
    def decide_sql(
        self,
        url: str | sa.Engine,
        table: str | sa.FromClause | sa.Select[Any],
        as_of: dt.date | None = None,
        *,
        into: str | None = None,
        profile: Profile | None = None,
    ) -> list[dict[str, Any]] | int:
        """Run the decision query inside the database at `url` over `table`: a table, a view
        or a SELECT of facts (e.g. an SQL adapter's query), one client per row. Returns the
        result rows as a list (`decide_sql_rows` streams them instead), or with `into`
        replaces table `into` with them in one transaction (idempotent) and returns the row
        count."""
        if into is None:
            return list(self.decide_sql_rows(url, table, as_of, profile=profile))
        engine, dialect, query = self._pushdown(url, table, as_of, self.statistics(profile))
        with engine.begin() as conn:
            cursor = conn.connection.cursor()  # the driver's own: no parameter parsing of '%'
            try:
                set_up(cursor, dialect)
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
        profile: Profile | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The rows of `decide_sql`, streamed: fetched `page_size` at a time through a
        server-side cursor (PostgreSQL) or a stepped statement (SQLite), so memory stays flat
        however big the table. The read transaction stays open until the rows are consumed
        or the iterator is closed."""
        if page_size < 1:
            raise BatchError(f"decide_sql_rows: page_size must be at least 1, not {page_size}")
        stats = self.statistics(profile)
        engine, dialect, query = self._pushdown(url, table, as_of, stats)  # errors now
        return self._stream(engine, dialect, query, page_size)

    def _stream(
        self, engine: sa.Engine, dialect: Dialect, query: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """Rows of `query`, `page_size` per round trip, inside one read transaction."""
        with engine.begin() as conn:
            raw: Any = conn.connection
            setup = raw.cursor()
            set_up(setup, dialect)
            setup.close()
            where = engine.url.render_as_string(hide_password=True)
            yield from stream(engine, cursor_for(raw, dialect), query, page_size, where)

    def pushdown_session(
        self, url: str | sa.Engine, table: str | sa.FromClause | sa.Select[Any]
    ) -> PushdownSession:
        """A push-down run over `table` (as for `decide_sql`) in one connection: its
        clients read once, for the profile step and the decisions both (close it after)."""
        engine, compiler, source, columns = self._database_source(url, table)
        validated = compiler.validated(source, columns, self.id_field)
        return PushdownSession(engine, compiler, validated, self.id_field)

    def _pushdown(
        self,
        url: str | sa.Engine,
        table: str | sa.FromClause | sa.Select[Any],
        as_of: dt.date | None,
        stats: Mapping[str, Any] | None,
    ) -> tuple[sa.Engine, Dialect, str]:
        """The engine, its dialect and the decision query's text over `table` in it."""
        engine, compiler, source, columns = self._database_source(url, table)
        query = compiler.select(
            source, columns, as_of or dt.date.today(), self.id_field, statistics=stats
        )
        return engine, compiler.dialect, compiler.sql_text(query)

    def _database_source(
        self, url: str | sa.Engine, table: str | sa.FromClause | sa.Select[Any]
    ) -> tuple[sa.Engine, SqlCompiler, sa.FromClause, dict[str, SourceColumn]]:
        """The database, the pack compiled for it, `table` as a source of facts in it, and
        how each input is read from that source."""
        engine = url if isinstance(url, sa.Engine) else sa.create_engine(with_driver(url))
        name = engine.dialect.name
        if name not in PUSHDOWN_DIALECTS:
            raise BatchError(f"push-down supports SQLite and PostgreSQL, not {name}")
        compiler = self.compiler(name)
        if isinstance(table, sa.Select):
            table = table.subquery("facts")
        source = table if isinstance(table, sa.FromClause) else _reflect(engine, table)
        categories = _categories(engine, compiler, source)
        columns = {
            n: SourceColumn(n, categories[n]) if n in categories else SourceColumn(None, "absent")
            for n in self.pack.inputs
        }
        return engine, compiler, source, columns

    # -- the profile step -----------------------------------------------------------------
    def profile_arrow(self, table: Any, as_of: dt.date) -> Profile:
        """The pack's statistics of a pyarrow Table (or DataFrame), computed by DuckDB."""
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        con = self._connect()
        try:
            con.register("tierwise_source", table)
            return self._profile_duckdb(con, "tierwise_source", as_of, False)
        finally:
            con.close()

    def profile_file(
        self, in_path: str | Path, as_of: dt.date, *, columns: Mapping[str, str] | None = None
    ) -> Profile:
        """The pack's statistics of a Parquet, CSV or JSONL file (with the same column
        mapping as `decide_file`), computed by DuckDB; records DuckDB cannot read are
        counted as skipped, as their clients are errors of the run."""
        import duckdb

        src = Path(in_path)
        in_format = FILE_FORMATS.get(src.suffix.lower())
        if in_format is None or not src.is_file():
            raise BatchError(f"{src}: no such .parquet, .csv or .jsonl file")
        file = _TableFile(src, in_format, dict(columns or {}), self.id_field)
        try:
            return self._profile_file(file, as_of)
        except duckdb.Error as e:
            if in_format == "parquet":
                raise BatchError(f"{src}: {first_line(e)}") from None
            clean = src.with_name(f".{src.name}.tierwise-profile{src.suffix}")
            try:
                apart, kept = set_apart(file.path, file.format, file.id_column, file.facts, clean)
                if not apart:
                    raise BatchError(f"{src}: {first_line(e)}") from None
                profile = self._profile_file(file.moved(clean), as_of) if kept else None
            finally:
                clean.unlink(missing_ok=True)
            if profile is None:
                return replace(self._empty_profile(as_of), skipped=len(apart))
            return replace(profile, skipped=profile.skipped + len(apart))

    def _profile_file(self, file: _TableFile, as_of: dt.date) -> Profile:
        con = self._connect()
        try:
            con.execute(f"CREATE VIEW tierwise_source AS {file.select(con)}")
            return self._profile_duckdb(con, "tierwise_source", as_of, file.format == "csv")
        finally:
            con.close()

    def _profile_duckdb(self, con: Any, relation: str, as_of: dt.date, text_mode: bool) -> Profile:
        import duckdb

        source, columns = self._duckdb_source(con, relation, text_mode)
        compiler = self.compiler("duckdb")
        try:
            run = partial(sql_profile.fetched, con)
            validated = compiler.validated(source, columns, self.id_field)
            return sql_profile.compute(run, compiler, validated, as_of)
        except duckdb.Error as e:
            raise BatchError(f"the profile step failed: {first_line(e)}") from None

    def profile_sql(
        self, url: str | sa.Engine, table: str | sa.FromClause | sa.Select[Any], as_of: dt.date
    ) -> Profile:
        """The pack's statistics of a table (or a SELECT of facts) in a SQLite or PostgreSQL
        database, computed inside it."""
        with self.pushdown_session(url, table) as session:
            return session.profile(as_of)

    def _empty_profile(self, as_of: dt.date) -> Profile:
        """The profile of a table with no readable client."""
        return Profile(
            dict.fromkeys((s.name for s in self.pack.profile), None),
            {s.name: s.text for s in self.pack.profile},
            as_of,
        )

    # -- one client ------------------------------------------------------------------------
    def explain(
        self,
        client_facts: dict[str, Any],
        as_of: dt.date | None = None,
        *,
        profile: Profile | None = None,
    ) -> Outcome:
        """One client's full outcome with explanations, rebuilt through the durable path."""
        if self._durable is None:
            self._durable = Engine(self.pack, id_field=self.id_field)
        return self._durable.decide(client_facts, as_of or dt.date.today(), profile=profile)


_COPY = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER true", "json": "FORMAT json"}
"""COPY options of each output format."""


@dataclass(frozen=True)
class _TableFile:
    """A table file to decide: its format, and which of its columns hold the id and facts."""

    path: Path
    format: str
    columns: dict[str, str]
    id_field: str

    @property
    def id_column(self) -> str:
        """The file column that holds the client id."""
        return self.columns.get(self.id_field, self.id_field)

    @property
    def facts(self) -> dict[str, str]:
        """File column -> the fact it is renamed to."""
        return {column: fact for fact, column in self.columns.items() if fact != self.id_field}

    def moved(self, path: Path) -> _TableFile:
        """The same table read from another file (its readable records)."""
        return _TableFile(path, self.format, self.columns, self.id_field)

    def reader(self, con: Any) -> str:
        """The DuckDB table function reading the file. JSON lines keep every value as
        JSON, so that each is read by its own JSON type (as orjson gives it to the
        per-client path), and the id as text, so that ids beyond 64 bits keep their digits."""
        path = _quote(self.path)
        if self.format == "parquet":
            return f"read_parquet({path})"
        if self.format == "csv":
            dialect = "delim = ',', quote = '\"', escape = '\"'"
            return f"read_csv({path}, all_varchar = true, header = true, {dialect})"
        auto = f"read_json_auto({path}, format = 'newline_delimited')"
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {auto}").fetchall()]
        spec = ", ".join(
            f"{_text(name)}: {_text('VARCHAR' if name == self.id_column else 'JSON')}"
            for name in names
        )
        return f"read_json({path}, format = 'newline_delimited', columns = {{{spec}}})"

    def select(self, con: Any) -> str:
        """SELECT over the file with the mapped columns under their fact names; a column
        named like a renamed fact, and a renamed fact's own column, give way (a fact mapped
        to the column of its own name stays as it is)."""
        reader = self.reader(con)
        moves = {name: column for name, column in self.columns.items() if name != column}
        if not moves:
            return f"SELECT * FROM {reader}"
        present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        missing = sorted(set(moves.values()) - set(present))
        if missing:
            raise BatchError(
                f"{self.path}: no column {missing[0]!r} (columns: {', '.join(present)})"
            )
        gone = [c for c in present if c in moves or c in moves.values()]
        exclude = f" EXCLUDE ({', '.join(map(_name, gone))})" if gone else ""
        renamed = ", ".join(f"{_name(column)} AS {_name(name)}" for name, column in moves.items())
        return f"SELECT *{exclude}, {renamed} FROM {reader}"


def _merge(
    columns: OutputColumns,
    decided: Path | None,
    apart: list[Unreadable],
    out: Path,
    options: str,
    con: Any,
) -> int:
    """The decided rows (None: no record was readable) and the set-apart records in file
    order, into `out`: a decided row after k set-apart records moves down k places (its
    file_row_number counts only decided rows)."""
    try:
        con.execute(
            f"CREATE TEMP TABLE tierwise_apart (tierwise_pos BIGINT, tierwise_slot BIGINT, "
            f"{_name(columns.id)} VARCHAR, {_name(columns.errors)} VARCHAR)"
        )
        con.executemany(
            "INSERT INTO tierwise_apart VALUES (?, ?, ?, ?)",
            [
                (
                    u.position,
                    u.position - k,
                    u.client_id,
                    "; ".join(f"{e.fact}: {e.message}" for e in u.errors),
                )
                for k, u in enumerate(sorted(apart, key=lambda u: u.position))
            ],
        )
        everything = "SELECT * EXCLUDE (tierwise_slot) FROM tierwise_apart"
        if decided is not None:
            rows = (
                f"SELECT * EXCLUDE (file_row_number), file_row_number + (SELECT count(*) FROM "
                f"tierwise_apart a WHERE a.tierwise_slot <= d.file_row_number) AS tierwise_pos "
                f"FROM read_parquet({_quote(decided)}, file_row_number = true) d"
            )
            everything = f"{rows} UNION ALL BY NAME {everything}"
        merged = f"SELECT * EXCLUDE (tierwise_pos) FROM ({everything}) ORDER BY tierwise_pos"
        tmp = out.with_name(out.name + ".partial")
        result = con.execute(f"COPY ({merged}) TO {_quote(tmp)} ({options})").fetchone()
        tmp.replace(out)
        return int(result[0]) if result else 0
    finally:
        con.close()


def _name(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def _text(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


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


def _reflect(engine: sa.Engine, name: str) -> sa.Table:
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise BatchError(
            f"{engine.url.render_as_string(hide_password=True)}: no table or view {name!r}"
        ) from None


def _source_column(
    name: str, types: Mapping[str, str], category: str | None, dialect: Dialect
) -> SourceColumn:
    """How fact `name` is read from a column of the engine's type `types[name]` (absent:
    no such column), or as `category` whatever its type (CSV text)."""
    if name not in types:
        return SourceColumn(None, "absent")
    return SourceColumn(name, category or dialect.category(types[name]))


def _categories(engine: sa.Engine, compiler: SqlCompiler, source: sa.FromClause) -> dict[str, str]:
    """The category of each column of a database source: as PostgreSQL reports its result
    types; on SQLite each value has its own."""
    dialect = compiler.dialect
    if not isinstance(dialect, PostgreSQL):
        return {c.name: dialect.category(None) for c in source.c}
    query = compiler.sql_text(sa.select(source))
    with engine.connect() as conn:
        cursor = conn.connection.cursor()  # the driver's own: no parameter parsing of '%'
        try:
            return dialect.column_categories(cursor, query)
        except engine.dialect.loaded_dbapi.Error as e:
            where = engine.url.render_as_string(hide_password=True)
            raise BatchError(
                f"{where}: reading the source's columns failed: {first_line(e)}"
            ) from None
        finally:
            cursor.close()
