"""Compile expression trees to Python closures with the rule language's null semantics.

Used for what is computed before matching (derived facts, function calls, arithmetic)
and for explanations. Three-valued logic: None is *unknown*; a comparison with unknown is
unknown, `not unknown` is unknown, and a rule whose condition is unknown does not match.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable
from typing import Any

from tierwise.functions import FunctionRegistry
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
    NodeVisitor,
    Not,
    Or,
)

Facts = dict[str, Any]
Evaluator = Callable[[Facts], Any]

INT64 = 2**63
"""Integers from -INT64 to INT64 - 1 are exact everywhere; larger ones become doubles."""

AS_OF_KEY = "\0as_of"
"""Where the evaluation date sits in the facts dict handed to evaluators."""

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class EvaluationError(Exception):
    """A function that failed for one client's facts (e.g. a diverging CLV series)."""


def truncated_mod(a: float, b: float) -> float:
    """Remainder with the sign of the dividend, as SQL's % computes it (Python's % floors)."""
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


def arith(op: str, a: Any, b: Any) -> Any:
    """One arithmetic step: null in gives null out, and so do division by zero and a float
    overflow (inf); an integer past 64 bits becomes a number (durable and SQL hold int64)."""
    if a is None or b is None:
        return None
    if op == "+":
        return _bounded(a + b)
    if op == "-":
        return _bounded(a - b)
    if op == "*":
        return _bounded(a * b)
    if b == 0:
        return None
    if op == "/":
        return _bounded(a / b)
    return truncated_mod(a, b)


def _bounded(value: Any) -> Any:
    if type(value) is int:
        return value if -INT64 <= value < INT64 else float(value)
    if type(value) is float and not math.isfinite(value):
        return None
    return value


def comparable_value(v: Any) -> Any:
    """Dates and datetimes compare as numbers: days and seconds since the epoch."""
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(v, dt.date):
        return v.toordinal()
    return v


def compile_expr(node: Node, functions: FunctionRegistry) -> Evaluator:
    """A closure computing `node` over a facts dict (missing keys read as null)."""
    return _Closures(functions).visit(node)


class _Closures(NodeVisitor[Evaluator]):
    """Builds one closure per node, once per pack; evaluating a client then only calls them."""

    def __init__(self, functions: FunctionRegistry) -> None:
        self.functions = functions

    def visit_Literal(self, node: Literal) -> Evaluator:
        v = node.value
        if isinstance(v, dt.datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)  # facts are made aware (UTC); so are literals
        return lambda f: v

    def visit_Name(self, node: Name) -> Evaluator:
        n = node.name
        return lambda f: f.get(n)

    def visit_Exists(self, node: Exists) -> Evaluator:
        n = node.name
        return lambda f: f.get(n) is not None

    def visit_ListLit(self, node: ListLit) -> Evaluator:
        evs = [self.visit(i) for i in node.items]
        return lambda f: [e(f) for e in evs]

    def visit_Neg(self, node: Neg) -> Evaluator:
        ev = self.visit(node.operand)
        return lambda f: None if (x := ev(f)) is None else -x

    def visit_Arith(self, node: Arith) -> Evaluator:
        op, le, re_ = node.op, self.visit(node.left), self.visit(node.right)
        return lambda f: arith(op, le(f), re_(f))

    def visit_Compare(self, node: Compare) -> Evaluator:
        le, re_ = self.visit(node.left), self.visit(node.right)
        cmp = _COMPARE[node.op]

        def compare(f: Facts) -> bool | None:
            a, b = le(f), re_(f)
            return None if a is None or b is None else cmp(a, b)

        return compare

    def visit_In(self, node: In) -> Evaluator:
        ie, ce, neg = self.visit(node.item), self.visit(node.container), node.negated

        def member(f: Facts) -> bool | None:
            x, xs = ie(f), ce(f)
            if x is None or xs is None:
                return None
            return (x in xs) != neg

        return member

    def visit_And(self, node: And) -> Evaluator:
        return _connective([self.visit(i) for i in node.items], decisive=False)

    def visit_Or(self, node: Or) -> Evaluator:
        return _connective([self.visit(i) for i in node.items], decisive=True)

    def visit_Not(self, node: Not) -> Evaluator:
        ev = self.visit(node.operand)
        return lambda f: None if (v := ev(f)) is None else not v

    def visit_Call(self, node: Call) -> Evaluator:
        """A registered function: null in gives null out unless it is null-safe; a failure
        or a non-finite result is the client's EvaluationError."""
        fn = self.functions[node.func]
        raw_args = [self.visit(a) for a in node.args]
        impl, null_safe, needs_as_of = fn.impl, fn.null_safe, fn.needs_as_of
        # arguments that are all facts (most calls, and the hot ones) are read by one C call
        names = tuple(a.name for a in node.args if isinstance(a, Name))
        if len(names) != len(node.args):
            names = ()

        def call(f: Facts) -> Any:
            args = list(map(f.get, names)) if names else [a(f) for a in raw_args]
            if not null_safe and None in args:  # only None equals None among fact values
                return None
            try:
                result = impl(*args, as_of=f[AS_OF_KEY]) if needs_as_of else impl(*args)
            except (ArithmeticError, ValueError, TypeError) as e:
                raise EvaluationError(f"{fn.name}(): {e}") from e
            if isinstance(result, float) and not math.isfinite(result):
                raise EvaluationError(f"{fn.name}() gave {result}")
            if type(result) is int and not -INT64 <= result < INT64:
                return float(result)
            return result

        return call

    def generic_visit(self, node: Node, *args: Any) -> Evaluator:
        raise TypeError(f"unknown node {node!r}")


def _connective(evs: list[Evaluator], decisive: bool) -> Evaluator:
    """`and` (decisive False) or `or` (decisive True) in three-valued logic: the first
    decisive value wins; otherwise unknown if any item is, else the other value."""

    def connective(f: Facts) -> bool | None:
        unknown = False
        for e in evs:
            v = e(f)
            if v is decisive:
                return decisive
            if v is None:
                unknown = True
        return None if unknown else not decisive

    return connective
