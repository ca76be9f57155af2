"""Push-down computes each value once per client: the database's planner may not inline one
layer of the decision query into every expression that reads it. When SQLite did, the
sample CRM's `latest` subqueries ran about 1,400 times per client (2,000 clients took 91 s);
PostgreSQL pulls subqueries up the same way. Counted calls, never timings, tell."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierwise import Engine
from tierwise.adapters.db import connect
from tierwise.adapters.decided import PushdownDecidedSource
from tierwise.adapters.sql import open_sql
from tierwise.batch import BatchEngine
from tierwise.profile import ProfilePlan

from .counting import counted_notices, postgres_counting

AS_OF = dt.date(2026, 6, 30)
BAND = """\
decision: band
hit_policy: first
inputs: {x: number, y: number}
derive:
  z: x * 2
rules:
  - {id: high, when: x >= 100 and z > 10, then: {band: high}}
  - {id: mid, when: x >= 50 or y > 3, then: {band: mid}}
  - {id: low, when: x < 50, then: {band: low}}
"""
FOLLOW = """\
decision: follow
hit_policy: collect
inputs: {x: number}
rules:
  - {id: call, when: band.band == "high" and x > 1, then: {act: call}}
  - id: mail
    when: band.band in ["mid", "low"] and x >= 0
    then: {act: mail}
"""
CLIENTS = 120


@pytest.fixture
def batch(batch_of: Callable[..., BatchEngine]) -> BatchEngine:
    return batch_of(band=BAND, follow=FOLLOW)


def _band(x: float, y: float) -> str:
    if x >= 100:
        return "high"
    return "mid" if x >= 50 or y > 3 else "low"


def test_sqlite_reads_each_source_value_once_per_client(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE clients (client_id INTEGER PRIMARY KEY, x REAL, y REAL)")
        conn.executemany(
            "INSERT INTO clients VALUES (?, ?, ?)", [(i, i % 200, i % 7) for i in range(CLIENTS)]
        )
        conn.execute("CREATE VIEW facts AS SELECT client_id, counted(x) AS x, y FROM clients")
    rows = list(batch.decide_sql_rows(f"sqlite:///{path}", "facts", AS_OF))
    assert len(rows) == CLIENTS
    assert len(counted) == CLIENTS  # x is read by validation, a derived fact and five rules
    assert [r["band__band"] for r in rows] == [_band(i % 200, i % 7) for i in range(CLIENTS)]


def test_a_mappings_latest_subquery_runs_once_per_client_in_sqlite(
    batch: BatchEngine, tmp_path: Path, counted: list[Any]
) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE clients (id INTEGER PRIMARY KEY, y REAL)")
        conn.execute("CREATE TABLE raw_surveys (client_id INTEGER, answered_at TEXT, x REAL)")
        conn.executemany("INSERT INTO clients VALUES (?, ?)", [(i, i % 7) for i in range(CLIENTS)])
        conn.executemany(
            "INSERT INTO raw_surveys VALUES (?, ?, ?)",
            [
                (i, f"2026-0{1 + k}-01", (i * 10 + k) % 200)
                for i in range(CLIENTS)
                for k in range(3)
            ],
        )
        conn.execute(
            "CREATE VIEW surveys AS SELECT client_id, answered_at, counted(x) AS x FROM raw_surveys"
        )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "clients: {table: clients, id: id}\n"
        "aggregates:\n"
        "  x: {table: surveys, function: latest, column: x, date: answered_at}\n"
    )
    source = open_sql(f"sqlite:///{path}", mapping)
    counted.clear()  # what opening the source read
    outcomes = list(PushdownDecidedSource(batch, source).clients(AS_OF, batch.pack.inputs))
    assert len(outcomes) == CLIENTS
    # at most one call per survey row the subquery looks at: the subquery ran once per client
    assert 0 < len(counted) <= 3 * CLIENTS
    bands = [o.decisions["band"].output for o in outcomes]
    expected = [_band((i * 10 + 2) % 200, i % 7) for i in range(CLIENTS)]
    assert [b["band"] for b in bands if isinstance(b, dict)] == expected


def test_postgresql_reads_each_source_value_once_per_client(
    batch: BatchEngine, postgres_db: str
) -> None:
    engine, notices = postgres_counting(
        postgres_db,
        "SELECT id AS client_id, counted(mod(id, 200)::float8) AS x, "
        f"mod(id, 7)::float8 AS y FROM generate_series(0, {CLIENTS - 1}) AS id",
    )
    rows = list(batch.decide_sql_rows(engine, "facts", AS_OF))
    assert len(rows) == CLIENTS
    assert counted_notices(notices) == CLIENTS
    assert [r["band__band"] for r in rows] == [_band(i % 200, i % 7) for i in range(CLIENTS)]
    engine.dispose()


def test_postgresql_decides_without_jit(tmp_path: Path, postgres_db: str) -> None:
    # compiling the decision query's wide CASE columns cost more than running them (6.7 s
    # of JIT in a 100,000-client query): push-down turns JIT off in its own transaction
    (tmp_path / "jit.yaml").write_text(
        "decision: jit\nhit_policy: first\ninputs: {setting: string}\n"
        'rules:\n  - {id: off, when: setting == "off", then: {jit: "off"}}\n'
        'default: {jit: "on"}\n'
    )
    batch = BatchEngine.from_path(tmp_path / "jit.yaml")
    facts = sa.select(
        sa.literal_column("1").label("client_id"),
        sa.func.current_setting("jit").label("setting"),
    )
    (row,) = batch.decide_sql_rows(connect(postgres_db), facts, AS_OF)
    assert row["jit__jit"] == "off"


STATISTICS = """\
facts: base
inputs: {x: number}
derive:
  xr: {expr: "rank(x, x_cuts)"}
  xr2: {expr: "rank(xr, xr_cuts)"}
profile:
  x_cuts: {cut_points: x, groups: 4}
  xr_cuts: {cut_points: xr, groups: 2}
"""
RANKED = """\
decision: ranked
hit_policy: first
inputs: {x: number}
rules:
  - {id: top, when: xr >= 3 and xr2 >= 1, then: {ranked: top}}
default: {ranked: rest}
"""


def test_the_profile_step_reads_the_source_once_for_all_its_passes(
    tmp_path: Path, counted: list[Any], batch_of: Callable[..., BatchEngine]
) -> None:
    # each pass of the profile (here three: x_cuts, then xr and xr_cuts, then the count of
    # xr2) used to read and validate the source again; now one TEMP table holds its
    # validated inputs, which every pass builds on
    batch = batch_of(base=STATISTICS, ranked=RANKED)
    assert ProfilePlan(batch.pack).passes == 3
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE clients (client_id INTEGER PRIMARY KEY, x REAL)")
        conn.executemany("INSERT INTO clients VALUES (?, ?)", [(i, i % 50) for i in range(CLIENTS)])
        conn.execute("CREATE VIEW facts AS SELECT client_id, counted(x) AS x FROM clients")
    profile = batch.profile_sql(f"sqlite:///{path}", "facts", AS_OF)
    assert len(counted) == CLIENTS
    clients = [{"client_id": str(i), "x": i % 50} for i in range(CLIENTS)]
    assert profile.to_json() == Engine(batch.pack).profile(clients, AS_OF).to_json()
    with sqlite3.connect(path) as conn:  # the TEMP tables went with the profile's connection
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [
            ("clients",)
        ]


def test_the_profile_step_reads_the_source_once_in_postgresql(
    postgres_db: str, batch_of: Callable[..., BatchEngine]
) -> None:
    batch = batch_of(base=STATISTICS, ranked=RANKED)
    engine, notices = postgres_counting(
        postgres_db,
        "SELECT id AS client_id, counted(mod(id, 50)::float8) AS x "
        f"FROM generate_series(0, {CLIENTS - 1}) AS id",
    )
    profile = batch.profile_sql(engine, "facts", AS_OF)
    assert counted_notices(notices) == CLIENTS
    clients = [{"client_id": str(i), "x": float(i % 50)} for i in range(CLIENTS)]
    assert profile.to_json() == Engine(batch.pack).profile(clients, AS_OF).to_json()
    engine.dispose()
