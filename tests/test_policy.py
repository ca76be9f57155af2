"""tierwise.policy, the one home of the hit policies: first-hit order, priority ranking,
conflicts and their messages, collect's aggregates, no match; and that the data the
symbolic back ends compile from (orders, groups, aggregate terms) gives, for every set of
matches, exactly what the per-client `resolve` gives."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tierwise import policy
from tierwise.functions import FunctionRegistry
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Decision

INPUTS = "inputs: {x: integer}\n"


def decision(tmp_path: Path, text: str) -> Decision:
    """The one decision of a rule file."""
    (tmp_path / "d.yaml").write_text(text, encoding="utf-8")
    (d,) = load_pack(tmp_path / "d.yaml", FunctionRegistry()).decisions
    return d


def rules_yaml(*rules: str) -> str:
    return "rules:\n" + "".join(f"  - {r}\n" for r in rules)


def ids(rules: Any) -> list[str]:
    return [r.id for r in rules]


FIRST = (
    "decision: d\n"
    + INPUTS
    + rules_yaml(
        "{id: a, when: x > 0, then: {v: a}}",
        "{id: b, when: x > 0, then: {v: b}, priority: 2}",
        "{id: c, when: x > 0, then: {v: c}, priority: -1}",
        "{id: d, when: x > 0, then: {v: d}, priority: 2}",
        "{id: e, when: x > 0, then: {v: e}, priority: 0}",
    )
)
PRIORITY = (
    "decision: d\nhit_policy: priority\npriority_order: {tier: [gold, silver, bronze]}\n"
    + INPUTS
    + rules_yaml(
        "{id: s1, when: x > 0, then: {tier: silver, n: 1}}",
        "{id: b1, when: x > 0, then: {tier: bronze, n: 2}}",
        "{id: g1, when: x > 0, then: {tier: gold, n: 3}}",
        "{id: s2, when: x > 0, then: {tier: silver, n: 4}}",
        "{id: g2, when: x > 0, then: {tier: gold, n: 5}}",
    )
)
UNIQUE = (
    "decision: d\nhit_policy: unique\n"
    + INPUTS
    + rules_yaml(
        "{id: a, when: x > 0, then: {v: 1}}",
        "{id: b, when: x > 1, then: {v: 1}}",
        "{id: c, when: x > 2, then: {v: 2}}",
    )
)
ANY = (
    "decision: d\nhit_policy: any\n"
    + INPUTS
    + rules_yaml(
        "{id: a, when: x > 0, then: {v: 1, w: x}}",
        "{id: b, when: x > 1, then: {v: 2, w: x}}",
        "{id: c, when: x > 2, then: {w: x, v: 1}}",
        "{id: d, when: x > 3, then: {v: 2, w: x}}",
        "{id: e, when: x > 4, then: {v: 3, w: x}}",
    )
)


def collect(aggregate: str | None, default: bool = False) -> str:
    text = "decision: d\nhit_policy: collect\n"
    text += f"aggregate: {aggregate}\n" if aggregate else ""
    text += "inputs: {x: integer}\n"
    text += rules_yaml(
        "{id: a, when: x > 0, then: {points: 5}}",
        "{id: b, when: x > 0, then: {points: null}}",
        "{id: c, when: x > 0, then: {points: 2.5}}",
        "{id: d, when: x > 0, then: {points: 7}}",
        "{id: e, when: x > 0, then: {points: 2.5}}",
    )
    return text + ("default: {points: 0}\n" if default else "")


# -- ordering ------------------------------------------------------------------------------
def test_first_hit_order_is_higher_priority_first_then_file_order(tmp_path: Path) -> None:
    d = decision(tmp_path, FIRST)
    assert ids(policy.rule_order(d)) == ["b", "d", "a", "e", "c"]
    assert ids(d.ordered_rules()) == ["b", "d", "a", "e", "c"]
    assert policy.is_ranked(d) and not policy.can_conflict(d)
    assert ids(policy.resolve(d, [0, 4, 2]).rules) == ["a"]  # no priority is priority 0
    assert ids(policy.resolve(d, [3, 1]).rules) == ["b"]  # a tie goes to file order
    assert policy.resolve(d, [2]).output == {"v": "c"}


def test_priority_ranks_by_priority_order_then_file_order(tmp_path: Path) -> None:
    d = decision(tmp_path, PRIORITY)
    assert ids(policy.rule_order(d)) == ["g1", "g2", "s1", "s2", "b1"]
    key = policy.rank_key(d)
    assert [key(r) for r in d.rules] == [(1, 0), (2, 1), (0, 2), (1, 3), (0, 4)]
    result = policy.resolve(d, [4, 0, 2])
    assert result.status == "decided" and ids(result.rules) == ["g1"]
    assert result.output == {"tier": "gold", "n": 3}
    assert ids(policy.resolve(d, [3, 0, 1]).rules) == ["s1"]


# -- conflicts -----------------------------------------------------------------------------
def test_unique_is_an_error_when_two_or_more_match(tmp_path: Path) -> None:
    d = decision(tmp_path, UNIQUE)
    assert [ids(g) for g in policy.conflict_groups(d)] == [["a"], ["b"], ["c"]]
    one = policy.resolve(d, [1])
    assert (one.status, ids(one.rules), one.output, one.error) == ("decided", ["b"], {"v": 1}, None)
    two = policy.resolve(d, [1, 0])
    assert (two.status, ids(two.rules), two.output) == ("error", ["a", "b"], None)
    assert two.error == "hit policy unique: rules a, b all match"
    three = policy.resolve(d, [0, 1, 2])
    assert three.error == "hit policy unique: rules a, b, c all match"


def test_any_groups_rules_by_output_and_errs_only_across_groups(tmp_path: Path) -> None:
    d = decision(tmp_path, ANY)
    assert [ids(g) for g in policy.conflict_groups(d)] == [["a", "c"], ["b", "d"], ["e"]]
    agree = policy.resolve(d, [0, 2])
    assert agree.status == "decided" and ids(agree.rules) == ["a", "c"]
    assert agree.output == {"v": 1, "w": "x"}
    differ = policy.resolve(d, [0, 1, 2])
    assert differ.status == "error" and ids(differ.rules) == ["a", "b", "c"]
    assert differ.error == "hit policy any: rules a, b, c match with different outputs"
    assert policy.conflicting(d, [d.rules[1], d.rules[3]]) is False
    assert policy.conflicting(d, [d.rules[3], d.rules[4]]) is True


@pytest.mark.parametrize("text", [UNIQUE, ANY])
def test_conflict_affixes_rebuild_the_message(tmp_path: Path, text: str) -> None:
    d = decision(tmp_path, text)
    head, tail = policy.conflict_affixes(d)
    assert head + policy.ID_SEPARATOR.join(["a", "b"]) + tail == policy.conflict_message(
        d, ["a", "b"]
    )


@pytest.mark.parametrize("text", [FIRST, PRIORITY, collect(None)])
def test_other_policies_never_conflict(tmp_path: Path, text: str) -> None:
    d = decision(tmp_path, text)
    assert policy.conflict_groups(d) == []
    assert not policy.conflicting(d, d.rules)


# -- collect -------------------------------------------------------------------------------
def test_plain_collect_lists_every_match_in_file_order(tmp_path: Path) -> None:
    d = decision(tmp_path, collect(None))
    result = policy.resolve(d, [3, 0, 0])
    assert ids(result.rules) == ["a", "d"]
    assert result.output == [{"points": 5}, {"points": 7}]


@pytest.mark.parametrize(
    ("aggregate", "matched", "value"),
    [
        ("count", [0, 1, 2], 3),
        ("count", [1], 1),
        ("sum(points)", [0, 1, 2], 7.5),
        ("sum(points)", [1], None),
        ("min(points)", [0, 1, 3], 5),
        ("min(points)", [1], None),
        ("max(points)", [0, 1, 2], 5),
        ("max(points)", [1], None),
    ],
)
def test_aggregates_count_matches_and_skip_nulls(
    tmp_path: Path, aggregate: str, matched: list[int], value: Any
) -> None:
    d = decision(tmp_path, collect(aggregate))
    name = "count" if aggregate == "count" else "points"
    result = policy.resolve(d, matched)
    assert result.status == "decided" and result.output == {name: value}
    assert len(result.rules) == len(matched)


def test_aggregate_terms_are_ordered_so_the_first_match_gives_min_and_max(
    tmp_path: Path,
) -> None:
    def terms(aggregate: str) -> list[tuple[str, Any]]:
        d = decision(tmp_path, collect(aggregate))
        return [(r.id, v) for r, v in policy.aggregate_terms(d)]

    assert terms("sum(points)") == [("a", 5), ("c", 2.5), ("d", 7), ("e", 2.5)]
    assert terms("min(points)") == [("c", 2.5), ("e", 2.5), ("a", 5), ("d", 7)]
    assert terms("max(points)") == [("d", 7), ("a", 5), ("c", 2.5), ("e", 2.5)]
    with pytest.raises(ValueError, match="no sum, min or max"):
        terms("count")


# -- no match ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [FIRST, PRIORITY, UNIQUE, ANY, collect(None), collect("count")])
def test_no_match_is_no_decision_without_a_default(tmp_path: Path, text: str) -> None:
    d = decision(tmp_path, text)
    assert policy.no_match_status(d) == "no_decision"
    assert policy.resolve(d, []) == policy.Resolution("no_decision", (), None)


def test_no_match_is_the_default_when_there_is_one(tmp_path: Path) -> None:
    d = decision(tmp_path, collect("sum(points)", default=True))
    assert policy.no_match_status(d) == "default"
    result = policy.resolve(d, [])
    assert result == policy.Resolution("default", (), {"points": 0})
    assert result.output is not d.default  # a copy: callers may change it


# -- the symbolic back ends' data agrees with resolve, for every set of matches -----------------
def symbolic(d: Decision, matched: set[int]) -> tuple[str, list[str], Any]:
    """What a back end that compiles the policy's data (as SQL and z3 do) computes."""
    hits = [r for r in d.rules if r.index in matched]
    if not hits:
        return policy.no_match_status(d), [], d.default
    if policy.is_ranked(d):
        best = next(r for r in policy.rule_order(d) if r.index in matched)
        return "decided", [best.id], best.outputs
    groups = [g for g in policy.conflict_groups(d) if any(r.index in matched for r in g)]
    if len(groups) > 1:
        return "error", ids(hits), None
    agg = d.aggregate
    if agg is None:
        return "decided", ids(hits), policy.output_of(d, hits)
    if agg.op == "count":
        return "decided", ids(hits), {"count": len(hits)}
    terms = [(r, v) for r, v in policy.aggregate_terms(d) if r.index in matched]
    if agg.op == "sum":
        value = sum(v for _, v in terms) if terms else None
    else:
        value = terms[0][1] if terms else None
    return "decided", ids(hits), {agg.output_name: value}


@pytest.mark.parametrize(
    "text",
    [
        FIRST,
        PRIORITY,
        UNIQUE,
        ANY,
        collect(None),
        collect("count"),
        collect("sum(points)"),
        collect("min(points)", default=True),
        collect("max(points)"),
    ],
)
def test_symbolic_data_and_resolve_agree_on_every_set_of_matches(tmp_path: Path, text: str) -> None:
    d = decision(tmp_path, text)
    indexes = range(len(d.rules))
    for size in range(len(d.rules) + 1):
        for matched in itertools.combinations(indexes, size):
            result = policy.resolve(d, matched)
            got = (result.status, ids(result.rules), result.output)
            assert got == symbolic(d, set(matched)), matched
            if result.status == "error":
                assert result.error == policy.conflict_message(d, ids(result.rules))
