"""GoRules zen-engine: the spec as one JDM decision graph of decision tables.

Each decision is a decision table (hit policy first or collect) whose output, the rule
id, goes to `outputPath` = the decision's name; derived facts are zen expressions in the
input column (`revenue_12m - direct_costs_12m`). Three ways to call it:
`ZenEngine.evaluate` per client (its best single call), `ZenEngine.evaluate_batch` over
chunks, and `ZenDecision.evaluate` (which the issue notes is much slower; a note only).
"""

from __future__ import annotations

import json
from typing import Any

import zen

from .spec import DERIVED, Answer, DecisionSpec, Spec, Test

KEY = "spec"


def _cell(tests: list[Test]) -> str:
    """One table cell in zen's unary syntax (`>= 5000`, `"a", "b"`); empty means any value."""
    if not tests:
        return ""
    if len(tests) > 1:
        raise ValueError(f"zen cell: one test per column, got {[t.text for t in tests]}")
    t = tests[0]
    if t.op == "in":
        return ", ".join(json.dumps(v) for v in t.value)
    if t.op == "==":
        return json.dumps(t.value)
    return f"{t.op} {json.dumps(t.value)}"


def _column_expr(field: str) -> str:
    if field in DERIVED:
        left, op, right = DERIVED[field]
        return f"{left} {op} {right}"
    return field


def decision_table(decision: DecisionSpec) -> dict[str, Any]:
    """The decision as a zen decisionTableNode."""
    fields = decision.fields
    inputs = [
        {"id": f"{decision.name}_in{i}", "name": f, "field": _column_expr(f)}
        for i, f in enumerate(fields)
    ]
    out_id = f"{decision.name}_rule"
    rules = []
    for r in decision.rules:
        row: dict[str, Any] = {"_id": r.id, out_id: json.dumps(r.id)}
        for i, f in enumerate(fields):
            row[f"{decision.name}_in{i}"] = _cell([t for t in r.tests if t.field == f])
        rules.append(row)
    return {
        "id": decision.name,
        "type": "decisionTableNode",
        "name": decision.name,
        "position": {"x": 300, "y": 100},
        "content": {
            "hitPolicy": decision.hit_policy,
            "inputs": inputs,
            "outputs": [{"id": out_id, "name": "rule", "field": "rule"}],
            "rules": rules,
            "outputPath": decision.name,
        },
    }


def graph(spec: Spec) -> dict[str, Any]:
    """The whole spec as a JDM graph: request -> every table -> response."""
    nodes = [
        {"id": "request", "type": "inputNode", "name": "request", "position": {"x": 0, "y": 100}},
        {
            "id": "response",
            "type": "outputNode",
            "name": "response",
            "position": {"x": 600, "y": 100},
        },
    ]
    edges = []
    for d in spec.decisions:
        nodes.append(decision_table(d))
        edges.append(
            {"id": f"in_{d.name}", "sourceId": "request", "targetId": d.name, "type": "edge"}
        )
        edges.append(
            {"id": f"out_{d.name}", "sourceId": d.name, "targetId": "response", "type": "edge"}
        )
    return {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}


class _Zen:
    def __init__(self, spec: Spec) -> None:
        self.content = graph(spec)
        # The static loader is zen's fastest: a Python loader callback (even one returning a
        # parsed ZenDecisionContent) costs a call back into Python on every evaluate.
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": {KEY: self.content}}})
        self.plan = [(d.name, d.hit_policy == "collect") for d in spec.decisions]

    def answer(self, result: dict[str, Any]) -> Answer:
        out: list[Any] = []
        for name, collect in self.plan:
            value = result.get(name)
            if collect:
                out.append(tuple(v["rule"] for v in value or ()))
            else:
                out.append(value["rule"] if value else None)
        return tuple(out)


class ZenEvaluate(_Zen):
    """`ZenEngine.evaluate`, one client per call."""

    name = "zen-engine ZenEngine.evaluate"

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        evaluate, answer = self.engine.evaluate, self.answer
        return [answer(evaluate(KEY, c)["result"]) for c in clients]


class ZenBatch(_Zen):
    """`ZenEngine.evaluate_batch`, over chunks of clients."""

    name = "zen-engine ZenEngine.evaluate_batch"
    chunk = 10_000

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        answers: list[Answer] = []
        for start in range(0, len(clients), self.chunk):
            requests = [{"key": KEY, "context": c} for c in clients[start : start + self.chunk]]
            for item in self.engine.evaluate_batch(requests):
                if not item.get("success"):
                    raise RuntimeError(f"zen evaluate_batch failed: {item.get('error')}")
                answers.append(self.answer(item["data"]["result"]))
        return answers


class ZenDecisionEvaluate(_Zen):
    """`ZenDecision.evaluate` (a decision made once, evaluated per client)."""

    name = "zen-engine ZenDecision.evaluate"

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.decision = self.engine.create_decision(json.dumps(self.content))

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        evaluate, answer = self.decision.evaluate, self.answer
        return [answer(evaluate(c)["result"]) for c in clients]
