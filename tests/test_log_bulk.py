"""The log's page inserts (adapters/bulk.py: bound tuples through the driver, COPY into
PostgreSQL) store exactly what SQLAlchemy Core's own executemany of the same rows stores,
on SQLite and PostgreSQL, for every column type of the log and for text COPY must escape;
and the run job's other fast paths (rows read back as Outcomes, the GC freeze) keep what
callers see."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierwise.adapters import AdapterError, open_source
from tierwise.adapters.bulk import BulkInsert, DriverStatement, copy_text
from tierwise.adapters.job import _id, run_job
from tierwise.adapters.log import CLIENT, DECISIONS, ERRORS, DecisionLog, RunState, canonical
from tierwise.batch.rows import OutcomeRows
from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome, new_outcome
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import printable

from .conftest import AS_OF, make_crm

AWKWARD = [
    "plain", "", "\\N", "tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\",
    "trailing\\", "\\\\t", 'quote"s', "comma, semicolon;", "é ünïcode ✓ 𝄞", "\t\n\r\\",
]  # fmt: skip
"""Text that COPY's format (tab-separated, backslash escapes, `\\N` for null) must escape."""


def _outcomes(pack_hash: str) -> list[Outcome]:
    """Outcomes that touch every column of the log: awkward text everywhere, outputs of
    every JSON shape, explanations with and without fact values, errors with values."""
    outcomes = []
    for i, text in enumerate(AWKWARD):
        explained = [
            Explanation(f"r{i}", text, f"x == {text!r}"),
            Explanation("big", "because", "c", {"n": 2**70, "day": AS_OF, "t": text}),
        ]
        one = {"tier": text, "pct": 8.5}
        decisions = {
            "one": DecisionResult("one", "decided", one, [f"r{i}"], explained[:1]),
            "many": DecisionResult(
                "many", "decided", [{"a": text}, {"a": None}], ["r1"], explained
            ),
            "fallback": DecisionResult("fallback", "default", {"tier": "standard"}),
            "none": DecisionResult("none", "no_decision"),
            "failed": DecisionResult("failed", "error", None, ["r1", "r2"], [], f"conflict {text}"),
        }
        outcomes.append(new_outcome(f"c{i} {text}", pack_hash, AS_OF, decisions, []))
    errors = [FactError("clv", f"not a number: {t}", t) for t in AWKWARD] + [
        FactError("big", "too big", 2**70),
        FactError("day", "a date", AS_OF),
        FactError("none", "no value"),
    ]
    outcomes.append(new_outcome("failed client", pack_hash, AS_OF, {}, errors))
    return outcomes


def _core_decision(run: RunState, client_id: str, result: DecisionResult) -> dict[str, Any]:
    """A decision row as the log built it for SQLAlchemy Core's executemany (the reference)."""
    explanation = [
        {"rule": e.rule, "because": e.because, "condition": e.condition,
         "facts": {k: v if isinstance(v, str) else _plain(v) for k, v in e.facts.items()}}
        for e in result.explanations
    ]  # fmt: skip
    return {
        "run_id": run.id, "client_id": client_id, "decision": result.decision,
        "status": result.status, "output": canonical(result.output), "rules": list(result.rules),
        "explanation": explanation,
        "error": None if result.error is None else printable(result.error),
        "pack_hash": run.pack_hash, "as_of": run.as_of, "changed": False,
        "previous_status": None, "previous_output": None,
    }  # fmt: skip


def _plain(value: Any) -> Any:
    """A fact value as the log's JSON holds it (integers beyond 64 bits and dates as text)."""
    return str(value) if isinstance(value, dt.date) or abs(value) >= 2**63 else value


def _core_errors(run: RunState, client_id: str, errors: list[FactError]) -> list[dict[str, Any]]:
    return [
        {"run_id": run.id, "client_id": client_id, "seq": i, "kind": CLIENT, "fact": e.fact,
         "message": e.message, "value": canonical(e.value), "pack_hash": run.pack_hash,
         "as_of": run.as_of}
        for i, e in enumerate(errors)
    ]  # fmt: skip


def _dump(log: DecisionLog, table: sa.Table, run_id: str) -> list[tuple[Any, ...]]:
    """A run's rows as the database stores them (JSON as its text), without the run id."""
    columns = [
        sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c
        for c in table.columns
        if c.name != "run_id"
    ]
    query = sa.select(*columns).where(table.c.run_id == run_id)
    compiled = query.compile(log.engine, compile_kwargs={"literal_binds": True})
    with log.engine.connect() as conn:
        rows = conn.exec_driver_sql(str(compiled)).all()
    return sorted(tuple(r) for r in rows)


def test_a_page_is_stored_exactly_as_sqlalchemy_core_stores_it(crm_url: str) -> None:
    log = DecisionLog(crm_url)
    core = log.start_run(pack_hash="h", as_of=AS_OF, source="core")
    fast = log.start_run(pack_hash="h", as_of=AS_OF, source="fast")
    outcomes = _outcomes("h")
    log.write_outcomes(fast, outcomes)
    with log.engine.begin() as conn:
        conn.execute(
            sa.insert(DECISIONS),
            [
                _core_decision(core, str(o.client_id), r)
                for o in outcomes
                for r in o.decisions.values()
            ],
        )
        conn.execute(sa.insert(ERRORS), _core_errors(core, "failed client", outcomes[-1].errors))
    for table in (DECISIONS, ERRORS):
        stored = _dump(log, table, fast.id)
        assert stored == _dump(log, table, core.id) and len(stored) > len(AWKWARD)
    back = log.logged_outcomes(fast.id, [str(o.client_id) for o in outcomes[:-1]])
    assert [o.decisions for o in back] == [
        {d: log_result for d, log_result in o.decisions.items()} for o in back
    ]
    assert [o.decisions["many"].output for o in back] == [
        o.decisions["many"].output for o in outcomes[:-1]
    ]
    log.close()


def test_bound_values_are_those_of_sqlalchemys_processors(crm_url: str) -> None:
    log = DecisionLog(crm_url)
    insert = BulkInsert(DECISIONS, [c.key for c in DECISIONS.columns], log.engine.dialect)
    row = (
        "r",
        "c",
        "d",
        "decided",
        None,
        ["x"],
        [{"rule": "x"}],
        None,
        "h",
        AS_OF,
        True,
        None,
        None,
    )
    compiled = sa.insert(DECISIONS).compile(log.engine)
    expected = compiled.construct_params(dict(zip(insert.statement.names, row, strict=True)))
    processors = compiled._bind_processors  # SQLAlchemy's own, as Core's execute applies them
    want = tuple(
        processors[name](expected[name]) if name in processors else expected[name]
        for name in insert.statement.names
    )
    assert insert.statement.bound([row]) == [want]
    log.close()


def test_copy_text_escapes_what_its_format_reserves() -> None:
    rows = [("a\tb", None, "\\N", True, False, 7, AS_OF, "x\ny\rz\\")]
    assert copy_text(rows) == "a\\tb\t\\N\t\\\\N\tt\tf\t7\t2026-06-30\tx\\ny\\rz\\\\\n"
    with pytest.raises(TypeError, match="no COPY text form for a bytes value"):
        copy_text([(b"raw",)])


def test_write_back_updates_bind_as_core_binds_them(tmp_path: Path) -> None:
    """Values in the caller's order (the key first, though the UPDATE binds it last), bound
    by the target column's type as Core binds it (SQLite DATETIME text with microseconds)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    at = sa.Column("at", sa.DateTime)
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), at)
    table.metadata.create_all(engine)
    noon = dt.datetime(2026, 6, 30, 12, 0)
    update = sa.update(table).where(table.c.id == sa.bindparam("_id"))
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [{"id": 1}, {"id": 2}, {"id": 3}])
        conn.execute(update.values(at=sa.bindparam("_at")), [{"_id": 3, "_at": noon}])
        statement = DriverStatement(
            update.values(at=sa.bindparam("_at")), ["_id", "_at"], engine.dialect
        )
        statement.execute(conn, [(1, noon), (2, None)])
        stored = conn.exec_driver_sql("SELECT id, at FROM t ORDER BY id").all()
    assert stored == [(1, stored[2][1]), (2, None), (3, "2026-06-30 12:00:00.000000")]
    with pytest.raises(ValueError, match="are not those of"):
        DriverStatement(update.values(at=sa.bindparam("_at")), ["_id"], engine.dialect)
    engine.dispose()


def test_a_row_postgresql_refuses_is_a_clear_error_and_no_half_page(postgres_db: str) -> None:
    log = DecisionLog(postgres_db)
    run = log.start_run(pack_hash="h", as_of=AS_OF, source="s")
    good = new_outcome("good", "h", AS_OF, {"d": DecisionResult("d", "no_decision")}, [])
    bad = new_outcome("x" * 300, "h", AS_OF, {"d": DecisionResult("d", "no_decision")}, [])
    message = r"writing a page in the decision log postgresql\S* failed: value too long for type"
    with pytest.raises(AdapterError, match=message):
        log.write_outcomes(run, [good, bad])
    assert _dump(log, DECISIONS, run.id) == []
    log.write_outcomes(run, [good])
    assert len(_dump(log, DECISIONS, run.id)) == 1
    log.close()


def test_rows_read_back_share_nothing_a_caller_could_change(pack_dir: Path) -> None:
    engine = Engine.from_path(pack_dir)
    rows = OutcomeRows(engine.pack)
    cols = rows.columns.decisions["pricing_tier"]
    row = {"client_id": "1", cols["status"]: "decided", cols["rule"]: "gold"}
    first, second = rows.outcome(row, AS_OF), rows.outcome(dict(row, client_id="2"), AS_OF)
    a, b = first.decisions["pricing_tier"], second.decisions["pricing_tier"]
    assert a == b and a.rules == ["gold"] and a.explanations[0].rule == "gold"
    a.rules.append("x")
    a.explanations[0].facts["clv"] = 1
    assert isinstance(a.output, dict)
    a.output["tier"] = "changed"
    assert b.rules == ["gold"] and b.explanations[0].facts == {} and b.output["tier"] == "gold"
    assert rows.outcome(row, AS_OF).decisions["pricing_tier"] == b


def test_the_run_job_leaves_the_collector_as_it_found_it(
    tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(crm_url, 30)
    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    summary = run_job(engine, source, log_url, as_of=AS_OF, page_size=10)
    assert summary.clients == 30 and gc.get_freeze_count() == 0

    def fail(_summary: Any) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        run_job(engine, source, log_url, as_of=AS_OF, page_size=10, progress=fail)
    assert gc.get_freeze_count() == 0
    source.close()


def test_a_client_id_with_a_nul_is_that_clients_error_in_every_log(crm_url: str) -> None:
    # PostgreSQL's text cannot hold a NUL (psycopg2 raised a ValueError for the whole page):
    # the id is logged escaped, with the client's error, and a resume finds it the same way
    log = DecisionLog(crm_url)
    run = log.start_run(pack_hash="h", as_of=AS_OF, source="s")
    good = new_outcome("good", "h", AS_OF, {"d": DecisionResult("d", "no_decision")}, [])
    nul = new_outcome("a\x00b", "h", AS_OF, {"d": DecisionResult("d", "no_decision")}, [])
    log.write_outcomes(run, [good, nul])
    assert log.done_clients(run, ["good", "a\\x00b"]) == {"good", "a\\x00b"}
    messages = {r[0]: r[4] for r in _dump(log, ERRORS, run.id)}  # client_id, message
    assert messages == {"a\\x00b": "client id 'a\\x00b' holds a NUL character"}
    assert _id(nul) == "a\\x00b"  # the run job's resume compares this id
    log.close()
