"""A small tree-walking reference interpreter of the rule language, for differential tests.

Written from the documented semantics (design.md, the project brief), independently of
tierwise.pyeval and of the durable compiler: it walks a loaded pack's IR directly and
decides each decision with plain Python, slowly and obviously.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierwise.lang.expr import (
    And,
    Arith,
    Call,
    Compare,
    Exists,
    In,
    ListLit,
    Literal,
    Name,
    Neg,
    Node,
    Not,
    Or,
)
from tierwise.lang.types import FactType
from tierwise.pack.ir import Decision, Pack, Rule


class ReferenceError_(Exception):
    """A function call that failed for one client: its decision has status 'error'."""


@dataclass
class Result:
    """One decision's result as the documented semantics define it."""

    status: str
    output: Any = None
    rules: list[str] = field(default_factory=list)


def normalise(facts: Mapping[str, Any], inputs: Mapping[str, FactType]) -> dict[str, Any]:
    """The declared inputs of a client as typed values: numbers are doubles, dates are dates."""
    out: dict[str, Any] = {}
    for name, ftype in inputs.items():
        value = facts.get(name)
        if value is None:
            out[name] = None
        elif ftype.kind == "number":
            out[name] = float(value)
        elif ftype.kind == "date" and isinstance(value, str):
            out[name] = dt.date.fromisoformat(value)
        elif ftype.kind == "datetime":
            stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
            out[name] = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        else:
            out[name] = value
    return out


def _ordinal(value: Any) -> Any:
    """Dates and datetimes as comparable numbers; naive datetimes are UTC."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.timestamp()
    if isinstance(value, dt.date):
        return value.toordinal()
    return value


def _remainder(a: Any, b: Any) -> Any:
    """`%` as SQL computes it: the remainder has the sign of the dividend."""
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b)
        remainder = abs(a) - quotient * abs(b)
        return remainder if a >= 0 else -remainder
    return math.fmod(a, b)


def _in_range(value: Any) -> Any:
    """A float overflow (inf) is null; an integer beyond 64 bits is a double."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, int) and abs(value) >= 2**63 and value != -(2**63):
        return float(value)
    return value


class Interpreter:
    """Evaluates expression trees over one client's scope with Kleene three-valued logic."""

    def __init__(self, pack: Pack, scope: dict[str, Any], as_of: dt.date) -> None:
        self.pack = pack
        self.scope = scope
        self.as_of = as_of

    def value(self, node: Node) -> Any:
        """The value of a node; None means null (for conditions: unknown)."""
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.scope.get(node.name)
        if isinstance(node, Exists):
            return self.scope.get(node.name) is not None
        if isinstance(node, ListLit):
            return [self.value(item) for item in node.items]
        if isinstance(node, Neg):
            operand = self.value(node.operand)
            return None if operand is None else -operand
        if isinstance(node, Arith):
            return self._arith(node.op, self.value(node.left), self.value(node.right))
        if isinstance(node, Compare):
            return self._compare(node.op, self.value(node.left), self.value(node.right))
        if isinstance(node, In):
            item, container = self.value(node.item), self.value(node.container)
            if item is None or container is None:
                return None
            found = any(_ordinal(item) == _ordinal(c) for c in container if c is not None)
            return found != node.negated
        if isinstance(node, And):
            values = [self.value(i) for i in node.items]
            if False in values:
                return False
            return None if None in values else True
        if isinstance(node, Or):
            values = [self.value(i) for i in node.items]
            if True in values:
                return True
            return None if None in values else False
        if isinstance(node, Not):
            inner = self.value(node.operand)
            return None if inner is None else not inner
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"reference: unknown node {node!r}")

    @staticmethod
    def _arith(op: str, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if op in ("/", "%") and b == 0:
            return None
        if op == "%":
            return _remainder(a, b)
        result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[
            op
        ]()
        return _in_range(result)

    @staticmethod
    def _compare(op: str, a: Any, b: Any) -> bool | None:
        if a is None or b is None:
            return None
        a, b = _ordinal(a), _ordinal(b)
        return {
            "==": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[op]

    def _call(self, node: Call) -> Any:
        fn = self.pack.functions[node.func]
        args = [self.value(a) for a in node.args]
        if not fn.null_safe and any(a is None for a in args):
            return None
        try:
            result = fn.impl(*args, as_of=self.as_of) if fn.needs_as_of else fn.impl(*args)
        except (ArithmeticError, ValueError, TypeError) as e:
            raise ReferenceError_(str(e)) from e
        if isinstance(result, float) and not math.isfinite(result):
            raise ReferenceError_(f"{fn.name}() gave {result}")
        return _in_range(result)


def _order(decisions: tuple[Decision, ...]) -> list[Decision]:
    """Decisions so that each comes after every decision whose outputs it reads."""
    by_name = {d.name: d for d in decisions}
    done: list[Decision] = []

    def reads(d: Decision) -> set[str]:
        nodes = [r.condition for r in d.rules] + [x.expr for x in d.derived]
        return {
            n.name.split(".", 1)[0]
            for node in nodes
            for n in node.walk()
            if isinstance(n, Name | Exists) and "." in n.name
        }

    def visit(d: Decision) -> None:
        if d in done:
            return
        for dep in sorted(reads(d)):
            visit(by_name[dep])
        done.append(d)

    for d in decisions:
        visit(d)
    return done


def _first_order(decision: Decision) -> list[Rule]:
    return sorted(decision.rules, key=lambda r: (-(r.priority or 0), r.index))


def _resolve(decision: Decision, hits: list[Rule]) -> Result:
    if not hits:
        if decision.default is not None:
            return Result("default", dict(decision.default))
        return Result("no_decision")
    policy = decision.hit_policy
    if policy == "first":
        winner = next(r for r in _first_order(decision) if r in hits)
        return Result("decided", dict(winner.outputs), [winner.id])
    ids = [r.id for r in hits]
    if policy == "unique":
        if len(hits) > 1:
            return Result("error", None, ids)
        return Result("decided", dict(hits[0].outputs), ids)
    if policy == "any":
        if any(r.outputs != hits[0].outputs for r in hits):
            return Result("error", None, ids)
        return Result("decided", dict(hits[0].outputs), ids)
    if policy == "priority":
        assert decision.priority_order is not None
        key, ranking = decision.priority_order
        best = min(hits, key=lambda r: (list(ranking).index(r.outputs.get(key)), r.index))
        return Result("decided", dict(best.outputs), [best.id])
    agg = decision.aggregate
    if agg is None:
        return Result("decided", [dict(r.outputs) for r in hits], ids)
    if agg.op == "count":
        return Result("decided", {"count": len(hits)}, ids)
    assert agg.field is not None
    values = [r.outputs.get(agg.field) for r in hits if r.outputs.get(agg.field) is not None]
    reducer = {"sum": sum, "min": min, "max": max}[agg.op]
    return Result("decided", {agg.field: reducer(values) if values else None}, ids)


def _publish(decision: Decision, result: Result, scope: dict[str, Any]) -> None:
    """Make a decision's output readable as `decision.field` by later decisions."""
    fields = list(decision.output_types)
    output = result.output
    if decision.aggregate is not None:
        key = decision.aggregate.output_name
        value = output.get(key) if isinstance(output, dict) else None
        scope[f"{decision.name}.{key}"] = value
        return
    for name in fields:
        key = f"{decision.name}.{name}"
        if result.status in ("error", "no_decision"):
            scope[key] = None
        elif decision.hit_policy == "collect":
            rows = output if isinstance(output, list) else [output]
            scope[key] = [row[name] for row in rows if row.get(name) is not None]
        else:
            scope[key] = output.get(name)


def _shared(pack: Pack, scope: dict[str, Any], as_of: dt.date, with_profile: bool) -> bool:
    """Computes the facts files' derived facts into `scope` (without the profile: only those
    that need none); False when one of them fails, which makes the client invalid."""
    interp = Interpreter(pack, scope, as_of)
    for derived in pack.derived:
        if derived.needs_profile and not with_profile:
            continue
        try:
            scope[derived.name] = interp.value(derived.expr)
        except ReferenceError_:
            return False
    return True


def profile(pack: Pack, clients: list[Mapping[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """The pack's statistics of the base, by their documented meaning: nearest-rank cut
    points, a mean, a share among the clients for whom a condition is known; over the
    valid clients for whom `where` holds, nulls never counting."""
    scopes = []
    for facts in clients:
        scope = normalise(facts, pack.inputs)
        if _shared(pack, scope, as_of, with_profile=False):
            scopes.append(scope)
    values: dict[str, Any] = {}
    for stat in pack.profile:
        picked = []
        for scope in scopes:
            interp = Interpreter(pack, scope, as_of)
            try:
                if stat.where is not None and interp.value(stat.where) is not True:
                    continue
                picked.append(interp.value(stat.expr))
            except ReferenceError_:
                continue
        if stat.kind == "share":
            known = [v for v in picked if v is not None]
            values[stat.name] = sum(1 for v in known if v) / len(known) if known else None
            continue
        numbers = sorted(
            float(v) for v in picked if isinstance(v, int | float) and math.isfinite(v)
        )
        if not numbers:
            values[stat.name] = None
        elif stat.kind == "mean":
            values[stat.name] = sum(numbers) / len(numbers)
        else:
            g, n = stat.groups or 2, len(numbers)
            values[stat.name] = [numbers[math.ceil(k * n / g) - 1] for k in range(1, g)]
    return values


def decide(
    pack: Pack,
    facts: Mapping[str, Any],
    as_of: dt.date,
    statistics: Mapping[str, Any] | None = None,
) -> dict[str, Result] | None:
    """Every decision of the pack for one client, by the documented semantics, with the
    base's `statistics` (cut points as lists); None when the client's facts cannot be
    derived (a function of a facts file failed)."""
    scope = normalise(facts, pack.inputs)
    for name, value in (statistics or {}).items():
        scope[name] = tuple(value) if isinstance(value, list) else value
    if not _shared(pack, scope, as_of, with_profile=True):
        return None
    results: dict[str, Result] = {}
    for decision in _order(pack.decisions):
        interp = Interpreter(pack, scope, as_of)
        try:
            for derived in decision.derived:
                scope[derived.name] = interp.value(derived.expr)
            hits = [r for r in decision.rules if interp.value(r.condition) is True]
            result = _resolve(decision, hits)
        except ReferenceError_:
            result = Result("error")
        _publish(decision, result, scope)
        results[decision.name] = result
    return results
