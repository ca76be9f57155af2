"""Push-down streams its result: rows come page by page from the database, never all at once
(a fetchall of a whole CRM's decisions would hold every row in memory)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierwise.adapters.db import connect
from tierwise.batch import BatchEngine, BatchError

AS_OF = dt.date(2026, 6, 30)
PACK = """\
decision: band
hit_policy: first
inputs: {x: number}
rules:
  - {id: high, when: x >= 100, then: {band: high}}
  - {id: low, when: x < 100, then: {band: low}}
"""
CLIENTS = 2_500


class _CountingCursor(sqlite3.Cursor):
    """A SQLite cursor that records how many rows each fetch call returned."""

    fetches: list[tuple[str, int]] = []

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = super().fetchmany(size) if size is not None else super().fetchmany()
        self.fetches.append(("fetchmany", len(rows)))
        return rows

    def fetchall(self) -> list[Any]:
        rows = super().fetchall()
        self.fetches.append(("fetchall", len(rows)))
        return rows


class _CountingConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _CountingCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)


@pytest.fixture
def batch(tmp_path: Path) -> BatchEngine:
    (tmp_path / "band.yaml").write_text(PACK)
    return BatchEngine.from_path(tmp_path / "band.yaml")


def test_sqlite_rows_arrive_a_page_at_a_time(batch: BatchEngine, tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE clients (client_id INTEGER PRIMARY KEY, x REAL)")
        conn.executemany(
            "INSERT INTO clients VALUES (?, ?)", [(i, i % 200) for i in range(CLIENTS)]
        )
    engine = sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(path, factory=_CountingConnection)
    )
    rows = batch.decide_sql_rows(engine, "clients", AS_OF, page_size=100)
    fetches = _CountingCursor.fetches
    fetches.clear()  # what reading the table's columns fetched
    first = next(rows)
    assert first["client_id"] == "0" and first["band__band"] == "low"
    assert fetches == [("fetchmany", 100)]  # one page fetched, not the whole table
    rest = list(rows)
    assert len(rest) == CLIENTS - 1
    assert {kind for kind, _ in fetches} == {"fetchmany"}
    assert max(n for _, n in fetches) == 100 and sum(n for _, n in fetches) == CLIENTS
    assert [first, *rest] == batch.decide_sql(engine, "clients", AS_OF)


def test_postgresql_streams_through_a_server_side_cursor(
    batch: BatchEngine, postgres_db: str
) -> None:
    # x divides by zero from client 1,501 on: a client-side cursor (the whole result at
    # execute) fails before the first row; a server-side cursor yields the pages before it
    engine = connect(postgres_db)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIEW clients AS SELECT id AS client_id, "
            "CASE WHEN id <= 1500 THEN id ELSE 1 / (id - id) END AS x "
            f"FROM generate_series(1, {CLIENTS}) AS id"
        )
    rows = batch.decide_sql_rows(engine, "clients", AS_OF, page_size=100)
    seen = [next(rows)]
    assert seen[0]["client_id"] == "1" and seen[0]["band__band"] == "low"
    with pytest.raises(BatchError, match="the decision query failed: division by zero"):
        for row in rows:
            seen.append(row)
    assert len(seen) == 1500 and seen[-1]["client_id"] == "1500"
    engine.dispose()


def test_a_page_size_below_one_is_refused(batch: BatchEngine, tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="page_size must be at least 1, not 0"):
        batch.decide_sql_rows(f"sqlite:///{tmp_path / 'crm.db'}", "clients", AS_OF, page_size=0)
