"""Type-check expression trees against the facts in scope; errors name file:line:col.

Runs at load time, so a string fact compared with a number, an unknown fact or an
unknown function is a load error that a rule author sees, never a wrong match later.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping

from tierwise.errors import ErrorSink
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
from tierwise.lang.types import (
    BOOL,
    DATE,
    DATETIME,
    INTEGER,
    LIST,
    NUMBER,
    ORDERED,
    STRING,
    FactType,
    comparable,
)


def literal_type(value: object) -> FactType:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, dt.datetime):
        return DATETIME
    if isinstance(value, dt.date):
        return DATE
    return FactType("null")


class TypeChecker:
    """Infers the type of each node in scope `env`; reports every problem to `sink`."""

    def __init__(
        self, env: Mapping[str, FactType], functions: FunctionRegistry, sink: ErrorSink
    ) -> None:
        self.env = env
        self.functions = functions
        self.sink = sink

    def condition(self, node: Node) -> None:
        t = self.infer(node)
        if t is not None and t.kind != "bool":
            self.sink.add(
                node.pos,
                "type mismatch",
                f"a condition must be true or false, but this is {_a(t)}",
                "compare it with something, e.g. clv >= 1000",
            )

    def infer(self, node: Node) -> FactType | None:
        match node:
            case Literal(value=v):
                return literal_type(v)
            case Name(name=n):
                return self._name(node, n)
            case Exists(name=n):
                self._name(node, n)
                return BOOL
            case ListLit(items=items):
                for item in items:
                    self.infer(item)
                return LIST
            case Call():
                return self._call(node)
            case Neg(operand=o):
                t = self.infer(o)
                if t is not None and not t.numeric:
                    self.sink.add(node.pos, "type mismatch", f"cannot negate {_a(t)}")
                    return None
                return t
            case Arith(op=op, left=left, right=right):
                lt, rt = self.infer(left), self.infer(right)
                for side, t in ((left, lt), (right, rt)):
                    if t is not None and not t.numeric:
                        self.sink.add(
                            side.pos,
                            "type mismatch",
                            f"arithmetic '{op}' needs numbers, but this is {_a(t)}",
                            "use a function such as days_since(date) for dates",
                        )
                        return None
                if lt is None or rt is None:
                    return None
                return INTEGER if lt.kind == rt.kind == "integer" and op != "/" else NUMBER
            case Compare():
                return self._compare(node)
            case In():
                return self._in(node)
            case And(items=items) | Or(items=items):
                for item in items:
                    self.condition(item)
                return BOOL
            case Not(operand=o):
                self.condition(o)
                return BOOL
        raise TypeError(f"unknown node {node!r}")

    def _name(self, node: Node, name: str) -> FactType | None:
        t = self.env.get(name)
        if t is None and name not in self.sink.unusable:
            close = difflib.get_close_matches(name, list(self.env), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "declare it under 'inputs:' or 'derive:'"
            )
            if "." in name:
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else "another decision's output is decision.field"
                )
            self.sink.add(node.pos, "unknown fact", f"unknown fact {name!r}", hint)
        return t

    def _call(self, node: Call) -> FactType | None:
        fn = self.functions.get(node.func)
        arg_types = [self.infer(a) for a in node.args]
        if fn is None:
            close = difflib.get_close_matches(node.func, list(self.functions), n=1)
            self.sink.add(
                node.pos,
                "unknown function",
                f"unknown function {node.func!r}",
                f"did you mean {close[0]!r}?"
                if close
                else "functions: " + ", ".join(sorted(self.functions)),
            )
            return None
        if len(node.args) != len(fn.params):
            self.sink.add(
                node.pos,
                "wrong arguments",
                f"{fn.name}() takes {len(fn.params)} argument(s), got {len(node.args)}",
                f"{fn.name}({', '.join(fn.params)})",
            )
            return FactType(fn.returns)  # type: ignore[arg-type]
        for arg, want, got in zip(node.args, fn.params, arg_types, strict=True):
            if got is None or want == "any" or got.kind == "null":
                continue
            ok = (
                got.kind == want
                or (want == "number" and got.numeric)
                or (want == "date" and got.kind == "datetime")
            )
            if not ok:
                self.sink.add(
                    arg.pos,
                    "type mismatch",
                    f"{fn.name}() expects {_a(want)} here, got {_a(got)}",
                    f"{fn.name}({', '.join(fn.params)})",
                )
        return FactType(fn.returns)  # type: ignore[arg-type]

    def _compare(self, node: Compare) -> FactType:
        lt, rt = self.infer(node.left), self.infer(node.right)
        if lt is None or rt is None:
            return BOOL
        if not comparable(lt, rt):
            self.sink.add(
                node.pos,
                "type mismatch",
                f"cannot compare {_a(lt)} with {_a(rt)}: "
                f"{_show(node.left)} {node.op} {_show(node.right)}",
                _mismatch_hint(lt, rt),
            )
            return BOOL
        if node.op not in ("==", "!=") and lt.kind not in ORDERED and lt.enum is None:
            self.sink.add(
                node.pos,
                "type mismatch",
                f"'{node.op}' needs numbers or dates, not {_a(lt)}",
                "strings and booleans are compared with == and !=",
            )
        elif node.op not in ("==", "!=") and lt.enum is not None:
            self.sink.add(
                node.pos,
                "type mismatch",
                f"'{node.op}' cannot order enum values",
                "use == or in [...]",
            )
        self._enum_member(node.left, lt, node.right)
        self._enum_member(node.right, rt, node.left)
        return BOOL

    def _in(self, node: In) -> FactType:
        it = self.infer(node.item)
        if isinstance(node.container, ListLit):
            for elem in node.container.items:
                et = self.infer(elem)
                if not isinstance(elem, Literal):
                    self.sink.add(
                        elem.pos,
                        "wrong value type",
                        "list items must be literal values",
                        '["gold", "silver"]',
                    )
                elif it is not None and et is not None and not comparable(it, et):
                    self.sink.add(
                        elem.pos,
                        "type mismatch",
                        f"cannot compare {_a(it)} with {_a(et)} in this list",
                        _mismatch_hint(it, et),
                    )
                elif it is not None:
                    self._enum_member(node.item, it, elem)
            return BOOL
        ct = self.infer(node.container)
        if ct is not None and ct.kind != "list":
            self.sink.add(
                node.container.pos,
                "type mismatch",
                f"'in' needs a list, but this is {_a(ct)}",
                'x in [1, 2, 3] or "vip" in tags',
            )
        if it is not None and it.kind in ("list", "bool"):
            self.sink.add(node.item.pos, "type mismatch", f"cannot look for {_a(it)} in a list")
        return BOOL

    def _enum_member(self, side: Node, t: FactType, other: Node) -> None:
        if (
            t.enum is not None
            and isinstance(other, Literal)
            and isinstance(other.value, str)
            and other.value not in t.enum
        ):
            self.sink.add(
                other.pos,
                "unknown enum value",
                f"{other.value!r} is not one of {_show(side)}'s values",
                "values: " + ", ".join(t.enum),
            )


def _a(t: object) -> str:
    """A type with its article: 'a string', 'an integer', 'an enum [a, b]'."""
    text = str(t)
    return ("an " if text[:1] in "aeiou" else "a ") + text


def _show(node: Node) -> str:
    from tierwise.lang.expr import render

    return render(node)


def _mismatch_hint(a: FactType, b: FactType) -> str:
    kinds = {a.kind, b.kind}
    if kinds == {"string", "number"} or kinds == {"string", "integer"}:
        return 'a number in quotes is a string: write 5, not "5", or declare the fact\'s type'
    if "date" in kinds:
        return "dates are written 2024-01-31; use days_since(date) to compare with a number"
    return "both sides of a comparison need the same type"


__all__ = ["STRING", "TypeChecker", "literal_type"]
