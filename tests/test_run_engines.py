"""`tierwise run --engine`: the batch path and the per-client path log identical outcomes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tierwise.plugins.cli import main

# The packs read facts that no enrichment plugin gives (crm_profile gives clv, for one), so
# the SQL path may decide them: see test_paths.py for packs that read a plugin's facts.
PACK = """\
decision: tier
hit_policy: first
inputs:
  spend: number
  freq: integer
  stage: {enum: [new, mature]}
rules:
  - {id: gold, when: spend >= 10000 and freq > 2, then: {tier: gold}, because: Valuable}
  - {id: mature, when: stage == "mature" or freq > 8, then: {tier: silver}, because: Loyal}
default: {tier: standard}
"""
ACTIONS = """\
decision: actions
hit_policy: collect
inputs: {freq: integer, spend: number}
rules:
  - {id: call, when: spend > 20000, then: {action: call}}
  - {id: mail, when: freq < 3, then: {action: mail}}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tier.yaml").write_text(PACK)
    (rules / "actions.yaml").write_text(ACTIONS)
    n = 400
    table = pa.table(
        {
            "client_id": [f"c{i}" for i in range(n)],
            "spend": [None if i % 37 == 0 else float((i * 7919) % 30000) for i in range(n)],
            "freq": [i % 11 for i in range(n)],
            "stage": ["premium" if i % 53 == 0 else ("mature", "new")[i % 2] for i in range(n)],
        }
    )
    pq.write_table(table, tmp_path / "clients.parquet")
    pacsv.write_csv(table, tmp_path / "clients.csv")
    return tmp_path


def _logged(db: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    with sqlite3.connect(db) as conn:
        decisions = set(
            conn.execute(
                "SELECT client_id, decision, status, output, rules FROM tierwise_decisions"
            )
        )
        errors = set(conn.execute("SELECT client_id, fact FROM tierwise_client_errors"))
    return decisions, errors


def test_batch_and_per_client_runs_log_the_same_outcomes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    runner = CliRunner()
    common = ["--rules", "rules", "--as-of", "2026-01-01"]
    runs = {  # auto takes the SQL path for table files when the pack compiles to SQL
        "parquet.db": (["--source", "parquet:clients.parquet"], "sql"),
        "csv_auto.db": (["--source", "csv:clients.csv"], "sql"),
        "csv_sql.db": (["--source", "csv:clients.csv", "--engine", "sql"], "sql"),
        "csv_durable.db": (["--source", "csv:clients.csv", "--engine", "durable"], "durable"),
    }
    for db, (args, engine) in runs.items():
        result = runner.invoke(main, ["run", *args, *common, "--out", f"sqlite:///{db}"])
        assert result.exit_code == 0, result.output
        assert "clients: 400" in result.stdout
        assert f"engine: {engine} (" in result.stderr
    durable = _logged(workdir / "csv_durable.db")
    assert len(durable[0]) == 2 * (400 - 8) and len(durable[1]) == 8
    assert _logged(workdir / "parquet.db") == durable
    assert _logged(workdir / "csv_auto.db") == durable
    assert _logged(workdir / "csv_sql.db") == durable
    why = runner.invoke(main, ["why", "c3", "--log", "sqlite:///parquet.db"])
    assert "rule gold: because Valuable" in why.stdout


def test_sql_engine_pushes_down_into_a_sqlite_crm_with_the_same_outcomes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    table = pq.read_table(workdir / "clients.parquet").to_pylist()
    with sqlite3.connect(workdir / "crm.db") as conn:
        conn.execute(
            "CREATE TABLE clients (id TEXT PRIMARY KEY, spend REAL, freq INTEGER, stage TEXT)"
        )
        conn.executemany(
            "INSERT INTO clients VALUES (?, ?, ?, ?)",
            [(r["client_id"], r["spend"], r["freq"], r["stage"]) for r in table],
        )
    (workdir / "mapping.yaml").write_text(
        "clients: {table: clients, id: id}\nfacts: {spend: spend, freq: freq, stage: stage}\n"
    )
    runner = CliRunner()
    common = ["--source", "sqlite:///crm.db", "--mapping", "mapping.yaml", "--rules", "rules"]
    chosen = {}
    for engine in ("auto", "sql", "durable"):
        result = runner.invoke(
            main,
            ["run", *common, "--engine", engine, "--as-of", "2026-01-01",
             "--out", f"sqlite:///{engine}.db"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "clients: 400" in result.stdout
        chosen[engine] = next(x for x in result.stderr.splitlines() if x.startswith("engine:"))
    assert chosen["auto"] == "engine: sql (the pack compiles to SQL for sqlite)"
    assert chosen["durable"] == "engine: durable (the durable path was asked for)"
    assert _logged(workdir / "sql.db") == _logged(workdir / "durable.db")
    assert _logged(workdir / "auto.db") == _logged(workdir / "durable.db")


def test_sql_engine_refuses_a_source_it_cannot_push_down_into(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(
        main, ["run", "--source", "ftp://crm/clients", "--engine", "sql", "--rules", "rules"]
    )
    assert result.exit_code == 1
    assert "SQLite or PostgreSQL databases, not ftp://crm/clients" in result.output


def test_rows_without_an_id_are_errors_on_both_paths_never_dropped(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    rows = pq.read_table(workdir / "clients.parquet").to_pylist()[:20]
    for i in (4, 11):
        rows[i]["client_id"] = None
    pacsv.write_csv(pa.Table.from_pylist(rows), workdir / "noid.csv")
    with sqlite3.connect(workdir / "noid.db") as conn:
        conn.execute("CREATE TABLE clients (id TEXT, spend REAL, freq INTEGER, stage TEXT)")
        conn.executemany(
            "INSERT INTO clients VALUES (?, ?, ?, ?)",
            [(r["client_id"], r["spend"], r["freq"], r["stage"]) for r in rows],
        )
    (workdir / "mapping.yaml").write_text(
        "clients: {table: clients, id: id}\nfacts: {spend: spend, freq: freq, stage: stage}\n"
    )
    runner = CliRunner()
    sources = {
        "csv": ["--source", "csv:noid.csv"],
        "db": ["--source", "sqlite:///noid.db", "--mapping", "mapping.yaml"],
    }
    for name, source in sources.items():
        logged = {}
        for engine in ("sql", "durable"):
            result = runner.invoke(
                main,
                ["run", *source, "--rules", "rules", "--engine", engine, "--as-of", "2026-01-01",
                 "--out", f"sqlite:///{name}_{engine}.db"],
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            assert "clients: 20" in result.stdout, result.output
            logged[engine] = _logged(workdir / f"{name}_{engine}.db")
        assert logged["sql"] == logged["durable"]
        unnamed = {cid for cid, fact in logged["sql"][1] if fact == "client_id"}
        assert len(unnamed) == 2, logged["sql"][1]
    assert {cid for cid, fact in _logged(workdir / "csv_sql.db")[1] if fact == "client_id"} == {
        "noid.csv row 6",
        "noid.csv row 13",
    }
