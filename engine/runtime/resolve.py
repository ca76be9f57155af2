"""Hit policies: turn the set of matching rules into each decision's output.

Stage six of the pipeline: first, unique, priority, any, collect (plain, count, sum,
min, max), the default, and an explicit no-decision outcome. A result depends only on
which rules matched, so it is resolved once per set of matches and then given to each
client with that set, with the client's own explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tierwise.outcome import DecisionResult, Explanation, Status
from tierwise.pack.ir import Decision, Rule


class Explainer(Protocol):
    def explain(self, facts: dict[str, Any]) -> Explanation: ...


@dataclass(frozen=True, slots=True)
class Resolved:
    """A decision's result for one set of matching rules, without any client's values."""

    decision: str
    status: Status
    output: dict[str, Any] | list[dict[str, Any]] | None
    rules: tuple[str, ...]
    explainers: tuple[Explainer, ...]
    error: str | None = None

    def result(self, facts: dict[str, Any]) -> DecisionResult:
        """This result for one client: its own copy of the output, explained by its facts."""
        output = self.output
        explainers = self.explainers
        return DecisionResult(
            self.decision,
            self.status,
            output.copy()
            if isinstance(output, dict)
            else None
            if output is None
            else [o.copy() for o in output],
            list(self.rules),
            [explainers[0].explain(facts)]
            if len(explainers) == 1
            else [e.explain(facts) for e in explainers],
            self.error,
        )


def resolve(
    decision: Decision, matched: Sequence[int], explainers: Mapping[str, Explainer]
) -> Resolved:
    """The decision's result for the rules (by index) that matched."""
    rules = decision.rules
    policy = decision.hit_policy
    name = decision.name
    if not matched:
        if decision.default is not None:
            return Resolved(name, "default", dict(decision.default), (), ())
        return Resolved(name, "no_decision", None, (), ())
    hits = [rules[i] for i in matched]
    if policy == "first":
        return _decided(decision, dict(hits[0].outputs), hits[:1], explainers)
    if policy == "unique":
        if len(hits) > 1:
            return _error(decision, f"hit policy unique: rules {_ids(hits)} all match", hits)
        return _decided(decision, dict(hits[0].outputs), hits, explainers)
    if policy == "any":
        if any(r.outputs != hits[0].outputs for r in hits[1:]):
            return _error(
                decision, f"hit policy any: rules {_ids(hits)} match with different outputs", hits
            )
        return _decided(decision, dict(hits[0].outputs), hits, explainers)
    if policy == "priority":
        assert decision.priority_order is not None
        key, order = decision.priority_order
        best = min(hits, key=lambda r: (order.index(r.outputs.get(key)), r.index))
        return _decided(decision, dict(best.outputs), [best], explainers)
    agg = decision.aggregate
    if agg is None:
        return _decided(decision, [dict(r.outputs) for r in hits], hits, explainers)
    return _decided(
        decision,
        {agg.output_name: aggregate(agg.op, [r.outputs.get(agg.field or "") for r in hits])},
        hits,
        explainers,
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
    decision: Decision, output: Any, winners: list[Rule], explainers: Mapping[str, Explainer]
) -> Resolved:
    return Resolved(
        decision.name,
        "decided",
        output,
        tuple(r.id for r in winners),
        tuple(explainers[r.id] for r in winners),
    )


def _error(decision: Decision, message: str, hits: list[Rule]) -> Resolved:
    return Resolved(decision.name, "error", None, tuple(r.id for r in hits), (), message)


def _ids(rules: list[Rule]) -> str:
    return ", ".join(r.id for r in rules)
