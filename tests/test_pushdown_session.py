"""A push-down run reads its source once: the profile step and the decision query share one
connection and its temporary table of validated inputs, so a run's statistics and its
decisions come from the same rows, and a value the mapping reads is read once per client
(counted calls, never timings). The rows are fetched ahead by a thread, which stops when
the reader does."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierwise import Engine
from tierwise.adapters.db import connect
from tierwise.adapters.decided import PushdownDecidedSource
from tierwise.adapters.job import run_job
from tierwise.adapters.log import DecisionLog
from tierwise.adapters.sql import open_sql
from tierwise.batch import BatchEngine, BatchError
from tierwise.batch.compiler import SqlCompiler

from .counting import counted_notices, postgres_counting

AS_OF = dt.date(2026, 6, 30)
BASE = """\
facts: base
inputs: {x: number}
derive:
  xr: {expr: "rank(x, x_cuts)"}
profile:
  x_cuts: {cut_points: x, groups: 4}
"""
RANKED = """\
decision: ranked
hit_policy: first
inputs: {x: number}
rules:
  - {id: top, when: xr >= 3, then: {ranked: top}}
  - {id: low, when: xr <= 1, then: {ranked: low}}
default: {ranked: middle}
"""
CLIENTS = 1500
"""More than a page of rows, so the fetching thread runs ahead."""


@pytest.fixture
def batch(batch_of: Callable[..., BatchEngine]) -> BatchEngine:
    return batch_of(base=BASE, ranked=RANKED)


def _crm(tmp_path: Path) -> tuple[str, Path]:
    """A CRM whose mapping reads x through `counted`, and that mapping."""
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE raw (client_id INTEGER PRIMARY KEY, x REAL)")
        conn.executemany("INSERT INTO raw VALUES (?, ?)", [(i, i % 97) for i in range(CLIENTS)])
        conn.execute("CREATE VIEW clients AS SELECT client_id, counted(x) AS x FROM raw")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("clients: {table: clients, id: client_id}\n")
    return f"sqlite:///{path}", mapping


def _per_client(batch: BatchEngine) -> dict[str, Any]:
    """Every client's band on the per-client path, for comparison."""
    engine = Engine(batch.pack)
    clients = [{"client_id": str(i), "x": float(i % 97)} for i in range(CLIENTS)]
    profile = engine.profile(clients, AS_OF)
    return {
        c["client_id"]: engine.decide(c, AS_OF, profile=profile).output("ranked") for c in clients
    }


def test_a_run_reads_the_source_once_for_its_profile_and_its_decisions(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    url, mapping = _crm(tmp_path)
    source = PushdownDecidedSource(batch, open_sql(url, mapping))
    counted.clear()  # what opening the source read
    profile = source.profile(AS_OF)
    log = f"sqlite:///{tmp_path / 'log.db'}"
    summary = run_job(Engine(batch.pack), source, log, as_of=AS_OF, profile=profile)
    source.close()
    assert summary.clients == CLIENTS and summary.errors == 0
    assert len(counted) == CLIENTS  # once per client, for the profile and the decisions
    ids = [str(i) for i in range(CLIENTS)]
    logged = DecisionLog(log).logged_outcomes(summary.run_id, ids)
    assert {o.client_id: o.output("ranked") for o in logged} == _per_client(batch)
    with sqlite3.connect(tmp_path / "crm.db") as conn:  # nothing left in the CRM
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("raw",)]


def test_a_resumed_run_with_its_stored_profile_reads_the_source_once(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    url, mapping = _crm(tmp_path)
    first = PushdownDecidedSource(batch, open_sql(url, mapping))
    profile = first.profile(AS_OF)
    first.close()
    source = PushdownDecidedSource(batch, open_sql(url, mapping))
    counted.clear()
    source.decide_with(profile)  # as the run job does with a resumed run's stored profile
    outcomes = list(source.clients(AS_OF, batch.pack.inputs))
    source.close()
    assert len(outcomes) == CLIENTS
    assert len(counted) == CLIENTS
    expected = _per_client(batch)
    assert {o.client_id: o.output("ranked") for o in outcomes} == expected


def _fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tierwise-fetch"]


def test_a_reader_that_stops_early_stops_the_fetching_thread(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    url, mapping = _crm(tmp_path)
    source = open_sql(url, mapping)
    session = batch.pushdown_session(source.engine, source.query(AS_OF, batch.pack.inputs))
    profile = session.profile(AS_OF)
    rows = session.rows(AS_OF, batch.statistics(profile), page_size=100)
    assert [next(rows)["client_id"] for _ in range(3)] == ["0", "1", "2"]
    assert _fetchers()  # it runs ahead
    rows.close()  # type: ignore[attr-defined]
    assert not _fetchers()
    session.close()
    source.close()


def _failing_after(url: str, calls: int) -> sa.Engine:
    """An engine on `url` whose `counted(v)` raises from its `calls`-th call on."""
    engine = sa.create_engine(url)
    made: list[Any] = []

    def register(dbapi_connection: Any, _record: Any) -> None:
        def counted(v: Any) -> Any:
            made.append(v)
            if len(made) >= calls:
                raise ValueError("no more")
            return v

        dbapi_connection.create_function("counted", 1, counted)

    sa.event.listen(engine, "connect", register)
    return engine


def test_a_source_that_fails_while_read_is_a_batch_error_naming_the_database(
    batch: BatchEngine, tmp_path: Path
) -> None:
    url, _ = _crm(tmp_path)
    engine = _failing_after(url, 1200)
    session = batch.pushdown_session(engine, "clients")
    with pytest.raises(BatchError, match=r"crm\.db: reading the clients failed"):
        session.profile(AS_OF)
    session.close()
    engine.dispose()


def test_a_decision_query_that_fails_midway_raises_in_the_reader_and_stops_the_thread(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    url, _ = _crm(tmp_path)
    profile = batch.profile_sql(url, "clients", AS_OF)
    engine = _failing_after(url, 1200)  # in the 13th page of 100 clients
    rows = batch.decide_sql_rows(engine, "clients", AS_OF, page_size=100, profile=profile)
    got: list[dict[str, Any]] = []
    with pytest.raises(
        BatchError, match=r"crm\.db: the decision query failed: user-defined function raised"
    ):
        for row in rows:
            got.append(row)
    assert 100 <= len(got) < 1200  # the pages fetched before the failure came through
    assert not _fetchers()
    engine.dispose()


def test_postgresql_reads_the_source_once_for_a_runs_profile_and_decisions(
    batch: BatchEngine, postgres_db: str
) -> None:
    engine, notices = postgres_counting(
        postgres_db,
        "SELECT id AS client_id, counted(mod(id, 97)::float8) AS x "
        f"FROM generate_series(0, {CLIENTS - 1}) AS id",
    )
    with batch.pushdown_session(engine, "facts") as session:
        profile = session.profile(AS_OF)
        rows = list(session.rows(AS_OF, batch.statistics(profile), page_size=100))
    assert counted_notices(notices) == CLIENTS
    expected = _per_client(batch)
    assert {r["client_id"]: r["ranked__ranked"] for r in rows} == {
        k: v["ranked"] for k, v in expected.items()
    }
    other = connect(postgres_db)  # sees every session's temporary tables
    with other.connect() as conn:  # the one of the session, pooled still, went with it
        left = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, 'tierwise')"
        ).scalar()
    assert left == 0
    other.dispose()
    engine.dispose()


def test_decisions_with_the_sessions_profile_derive_nothing_again(
    batch: BatchEngine, tmp_path: Path, counted: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the last profile pass's table holds every fact: the decisions are its rules only;
    # with another profile (a resumed run's stored one) the facts are derived again
    url, mapping = _crm(tmp_path)
    source = open_sql(url, mapping)
    session = batch.pushdown_session(source.engine, source.query(AS_OF, batch.pack.inputs))
    profile = session.profile(AS_OF)

    def rederived(*_: Any, **__: Any) -> Any:
        raise AssertionError("derived again")

    monkeypatch.setattr(SqlCompiler, "select_validated", rederived)
    rows = list(session.rows(AS_OF, batch.statistics(profile)))
    expected = _per_client(batch)
    assert {r["client_id"]: r["ranked__ranked"] for r in rows} == {
        k: v["ranked"] for k, v in expected.items()
    }
    other = {"x_cuts": [10.0, 20.0, 30.0]}
    with pytest.raises(AssertionError, match="derived again"):
        session.rows(AS_OF, other)
    with pytest.raises(AssertionError, match="derived again"):
        session.rows(AS_OF + dt.timedelta(days=1), batch.statistics(profile))
    monkeypatch.undo()
    top = {r["client_id"] for r in session.rows(AS_OF, other) if r["ranked__ranked"] == "top"}
    assert top == {str(i) for i in range(CLIENTS) if i % 97 > 30}  # rank(x, cuts) >= 3
    session.close()
    source.close()
