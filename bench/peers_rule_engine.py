"""rule-engine (zeroSteiner): each rule one compiled `rule_engine.Rule`, matched per client.

Rules are written in rule-engine's own expression language; derived facts are inline
arithmetic (`(revenue_12m - direct_costs_12m) > 0`). First-hit decisions stop at the first
rule that matches, collect decisions test every rule. rule-engine raises on comparing a
missing number, so run it on complete facts.
"""

from __future__ import annotations

import json
from typing import Any

import rule_engine

from .spec import DERIVED, Answer, RuleSpec, Spec, Test


def _term(field: str) -> str:
    if field in DERIVED:
        left, op, right = DERIVED[field]
        return f"({left} {op} {right})"
    return field


def _text(test: Test) -> str:
    value = json.dumps(list(test.value) if test.op == "in" else test.value)
    return f"{_term(test.field)} {test.op} {value}"


def rule_text(r: RuleSpec) -> str:
    """The rule in rule-engine's syntax."""
    return " and ".join(_text(t) for t in r.tests)


class RuleEngine:
    """Answers a spec with rule-engine, one client at a time."""

    name = "rule-engine"

    def __init__(self, spec: Spec) -> None:
        context = rule_engine.Context(resolver=rule_engine.resolve_item)
        self.plan = [
            (
                tuple(
                    (r.id, rule_engine.Rule(rule_text(r), context=context).matches) for r in d.rules
                ),
                d.hit_policy == "first",
            )
            for d in spec.decisions
        ]

    def decide(self, client: dict[str, Any]) -> Answer:
        """One client's answer."""
        out: list[Any] = []
        for rules, first in self.plan:
            if first:
                out.append(next((rule_id for rule_id, matches in rules if matches(client)), None))
            else:
                out.append(tuple(rule_id for rule_id, matches in rules if matches(client)))
        return tuple(out)

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        decide = self.decide
        return [decide(c) for c in clients]
