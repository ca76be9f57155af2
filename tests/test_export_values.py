"""Facts tables keep every kind of value: a fact of each kind (hostile text, lists whose
items hold separators and quotes, datetimes with microseconds, doubles at their limits)
exported to Parquet, CSV and JSON lines reads back as the same value on every path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine, decide_table
from tierwise.adapters.clients import read_clients
from tierwise.adapters.export import WRITERS, export_facts, fact_columns
from tierwise.lang.types import NUMBER
from tierwise.lang.values import read

FACTS = """\
facts: kinds
inputs:
  n: number
  i: integer
  s: string
  b: bool
  d: date
  t: datetime
  l: list
  e: {enum: [a, "b c"]}
derive:
  twice: n * 2
"""
PACK = """\
decision: kinds
rules:
  - {id: big, when: 'n > 1 and b and "x;y" in l', then: {size: big}}
  - {id: dated, when: t > 2026-01-01T00:00:00 and d < 2026-01-01, then: {size: dated}}
default: {size: small}
"""

CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": "1",
        "n": 0.1,
        "i": 2**53,
        "s": 'comma, "quote"\nand a new line',
        "b": True,
        "d": dt.date(2025, 12, 31),
        "t": dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC),
        "l": ["x;y", 'q"uote', "comma,", "[not json"],
        "e": "b c",
    },
    {"client_id": "2", "n": 1e22, "i": -(2**53), "s": "é ünïcode", "b": True, "l": ["x;y"]},
    {"client_id": "3", "n": 5e-324, "i": 0, "s": "-", "e": "a", "l": ["one"]},
    {"client_id": "a,b", "n": 12.0, "l": []},
]


def _known(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts that have a value (a missing one and a null are the same fact)."""
    return {k: v for k, v in facts.items() if v is not None}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("pack")
    (folder / "kinds.yaml").write_text(PACK)
    (folder / "facts.yaml").write_text(FACTS)
    return Engine.from_path(folder)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_kind_reads_back_as_written(engine: Engine, fmt: str, tmp_path: Path) -> None:
    day = dt.date(2026, 6, 1)
    table = tmp_path / f"facts.{fmt}"
    with table.open("wb") as out:
        writer = WRITERS[fmt](out, fact_columns(engine.pack))
        done = export_facts(engine, CLIENTS, day, None, writer)
        writer.close()
    assert (done.written, done.failed) == (len(CLIENTS), 0)
    expected = {c["client_id"]: _known(engine.derive(c, day)[0]) for c in CLIENTS}
    clients, unreadable = read_clients(str(table), engine.pack.inputs, day)
    assert unreadable == 0
    for client in clients:
        facts, _ = engine.derive(client, day)
        assert _known(facts) == expected[client["client_id"]], client["client_id"]
        twice = read(client["twice"], NUMBER)  # written out too, as its text in CSV
        assert twice == expected[client["client_id"]]["twice"]
    direct = [engine.decide(c, day) for c in CLIENTS]
    assert {o.decisions["kinds"].output["size"] for o in direct} == {"big", "dated", "small"}
    for path in ("durable", "sql"):
        outcomes = list(decide_table(engine, table, day, engine=path))
        got = [
            (o.client_id, o.decisions["kinds"].output, o.decisions["kinds"].rules) for o in outcomes
        ]
        want = [
            (o.client_id, o.decisions["kinds"].output, o.decisions["kinds"].rules) for o in direct
        ]
        assert got == want, path
