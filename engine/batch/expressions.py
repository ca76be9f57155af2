"""SQL for the rule language's expressions: one NodeVisitor over the tree, spelled by a Dialect.

Semantics are the durable path's: SQL's three-valued logic is the rule language's, `/` is
float division with x/0 null, `%` is truncated, float overflow is null, an integer past 64
bits becomes a double.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tierwise.batch.dialects import Col, Dialect, arith, balanced, once, sql_type
from tierwise.errors import TierwiseError
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
    render,
)


class PushdownError(TierwiseError):
    """A pack that cannot run as SQL, e.g. it calls a function that has no SQL form."""


@dataclass(frozen=True)
class Val:
    """A value in scope: the layer column holding it, its kind, and for lists the item kind."""

    label: str
    kind: str
    item: str | None = None


Scope = Mapping[str, Val]
Typed = tuple[Col, str, str | None]
"""An expression's SQL, its kind, and for a list its item kind."""


class SqlExpressions(NodeVisitor[Typed]):
    """`visit(node, scope)`: SQL for one expression over the newest layer of one query, where
    `column(label)` reads a column of that layer and `scope` names the values in it; the
    run's base statistics are `constants` of the query (cut points are handed to the
    functions that read them as they are)."""

    def __init__(
        self,
        dialect: Dialect,
        functions: FunctionRegistry,
        as_of: dt.date,
        column: Callable[[str], Col],
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        self.d = dialect
        self.functions = functions
        self.as_of = as_of
        self.column = column
        self.constants = dict(constants or {})

    def missing_constant(self, node: Call) -> bool:
        """Whether a call reads a statistic that has no value (then it is null, never a
        failure, as a null argument is on the per-client path)."""
        return any(
            isinstance(a, Name) and a.name in self.constants and self.constants[a.name] is None
            for a in node.args
        )

    def condition(self, node: Node, scope: Scope) -> Col:
        """A condition's SQL (its kind is bool)."""
        return self.visit(node, scope)[0]

    def visit_Literal(self, node: Literal, scope: Scope) -> Typed:
        return self.d.literal(node.value), _kind_of(node.value), None

    def visit_Name(self, node: Name, scope: Scope) -> Typed:
        if node.name in self.constants:
            value = self.constants[node.name]
            if isinstance(value, list | tuple):
                raise PushdownError(f"{node.pos}: cut points can only be a function's argument")
            return self.d.literal(value, "number"), "number", None
        val = scope[node.name]
        return self.column(val.label), val.kind, val.item

    def visit_Exists(self, node: Exists, scope: Scope) -> Typed:
        return self.column(scope[node.name].label).is_not(None), "bool", None

    def visit_Neg(self, node: Neg, scope: Scope) -> Typed:
        x, kind, _ = self.visit(node.operand, scope)
        negated = arith(sa.type_coerce(x, sql_type(kind)), "*", self.d.literal(-1, kind))
        return negated, kind, None

    def visit_Compare(self, node: Compare, scope: Scope) -> Typed:
        a = self.visit(node.left, scope)[0]
        b = self.visit(node.right, scope)[0]
        op = "=" if node.op == "==" else "<>" if node.op == "!=" else node.op
        return a.op(op, is_comparison=True)(b), "bool", None

    def visit_And(self, node: And, scope: Scope) -> Typed:
        return balanced("AND", [self.condition(i, scope) for i in node.items]), "bool", None

    def visit_Or(self, node: Or, scope: Scope) -> Typed:
        return balanced("OR", [self.condition(i, scope) for i in node.items]), "bool", None

    def visit_Not(self, node: Not, scope: Scope) -> Typed:
        return sa.not_(self.condition(node.operand, scope)), "bool", None

    def visit_ListLit(self, node: ListLit, scope: Scope) -> Typed:
        raise PushdownError(f"{node.pos}: a list can only stand after 'in'")

    def visit_Arith(self, node: Arith, scope: Scope) -> Typed:
        """`+ - * / %` with the rule language's null, zero and overflow rules."""
        d = self.d
        a, ka, _ = self.visit(node.left, scope)
        b, kb, _ = self.visit(node.right, scope)
        integer = ka == kb == "integer"
        zero = d.literal(0, "number")
        if node.op == "%":
            if integer:
                return d.integer_mod(a, sa.func.nullif(b, d.literal(0))), "integer", None
            if not d.has_float_mod:
                raise PushdownError(
                    f"{node.pos}: {d.title} has no exact remainder of non-integers "
                    f"({render(node)}); decide this pack in DuckDB or on the durable path"
                )
            return d.float_mod(d.double(a), sa.func.nullif(d.double(b), zero)), "number", None
        if node.op == "/":
            return d.finite(d.double(a), "/", sa.func.nullif(d.double(b), zero)), "number", None
        if integer and node.op == "*":
            return once((a, b), self._integer_product), "number", None
        if integer:
            return arith(a, node.op, b), "integer", None
        return d.finite(a, node.op, b), "number", None

    def _integer_product(self, a: Col, b: Col) -> Col:
        """Past 64 bits an integer product becomes a double, as on the durable path
        (evaluate.INT64)."""
        wide = arith(self.d.double(a), "*", self.d.double(b))
        exact = sa.func.abs(wide) < self.d.literal(2.0**63, "number")
        return sa.case((exact, arith(a, "*", b)), else_=wide)

    def visit_In(self, node: In, scope: Scope) -> Typed:
        """Membership in a list literal or a list-typed value; unknown when either is null."""
        d = self.d
        x, kind, _ = self.visit(node.item, scope)
        if isinstance(node.container, ListLit):
            values = [i.value for i in node.container.items if isinstance(i, Literal)]
            if not values:
                other = sa.true() if node.negated else sa.false()
                return sa.case((x.is_(None), sa.null()), else_=other), "bool", None
            literals = [d.literal(v) for v in values]
            return (x.not_in(literals) if node.negated else x.in_(literals)), "bool", None
        xs, _, item = self.visit(node.container, scope)
        unknown = sa.or_(x.is_(None), xs.is_(None))
        if not _comparable(kind, item or "string"):
            other = sa.true() if node.negated else sa.false()
            return sa.case((unknown, sa.null()), else_=other), "bool", None
        member = d.list_contains(xs, x)
        found = sa.not_(member) if node.negated else member
        return sa.case((unknown, sa.null()), else_=found), "bool", None

    def visit_Call(self, node: Call, scope: Scope) -> Typed:
        """A function's SQL form; null in gives null out unless the function is null-safe."""
        fn = self.functions[node.func]
        if self.missing_constant(node):
            return sa.cast(sa.null(), sql_type(fn.returns)), fn.returns, None
        constant: dict[int, tuple[Any, ...]] = {}
        cols: list[Col] = []
        for k, (arg, param) in enumerate(zip(node.args, fn.params, strict=True)):
            if param == "numbers" and isinstance(arg, Name) and arg.name in self.constants:
                constant[k] = tuple(self.constants[arg.name])
            else:
                cols.append(self.visit(arg, scope)[0])

        def call(*given: Col) -> Col:
            """The SQL form over the arguments, each column given once."""
            each = iter(given)
            values = [constant[k] if k in constant else next(each) for k in range(len(fn.params))]
            assert fn.sql is not None
            result = fn.sql(*values, as_of=self.as_of) if fn.needs_as_of else fn.sql(*values)
            if not isinstance(result, sa.ColumnElement):
                result = sa.literal(result)
            if not fn.null_safe and given:
                result = sa.case((sa.or_(*(c.is_(None) for c in given)), sa.null()), else_=result)
            return result

        return once(cols, call), fn.returns, "string" if fn.returns == "list" else None

    def generic_visit(self, node: Node, *args: Any) -> Typed:
        raise TypeError(f"unknown node {node!r}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return "string"


def _comparable(a: str, b: str) -> bool:
    numeric = ("number", "integer")
    return a == b or (a in numeric and b in numeric)
