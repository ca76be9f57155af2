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
    match node:
        case Literal(value=v):
            if isinstance(v, dt.datetime) and v.tzinfo is None:
                v = v.replace(tzinfo=dt.UTC)  # facts are made aware (UTC); so are literals
            return lambda f: v
        case Name(name=n):
            return lambda f: f.get(n)
        case Exists(name=n):
            return lambda f: f.get(n) is not None
        case ListLit(items=items):
            evs = [compile_expr(i, functions) for i in items]
            return lambda f: [e(f) for e in evs]
        case Neg(operand=o):
            ev = compile_expr(o, functions)
            return lambda f: None if (x := ev(f)) is None else -x
        case Arith(op=op, left=left, right=right):
            le, re_ = compile_expr(left, functions), compile_expr(right, functions)
            return lambda f: arith(op, le(f), re_(f))
        case Compare(op=op, left=left, right=right):
            le, re_ = compile_expr(left, functions), compile_expr(right, functions)
            cmp = _COMPARE[op]

            def compare(f: Facts) -> bool | None:
                a, b = le(f), re_(f)
                return None if a is None or b is None else cmp(a, b)

            return compare
        case In(item=item, container=container, negated=neg):
            ie, ce = compile_expr(item, functions), compile_expr(container, functions)

            def member(f: Facts) -> bool | None:
                x, xs = ie(f), ce(f)
                if x is None or xs is None:
                    return None
                return (x in xs) != neg

            return member
        case And(items=items):
            evs = [compile_expr(i, functions) for i in items]

            def and_(f: Facts) -> bool | None:
                unknown = False
                for e in evs:
                    v = e(f)
                    if v is False:
                        return False
                    if v is None:
                        unknown = True
                return None if unknown else True

            return and_
        case Or(items=items):
            evs = [compile_expr(i, functions) for i in items]

            def or_(f: Facts) -> bool | None:
                unknown = False
                for e in evs:
                    v = e(f)
                    if v is True:
                        return True
                    if v is None:
                        unknown = True
                return None if unknown else False

            return or_
        case Not(operand=o):
            ev = compile_expr(o, functions)
            return lambda f: None if (v := ev(f)) is None else not v
        case Call():
            return _compile_call(node, functions)
    raise TypeError(f"unknown node {node!r}")


def _compile_call(node: Call, functions: FunctionRegistry) -> Evaluator:
    fn = functions[node.func]
    raw_args = [compile_expr(a, functions) for a in node.args]
    impl, null_safe, needs_as_of = fn.impl, fn.null_safe, fn.needs_as_of

    def call(f: Facts) -> Any:
        args = [a(f) for a in raw_args]
        if not null_safe and any(a is None for a in args):
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
