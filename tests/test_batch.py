"""The batch path end to end: files (Parquet, CSV, JSONL), Arrow and pandas tables, push-down
into SQLite, invalid facts as per-client errors, engine choice and on-demand explanations."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierwise import Engine
from tierwise.batch import BatchEngine, BatchError
from tierwise.batch.compiler import PushdownError
from tierwise.functions import Function, FunctionRegistry
from tierwise.paths import Source, choose_path
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
  clv: number
  stage: {enum: [new, mature, lapsed]}
rules:
  - id: call
    when: pricing_tier.tier in ["platinum", "gold"]
    then: {action: call}
  - id: survey
    when: stage == "new"
    then: {action: survey}
"""

CLIENTS = [
    {
        "client_id": "1",
        "clv": 60000.0,
        "purchases": 10,
        "stage": "mature",
        "last_purchase": "2026-06-01",
    },
    {
        "client_id": "2",
        "clv": 12000.0,
        "purchases": 6,
        "stage": "new",
        "last_purchase": "2026-01-01",
    },
    {
        "client_id": "3",
        "clv": 100.0,
        "purchases": 0,
        "stage": "lapsed",
        "last_purchase": "2025-01-01",
    },
    {"client_id": "4", "clv": None, "purchases": None, "stage": None, "last_purchase": None},
    {"client_id": "5", "clv": 5.0, "purchases": 1, "stage": "gone", "last_purchase": "2026-01-01"},
]


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    root.mkdir()
    (root / "pricing.yaml").write_text(PRICING)
    (root / "support.yaml").write_text(SUPPORT)
    return root


def _expected(root: Path) -> dict[str, tuple[object, ...]]:
    engine = Engine.from_path(root)
    out = {}
    for c in CLIENTS:
        o = engine.decide(c, as_of=AS_OF)
        if o.errors:
            out[c["client_id"]] = ("errors", sorted(e.fact for e in o.errors))
        else:
            p, s = o.decisions["pricing_tier"], o.decisions["support"]
            actions = [a["action"] for a in s.output] if isinstance(s.output, list) else []
            out[c["client_id"]] = (p.status, p.rules, p.output["tier"], s.status, s.rules, actions)
    return out


def _rows(rows: list[dict[str, object]]) -> dict[str, tuple[object, ...]]:
    out = {}
    for r in rows:
        if r["errors"]:
            out[str(r["client_id"])] = (
                "errors",
                sorted(e.split(":")[0] for e in str(r["errors"]).split("; ")),
            )
            continue
        actions = r["support__action"]
        actions = json.loads(actions) if isinstance(actions, str) else list(actions or [])
        out[str(r["client_id"])] = (
            r["pricing_tier__status"],
            [r["pricing_tier__rule"]] if r["pricing_tier__rule"] else [],
            r["pricing_tier__tier"],
            r["support__status"],
            str(r["support__rule"]).split(";") if r["support__rule"] else [],
            actions,
        )
    return out


def _typed_table() -> pa.Table:
    rows = [
        {
            **c,
            "last_purchase": dt.date.fromisoformat(c["last_purchase"])
            if c["last_purchase"]
            else None,
        }
        for c in CLIENTS
    ]
    return pa.Table.from_pylist(rows)


def test_arrow_matches_the_durable_path(pack_dir: Path) -> None:
    batch = BatchEngine.from_path(pack_dir)
    expected = _expected(pack_dir)
    assert _rows(batch.decide_arrow(_typed_table(), AS_OF).to_pylist()) == expected
    assert expected["5"] == ("errors", ["stage"])
    assert expected["1"][4] == ["call"]


def test_pandas_frames_are_decided_like_arrow_tables(pack_dir: Path) -> None:
    pytest.importorskip("pandas")
    batch = BatchEngine.from_path(pack_dir)
    complete = _typed_table().slice(0, 3)
    from_pandas = batch.decide_arrow(complete.to_pandas(), AS_OF).to_pylist()
    assert from_pandas == batch.decide_arrow(complete, AS_OF).to_pylist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_files_in_parquet_out(pack_dir: Path, tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"clients{suffix}"
    if suffix == ".parquet":
        pq.write_table(_typed_table(), source)
    elif suffix == ".csv":
        lines = ["client_id,clv,purchases,stage,last_purchase"]
        lines += [",".join("" if c[k] is None else str(c[k]) for k in c) for c in CLIENTS]
        source.write_text("\n".join(lines) + "\n")
    else:
        source.write_text("".join(json.dumps(c) + "\n" for c in CLIENTS))
    out = tmp_path / "out.parquet"
    assert BatchEngine.from_path(pack_dir).decide_file(source, out, AS_OF) == len(CLIENTS)
    assert _rows(pq.read_table(out).to_pylist()) == _expected(pack_dir)


def test_text_that_is_not_a_number_is_an_error_for_that_client(
    pack_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "clients.csv"
    source.write_text(
        "client_id,clv,purchases,stage,last_purchase\n1,lots,2,new,2026-01-01\n2,10,2.5,new,\n3,10,2,new,\n"
    )
    out = tmp_path / "out.parquet"
    BatchEngine.from_path(pack_dir).decide_file(source, out, AS_OF)
    rows = {r["client_id"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["1"]["errors"].startswith("clv:") and rows["1"]["pricing_tier__status"] is None
    assert rows["2"]["errors"].startswith("purchases:")
    assert rows["3"]["errors"] is None and rows["3"]["pricing_tier__status"] == "default"


def test_pushdown_into_sqlite_writes_a_table_idempotently(pack_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE clients (client_id TEXT, clv REAL, purchases INTEGER, stage TEXT, "
            "last_purchase TEXT)"
        )
        for c in CLIENTS:
            conn.exec_driver_sql("INSERT INTO clients VALUES (?, ?, ?, ?, ?)", tuple(c.values()))
    batch = BatchEngine.from_path(pack_dir)
    rows = batch.decide_sql(url, "clients", AS_OF)
    assert isinstance(rows, list) and _rows(rows) == _expected(pack_dir)
    for _ in range(2):
        assert batch.decide_sql(url, "clients", AS_OF, into="decisions") == len(CLIENTS)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM decisions").scalar_one() == len(CLIENTS)
    with pytest.raises(BatchError, match="no table or view 'nope'"):
        batch.decide_sql(url, "nope", AS_OF)


def test_a_function_without_sql_form_falls_back_to_durable(tmp_path: Path) -> None:
    registry = FunctionRegistry(
        [*function_registry().values(), Function("clv", ("number",), "number", lambda x: x * 2)]
    )
    (tmp_path / "p.yaml").write_text(
        "decision: d\ninputs: {x: number}\nrules:\n  - {id: r, when: clv(x) > 1, then: {y: 1}}\n"
    )
    engine = Engine.from_path(tmp_path, functions=registry)
    choice = choose_path([engine.pack], Source("table", "clients.parquet"))
    assert choice.engine == "durable" and "function clv" in choice.reason
    with pytest.raises(PushdownError, match="function clv"):
        BatchEngine(engine.pack)


def test_explain_rebuilds_one_clients_explanation(pack_dir: Path) -> None:
    batch = BatchEngine.from_path(pack_dir)
    assert choose_path([batch.pack], Source("table", "clients.parquet")).engine == "sql"
    outcome = batch.explain(CLIENTS[0], AS_OF)
    explanation = outcome.decisions["pricing_tier"].explanations[0]
    assert explanation.rule == "platinum" and explanation.because == "Top lifetime value"
