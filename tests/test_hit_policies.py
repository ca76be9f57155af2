"""Hit policies (issue 2 item 5): first, unique, priority, any, collect and its aggregates,
defaults, no decision, and decisions that read other decisions' outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine

AS_OF = dt.date(2024, 1, 1)
INPUTS = "inputs: {x: integer, y: integer}\n"


def decide(tmp_path: Path, files: dict[str, str], facts: dict[str, Any]) -> dict[str, Any]:
    """(status, output, rules, error) per decision for one client."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    outcome = Engine.from_path(tmp_path).decide(facts, as_of=AS_OF)
    assert not outcome.errors
    return {k: (d.status, d.output, d.rules, d.error) for k, d in outcome.decisions.items()}


def one(tmp_path: Path, text: str, facts: dict[str, Any]) -> tuple[Any, ...]:
    (result,) = decide(tmp_path, {"d.yaml": text}, facts).values()
    return result


FIRST = (
    "decision: d\n"
    + INPUTS
    + """rules:
  - {id: low, when: x > 0, then: {v: low}}
  - {id: high, when: x > 10, then: {v: high}}
"""
)


def test_first_takes_the_first_match_in_file_order(tmp_path: Path) -> None:
    assert one(tmp_path, FIRST, {"x": 20}) == ("decided", {"v": "low"}, ["low"], None)


def test_first_with_priority_then_file_order(tmp_path: Path) -> None:
    text = (
        "decision: d\n"
        + INPUTS
        + """rules:
  - {id: a, when: x > 0, then: {v: a}}
  - {id: b, when: x > 0, then: {v: b}, priority: 5}
  - {id: c, when: x > 0, then: {v: c}, priority: 5}
  - {id: d, when: x > 0, then: {v: d}, priority: -1}
"""
    )
    assert one(tmp_path, text, {"x": 1})[2] == ["b"]
    text = text.replace("{id: b, when: x > 0", "{id: b, when: x > 5")
    assert one(tmp_path, text, {"x": 1})[2] == ["c"]


def test_unique_one_match_and_two_matches(tmp_path: Path) -> None:
    text = FIRST.replace("decision: d\n", "decision: d\nhit_policy: unique\n")
    assert one(tmp_path, text, {"x": 5}) == ("decided", {"v": "low"}, ["low"], None)
    status, output, rules, error = one(tmp_path, text, {"x": 50})
    assert (status, output, rules) == ("error", None, ["low", "high"])
    assert "unique" in error and "low" in error and "high" in error


PRIORITY = (
    "decision: d\nhit_policy: priority\npriority_order: {tier: [gold, silver, bronze]}\n"
    + INPUTS
    + """rules:
  - {id: b1, when: x > 0, then: {tier: bronze, n: 1}}
  - {id: s1, when: x > 5, then: {tier: silver, n: 2}}
  - {id: s2, when: y > 5, then: {tier: silver, n: 3}}
  - {id: g1, when: x > 50, then: {tier: gold, n: 4}}
"""
)


@pytest.mark.parametrize(
    ("facts", "winner"),
    [
        ({"x": 1}, "b1"),
        ({"x": 6}, "s1"),
        ({"x": 6, "y": 6}, "s1"),
        ({"y": 6}, "s2"),
        ({"x": 60, "y": 9}, "g1"),
    ],
)
def test_priority_takes_the_best_ranked_output_ties_by_file_order(
    tmp_path: Path, facts: dict[str, int], winner: str
) -> None:
    assert one(tmp_path, PRIORITY, facts)[2] == [winner]


ANY = (
    "decision: d\nhit_policy: any\n"
    + INPUTS
    + """rules:
  - {id: a, when: x > 0, then: {v: yes, n: 1}}
  - {id: b, when: y > 0, then: {v: yes, n: 1.0}}
  - {id: c, when: x > 10, then: {v: no, n: 1}}
"""
)


def test_any_agreeing_matches_decide(tmp_path: Path) -> None:
    assert one(tmp_path, ANY, {"x": 1, "y": 1}) == (
        "decided",
        {"v": "yes", "n": 1},
        ["a", "b"],
        None,
    )


def test_any_disagreeing_matches_are_an_error(tmp_path: Path) -> None:
    status, output, rules, error = one(tmp_path, ANY, {"x": 11})
    assert (status, output, rules) == ("error", None, ["a", "c"])
    assert "different outputs" in error


COLLECT = """decision: d
hit_policy: collect
{aggregate}inputs: {{x: integer, y: integer}}
rules:
  - {{id: a, when: x > 0, then: {{points: 5}}}}
  - {{id: b, when: y > 0, then: {{points: null}}}}
  - {{id: c, when: x > 1, then: {{points: -2.5}}}}
  - {{id: d, when: y > 1, then: {{points: null}}}}
"""


@pytest.mark.parametrize(
    ("aggregate", "facts", "output"),
    [
        ("", {"x": 2, "y": 1}, [{"points": 5}, {"points": None}, {"points": -2.5}]),
        ("count", {"x": 2, "y": 2}, {"count": 4}),
        ("sum(points)", {"x": 2, "y": 2}, {"points": 2.5}),
        ("min(points)", {"x": 2, "y": 2}, {"points": -2.5}),
        ("max(points)", {"x": 2, "y": 2}, {"points": 5}),
        ("sum(points)", {"y": 2}, {"points": None}),
        ("max(points)", {"y": 1}, {"points": None}),
        ("count", {"y": 1}, {"count": 1}),
    ],
)
def test_collect_and_aggregates(
    tmp_path: Path, aggregate: str, facts: dict[str, int], output: Any
) -> None:
    text = COLLECT.format(aggregate=f"aggregate: {aggregate}\n" if aggregate else "")
    status, got, _, _ = one(tmp_path, text, facts)
    assert status == "decided"
    assert got == output


def test_collect_keeps_file_order_and_lists_every_rule(tmp_path: Path) -> None:
    text = COLLECT.format(aggregate="")
    assert one(tmp_path, text, {"x": 2, "y": 2})[2] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("policy", ["first", "unique", "any", "collect"])
def test_no_match_gives_default_or_no_decision(tmp_path: Path, policy: str) -> None:
    text = (
        f"decision: d\nhit_policy: {policy}\n"
        + INPUTS
        + "rules:\n  - {id: a, when: x > 0, then: {v: a}}\n"
    )
    assert one(tmp_path, text, {"x": 0}) == ("no_decision", None, [], None)
    assert one(tmp_path, text, {}) == ("no_decision", None, [], None)
    with_default = text + "default: {v: none}\n"
    assert one(tmp_path, with_default, {"x": 0}) == ("default", {"v": "none"}, [], None)


UPSTREAM = {
    "tier.yaml": "decision: tier\n"
    + INPUTS
    + """rules:
  - {id: gold, when: x >= 10, then: {name: gold, rate: 0.2}}
  - {id: silver, when: x >= 5, then: {name: silver, rate: null}}
""",
    "tags.yaml": "decision: tags\nhit_policy: collect\n"
    + INPUTS
    + """rules:
  - {id: t1, when: y > 0, then: {tag: loyal}}
  - {id: t2, when: y > 1, then: {tag: null}}
  - {id: t3, when: y > 2, then: {tag: vip}}
""",
    "score.yaml": "decision: score\nhit_policy: collect\naggregate: sum(points)\n"
    + INPUTS
    + """rules:
  - {id: p1, when: x > 0, then: {points: 2}}
  - {id: p2, when: y > 0, then: {points: 3}}
""",
    "action.yaml": """decision: action
hit_policy: collect
rules:
  - {id: gold_tier, when: 'tier.name == "gold"', then: {do: gold}}
  - {id: no_rate, when: not exists(tier.rate), then: {do: no_rate}}
  - {id: vip, when: '"vip" in tags.tag', then: {do: vip}}
  - {id: not_vip, when: '"vip" not in tags.tag', then: {do: not_vip}}
  - {id: high_score, when: score.points >= 5, then: {do: high_score}}
  - {id: no_score, when: not exists(score.points), then: {do: no_score}}
""",
}


@pytest.mark.parametrize(
    ("facts", "actions"),
    [
        ({"x": 10, "y": 3}, ["gold_tier", "vip", "high_score"]),
        ({"x": 5, "y": 1}, ["no_rate", "not_vip", "high_score"]),
        ({"x": 1}, ["no_rate"]),  # tags made no decision: tags.tag is null, not []
        ({}, ["no_rate", "no_score"]),
    ],
)
def test_decisions_read_other_decisions_outputs(
    tmp_path: Path, facts: dict[str, int], actions: list[str]
) -> None:
    results = decide(tmp_path, UPSTREAM, facts)
    assert list(results)[-1] == "action"  # dependency order, whatever the file order
    assert results["action"][2] == actions


def test_an_upstream_error_reads_as_null(tmp_path: Path) -> None:
    files = {
        "a.yaml": "decision: a\nhit_policy: unique\n"
        + INPUTS
        + "rules:\n  - {id: r1, when: x > 0, then: {v: 1}}\n"
        + "  - {id: r2, when: x > 1, then: {v: 2}}\n",
        "b.yaml": "decision: b\nrules:\n  - {id: known, when: exists(a.v), then: {k: known}}\n"
        "  - {id: unknown, when: not exists(a.v), then: {k: unknown}}\n",
    }
    results = decide(tmp_path, files, {"x": 5})
    assert results["a"][0] == "error"
    assert results["b"][2] == ["unknown"]
    assert decide(tmp_path, files, {"x": 1})["b"][2] == ["known"]


def test_an_always_true_rule_keeps_matching_client_after_client(tmp_path: Path) -> None:
    # `when: true` once matched durable's own session state and blocked every later event
    text = "decision: d\n" + INPUTS + "rules:\n  - {id: some, when: x > 5, then: {v: some}}\n"
    text += "  - {id: rest, when: true, then: {v: rest}}\n"
    (tmp_path / "d.yaml").write_text(text)
    engine = Engine.from_path(tmp_path)
    clients = [{"x": 9}, {}, {"x": 1}, {"x": 6}, {"x": None}, {"x": 7}]
    rules = [o.decisions["d"].rules for o in engine.decide_many(clients, as_of=AS_OF)]
    assert rules == [["some"], ["rest"], ["rest"], ["some"], ["rest"], ["some"]]


def test_derived_datetime_tests_with_naive_literals(tmp_path: Path) -> None:
    text = "decision: d\ninputs: {at: datetime}\nderive:\n  late: at > 2024-01-01T18:00\n"
    text += "rules:\n  - {id: late, when: late, then: {v: late}}\n"
    (tmp_path / "d.yaml").write_text(text)
    engine = Engine.from_path(tmp_path)
    facts = [{"at": "2024-01-01T19:00:00"}, {"at": "2024-01-01T19:00:00+02:00"}, {}]
    results = [o.decisions["d"] for o in engine.decide_many(facts, as_of=AS_OF)]
    assert [(r.status, r.rules) for r in results] == [
        ("decided", ["late"]),
        ("no_decision", []),  # 17:00 UTC
        ("no_decision", []),
    ]
