"""The run job and the decision log on SQLite and PostgreSQL: every client once, counts,
write-back into CRM columns, change detection and its hook, resumes, and plugin hooks
that raise (the run goes on, the error is logged against the client)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tierwise.adapters import AdapterError, open_source
from tierwise.adapters.db import connect
from tierwise.adapters.job import RunSummary, run_job
from tierwise.adapters.log import DECISIONS, ERRORS, DecisionLog, RunState
from tierwise.lang.values import HINTS
from tierwise.outcome import DecisionResult, Outcome
from tierwise.plugins.cli import main
from tierwise.plugins.manager import get_plugin_manager, hookimpl
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine

from .conftest import AS_OF, CLIENTS, expected_facts, make_crm


class Recorder:
    """A plugin registered in code: records the reaction hooks it receives."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.changed: list[tuple[str, str, Any, Any]] = []

    @hookimpl
    def tierwise_decision_made(self, outcome: Outcome, run_id: str | None) -> None:
        self.made.append(str(outcome.client_id))

    @hookimpl
    def tierwise_decision_changed(
        self,
        client_id: str,
        decision: str,
        before: DecisionResult | None,
        after: DecisionResult,
        run_id: str | None,
    ) -> None:
        self.changed.append((client_id, decision, before.output if before else None, after.output))


def _rows(url: str, table: sa.Table, run_id: str) -> list[dict[str, Any]]:
    engine = connect(url)
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(sa.select(table).where(table.c.run_id == run_id)).mappings()
        ]
    engine.dispose()
    return rows


def _run(pack_dir: Path, crm_url: str, mapping: Path, log_url: str, **options: Any) -> RunSummary:
    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping)
    try:
        return run_job(engine, source, log_url, as_of=AS_OF, **options)
    finally:
        source.close()


def test_a_run_logs_every_client_once_and_writes_back(
    crm_url: str, pack_dir: Path, mapping_file: Path
) -> None:
    make_crm(crm_url, 60)
    recorder = Recorder()
    pm = get_plugin_manager()
    pm.register(recorder)
    summary = _run(pack_dir, crm_url, mapping_file, crm_url, page_size=25, pm=pm)
    assert summary.status == "finished" and summary.clients == 60 and summary.errors == 0
    assert summary.previous_run_id is None and summary.changes == 0 and recorder.changed == []
    assert sorted(recorder.made, key=int) == [str(i) for i in range(1, 61)]
    rows = _rows(crm_url, DECISIONS, summary.run_id)
    assert len(rows) == 120 and len({(r["client_id"], r["decision"]) for r in rows}) == 120
    engine = Engine.from_path(pack_dir)
    facts = expected_facts(60)
    tiers = {
        cid: engine.decide(f, AS_OF).output("pricing_tier")["tier"] for cid, f in facts.items()
    }
    logged = {r["client_id"]: r for r in rows if r["decision"] == "pricing_tier"}
    assert {cid: r["output"] for cid, r in logged.items()} == {
        cid: f'{{"discount_pct":{ {"platinum": 15, "gold": 8, "standard": 0}[t] },"tier":"{t}"}}'
        for cid, t in tiers.items()
    }
    gold = next(r for r in logged.values() if r["rules"] == ["gold"])
    assert gold["explanation"][0]["rule"] == "gold" and gold["pack_hash"] == engine.pack.hash
    assert gold["as_of"] == AS_OF
    assert sum(summary.counts["pricing_tier"].values()) == 60
    assert summary.counts["pricing_tier"]["discount_pct=0 tier=standard"] == sum(
        t == "standard" for t in tiers.values()
    )
    crm = connect(crm_url)
    with crm.connect() as conn:
        written = dict(conn.execute(sa.select(CLIENTS.c.id, CLIENTS.c.pricing_tier)).all())
    crm.dispose()
    assert {str(k): v for k, v in written.items()} == tiers


def test_a_second_run_detects_changes(crm_url: str, pack_dir: Path, mapping_file: Path) -> None:
    make_crm(crm_url, 30)
    first = _run(pack_dir, crm_url, mapping_file, crm_url)
    crm = connect(crm_url)
    with crm.begin() as conn:
        for cid, clv in ((8, 20000), (17, 80000), (26, 0), (29, 9001)):
            conn.execute(sa.update(CLIENTS).where(CLIENTS.c.id == cid).values(clv_eur=clv))
    crm.dispose()
    recorder = Recorder()
    pm = get_plugin_manager()
    pm.register(recorder)
    second = _run(pack_dir, crm_url, mapping_file, crm_url, pm=pm)
    assert second.previous_run_id == first.run_id and second.changes == 3
    gold, platinum, standard = (
        {"tier": "gold", "discount_pct": 8},
        {"tier": "platinum", "discount_pct": 15},
        {"tier": "standard", "discount_pct": 0},
    )
    assert sorted(recorder.changed) == [
        ("17", "pricing_tier", gold, platinum),
        ("26", "pricing_tier", gold, standard),
        ("8", "pricing_tier", standard, gold),
    ]
    result = CliRunner().invoke(main, ["changes", "--log", crm_url, "--run", second.run_id])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "17\tpricing_tier\tdiscount_pct=8 tier=gold -> discount_pct=15 tier=platinum",
        "26\tpricing_tier\tdiscount_pct=8 tier=gold -> discount_pct=0 tier=standard",
        "8\tpricing_tier\tdiscount_pct=0 tier=standard -> discount_pct=8 tier=gold",
    ]
    assert f"3 change(s) in run {second.run_id}" in result.stderr
    latest = CliRunner().invoke(main, ["changes", "--log", crm_url, "--json"])
    assert latest.exit_code == 0 and latest.stdout.count(second.run_id) == 3


def test_changes_of_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    DecisionLog(url).close()
    result = CliRunner().invoke(main, ["changes", "--log", url, "--run", "nope"])
    assert result.exit_code == 1 and "no run 'nope' in the decision log sqlite:///" in result.output


def test_writing_a_page_twice_keeps_each_client_once(tmp_path: Path, pack_dir: Path) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    engine = Engine.from_path(pack_dir)
    run = log.start_run(pack_hash=engine.pack.hash, as_of=AS_OF, source="test")
    outcomes = [engine.decide({"clv": 1000.0 * i}, AS_OF, client_id=str(i)) for i in range(5)]
    rows = [
        log.inserts.decision_row(run, o.client_id, r)
        for o in outcomes
        for r in o.decisions.values()
    ]
    for _ in range(2):
        with log.engine.begin() as conn:
            log.inserts.write_page(conn, run.id, [o.client_id for o in outcomes], rows, [])
    assert len(_rows(str(log.engine.url), DECISIONS, run.id)) == 10
    log.close()


def test_an_outcome_without_a_client_id_is_refused_not_dropped(
    tmp_path: Path, pack_dir: Path
) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    engine = Engine.from_path(pack_dir)
    run = log.start_run(pack_hash=engine.pack.hash, as_of=AS_OF, source="test")
    outcomes = [engine.decide({"clv": 1.0}, AS_OF, client_id="1"), engine.decide({}, AS_OF)]
    with pytest.raises(ValueError, match="without a client id cannot be logged"):
        log.write_outcomes(run, outcomes)
    assert _rows(str(log.engine.url), DECISIONS, run.id) == []
    log.close()


def test_resuming_a_run_skips_the_clients_already_logged(
    tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(crm_url, 20)
    engine = Engine.from_path(pack_dir)
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    run = log.start_run(pack_hash=engine.pack.hash, as_of=AS_OF, source="x", run_id="r1")
    source = open_source(crm_url, mapping_file)
    first_eight = [
        r for r, _ in zip(source.clients(AS_OF, engine.pack.inputs), range(8), strict=False)
    ]
    log.write_outcomes(
        run, [engine.decide(r, AS_OF, client_id=r["client_id"]) for r in first_eight]
    )
    summary = run_job(engine, source, log, as_of=AS_OF, run_id="r1", page_size=5)
    assert summary.resumed and summary.skipped == 8 and summary.clients == 20
    with pytest.raises(
        AdapterError, match=r"run r1 was started with pack \w+ and as_of 2026-06-30"
    ):
        run_job(engine, source, log, as_of=AS_OF + dt.timedelta(days=1), run_id="r1")
    source.close()
    log.close()


class Failing:
    """A plugin whose hooks raise for some clients."""

    @hookimpl
    def tierwise_enrich_facts(
        self, facts: Any, as_of: dt.date, profile: Any
    ) -> dict[str, Any] | None:
        if facts["client_id"] == "4":
            raise RuntimeError("CRM lookup timed out")
        return {"clv": 60000.0, "purchases_per_year": 9} if facts["client_id"] == "5" else None

    @hookimpl
    def tierwise_decision_made(self, outcome: Outcome, run_id: str | None) -> None:
        if outcome.client_id == "6":
            raise ValueError("webhook returned 500")


def test_a_hook_that_raises_is_logged_against_the_client(
    tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 8)
    pm = get_plugin_manager()
    pm.register(Failing(), name="failing")
    recorder = Recorder()
    pm.register(recorder)
    summary = _run(pack_dir, url, mapping_file, url, pm=pm, profile=Profile({}, {}, AS_OF))
    assert summary.clients == 8 and summary.errors == 1 and summary.hook_errors == 1
    assert sorted(recorder.made, key=int) == [str(i) for i in range(1, 9)]
    errors = {(r["client_id"], r["kind"]): r for r in _rows(url, ERRORS, summary.run_id)}
    assert set(errors) == {("4", "client"), ("6", "hook")}
    assert errors[("4", "client")]["fact"] == "plugin:failing"
    assert (
        "tierwise_enrich_facts raised RuntimeError: CRM lookup timed out"
        in errors[("4", "client")]["message"]
    )
    assert (
        "tierwise_decision_made raised ValueError: webhook returned 500"
        in errors[("6", "hook")]["message"]
    )
    decided = {
        r["client_id"]: r
        for r in _rows(url, DECISIONS, summary.run_id)
        if r["decision"] == "pricing_tier"
    }
    assert "4" not in decided and "6" in decided
    assert decided["5"]["explanation"][0]["facts"]["clv"] == 60000.0


def test_a_broken_row_is_that_clients_error_in_the_log(tmp_path: Path, pack_dir: Path) -> None:
    csv = tmp_path / "clients.csv"
    csv.write_text("client_id,clv,purchases_per_year\na,12000,7\nb,lots,2\nc,50,1\n")
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    summary = run_job(Engine.from_path(pack_dir), open_source(f"csv:{csv}"), log_url, as_of=AS_OF)
    assert summary.clients == 3 and summary.errors == 1
    (error,) = _rows(log_url, ERRORS, summary.run_id)
    assert error["client_id"] == "b" and error["fact"] == "clv" and error["value"] == '"lots"'
    expected = f"clients.csv row 3: clv: 'lots' is not a number{HINTS['number']}"
    assert error["message"].endswith(expected)


def test_the_log_can_live_apart_from_the_crm(
    tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(crm_url, 5)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    summary = _run(pack_dir, crm_url, mapping_file, log_url, writeback=False)
    assert len(_rows(log_url, DECISIONS, summary.run_id)) == 10
    runs = DecisionLog(log_url).runs()
    assert [r["id"] for r in runs] == [summary.run_id] and runs[0]["status"] == "finished"
    assert runs[0]["counts"] == summary.counts and runs[0]["clients"] == 5
    crm = connect(crm_url)
    with crm.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(CLIENTS.c.pricing_tier.is_not(None))
            ).scalar()
            == 0
        )
    crm.dispose()


def test_runstate_is_what_start_run_returns(tmp_path: Path) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    run = log.start_run(pack_hash="h", as_of=AS_OF, source="s", profile={"p": 1})
    assert isinstance(run, RunState) and not run.resumed and run.previous_run_id is None
    assert log.runs()[0]["profile"] == {"p": 1}
    log.close()
