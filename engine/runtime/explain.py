"""Explanations: which rule, its `because`, and the fact values that made its condition true.

Stage seven of the pipeline. For `or`, only the branch that held is reported; a human
rendering (`gold, because clv 12400 >= 10000 and ...`) is built on demand by `describe`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import And, Arith, Call, Node, Or, names, render
from tierwise.outcome import DecisionResult, Explanation
from tierwise.pack.ir import Rule
from tierwise.runtime.evaluate import EvaluationError, compile_expr


class RuleExplainer:
    """Built once per rule: the names it reads, its computed values, and for `or` a witness
    finder; `explain` then only reads values, which keeps it cheap on the hot path."""

    def __init__(self, rule: Rule, functions: FunctionRegistry, temporal: frozenset[str]) -> None:
        self.rule = rule
        self.reads = tuple(names(rule.condition))
        self.witness = _witness(rule.condition, functions) if _has_or(rule.condition) else None
        self.calls = tuple(
            (render(n), "\0" + render(n), frozenset(names(n)), compile_expr(n, functions))
            for n in _computed(rule.condition)
        )
        self.temporal = tuple(n for n in self.reads if n in temporal)
        if self.witness is None and not self.calls and not self.temporal:
            self.explain = self._values_only  # type: ignore[method-assign]

    def _values_only(self, facts: dict[str, Any]) -> Explanation:
        """`explain` for the common rule that reads plain facts only: no `or`, no computed
        value, no date to render."""
        rule, get = self.rule, facts.get
        return Explanation(rule.id, rule.because, rule.text, {n: get(n) for n in self.reads})

    def explain(self, facts: dict[str, Any]) -> Explanation:
        rule = self.rule
        reads = self.witness(facts) if self.witness is not None else self.reads
        values = {n: facts.get(n) for n in reads}
        for name in self.temporal:
            if name in values:
                values[name] = _json(values[name])
        for text, key, needs, evaluate in self.calls:
            if self.witness is None or needs.issubset(reads):
                values[text] = _json(facts[key] if key in facts else _safe(evaluate, facts))
        return Explanation(rule.id, rule.because, rule.text, values)


def _safe(evaluate: Callable[[dict[str, Any]], Any], facts: dict[str, Any]) -> Any:
    """A computed value for an explanation; a failing function shows as null, never raises."""
    try:
        return evaluate(facts)
    except EvaluationError:
        return None


def _has_or(node: Node) -> bool:
    return any(isinstance(n, Or) for n in node.walk())


def _computed(node: Node) -> list[Node]:
    """The outermost computed values in a condition (calls, arithmetic), to show their results."""
    if isinstance(node, Call | Arith):
        return [node]
    return [c for child in node.children() for c in _computed(child)]


Witness = Callable[[dict[str, Any]], tuple[str, ...]]


def _witness(node: Node, functions: FunctionRegistry) -> Witness:
    """A function giving the names in the part of a true condition that made it true:
    for `or` the first branch that holds, for `and` every part."""
    if isinstance(node, Or):
        branches = [(compile_expr(i, functions), _witness(i, functions)) for i in node.items]

        def first_true(facts: dict[str, Any]) -> tuple[str, ...]:
            for holds, witness in branches:
                if holds(facts) is True:
                    return witness(facts)
            return ()

        return first_true
    if isinstance(node, And):
        parts = [_witness(i, functions) for i in node.items]
        return lambda facts: tuple(dict.fromkeys(n for p in parts for n in p(facts)))
    found = tuple(names(node))
    return lambda facts: found


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def describe(result: DecisionResult) -> str:
    """A sentence for humans: the output, then each winning rule's reason and values."""
    if result.status == "error":
        return f"{result.decision}: error: {result.error}"
    if result.status == "no_decision":
        return f"{result.decision}: no decision (no rule matched and there is no default)"
    if result.status == "default":
        return f"{result.decision}: {_show_output(result.output)} (default: no rule matched)"
    lines = [f"{result.decision}: {_show_output(result.output)}"]
    for e in result.explanations:
        facts = ", ".join(f"{k} = {_show_value(v)}" for k, v in e.facts.items())
        because = f"because {e.because}" if e.because else "because"
        lines.append(f"  rule {e.rule}: {because}")
        lines.append(f"    when {e.condition}")
        if facts:
            lines.append(f"    with {facts}")
    return "\n".join(lines)


def _show_output(output: Any) -> str:
    if isinstance(output, dict):
        return ", ".join(f"{k}={_show_value(v)}" for k, v in output.items())
    if isinstance(output, list):
        return "[" + "; ".join(_show_output(o) for o in output) + "]"
    return str(output)


def _show_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{int(v):,}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if v is None:
        return "missing"
    return str(v)
