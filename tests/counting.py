"""Counting how often a database reads a value: a `counted(v)` function (it returns v)
that SQLite calls back into Python for and that PostgreSQL announces with a NOTICE, so a
test can hold a query to one read per client by counted calls, never by timings."""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tierwise.adapters.db import connect


@contextmanager
def sqlite_calls() -> Iterator[list[Any]]:
    """The calls of `counted(v)`, a function every SQLite connection opened meanwhile knows."""
    calls: list[Any] = []

    def register(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.create_function(
                "counted", 1, lambda v: calls.append(v) or v, deterministic=True
            )

    sa.event.listen(sa.pool.Pool, "connect", register)
    try:
        yield calls
    finally:
        sa.event.remove(sa.pool.Pool, "connect", register)


def postgres_counting(url: str, view: str) -> tuple[sa.Engine, collections.deque[str]]:
    """An engine on the PostgreSQL database at `url` whose connections collect their
    notices (returned, empty), with `counted(v double precision)` and the view `facts`
    defined by the SELECT `view`."""
    engine = connect(url)
    notices: collections.deque[str] = collections.deque()

    @sa.event.listens_for(engine, "connect")
    def _collect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.notices = notices

    engine.dispose()  # connections from now on collect their notices
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION counted(v double precision) RETURNS double precision "
            "LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE NOTICE 'counted'; RETURN v; END $$"
        )
        conn.exec_driver_sql(f"CREATE VIEW facts AS {view}")
    notices.clear()
    return engine, notices


def counted_notices(notices: collections.deque[str]) -> int:
    """How many times PostgreSQL called `counted`."""
    return sum("counted" in n for n in notices)
