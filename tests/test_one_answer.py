"""One client, one answer: the shipped packs on the sample CRM decide every client alike on
every path (per client, SQL pushed down into SQLite and PostgreSQL, decide_table on both
paths), and `diff` of a rule change reports exactly the clients that two runs move."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierwise import Engine, decide_table
from tierwise.adapters.db import connect
from tierwise.adapters.decided import PushdownDecidedSource
from tierwise.adapters.job import run_job
from tierwise.adapters.log import DECISIONS, ERRORS
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.adapters.sql import open_sql
from tierwise.batch import BatchEngine
from tierwise.impact.impact import diff
from tierwise.runtime.facts import UnreadableClient

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
MAPPING = ROOT / "adapters" / "sample_mapping.yaml"
PURCHASE_LOG = ROOT / "adapters" / "sample_mapping_purchase_log.yaml"
AS_OF = SAMPLE_END
CLIENTS = 1500


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("crm") / "crm.db", clients=CLIENTS, seed=11)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(RULES)


def _logged(log: str) -> tuple[dict[tuple[str, str], tuple[Any, ...]], set[str]]:
    """Every logged decision (client, decision -> status, output, rules), and the clients
    in error."""
    db = sa.create_engine(log)
    with db.connect() as conn:
        decisions = {
            (r.client_id, r.decision): (r.status, r.output, r.rules)
            for r in conn.execute(sa.select(DECISIONS))
        }
        failed = {r.client_id for r in conn.execute(sa.select(ERRORS.c.client_id))}
    db.dispose()
    return decisions, failed


def _durable_run(engine: Engine, url: str, log: str, mapping: Path = MAPPING) -> None:
    source = open_sql(url, mapping)
    try:
        profile = engine.profile(source.clients(AS_OF, engine.pack.inputs), AS_OF)
        run_job(engine, source, log, as_of=AS_OF, profile=profile, writeback=False)
    finally:
        source.close()


def _sql_run(engine: Engine, url: str, log: str, mapping: Path = MAPPING) -> None:
    source = PushdownDecidedSource(BatchEngine(engine.pack), open_sql(url, mapping))
    try:
        profile = source.profile(AS_OF)
        run_job(engine, source, log, as_of=AS_OF, profile=profile, writeback=False)
    finally:
        source.close()


def _same(engine: Engine, url: str, tmp_path: Path, dirty: bool, mapping: Path = MAPPING) -> None:
    durable, sql = f"sqlite:///{tmp_path / 'durable.db'}", f"sqlite:///{tmp_path / 'sql.db'}"
    _durable_run(engine, url, durable, mapping)
    _sql_run(engine, url, sql, mapping)
    (by_client, failed), (pushed, pushed_failed) = _logged(durable), _logged(sql)
    assert len(by_client) > CLIENTS * 3 and bool(failed) == dirty
    assert failed == pushed_failed
    differing = [k for k in by_client.keys() | pushed.keys() if by_client.get(k) != pushed.get(k)]
    assert not differing, f"{len(differing)} decisions differ, e.g. {differing[:3]}"


@pytest.mark.parametrize("mapping", [MAPPING, PURCHASE_LOG], ids=["full", "purchase-log"])
def test_sqlite_push_down_decides_the_sample_as_the_per_client_path(
    engine: Engine, crm: Path, tmp_path: Path, mapping: Path
) -> None:
    _same(engine, f"sqlite:///{crm}", tmp_path, dirty=True, mapping=mapping)


def _into_postgresql(crm: Path, url: str) -> None:
    """The sample's tables in PostgreSQL, typed as the SQLite schema declares them."""
    source = sa.create_engine(f"sqlite:///{crm}")
    target = connect(url)
    meta = sa.MetaData()
    meta.reflect(source)
    meta.create_all(target)
    with sqlite3.connect(crm) as read, target.begin() as write:
        for table in meta.sorted_tables:
            rows = [
                dict(zip((c.name for c in table.columns), row, strict=True))
                for row in read.execute(f"SELECT * FROM {table.name}")
            ]
            if rows:
                write.execute(table.insert(), rows)
    source.dispose()
    target.dispose()


def test_postgresql_push_down_decides_the_sample_as_the_per_client_path(
    engine: Engine, postgres_db: str, tmp_path: Path
) -> None:
    clean = generate(tmp_path / "clean.db", clients=CLIENTS, seed=11, dirty_share=0)
    _into_postgresql(clean, postgres_db)
    _same(engine, postgres_db, tmp_path, dirty=False)


@pytest.fixture(scope="module")
def facts_table(crm: Path, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's clients as a Parquet table of their input facts (readable ones)."""
    source = open_sql(f"sqlite:///{crm}", MAPPING)
    try:
        records = [
            r
            for r in source.clients(AS_OF, engine.pack.inputs)
            if not isinstance(r, UnreadableClient)
        ]
    finally:
        source.close()
    kinds = {
        "number": pa.float64(),
        "integer": pa.int64(),
        "date": pa.date32(),
        "bool": pa.bool_(),
    }
    columns = {"client_id": pa.array([r["client_id"] for r in records], pa.string())}
    for name, t in engine.pack.inputs.items():
        columns[name] = pa.array([r.get(name) for r in records], kinds.get(t.kind, pa.string()))
    path = tmp_path_factory.mktemp("table") / "clients.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def _outcomes(engine: Engine, table: Path, path: str) -> Iterator[tuple[Any, ...]]:
    outcomes = decide_table(engine, table, AS_OF, engine=path)  # type: ignore[arg-type]
    assert outcomes.engine == path and outcomes.profile is not None
    for o in outcomes:
        yield (
            o.client_id,
            bool(o.errors),
            {name: (r.status, r.output, r.rules) for name, r in o.decisions.items()},
        )


def test_decide_table_gives_the_same_outcomes_on_both_paths(
    engine: Engine, facts_table: Path
) -> None:
    durable = list(_outcomes(engine, facts_table, "durable"))
    batch = list(_outcomes(BatchEngine(engine.pack), facts_table, "sql"))  # type: ignore[arg-type]
    assert len(durable) == len(batch) > CLIENTS * 0.9
    differing = [a for a, b in zip(durable, batch, strict=True) if a != b]
    assert not differing, f"{len(differing)} clients differ, e.g. {differing[:2]}"


def test_diff_reports_exactly_the_clients_two_runs_move(
    engine: Engine, crm: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "rules"
    shutil.copytree(RULES, changed, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    pricing = changed / "pricing_tier.yaml"
    text = pricing.read_text()
    text = text.replace("purchases_per_year >= 6", "purchases_per_year >= 4")
    text = text.replace("tenure_years >= 3", "tenure_years >= 2")
    pricing.write_text(text)
    new = Engine.from_path(changed)
    before, after = f"sqlite:///{tmp_path / 'old.db'}", f"sqlite:///{tmp_path / 'new.db'}"
    _durable_run(engine, f"sqlite:///{crm}", before)
    _durable_run(new, f"sqlite:///{crm}", after)
    old_tiers, new_tiers = _logged(before)[0], _logged(after)[0]
    moved = {  # clients whose tier the new rules change (the output, not only the rule)
        client
        for (client, decision), (_, output, _) in old_tiers.items()
        if decision == "pricing_tier" and new_tiers[(client, decision)][1] != output
    }
    assert moved, "the changed rules should move some clients"
    source = open_sql(f"sqlite:///{crm}", MAPPING)
    try:
        clients = [
            r
            for r in source.clients(AS_OF, engine.pack.inputs)
            if not isinstance(r, UnreadableClient)
        ]
    finally:
        source.close()
    report = diff(engine.pack, new.pack, clients, old_label="old", new_label="new", as_of=AS_OF)
    pricing_impact = next(i for i in report.impact if i.decision == "pricing_tier")
    assert pricing_impact.changed == len(moved)
