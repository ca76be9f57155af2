"""durable_rules' limits never reach the user (issue 2 item 4, design.md's measured traps).

A first-hit decision of 5,000 rules (one ruleset of 1,000 hung durable), 200 rules matching
one client under collect (durable fails past 64 matches of one fact), clients with 500
fields (durable fails past 253 properties), and numbers that JSON writes with exponents
(durable's parser rejects them), dates and datetimes: each decided correctly.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tierwise import Engine

AS_OF = dt.date(2024, 3, 1)


def engine_for(tmp_path: Path, text: str) -> Engine:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return Engine.from_path(path)


@pytest.fixture(scope="module")
def five_thousand(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """5,000 rules as a CSV decision table (quicker to write and to load than 5,000 YAML rules)."""
    folder = tmp_path_factory.mktemp("big")
    rows = ["id,code,region,n"] + [f"r{k},{k},not(x{k % 7}),{k}" for k in range(5000)]
    (folder / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "big.yaml").write_text(
        "decision: big\ninputs: {code: integer, region: string}\ntable: {file: big.csv}\n"
        "default: {n: -1}\n",
        encoding="utf-8",
    )
    return Engine.from_path(folder)


@pytest.mark.parametrize("code", [0, 1, 1999, 2500, 4321, 4999])
def test_first_hit_decision_of_5000_rules(five_thousand: Engine, code: int) -> None:
    result = five_thousand.decide({"code": code, "region": "eu"}, as_of=AS_OF).decisions["big"]
    assert (result.status, result.output, result.rules) == ("decided", {"n": code}, [f"r{code}"])


def test_5000_rules_no_match_and_unknown(five_thousand: Engine) -> None:
    outcomes = list(
        five_thousand.decide_many(
            [{"code": 5000, "region": "eu"}, {"code": 14, "region": "x0"}, {"region": "eu"}],
            as_of=AS_OF,
        )
    )
    assert [o.decisions["big"].status for o in outcomes] == ["default"] * 3


def test_200_rules_matching_one_client_under_collect(tmp_path: Path) -> None:
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k}', then: {{step: {k}}}}}" for k in range(200)
    )
    text = f"decision: steps\nhit_policy: collect\ninputs: {{score: number}}\nrules:\n{rules}\n"
    engine = engine_for(tmp_path, text)
    every = engine.decide({"score": 1000}, as_of=AS_OF).decisions["steps"]
    assert every.status == "decided"
    assert every.output == [{"step": k} for k in range(200)]
    assert every.rules == [f"r{k}" for k in range(200)]
    some = engine.decide({"score": 99.5}, as_of=AS_OF).decisions["steps"]
    assert some.rules == [f"r{k}" for k in range(100)]


def test_200_matches_under_count_and_sum(tmp_path: Path) -> None:
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k} or flag', then: {{points: {k}}}}}" for k in range(200)
    )
    base = "hit_policy: collect\ninputs: {score: number, flag: bool}\nrules:\n" + rules + "\n"
    (tmp_path / "count.yaml").write_text("decision: hits\naggregate: count\n" + base)
    (tmp_path / "sum.yaml").write_text("decision: total\naggregate: sum(points)\n" + base)
    engine = Engine.from_path(tmp_path)
    outcome = engine.decide({"score": -1, "flag": True}, as_of=AS_OF)
    assert outcome.output("hits") == {"count": 200}
    assert outcome.output("total") == {"points": sum(range(200))}
    outcome = engine.decide({"score": 9, "flag": False}, as_of=AS_OF)
    assert outcome.output("hits") == {"count": 10}
    assert outcome.output("total") == {"points": sum(range(10))}


def test_clients_with_500_fields(tmp_path: Path) -> None:
    inputs = "\n".join(f"  f{k}: integer" for k in range(500))
    all_positive = " and ".join(f"f{k} > 0" for k in range(500))
    rules = [f"  - {{id: every, when: '{all_positive}', then: {{kind: every}}}}"]
    rules += [f"  - {{id: one{k}, when: 'f{k} == 7', then: {{kind: one{k}}}}}" for k in range(500)]
    text = f"decision: wide\nhit_policy: collect\ninputs:\n{inputs}\nrules:\n" + "\n".join(rules)
    engine = engine_for(tmp_path, text + "\n")
    client = {f"f{k}": 1 for k in range(500)}
    client.update({"f3": 7, "f260": 7, "f499": 7, "unrelated": "ignored"})
    result = engine.decide(client, as_of=AS_OF).decisions["wide"]
    assert result.rules == ["every", "one3", "one260", "one499"]
    client["f498"] = None
    result = engine.decide(client, as_of=AS_OF).decisions["wide"]
    assert result.rules == ["one3", "one260", "one499"]


@pytest.mark.parametrize("policy", ["first", "collect"])
def test_a_rule_with_100_or_branches_all_true(tmp_path: Path, policy: str) -> None:
    inputs = "\n".join(f"  f{k}: integer" for k in range(100))
    every = " or ".join(f"f{k} > 0" for k in range(100))
    text = f"decision: w\nhit_policy: {policy}\ninputs:\n{inputs}\nrules:\n"
    text += f"  - {{id: a, when: '{every}', then: {{k: a}}}}\n"
    text += "  - {id: b, when: 'f0 == 1', then: {k: b}}\n"
    engine = engine_for(tmp_path, text)
    result = engine.decide({f"f{k}": 1 for k in range(100)}, as_of=AS_OF).decisions["w"]
    assert result.rules == (["a"] if policy == "first" else ["a", "b"])
    result = engine.decide({"f99": 1}, as_of=AS_OF).decisions["w"]
    assert result.rules == ["a"]
    assert engine.decide({"f99": 0}, as_of=AS_OF).decisions["w"].status == "no_decision"


NUMBERS = """\
decision: sizes
hit_policy: collect
inputs: {x: number, n: integer}
rules:
  - {id: huge, when: x >= 1e20, then: {k: huge}}
  - {id: below_huge, when: x < 1e20 and x > 1e19, then: {k: below_huge}}
  - {id: tiny, when: x > 0 and x < 1e-7, then: {k: tiny}}
  - {id: exactly_tiny, when: x == 1e-7, then: {k: exactly_tiny}}
  - {id: negative_tiny, when: x >= -1e-7 and x < 0, then: {k: negative_tiny}}
  - {id: scaled, when: x * 1e10 > 1, then: {k: scaled}}
  - {id: big_int, when: n >= 1000000000000000, then: {k: big_int}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"x": 1e20}, ["huge", "scaled"]),
        ({"x": 2.5e20}, ["huge", "scaled"]),
        ({"x": 9.999e19}, ["below_huge", "scaled"]),
        ({"x": 1e-7}, ["exactly_tiny", "scaled"]),
        ({"x": 5e-8}, ["tiny", "scaled"]),
        ({"x": 5e-11}, ["tiny"]),
        ({"x": 1e-300}, ["tiny"]),
        ({"x": -1e-7}, ["negative_tiny"]),
        ({"x": -1e-8}, ["negative_tiny"]),
        ({"x": -1e20}, []),
        ({"n": 10**15}, ["big_int"]),
        ({"n": 10**15 - 1}, []),
    ],
)
def test_big_and_small_numbers(
    tmp_path: Path, facts: dict[str, float], expected: list[str]
) -> None:
    result = engine_for(tmp_path, NUMBERS).decide(facts, as_of=AS_OF).decisions["sizes"]
    assert result.rules == expected


def test_outputs_with_exponents_survive(tmp_path: Path) -> None:
    text = (
        "decision: o\ninputs: {x: number}\nrules:\n  - {id: a, when: x > 1e-7, then: {v: 1e20}}\n"
    )
    text += "default: {v: 1e-7}\n"
    engine = engine_for(tmp_path, text)
    assert engine.decide({"x": 1}, as_of=AS_OF).output("o") == {"v": 1e20}
    assert engine.decide({"x": 0}, as_of=AS_OF).output("o") == {"v": 1e-7}
    assert json.loads(engine.decide({"x": 0}, as_of=AS_OF).model_dump_json())


DATES = """\
decision: when
hit_policy: collect
inputs: {day: date, other: date, at: datetime}
rules:
  - {id: leap_or_later, when: day >= 2024-02-29, then: {k: leap_or_later}}
  - {id: before_epoch, when: day < 1970-01-01, then: {k: before_epoch}}
  - {id: same_day, when: day == other, then: {k: same_day}}
  - {id: in_list, when: 'day in [2000-01-01, 2024-03-01]', then: {k: in_list}}
  - {id: recent, when: days_since(day) <= 30, then: {k: recent}}
  - {id: after_noon, when: at > 2024-01-01T12:00:00, then: {k: after_noon}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"day": "2024-02-28"}, ["recent"]),
        ({"day": dt.date(2024, 2, 29)}, ["leap_or_later", "recent"]),
        (
            {"day": "2024-03-01", "other": "2024-03-01"},
            ["leap_or_later", "same_day", "in_list", "recent"],
        ),
        ({"day": "1969-12-31", "other": "1970-01-01"}, ["before_epoch"]),
        ({"day": "0001-01-01"}, ["before_epoch"]),
        ({"day": "2000-01-01"}, ["in_list"]),
        ({"at": "2024-01-01T12:00:01"}, ["after_noon"]),
        ({"at": "2024-01-01T12:00:00"}, []),
        ({"at": "2024-01-01T13:30:00+02:00"}, []),
        ({"at": "2024-01-01T11:30:00-01:00"}, ["after_noon"]),
        ({"at": dt.datetime(2024, 1, 1, 12, 0, 0, 1)}, ["after_noon"]),
    ],
)
def test_dates_and_datetimes_compare_as_dates(
    tmp_path: Path, facts: dict, expected: list[str]
) -> None:
    result = engine_for(tmp_path, DATES).decide(facts, as_of=AS_OF).decisions["when"]
    assert result.rules == expected


OVERFLOW = """\
decision: big
hit_policy: collect
inputs: {n: integer, x: number}
rules:
  - {id: square, when: n * n > 5, then: {k: square}}
  - {id: exact, when: n * n - 1 == n * n, then: {k: exact}}
  - {id: rounded, when: round(x) > 5, then: {k: rounded}}
  - {id: inf, when: x * x > 5, then: {k: inf}}
  - {id: not_inf, when: not (x * x > 5), then: {k: not_inf}}
  - {id: finite, when: x * x * 0 == 0, then: {k: finite}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"n": 2**53}, ["square", "exact"]),  # 2**106 is beyond int64: compared as a double
        ({"n": 3}, ["square"]),
        ({"x": 1e20}, ["rounded", "inf", "finite"]),  # round(1e20) is beyond int64
        ({"x": 1e200}, ["rounded"]),  # 1e200 * 1e200 overflows: null, neither true nor false
        ({"x": 2.0}, ["not_inf", "finite"]),
    ],
)
def test_arithmetic_beyond_64_bits_and_overflow(
    tmp_path: Path, facts: dict[str, float], expected: list[str]
) -> None:
    result = engine_for(tmp_path, OVERFLOW).decide(facts, as_of=AS_OF).decisions["big"]
    assert (result.rules, result.error) == (expected, None)
