"""The hit policies, in one place: which rule wins, which matches conflict and with what
message, what collect aggregates, and what no match gives.

Every back end asks this module: the per-client resolver hands it the set of rules that
matched (`resolve`); the symbolic back ends (SQL, z3, the static analysis) take the data
they compile from it (`rule_order`, `conflict_groups`, `conflict_affixes`,
`aggregate_terms`, `no_match_status`); outcomes rebuilt from SQL rows take their output
from `output_of`. Nothing here depends on a client's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierwise.outcome import Status
    from tierwise.pack.ir import Aggregate, Decision, Output, Rule

RANKED = ("first", "priority")
"""Policies with one winner, the best match in an order of the rules (`rule_order`)."""
CONFLICTING = ("unique", "any")
"""Policies where every match wins together, unless the matches conflict (an error)."""
CONFLICT_MESSAGES = {
    "unique": "hit policy unique: rules {} all match",
    "any": "hit policy any: rules {} match with different outputs",
}
"""A conflict's error message per policy; `{}` is the ids of the matching rules, `, `-joined."""
ID_SEPARATOR = ", "


@dataclass(frozen=True, slots=True)
class Resolution:
    """A decision's result for one set of matching rules: its status, the rules it names
    (the winners, or the conflicting matches of an error), its output and an error message."""

    status: Status
    rules: tuple[Rule, ...]
    output: Output | list[Output] | None
    error: str | None = None


# -- ordering ------------------------------------------------------------------------------
def rank_key(decision: Decision) -> Callable[[Rule], tuple[int, int]]:
    """The sort key of a ranked policy's rules, best first: under first a higher
    `priority` then file order; under priority the `priority_order` index of the ranked
    output, then file order."""
    if decision.hit_policy == "priority":
        if decision.priority_order is None:
            raise ValueError(f"decision {decision.name}: hit policy priority has no ranking")
        key, ranking = decision.priority_order
        return lambda r: (ranking.index(r.outputs.get(key)), r.index)
    return lambda r: (-(r.priority or 0), r.index)


def is_ranked(decision: Decision) -> bool:
    """Whether one rule wins, the first matching one in `rule_order` (first, priority)."""
    return decision.hit_policy in RANKED


def rule_order(decision: Decision) -> list[Rule]:
    """The rules in the order they win: best first under first and priority (the first
    matching one wins), file order under the others (every match counts)."""
    if not is_ranked(decision):
        return list(decision.rules)
    return sorted(decision.rules, key=rank_key(decision))


# -- conflicts -----------------------------------------------------------------------------
def can_conflict(decision: Decision) -> bool:
    """Whether matches can be an error for a client (unique, any)."""
    return decision.hit_policy in CONFLICTING


def conflict_groups(decision: Decision) -> list[tuple[Rule, ...]]:
    """The decision's rules in groups such that matches in two or more groups are a
    conflict: one rule a group under unique, rules with equal outputs one group under any
    (in file order of their first rule); no groups, never a conflict, under the others."""
    return _groups(decision.hit_policy, decision.rules)


def conflicting(decision: Decision, hits: Sequence[Rule]) -> bool:
    """Whether these matching rules are a conflict (they fall in two or more groups)."""
    return len(_groups(decision.hit_policy, hits)) > 1


def conflict_message(decision: Decision, ids: Sequence[str]) -> str:
    """The error of a conflict between the rules `ids` (in file order)."""
    return CONFLICT_MESSAGES[decision.hit_policy].format(ID_SEPARATOR.join(ids))


def conflict_affixes(decision: Decision) -> tuple[str, str]:
    """The conflict message's text before and after the ids, for back ends that build the
    message themselves (SQL: head || ids joined with ID_SEPARATOR || tail)."""
    head, tail = CONFLICT_MESSAGES[decision.hit_policy].split("{}")
    return head, tail


def _groups(policy: str, rules: Iterable[Rule]) -> list[tuple[Rule, ...]]:
    if policy == "unique":
        return [(r,) for r in rules]
    if policy != "any":
        return []
    groups: list[list[Rule]] = []
    for r in rules:
        group = next((g for g in groups if g[0].outputs == r.outputs), None)
        if group is None:
            groups.append([r])
        else:
            group.append(r)
    return [tuple(g) for g in groups]


# -- collect -------------------------------------------------------------------------------
def aggregate(agg: Aggregate, outputs: Sequence[Output]) -> Any:
    """collect's aggregate of the matching rules' outputs: count counts the matches;
    sum, min and max skip nulls, and give null when nothing is left."""
    if agg.op == "count":
        return len(outputs)
    present = [v for o in outputs if (v := o.get(agg.field or "")) is not None]
    if not present:
        return None
    if agg.op == "sum":
        return sum(present)
    return min(present) if agg.op == "min" else max(present)


def aggregate_terms(decision: Decision) -> list[tuple[Rule, Any]]:
    """For symbolic back ends, the rules (with their values) that sum, min or max read:
    those with a value for the field (nulls are skipped), in file order for sum (floats
    add in that order), smallest first for min and largest first for max, so that the
    first matching term is the result. Null when none of them matches."""
    agg = decision.aggregate
    if agg is None or agg.op == "count":
        raise ValueError(f"decision {decision.name} has no sum, min or max aggregate")
    terms = [(r, v) for r in decision.rules if (v := r.outputs.get(agg.field or "")) is not None]
    if agg.op == "sum":
        return terms
    return sorted(terms, key=lambda rv: rv[1], reverse=agg.op == "max")


def output_of(decision: Decision, winners: Sequence[Rule]) -> Output | list[Output]:
    """What the winning rules give, before any aggregate: a plain collect the list of their
    outputs (file order), the other policies the first winner's output (a copy)."""
    if decision.hit_policy == "collect":
        return [dict(r.outputs) for r in winners]
    return dict(winners[0].outputs)


# -- no match and the whole resolution -----------------------------------------------------
def no_match_status(decision: Decision) -> Status:
    """What no match gives: `default` when the decision has one, else `no_decision`."""
    return "default" if decision.default is not None else "no_decision"


def resolve(decision: Decision, matched: Iterable[int]) -> Resolution:
    """The decision's result when the rules at these indexes (any order) match."""
    rules = decision.rules
    hits = tuple(rules[i] for i in sorted(set(matched)))
    if not hits:
        default = decision.default
        return Resolution(no_match_status(decision), (), None if default is None else dict(default))
    return _HANDLERS[decision.hit_policy](decision, hits)


def _ranked(decision: Decision, hits: tuple[Rule, ...]) -> Resolution:
    best = min(hits, key=rank_key(decision))
    return Resolution("decided", (best,), dict(best.outputs))


def _all_or_conflict(decision: Decision, hits: tuple[Rule, ...]) -> Resolution:
    if conflicting(decision, hits):
        return Resolution("error", hits, None, conflict_message(decision, [r.id for r in hits]))
    return Resolution("decided", hits, dict(hits[0].outputs))


def _collect(decision: Decision, hits: tuple[Rule, ...]) -> Resolution:
    agg = decision.aggregate
    if agg is None:
        return Resolution("decided", hits, output_of(decision, hits))
    return Resolution("decided", hits, {agg.output_name: aggregate(agg, [r.outputs for r in hits])})


_HANDLERS: dict[str, Callable[[Decision, tuple[Rule, ...]], Resolution]] = {
    "first": _ranked,
    "priority": _ranked,
    "unique": _all_or_conflict,
    "any": _all_or_conflict,
    "collect": _collect,
}
"""One handler per hit policy, as the pack schema names them."""
