"""A push-down run inside one connection to a CRM's SQLite or PostgreSQL.

The source's clients are read and validated once, into a temporary table of that
connection (nothing is written into the database's own schema), and the profile step and
the decision query both read it: a run reads its source once, and its statistics and its
decisions come from the same rows of the CRM. Rows stream out a page at a time; where the
driver allows it, a thread fetches the next pages while the caller logs the last.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import SingletonThreadPool

from tierwise.batch import profile as sql_profile
from tierwise.batch.compiler import SqlCompiler
from tierwise.batch.dialects import Dialect
from tierwise.batch.errors import BatchError, first_line
from tierwise.profile import Profile

PAGES_AHEAD = 4
"""Pages a fetching thread may hold ready before the caller takes them."""

T = TypeVar("T")


def _as_is(row: dict[str, Any]) -> Any:
    """A row as it comes."""
    return row


class PushdownSession:
    """One push-down run: a connection to the CRM, its validated inputs read once into a
    temporary table (on first use), the profile and the decisions computed over it. Close
    it (or use it as a context manager) to drop the table and give the connection back."""

    def __init__(
        self, engine: sa.Engine, compiler: SqlCompiler, validated: sa.Select[Any], id_field: str
    ) -> None:
        self.engine, self.compiler, self.id_field = engine, compiler, id_field
        self.validated = validated
        self.where = engine.url.render_as_string(hide_password=True)
        self._conn = engine.connect()
        self._raw: Any = self._conn.connection
        self._cursor = self._raw.cursor()  # the driver's own: no parameter parsing of '%'
        self._inputs: sa.TableClause | None = None
        self._facts: tuple[sa.TableClause, dt.date, dict[str, Any]] | None = None
        """The last profile pass's table of every fact, and the date and statistics it was
        built with."""
        try:
            self._guarded("the push-down setup", lambda: set_up(self._cursor, compiler.dialect))
        except BatchError:
            self._conn.close()
            raise

    def __enter__(self) -> PushdownSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, sql: str) -> Iterator[Sequence[Any]]:
        """One statement's rows on the session's cursor (sql_profile.Run)."""
        yield from sql_profile.fetched(self._cursor, sql)

    def _guarded(self, step: str, work: Callable[[], Any]) -> Any:
        """`work`'s result; a database error becomes a BatchError naming `step`."""
        try:
            return work()
        except self.engine.dialect.loaded_dbapi.Error as e:
            raise BatchError(f"{self.where}: {step} failed: {first_line(e)}") from None

    def inputs(self) -> sa.TableClause:
        """The temporary table of validated inputs, read from the source on first use."""
        if self._inputs is None:
            read = lambda: sql_profile.read_inputs(self._run, self.compiler, self.validated)  # noqa: E731
            self._inputs = self._guarded("reading the clients", read)
        return self._inputs

    def profile(self, as_of: dt.date) -> Profile:
        """The pack's statistics of the clients, computed inside the database; its last
        pass's table of every fact stays for decisions with these statistics."""
        inputs = self.inputs()
        compute = lambda: sql_profile.passes(self._run, self.compiler, inputs, as_of)  # noqa: E731
        profile, facts = self._guarded("the profile step", compute)
        self._facts = (facts, as_of, dict(profile.values))
        return profile  # type: ignore[no-any-return]

    def rows(
        self,
        as_of: dt.date,
        statistics: Mapping[str, Any] | None,
        page_size: int = 1000,
        convert: Callable[[dict[str, Any]], T] = _as_is,
    ) -> Iterator[T]:
        """Every client's decided row, `page_size` per round trip (SqlCompiler's result
        columns), decided with the run's `statistics`, as `convert` makes it (on the
        fetching thread, while the caller works on the rows before)."""
        if self._facts is not None and self._facts[1:] == (as_of, dict(statistics or {})):
            query = self.compiler.select_facts(
                self._facts[0], as_of, self.id_field, statistics=statistics
            )
        else:  # another profile (a resumed run's stored one): derived from the inputs again
            query = self.compiler.select_validated(
                self.inputs(), as_of, self.id_field, statistics=statistics
            )
        text = self.compiler.sql_text(query)
        cursor = cursor_for(self._raw, self.compiler.dialect)
        return stream(self.engine, cursor, text, page_size, self.where, convert)

    def close(self) -> None:
        """Drop the temporary table and give the connection back; a connection that cannot
        drop it (the server went away) is discarded instead, so no pooled one keeps it."""
        try:
            if self._inputs is not None:
                sql_profile.drop_tables(self._run, self.compiler)
            self._cursor.close()
            self._conn.commit()
        except self.engine.dialect.loaded_dbapi.Error:
            self._conn.invalidate()
        finally:
            self._conn.close()


def stream(
    engine: sa.Engine,
    cursor: Any,
    query: str,
    page_size: int,
    where: str,
    convert: Callable[[dict[str, Any]], T] = _as_is,
) -> Iterator[T]:
    """The rows of `query` on a DB-API `cursor` as dicts made into what `convert` makes,
    fetched and converted a page per round trip (ahead of the caller, in a thread, where
    the pool lets a connection change threads); the cursor is closed when the rows are
    consumed or the iterator is closed."""
    pages = _pages(cursor, query, page_size, convert)
    if not isinstance(engine.pool, SingletonThreadPool):  # a :memory: SQLite stays in its thread
        pages = _ahead(pages)
    try:
        for page in pages:
            yield from page
    except engine.dialect.loaded_dbapi.Error as e:
        raise BatchError(f"{where}: the decision query failed: {first_line(e)}") from None
    finally:
        pages.close()
        cursor.close()


def cursor_for(raw: Any, dialect: Dialect) -> Any:
    """A cursor for the decision query's rows: named (DECLARE ... CURSOR, server side)
    where the dialect streams so, else the driver's plain one (no parsing of '%')."""
    return raw.cursor(name="tierwise_decide") if dialect.named_cursor else raw.cursor()


def _pages(
    cursor: Any, query: str, page_size: int, convert: Callable[[dict[str, Any]], T]
) -> Generator[list[T], None, None]:
    """`query`'s rows, a page at a time, converted (a named cursor describes its rows only
    after a fetch)."""
    cursor.execute(query)
    while page := cursor.fetchmany(page_size):
        names = [c[0] for c in cursor.description]
        yield [convert(dict(zip(names, row, strict=True))) for row in page]


def _ahead(pages: Iterator[list[T]]) -> Generator[list[T], None, None]:
    """`pages` fetched by a thread, up to PAGES_AHEAD ahead of the caller (the drivers let
    go of the GIL while the database works); its errors are raised here, and closing this
    iterator stops the thread before the cursor can be closed under it."""
    ready: queue.Queue[tuple[list[T] | None, BaseException | None]] = queue.Queue(PAGES_AHEAD)
    stop = threading.Event()

    def put(item: tuple[list[T] | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
            put((None, None))
        except BaseException as e:  # handed to the caller, raised there
            put((None, e))

    worker = threading.Thread(target=fetch, name="tierwise-fetch", daemon=True)
    worker.start()
    try:
        while True:
            page, error = ready.get()
            if error is not None:
                raise error
            if page is None:
                return
            yield page
    finally:
        stop.set()
        worker.join()


def set_up(cursor: Any, dialect: Dialect) -> None:
    """The dialect's session statements (time zone, ...), run before anything is read."""
    for statement in dialect.session:
        cursor.execute(statement)
