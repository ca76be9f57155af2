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

from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import And, Node, names, render
from tierwise.outcome import Outcome
from tierwise.pack.ir import Rule
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine, publisher
from tierwise.runtime.evaluate import EvaluationError, Evaluator, compile_expr

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


@dataclass(frozen=True, slots=True)
class _Check:
    """A condition or one of its parts, compiled once: its text, the names it reads, its test."""

    text: str
    reads: tuple[str, ...]
    holds: Evaluator


@dataclass(frozen=True, slots=True)
class _TracedRule:
    """A rule with its place, its whole condition and its parts, compiled."""

    rule: Rule
    at: str
    whole: _Check
    parts: tuple[_Check, ...]


class Tracer:
    """Built once per engine: each rule's condition and its top-level parts, compiled."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        functions = engine.pack.functions
        self._rules: dict[str, list[_TracedRule]] = {
            d.name: [_traced(r, functions) for r in d.ordered_rules()]
            for d in engine.pack.decisions
        }

    def trace(
        self,
        facts: Mapping[str, Any],
        as_of: dt.date,
        outcome: Outcome,
        profile: Profile | None = None,
    ) -> list[RuleTrace]:
        """Every rule of every decided decision, in the order the engine tries them.

        `outcome` is the engine's answer for the same facts (and `profile`): decisions
        that read other decisions see the outputs it gave. Invalid facts (an outcome with
        errors) trace nothing.
        """
        if outcome.errors:
            return []
        working, errors = self.engine.working(facts, as_of, profile)
        if errors:
            return []
        traces: list[RuleTrace] = []
        for compiled in self.engine.compiled:
            decision = compiled.decision
            result = outcome.decisions.get(decision.name)
            try:
                for value in compiled.computed:
                    working[value.name] = value.evaluate(working)
            except EvaluationError as e:
                traces += [
                    _unevaluated(decision.name, t, str(e)) for t in self._rules[decision.name]
                ]
                continue
            won = set(result.rules) if result is not None else set()
            for traced in self._rules[decision.name]:
                traces.append(_trace_rule(decision.name, traced, working, won))
            if result is not None:
                publisher(decision)(working, result)
        return traces


def _traced(rule: Rule, functions: FunctionRegistry) -> _TracedRule:
    """A rule with its condition and its conjuncts (the whole condition when not an `and`)."""
    condition = rule.condition
    items = condition.items if isinstance(condition, And) else (condition,)
    return _TracedRule(
        rule,
        str(rule.pos),
        _check(condition, functions, rule.text),
        tuple(_check(item, functions, render(item)) for item in items),
    )


def _check(node: Node, functions: FunctionRegistry, text: str) -> _Check:
    """A node compiled with its text and the names it reads."""
    return _Check(text, tuple(names(node)), compile_expr(node, functions))


def _held(evaluate: Evaluator, working: dict[str, Any]) -> Held:
    """Whether a condition held: true, false, unknown (a null), or error (a function failed)."""
    try:
        value = evaluate(working)
    except EvaluationError:
        return "error"
    return "unknown" if value is None else "true" if value else "false"


def _values(reads: tuple[str, ...], working: dict[str, Any]) -> dict[str, Any]:
    """The values of the names a condition reads (dates as ISO text)."""
    return {n: _json(working.get(n)) for n in reads}


def _trace_rule(
    decision: str, traced: _TracedRule, working: dict[str, Any], won: set[str]
) -> RuleTrace:
    """One rule's trace: matched or not, won or not, and the parts that did not hold."""
    result = _held(traced.whole.holds, working)
    failed = []
    if result != "true":
        for part in traced.parts:
            held = _held(part.holds, working)
            if held != "true":
                failed.append(Part(part.text, held, _values(part.reads, working)))
    rule = traced.rule
    return RuleTrace(
        decision=decision,
        rule=rule.id,
        at=traced.at,
        condition=rule.text,
        matched=result == "true",
        won=rule.id in won,
        result=result,
        because=rule.because,
        facts=_values(traced.whole.reads, working),
        failed=failed,
    )


def _unevaluated(decision: str, traced: _TracedRule, error: str) -> RuleTrace:
    """A rule whose decision failed before matching (a derived fact's function raised)."""
    rule = traced.rule
    return RuleTrace(
        decision,
        rule.id,
        traced.at,
        rule.text,
        False,
        False,
        "error",
        rule.because,
        failed=[Part(error, "error")],
    )


def _json(value: Any) -> Any:
    """Dates as ISO text, as explanations show them."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
