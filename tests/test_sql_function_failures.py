"""A function that fails for one client's facts is that decision's error on both paths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from tierwise import Engine
from tierwise.batch import BatchEngine
from tierwise.batch.rows import OutcomeRows

PACKS = {
    "recent.yaml": """\
decision: recent
hit_policy: first
inputs: {last_purchase_at: date, clv: number}
rules:
  - {id: fresh, when: recency(last_purchase_at) <= 30, then: {label: fresh}}
  - {id: rich, when: clv > 1000, then: {label: rich}}
default: {label: other}
""",
    "follow.yaml": """\
decision: follow
hit_policy: first
inputs: {clv: number}
rules:
  - {id: known, when: exists(recent.label), then: {act: call}}
default: {act: none}
""",
}


def test_a_failing_function_is_an_error_on_both_paths_and_downstream_reads_null(
    tmp_path: Path,
) -> None:
    for name, text in PACKS.items():
        (tmp_path / name).write_text(text)
    engine = Engine.from_path(tmp_path)
    batch = BatchEngine(engine.pack)
    as_of = dt.date(2026, 1, 1)
    clients = [
        {"client_id": "past", "last_purchase_at": dt.date(2025, 12, 20), "clv": 5.0},
        {"client_id": "future", "last_purchase_at": dt.date(2026, 3, 1), "clv": 5000.0},
        {"client_id": "none", "last_purchase_at": None, "clv": 5000.0},
    ]
    table = pa.table({k: [c[k] for c in clients] for k in clients[0]})
    rows = OutcomeRows(engine.pack)
    batch_outcomes = [rows.outcome(r, as_of) for r in batch.decide_arrow(table, as_of).to_pylist()]
    for facts, from_sql in zip(clients, batch_outcomes, strict=True):
        durable = engine.decide(facts, as_of=as_of)
        for name in ("recent", "follow"):
            a, b = durable.decisions[name], from_sql.decisions[name]
            assert (a.status, a.output, a.rules) == (b.status, b.output, b.rules), (facts, name)
    future = engine.decide(clients[1], as_of=as_of)
    assert future.decisions["recent"].status == "error"
    assert "after the evaluation date" in (future.decisions["recent"].error or "")
    assert future.decisions["follow"].output == {"act": "none"}
    assert batch_outcomes[1].decisions["recent"].status == "error"
    assert batch_outcomes[2].decisions["recent"].rules == ["rich"]
