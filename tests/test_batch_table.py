"""`tierwise.decide_table`: one call for a table of clients that takes the batch path when
the pack compiles to SQL and the durable path otherwise, with the same Outcomes either way."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tierwise
from tierwise import Engine, Outcome
from tierwise.batch import BatchEngine, BatchError, PushdownError
from tierwise.functions import Function, FunctionRegistry
from tierwise.plugins.manager import function_registry

AS_OF = dt.date(2026, 6, 30)
PRICING = """\
decision: pricing_tier
hit_policy: first
inputs:
  clv: number
  purchases: integer
  stage: {enum: [new, mature, lapsed]}
  last_purchase: date
derive:
  per_purchase: clv / purchases
rules:
  - id: platinum
    when: clv >= 50000 and per_purchase > 1000
    then: {tier: platinum, discount: 15}
    because: Top lifetime value
  - id: gold
    when: clv >= 10000 and purchases >= 6
    then: {tier: gold, discount: 8}
  - id: winback
    when: stage == "lapsed" and days_since(last_purchase) > 90
    then: {tier: winback, discount: 5}
default: {tier: standard, discount: 0}
"""
SUPPORT = """\
decision: support
hit_policy: collect
inputs:
  stage: {enum: [new, mature, lapsed]}
rules:
  - id: call
    when: pricing_tier.tier in ["platinum", "gold"]
    then: {action: call}
  - id: survey
    when: stage == "new"
    then: {action: survey}
"""
ROWS: list[dict[str, Any]] = [
    {"client_id": "1", "clv": 60000.0, "purchases": 10, "stage": "mature", "last": "2026-06-01"},
    {"client_id": "2", "clv": 12000.0, "purchases": 6, "stage": "new", "last": "2026-01-01"},
    {"client_id": "3", "clv": 100.0, "purchases": 0, "stage": "lapsed", "last": "2025-01-01"},
    {"client_id": "4", "clv": None, "purchases": None, "stage": None, "last": None},
    {"client_id": "5", "clv": 5.0, "purchases": 1, "stage": "gone", "last": "2026-01-01"},
    {"client_id": "6", "clv": 20000.0, "purchases": 2, "stage": "new", "last": "2026-07-01"},
]


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    root.mkdir()
    (root / "pricing.yaml").write_text(PRICING)
    (root / "support.yaml").write_text(SUPPORT)
    return root


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    """A row as typed facts (last_purchase a date), the form of Parquet and Arrow sources."""
    day = row["last"]
    facts = {k: v for k, v in row.items() if k != "last"}
    facts["last_purchase"] = None if day is None else dt.date.fromisoformat(day)
    return facts


def _arrow() -> pa.Table:
    return pa.Table.from_pylist([_facts(r) for r in ROWS])


def _source(kind: str, folder: Path) -> Any:
    """The sample clients as one kind of table source."""
    if kind == "arrow":
        return _arrow()
    if kind == "pandas":
        frame = _arrow().to_pandas()
        frame["purchases"] = frame["purchases"].astype("Int64")  # float64 is not an integer
        return frame
    if kind == "parquet":
        pq.write_table(_arrow(), folder / "clients.parquet")
        return folder / "clients.parquet"
    if kind == "csv":
        with open(folder / "clients.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["client_id", "clv", "purchases", "stage", "last_purchase"])
            for r in ROWS:
                writer.writerow(["" if v is None else v for v in r.values()])
        return str(folder / "clients.csv")
    path = folder / "clients.jsonl"
    lines = [{**_facts(r), "last_purchase": r["last"]} for r in ROWS]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _plain(outcome: Outcome) -> tuple[Any, ...]:
    """What both paths must agree on: per decision status, output, rules, error, and the
    rule texts of the explanations; the facts of invalid clients. (Batch explanations carry
    no fact values.)"""
    decisions = {
        name: (
            d.status,
            d.output,
            d.rules,
            d.error,
            [(e.rule, e.because, e.condition) for e in d.explanations],
        )
        for name, d in outcome.decisions.items()
    }
    return (
        outcome.client_id,
        outcome.pack_hash,
        outcome.as_of,
        decisions,
        [e.fact for e in outcome.errors],
    )


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl", "arrow", "pandas"])
def test_the_same_outcomes_on_both_paths(pack_dir: Path, tmp_path: Path, kind: str) -> None:
    source = _source(kind, tmp_path)
    batch = tierwise.decide_table(pack_dir, source, AS_OF, engine="sql")
    durable = tierwise.decide_table(pack_dir, source, AS_OF, engine="durable")
    assert (batch.engine, durable.engine) == ("sql", "durable")
    got_batch, got_durable = [_plain(o) for o in batch], [_plain(o) for o in durable]
    assert [o[0] for o in got_batch] == [r["client_id"] for r in ROWS]
    assert got_batch == got_durable
    by_id = {o[0]: o for o in got_batch}
    assert by_id["1"][3]["pricing_tier"][2] == ["platinum"]
    assert by_id["3"][3]["pricing_tier"][2] == ["winback"]  # clv / 0 is missing, not a match
    assert by_id["4"][3]["pricing_tier"][0] == "default"
    assert by_id["5"][4] == ["stage"]  # not one of the enum's values
    assert by_id["6"][3]["support"][2] == ["survey"]


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl", "arrow"])
def test_a_row_without_an_id_gets_the_same_outcome_on_both_paths(
    pack_dir: Path, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSV and JSONL rows without an id are errors named by their line (the file sources'
    rule); Parquet and Arrow rows are decided with no id (Engine.decide's rule)."""
    monkeypatch.setattr(sys.modules[__name__], "ROWS", [*ROWS[:2], {**ROWS[1], "client_id": None}])
    source = _source(kind, tmp_path)
    batch = [_plain(o) for o in tierwise.decide_table(pack_dir, source, AS_OF, engine="sql")]
    durable = [_plain(o) for o in tierwise.decide_table(pack_dir, source, AS_OF, engine="durable")]
    assert batch == durable
    unnamed = batch[2]
    if kind in ("csv", "jsonl"):
        place = "row 4" if kind == "csv" else "line 3"
        assert unnamed[0] == f"{source} {place}" and unnamed[4] == ["client_id"]
    else:
        assert unnamed[0] is None and unnamed[3]["pricing_tier"][2] == ["gold"]


def test_a_pandas_integer_column_with_missing_values_is_read_as_integers(pack_dir: Path) -> None:
    """pandas stores such a column as float64 (NaN for missing): when every value is whole
    they are integers on both paths; a column with a fraction stays float, an error."""
    frame = _arrow().to_pandas()
    assert frame["purchases"].dtype == "float64"
    for engine in ("sql", "durable"):
        outcomes = list(tierwise.decide_table(pack_dir, frame, AS_OF, engine=engine))  # type: ignore[arg-type]
        assert outcomes[1].decisions["pricing_tier"].rules == ["gold"], engine
        assert outcomes[3].decisions["pricing_tier"].status == "default", engine
    frame.loc[5, "purchases"] = 2.5
    for engine in ("sql", "durable"):
        outcomes = list(tierwise.decide_table(pack_dir, frame, AS_OF, engine=engine))  # type: ignore[arg-type]
        assert [e.fact for e in outcomes[5].errors] == ["purchases"], engine


def test_auto_takes_the_batch_path_when_the_pack_compiles_to_sql(
    pack_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tierwise.batch"):
        outcomes = tierwise.decide_table(pack_dir, _source("parquet", tmp_path), AS_OF)
    assert outcomes.engine == "sql" and "compiles to SQL" in outcomes.reason
    assert "decide_table: sql path" in caplog.text
    assert len(list(outcomes)) == len(ROWS)


def test_auto_falls_back_to_durable_and_says_why(tmp_path: Path) -> None:
    registry = FunctionRegistry(
        [*function_registry().values(), Function("double", ("number",), "number", lambda x: x * 2)]
    )
    (tmp_path / "d.yaml").write_text(
        "decision: d\ninputs: {clv: number}\n"
        "rules:\n  - {id: r, when: double(clv) > 100, then: {y: 1}}\n"
    )
    engine = Engine.from_path(tmp_path / "d.yaml", functions=registry)
    outcomes = tierwise.decide_table(engine, _arrow(), AS_OF)
    assert outcomes.engine == "durable" and "function double" in outcomes.reason
    assert [o.decisions["d"].status for o in outcomes] == [
        "decided",
        "decided",
        "decided",
        "no_decision",
        "no_decision",
        "decided",
    ]
    with pytest.raises(PushdownError, match="function double"):
        tierwise.decide_table(engine, _arrow(), AS_OF, engine="sql")


def test_a_given_engine_is_used(pack_dir: Path) -> None:
    batch = BatchEngine.from_path(pack_dir)
    outcomes = tierwise.decide_table(batch, _arrow(), AS_OF)
    assert outcomes.engine == "sql"
    assert {o.pack_hash for o in outcomes} == {batch.pack.hash}


def test_closing_early_removes_the_batch_result(
    pack_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    outcomes = tierwise.decide_table(pack_dir, _source("csv", tmp_path), AS_OF)
    assert next(outcomes).client_id == "1"
    assert list(scratch.glob("tierwise-table-*/decided.parquet"))
    outcomes.close()
    assert not list(scratch.iterdir())


@pytest.mark.parametrize(
    ("source", "engine", "message"),
    [
        ("clients.xlsx", "auto", "unknown file type '.xlsx'"),
        ("missing.parquet", "auto", "missing.parquet: no such file"),
        ([{"client_id": "1"}], "auto", "not list"),
        (pa.table({"client_id": ["1"]}), "fast", "engine must be auto, durable or sql, not 'fast'"),
    ],
)
def test_bad_calls_say_what_is_wrong(
    pack_dir: Path, source: Any, engine: Any, message: str
) -> None:
    with pytest.raises(BatchError, match=message):
        tierwise.decide_table(pack_dir, source, AS_OF, engine=engine)


def test_pandas_missing_values_are_missing_on_both_paths(pack_dir: Path) -> None:
    frame = pd.DataFrame({"client_id": ["a", "b"], "clv": [float("nan"), 60000.0]})
    outcomes = [
        [_plain(o) for o in tierwise.decide_table(pack_dir, frame, AS_OF, engine=e)]
        for e in ("sql", "durable")
    ]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][3]["pricing_tier"][0] == "default"
