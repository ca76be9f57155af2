"""Explanations: which rule, its `because`, and the fact values that made its condition true.

Stage seven of the pipeline. For `or`, only the branch that held is reported; a human
rendering (`gold, because clv 12400 >= 10000 and ...`) is built on demand by `describe`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .expr import And, Arith, Call, Node, Or, names, render
from .functions import FunctionRegistry
from .ir import Rule
from .outcome import DecisionResult, Explanation
from .pyeval import compile_expr


class RuleExplainer:
    """Precomputed per rule: the names it reads, and for `or` a witness finder."""

    def __init__(self, rule: Rule, functions: FunctionRegistry) -> None:
        self.rule = rule
        self.functions = functions
        self.reads = tuple(names(rule.condition))
        self.calls = tuple(
            (render(n), compile_expr(n, functions)) for n in _computed(rule.condition)
        )
        self.needs_witness = any(isinstance(n, Or) for n in rule.condition.walk())

    def explain(self, facts: dict[str, Any]) -> Explanation:
        reads = (
            _witness(self.rule.condition, facts, self.functions)
            if self.needs_witness
            else self.reads
        )
        values = {n: _json(facts.get(n)) for n in reads}
        for text, ev in self.calls:
            if any(n in text for n in reads):
                try:
                    values[text] = _json(ev(facts))
                except Exception:
                    continue
        return Explanation(
            rule=self.rule.id, because=self.rule.because, condition=self.rule.text, facts=values
        )


def _computed(node: Node) -> list[Node]:
    """The outermost computed values in a condition (calls, arithmetic), to show their results."""
    if isinstance(node, Call | Arith):
        return [node]
    return [c for child in node.children() for c in _computed(child)]


def _witness(node: Node, facts: dict[str, Any], functions: FunctionRegistry) -> list[str]:
    """The names in the part of a true condition that made it true."""
    if isinstance(node, Or):
        for item in node.items:
            if compile_expr(item, functions)(facts) is True:
                return _witness(item, facts, functions)
    if isinstance(node, And):
        out: dict[str, None] = {}
        for item in node.items:
            out.update(dict.fromkeys(_witness(item, facts, functions)))
        return list(out)
    return names(node)


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
