"""A trace of one client's decisions: every rule tried, whether its condition held, and why not.

`Engine.decide` explains only the winning rules; a trace evaluates every rule's condition
with the Python evaluator on the same working facts (inputs, derived facts, the outputs of
the decisions read), and for a rule that did not match names the parts of its condition
that were false or unknown, with the fact values they read. The service's `trace` and
`tierwise explain` share it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tierwise.lang.expr import And, Node, names, render
from tierwise.outcome import Outcome
from tierwise.pack.ir import Rule
from tierwise.runtime.engine import Engine, _publisher
from tierwise.runtime.evaluate import AS_OF_KEY, EvaluationError, Evaluator, compile_expr

Held = Literal["true", "false", "unknown", "error"]


@dataclass(slots=True)
class Part:
    """One part of a condition that did not hold: its text, false or unknown, its values."""

    condition: str
    result: Held
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RuleTrace:
    """One rule tried for one client: where it is, whether it matched, whether it won, why."""

    decision: str
    rule: str
    at: str
    condition: str
    matched: bool
    won: bool
    result: Held
    because: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    failed: list[Part] = field(default_factory=list)


class Tracer:
    """Built once per engine: each rule's condition and its top-level parts, compiled."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        functions = engine.pack.functions
        self._rules: dict[str, list[tuple[Rule, Evaluator, list[tuple[Node, Evaluator]]]]] = {
            d.name: [
                (r, compile_expr(r.condition, functions), _parts(r.condition, functions))
                for r in d.ordered_rules()
            ]
            for d in engine.pack.decisions
        }

    def trace(self, facts: Mapping[str, Any], as_of: dt.date, outcome: Outcome) -> list[RuleTrace]:
        """Every rule of every decided decision, in the order the engine tries them.

        `outcome` is the engine's answer for the same facts: decisions that read other
        decisions see the outputs it gave. Invalid facts (an outcome with errors) trace nothing.
        """
        if outcome.errors:
            return []
        working, _ = self.engine.validator.validate(facts)
        working[AS_OF_KEY] = as_of
        traces: list[RuleTrace] = []
        for compiled in self.engine.compiled:
            decision = compiled.decision
            result = outcome.decisions.get(decision.name)
            try:
                for value in compiled.computed:
                    working[value.name] = value.evaluate(working)
            except EvaluationError as e:
                traces += [
                    _unevaluated(decision.name, r, str(e)) for r, _, _ in self._rules[decision.name]
                ]
                continue
            won = set(result.rules) if result is not None else set()
            for rule, holds, parts in self._rules[decision.name]:
                traces.append(_trace_rule(decision.name, rule, holds, parts, working, won))
            if result is not None:
                _publisher(decision)(working, result)
        return traces


def _parts(condition: Node, functions: Any) -> list[tuple[Node, Evaluator]]:
    """The conjuncts of a condition (the whole condition when it is not an `and`)."""
    items = condition.items if isinstance(condition, And) else (condition,)
    return [(item, compile_expr(item, functions)) for item in items]


def _held(evaluate: Evaluator, working: dict[str, Any]) -> Held:
    try:
        value = evaluate(working)
    except EvaluationError:
        return "error"
    return "unknown" if value is None else "true" if value else "false"


def _values(node: Node, working: dict[str, Any]) -> dict[str, Any]:
    return {n: _json(working.get(n)) for n in names(node)}


def _trace_rule(
    decision: str,
    rule: Rule,
    holds: Evaluator,
    parts: list[tuple[Node, Evaluator]],
    working: dict[str, Any],
    won: set[str],
) -> RuleTrace:
    result = _held(holds, working)
    failed = []
    if result != "true":
        for node, evaluate in parts:
            part = _held(evaluate, working)
            if part != "true":
                failed.append(Part(render(node), part, _values(node, working)))
    return RuleTrace(
        decision=decision,
        rule=rule.id,
        at=str(rule.pos),
        condition=rule.text,
        matched=result == "true",
        won=rule.id in won,
        result=result,
        because=rule.because,
        facts=_values(rule.condition, working),
        failed=failed,
    )


def _unevaluated(decision: str, rule: Rule, error: str) -> RuleTrace:
    """A rule whose decision failed before matching (a derived fact's function raised)."""
    return RuleTrace(
        decision,
        rule.id,
        str(rule.pos),
        rule.text,
        False,
        False,
        "error",
        rule.because,
        failed=[Part(error, "error")],
    )


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
