"""business-rules (venmo): the spec as its JSON rules, one variables object per client.

Numbers are `numeric_rule_variable`s, strings `string_rule_variable`s, derived facts a
variable computed from two others; `in` is an `any` of `equal_to`. First-hit decisions run
with `stop_on_first_trigger`, collect decisions without. The action records the rule id.
business-rules cannot compare a missing number (it raises), so run it on complete facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from business_rules import run_all
from business_rules.actions import BaseActions, rule_action
from business_rules.fields import FIELD_TEXT
from business_rules.variables import BaseVariables, numeric_rule_variable, string_rule_variable

from .spec import DERIVED, NUMERIC, Answer, Spec, Test

_OPERATORS = {
    ">=": "greater_than_or_equal_to",
    ">": "greater_than",
    "<=": "less_than_or_equal_to",
    "<": "less_than",
    "==": "equal_to",
}


def _condition(test: Test) -> dict[str, Any]:
    if test.op == "in":
        return {
            "any": [{"name": test.field, "operator": "equal_to", "value": v} for v in test.value]
        }
    return {"name": test.field, "operator": _OPERATORS[test.op], "value": test.value}


def rules_json(spec: Spec) -> list[list[dict[str, Any]]]:
    """Per decision, its rules in business-rules' JSON form."""
    return [
        [
            {
                "conditions": {"all": [_condition(t) for t in r.tests]},
                "actions": [{"name": "hit", "params": {"rule": r.id}}],
            }
            for r in d.rules
        ]
        for d in spec.decisions
    ]


def _getter(name: str) -> Callable[[Any], Any]:
    def value(self: Any) -> Any:
        return self.facts[name]

    value.__name__ = name
    return value


def _derived(name: str, left: str, right: str) -> Callable[[Any], Any]:
    def value(self: Any) -> Any:
        return self.facts[left] - self.facts[right]

    value.__name__ = name
    return value


def variables_class(spec: Spec) -> type[BaseVariables]:
    """A BaseVariables subclass with one typed variable per fact the spec reads."""
    members: dict[str, Any] = {"__init__": lambda self, facts: setattr(self, "facts", facts)}
    for name in dict.fromkeys(f for d in spec.decisions for f in d.fields):
        if name in DERIVED:
            left, _, right = DERIVED[name]
            members[name] = numeric_rule_variable(_derived(name, left, right))
        elif name in NUMERIC:
            members[name] = numeric_rule_variable(_getter(name))
        else:
            members[name] = string_rule_variable(_getter(name))
    return type("SpecVariables", (BaseVariables,), members)


class _Actions(BaseActions):
    def __init__(self) -> None:
        self.hits: list[str] = []

    @rule_action(params={"rule": FIELD_TEXT})
    def hit(self, rule: str) -> None:
        self.hits.append(rule)


class BusinessRules:
    """Answers a spec through business-rules' `run_all`, one client at a time."""

    name = "business-rules"

    def __init__(self, spec: Spec) -> None:
        self.variables = variables_class(spec)
        self.plan = [
            (rules, d.hit_policy == "first")
            for rules, d in zip(rules_json(spec), spec.decisions, strict=True)
        ]

    def decide(self, client: dict[str, Any]) -> Answer:
        """One client's answer."""
        variables = self.variables(client)
        out: list[Any] = []
        for rules, first in self.plan:
            actions = _Actions()
            run_all(
                rule_list=rules,
                defined_variables=variables,
                defined_actions=actions,
                stop_on_first_trigger=first,
            )
            out.append(
                (actions.hits[0] if actions.hits else None) if first else tuple(actions.hits)
            )
        return tuple(out)

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        decide = self.decide
        return [decide(c) for c in clients]
