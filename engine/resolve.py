"""Hit policies: turn the set of matching rules into each decision's output.

Stage six of the pipeline: first, unique, priority, any, collect (plain, count, sum,
min, max), the default, and an explicit no-decision outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .ir import Decision, Rule
from .outcome import DecisionResult, Explanation


class Explainer(Protocol):
    def explain(self, facts: dict[str, Any]) -> Explanation: ...


class _Explain:
    """Explains winning rules against one client's facts."""

    __slots__ = ("explainers", "facts")

    def __init__(self, explainers: Mapping[str, Explainer], facts: dict[str, Any]) -> None:
        self.explainers, self.facts = explainers, facts

    def __call__(self, rule: Rule) -> Explanation:
        return self.explainers[rule.id].explain(self.facts)


def resolve(
    decision: Decision,
    matched: list[int],
    explainers: Mapping[str, Explainer],
    facts: dict[str, Any],
) -> DecisionResult:
    """The decision's result for the rules (by index) that matched one client."""
    rules = decision.rules
    policy = decision.hit_policy
    if policy == "first" and matched:
        rule = rules[matched[0]]
        explanation = explainers[rule.id].explain(facts)
        return DecisionResult(
            decision.name, "decided", dict(rule.outputs), [rule.id], [explanation]
        )
    explain = _Explain(explainers, facts)
    if not matched:
        if decision.default is not None:
            return _result(decision.name, "default", dict(decision.default), [], [])
        return _result(decision.name, "no_decision", None, [], [])
    hits = [rules[i] for i in matched]
    if policy == "unique":
        if len(hits) > 1:
            return _error(decision, f"hit policy unique: rules {_ids(hits)} all match", hits)
        return _decided(decision, dict(hits[0].outputs), hits, explain)
    if policy == "any":
        if any(r.outputs != hits[0].outputs for r in hits[1:]):
            return _error(
                decision, f"hit policy any: rules {_ids(hits)} match with different outputs", hits
            )
        return _decided(decision, dict(hits[0].outputs), hits, explain)
    if policy == "priority":
        assert decision.priority_order is not None
        key, order = decision.priority_order
        best = min(hits, key=lambda r: (order.index(r.outputs.get(key)), r.index))
        return _decided(decision, dict(best.outputs), [best], explain)
    agg = decision.aggregate
    if agg is None:
        return _decided(decision, [dict(r.outputs) for r in hits], hits, explain)
    return _decided(
        decision,
        {agg.output_name: aggregate(agg.op, [r.outputs.get(agg.field or "") for r in hits])},
        hits,
        explain,
    )


def aggregate(op: str, values: list[Any]) -> Any:
    """count counts matches; sum/min/max skip nulls and give null when nothing is left."""
    if op == "count":
        return len(values)
    present = [v for v in values if v is not None]
    if not present:
        return None
    if op == "sum":
        return sum(present)
    return min(present) if op == "min" else max(present)


def _decided(
    decision: Decision, output: Any, winners: list[Rule], explain: _Explain
) -> DecisionResult:
    return _result(
        decision.name, "decided", output, [r.id for r in winners], [explain(r) for r in winners]
    )


def _error(decision: Decision, message: str, hits: list[Rule]) -> DecisionResult:
    return DecisionResult(decision.name, "error", None, [r.id for r in hits], [], message)


def _result(
    name: str, status: str, output: Any, rules: list[str], explanations: list[Explanation]
) -> DecisionResult:
    return DecisionResult(name, status, output, rules, explanations)  # type: ignore[arg-type]


def _ids(rules: list[Rule]) -> str:
    return ", ".join(r.id for r in rules)
