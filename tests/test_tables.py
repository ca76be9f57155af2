"""Decision tables, as YAML rows and as CSV files: cells become conditions, columns outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine
from tierwise.errors import RulePackError

AS_OF = dt.date(2024, 1, 1)

HEAD = """decision: tier
inputs:
  clv: number
  freq: integer
  segment: string
  since: date
default: {tier: standard, discount: 0}
"""

CSV = """id,clv,freq,segment,since,tier,discount,because,priority
plat,>= 50000,-,-,-,platinum,15,Top value,
gold,[10000..50000),[6..12],"vip,b2b",-,gold,8.5,,
loyal,,-,not(churned),< 2020-01-01,"silver",1,old friend,
new,(0..100],,retail,-,bronze,,,

,-,0,-,-,none,0,,3
"""

ROWS = """table:
  rows:
    - {id: plat, clv: ">= 50000", tier: platinum, discount: 15, because: Top value}
    - {id: gold, clv: "[10000..50000)", freq: "[6..12]", segment: "vip, b2b", tier: gold,
       discount: 8.5}
    - {id: loyal, segment: "not(churned)", since: "< 2020-01-01", tier: silver, discount: 1,
       because: old friend}
    - {id: new, clv: "(0..100]", segment: retail, tier: bronze, discount: null}
    - {clv: "-", freq: 0, tier: none, discount: 0, priority: 3}
"""


def csv_engine(folder: Path, csv_text: str = CSV) -> Engine:
    (folder / "tier.csv").write_text(csv_text, encoding="utf-8")
    (folder / "tier.yaml").write_text(HEAD + "table: {file: tier.csv}\n", encoding="utf-8")
    return Engine.from_path(folder / "tier.yaml")


def rows_engine(folder: Path) -> Engine:
    (folder / "tier.yaml").write_text(HEAD + ROWS, encoding="utf-8")
    return Engine.from_path(folder / "tier.yaml")


CASES: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"clv": 50000}, "platinum", ["plat"]),
    ({"clv": 10000, "freq": 6, "segment": "vip"}, "gold", ["gold"]),
    ({"clv": 49999.5, "freq": 12, "segment": "b2b"}, "gold", ["gold"]),
    ({"clv": 10000, "freq": 13, "segment": "vip"}, "standard", []),
    ({"clv": 10000, "freq": 6, "segment": "retail"}, "standard", []),
    ({"segment": "retail", "since": "2019-12-31"}, "silver", ["loyal"]),
    ({"segment": "churned", "since": "2019-12-31"}, "standard", []),
    ({"since": "2019-12-31"}, "standard", []),  # not(churned) with no segment is unknown
    ({"clv": 100, "segment": "retail"}, "bronze", ["new"]),
    ({"clv": 0, "segment": "retail"}, "standard", []),
    ({"clv": 100, "freq": 0, "segment": "retail"}, "none", ["row_5"]),  # priority 3 first
]


@pytest.mark.parametrize(("facts", "tier", "rules"), CASES)
@pytest.mark.parametrize("form", ["csv", "yaml rows"])
def test_table_cells_as_conditions(
    tmp_path: Path, form: str, facts: dict[str, Any], tier: str, rules: list[str]
) -> None:
    engine = csv_engine(tmp_path) if form == "csv" else rows_engine(tmp_path)
    result = engine.decide(facts, as_of=AS_OF).decisions["tier"]
    assert result.output["tier"] == tier
    assert result.rules == rules


@pytest.mark.parametrize("form", ["csv", "yaml rows"])
def test_table_outputs_because_and_priority(tmp_path: Path, form: str) -> None:
    engine = csv_engine(tmp_path) if form == "csv" else rows_engine(tmp_path)
    rules = {r.id: r for r in engine.pack.decision("tier").rules}
    assert list(rules) == ["plat", "gold", "loyal", "new", "row_5"]
    assert rules["plat"].outputs == {"tier": "platinum", "discount": 15}
    assert rules["gold"].outputs == {"tier": "gold", "discount": 8.5}
    assert rules["new"].outputs == {"tier": "bronze", "discount": None}
    assert rules["plat"].because == "Top value"
    assert rules["row_5"].priority == 3
    assert rules["gold"].text == (
        "(clv >= 10000) and (clv < 50000) and (freq >= 6) and (freq <= 12) "
        'and segment in ["vip", "b2b"]'
    )


def test_csv_rule_positions_are_rows(tmp_path: Path) -> None:
    rules = csv_engine(tmp_path).pack.decision("tier").rules
    assert [(Path(r.pos.file).name, r.pos.line) for r in rules] == [
        ("tier.csv", 2),
        ("tier.csv", 3),
        ("tier.csv", 4),
        ("tier.csv", 5),
        ("tier.csv", 7),  # the blank line is skipped, lines keep their numbers
    ]


def errors(folder: Path, csv_text: str) -> list[tuple[str, int, int, str]]:
    with pytest.raises(RulePackError) as caught:
        csv_engine(folder, csv_text)
    return [(Path(e.pos.file).name, e.pos.line, e.pos.col, e.kind) for e in caught.value.errors]


def test_csv_cell_syntax_error_points_at_row_and_column(tmp_path: Path) -> None:
    text = "id,clv,tier\na,>= 10,gold\nb,>= > 5,silver\n"
    assert errors(tmp_path, text) == [("tier.csv", 3, 6, "expression syntax")]


def test_csv_output_type_error_points_at_the_cell(tmp_path: Path) -> None:
    text = "id,clv,tier,discount\na,>= 10,gold,5\nb,>= 5,silver,true\n"
    assert errors(tmp_path, text) == [("tier.csv", 3, 15, "type mismatch")]


def test_csv_bad_priority_and_short_row(tmp_path: Path) -> None:
    text = "id,clv,tier,priority\na,>= 10,gold,high\nb,>= 5\n"
    assert errors(tmp_path, text) == [
        ("tier.csv", 2, 14, "wrong value type"),
        ("tier.csv", 3, 1, "CSV syntax"),
    ]


def test_csv_unknown_fact_in_a_cell_and_missing_file(tmp_path: Path) -> None:
    text = "id,clv,tier\na,>= gold,gold\n"
    assert errors(tmp_path, text) == [("tier.csv", 2, 6, "unknown fact")]
    (tmp_path / "other.yaml").write_text(HEAD + "table: {file: nowhere.csv}\n")
    with pytest.raises(RulePackError) as caught:
        Engine.from_path(tmp_path / "other.yaml")
    (error,) = caught.value.errors
    assert error.kind == "file error" and "nowhere.csv" in error.message
    assert (error.pos.line, error.pos.col) == (8, 15)
    assert "relative" in error.hint


def test_csv_content_is_part_of_the_pack_hash(tmp_path: Path) -> None:
    before = csv_engine(tmp_path).pack.hash
    after = csv_engine(tmp_path, CSV.replace("platinum,15", "platinum,16")).pack.hash
    assert before != after
    assert csv_engine(tmp_path).pack.hash == before
