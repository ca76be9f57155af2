"""The sample CRM: deterministic, plausible (purchases from a BG/NBD process: most buyers
buy once, a long tail buys often), about 2% dirty; and end to end through the mapping, the
profile step and the shipped packs (whose facts file derives the CRM metrics), every dirty
client (and no clean one) comes out as an error, and every client comes out exactly once,
read whole or as a bare purchase log."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine
from tierwise.adapters.job import run_job
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.adapters.sql import open_sql
from tierwise.outcome import Outcome

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "adapters" / "sample_mapping.yaml"
PURCHASE_LOG = ROOT / "adapters" / "sample_mapping_purchase_log.yaml"
CLIENTS = 1500
AS_OF = SAMPLE_END


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("crm") / "crm.db", clients=CLIENTS, seed=11)


def _rows(path: Path, sql: str) -> list[Any]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_same_seed_same_bytes_other_seed_other_data(crm: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again.db", clients=CLIENTS, seed=11)
    assert again.read_bytes() == crm.read_bytes()
    other = generate(tmp_path / "other.db", clients=CLIENTS, seed=12)
    assert _rows(other, "SELECT sum(amount) FROM orders") != _rows(
        crm, "SELECT sum(amount) FROM orders"
    )


def test_tables_and_distributions_are_plausible(crm: Path) -> None:
    (count,) = _rows(crm, "SELECT count(*) FROM clients")[0]
    assert count == CLIENTS
    (orders, buyers) = _rows(crm, "SELECT count(*), count(DISTINCT client_id) FROM orders")[0]
    assert 0.7 < buyers / CLIENTS < 0.9 and 2 < orders / buyers < 5
    counts = [n for (n,) in _rows(crm, "SELECT count(*) FROM orders GROUP BY client_id")]
    once = sum(1 for n in counts if n == 1) / len(counts)
    assert 0.4 < once < 0.6  # most buyers buy once
    assert max(counts) >= 30 and sum(1 for n in counts if n >= 10) / len(counts) > 0.03  # a tail
    (business,) = _rows(crm, "SELECT avg(client_type = 'business') FROM clients")[0]
    assert 0.15 < business < 0.25
    (b2b, b2c) = _rows(
        crm,
        "SELECT avg(CASE WHEN c.client_type = 'business' THEN o.amount END),"
        " avg(CASE WHEN c.client_type = 'individual' THEN o.amount END)"
        " FROM orders o JOIN clients c ON c.id = o.client_id",
    )[0]
    assert b2b > 5 * b2c  # businesses buy bigger
    for table in ("support_tickets", "satisfaction_surveys"):
        assert _rows(crm, f"SELECT count(*) FROM {table}")[0][0] > CLIENTS / 4
    (latest,) = _rows(crm, "SELECT max(ordered_at) FROM orders")[0]
    assert latest <= AS_OF.isoformat()


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path / "x.db", clients=0)
    with pytest.raises(ValueError, match="fraction"):
        generate(tmp_path / "x.db", clients=10, dirty_share=2)


def expected_errors(path: Path, *, purchase_log: bool = False) -> set[str]:
    """The dirty clients a CRM analyst would find with SQL (missing fields are not errors:
    a missing fact is unknown, so rules that read it do not match); read as a purchase log,
    the churn score and the surveys are not read, so their defects are no errors."""
    end = AS_OF.isoformat()
    queries = [
        "SELECT id FROM clients WHERE client_type NOT IN ('individual', 'business')",
        "SELECT id FROM clients WHERE preferred_channel NOT IN"
        " ('email', 'phone', 'sms', 'app', 'in_person')",
        "SELECT id FROM clients WHERE marketing_consent NOT IN ('granted', 'withdrawn')",
        f"SELECT id FROM clients WHERE signup_date > '{end}'",
        "SELECT client_id FROM orders WHERE amount < 0 AND status = 'paid'",
    ]
    if not purchase_log:
        queries += [
            "SELECT id FROM clients WHERE typeof(churn_risk) = 'text'",
            "SELECT client_id FROM satisfaction_surveys WHERE typeof(csat) = 'text'",
        ]
    dirty = {str(row[0]) for q in queries for row in _rows(path, q)}
    for cid, signup in _rows(path, "SELECT id, signup_date FROM clients"):
        try:
            dt.date.fromisoformat(signup or "2000-01-01")
        except ValueError:  # SQLite's date() takes 2021-02-30 for a date
            dirty.add(str(cid))
    return dirty


def decide_all(crm: Path, engine: Engine, mapping: Path = MAPPING) -> list[Outcome]:
    """Source -> profile -> engine, as a run does it."""
    source = open_sql(f"sqlite:///{crm}", mapping)
    try:
        records = list(source.clients(AS_OF, engine.pack.inputs))
    finally:
        source.close()
    profile = engine.profile(records, AS_OF)
    return list(engine.decide_many(records, AS_OF, profile=profile))


def test_every_dirty_client_and_no_clean_one_is_an_error(crm: Path) -> None:
    engine = Engine.from_path(ROOT / "rules")
    outcomes = decide_all(crm, engine)
    ids = [o.client_id for o in outcomes]
    assert sorted(ids, key=int) == [str(i) for i in range(1, CLIENTS + 1)]  # each exactly once
    failed = {o.client_id for o in outcomes if not o.ok}
    dirty = expected_errors(crm)
    assert 0.01 * CLIENTS < len(dirty) < 0.03 * CLIENTS
    assert failed == dirty
    decided = [o for o in outcomes if o.ok]
    tiers = {o.output("pricing_tier")["tier"] for o in decided}
    assert tiers == {"platinum", "gold", "silver", "growth", "standard"}
    segments = {o.output("value_segment")["segment"] for o in decided}
    assert {"strategic", "high_value", "rising", "dormant", "core", "prospect"} <= segments


def test_read_as_a_purchase_log_every_dirty_client_it_reads_is_an_error(crm: Path) -> None:
    outcomes = decide_all(crm, Engine.from_path(ROOT / "rules"), PURCHASE_LOG)
    assert sorted((o.client_id for o in outcomes), key=int) == [
        str(i) for i in range(1, CLIENTS + 1)
    ]
    assert {o.client_id for o in outcomes if not o.ok} == expected_errors(crm, purchase_log=True)
    decided = [o for o in outcomes if o.ok]
    segments = {o.output("value_segment")["segment"] for o in decided}
    assert {"strategic", "high_value", "regular", "dormant", "prospect"} <= segments
    assert "core" not in segments and "unprofitable" not in segments  # costs are unknown


def test_the_run_job_decides_every_client_of_the_sample(crm: Path, tmp_path: Path) -> None:
    engine = Engine.from_path(ROOT / "rules")
    source = open_sql(f"sqlite:///{crm}", MAPPING)
    try:
        profile = engine.profile(source.clients(AS_OF, engine.pack.inputs), AS_OF)
        summary = run_job(
            engine,
            source,
            f"sqlite:///{tmp_path / 'log.db'}",
            as_of=AS_OF,
            profile=profile,
            writeback=False,
        )
    finally:
        source.close()
    assert summary.clients == CLIENTS
    # client errors, plus support_action errors for sign-up dates after as_of
    decision_errors = summary.counts["support_action"].get("error", 0)
    assert summary.errors + decision_errors == len(expected_errors(crm))
