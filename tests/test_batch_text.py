"""CSV cells through the batch path are coerced and validated as the durable path's CSV
reading does (tierwise.lang.values, then the fact validator): the same clients are invalid, on the
same facts, and the valid ones get the same decisions."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.batch import BatchEngine
from tierwise.lang.values import read_text

AS_OF = dt.date(2024, 3, 1)
PACK = """\
decision: d
hit_policy: first
inputs:
  x: number
  n: {type: integer, min: 0, max: 100}
  b: bool
  day: date
  e: {enum: [red, green]}
  tags: list
rules:
  - {id: big, when: x > 10 and n >= 5, then: {out: big}}
  - {id: flag, when: b and day < 2024-01-01, then: {out: flag}}
  - {id: red, when: e == "red" or "vip" in tags, then: {out: red}}
default: {out: none}
"""
CELLS = {
    "x": ["5", " 12.5 ", "1e3", "-0", "abc", "", "nan", "inf", "11"],
    "n": ["5", "5.0", "5.5", "-1", "101", "x", "", "7 "],
    "b": ["true", "FALSE", "yes", "n", "1", "0", "maybe", ""],
    "day": ["2023-12-31", "2024-01-31T10:00:00", "2024-02-30", "31/12/2023", ""],
    "e": ["red", "green", "blue", " red ", ""],
    "tags": ["vip", "a; vip ;b", ";;", "", "VIP"],
}


def _expected(engine: Engine, row: dict[str, str]) -> Any:
    facts: dict[str, Any] = {}
    bad = set()
    for name, text in row.items():
        if name == "client_id":
            continue
        try:
            facts[name] = read_text(text, engine.pack.inputs[name])
        except ValueError:
            bad.add(name)
    if not bad:
        _, errors = engine.validator.validate(facts)
        bad = {e.fact for e in errors}
    if bad:
        return ("errors", sorted(bad))
    result = engine.decide(facts, as_of=AS_OF).decisions["d"]
    return (result.status, result.rules, result.output)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("text")
    (root / "d.yaml").write_text(PACK)
    return Engine.from_path(root)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CELLS.items()}),
        min_size=1,
        max_size=12,
    )
)
def test_csv_cells_are_coerced_like_the_durable_path(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, str]]
) -> None:
    folder = tmp_path_factory.mktemp("csv")
    source, out = Path(folder / "in.csv"), Path(folder / "out.parquet")
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["client_id", *CELLS])
        writer.writeheader()
        writer.writerows({"client_id": str(i), **r} for i, r in enumerate(rows))
    BatchEngine(engine.pack).decide_file(source, out, AS_OF)
    got = []
    for r in sorted(pq.read_table(out).to_pylist(), key=lambda r: int(r["client_id"])):
        if r["errors"]:
            got.append(("errors", sorted({e.split(":")[0] for e in r["errors"].split("; ")})))
        else:
            status = r["d__status"]
            output = {"out": r["d__out"]}
            got.append((status, [r["d__rule"]] if r["d__rule"] else [], output))
    assert got == [_expected(engine, r) for r in rows]
