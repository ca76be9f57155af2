"""The facts files' facts in SQL: a layer per depth of derived facts every decision reads
(the facts of one layer read only inputs and the layers before), and the
errors they give a client (a function that fails, a value outside the declared domain), as
the per-client path reports them: such a client is invalid, and no decision is made."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from tierwise.batch.dialects import Col, Dialect
from tierwise.batch.expressions import SqlExpressions, Val
from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import Call, names
from tierwise.lang.types import FactType
from tierwise.pack.ir import Derived


class Layers(Protocol):
    """What a query under construction offers: labels, new layers, its expressions."""

    d: Dialect
    expr: SqlExpressions

    def label(self) -> str: ...

    def add(self, columns: dict[str, Col]) -> None: ...

    def col(self, label: str) -> Col: ...

    def fails(self, call: Call, scope: dict[str, Val]) -> Col: ...


def derive(query: Layers, derived: Sequence[Derived], scope: dict[str, Val]) -> dict[str, str]:
    """Adds each derived fact as a column (its value joins `scope`), the facts that read no
    other of them in one layer, those reading only those in the next, and so on (a layer
    per fact made SQLite carry every column through 27 layers of the shipped facts), and
    returns, per fact that can fail for some client, the label of the column of its errors
    (`fact: message` joined by '; ', null when none), in the pack's order."""
    for group in _by_depth(derived):
        columns: dict[str, Col] = {}
        values: dict[str, Val] = {}
        for d in group:
            value, kind, item = query.expr.visit(d.expr, scope)
            label = query.label()
            columns[label] = value
            values[d.name] = Val(label, kind, item)
        query.add(columns)
        scope.update(values)
    # built over the newest layer: an expression over an older one cross-joins
    errors: dict[str, Col] = {}
    for d in derived:
        checked = [
            (sa.func.coalesce(c, sa.false()), text) for c, text in _problems(query, d, scope)
        ]
        if len(checked) == 1:  # the text, where it holds (no join to build)
            errors[d.name] = sa.case(checked[0])
        elif checked:
            failed = sa.or_(*(c for c, _ in checked))
            errors[d.name] = sa.case((failed, query.d.join(checked, "; ")))
    labels = {name: query.label() for name in errors}
    query.add({labels[name]: column for name, column in errors.items()})
    return labels


def failures(query: Layers, labels: Sequence[str]) -> Col | None:
    """The client's errors from derived facts: the texts of the error columns `labels`
    (each fact's, `derive`) that hold one, joined by '; ' in their order; None when no
    derived fact can fail."""
    if not labels:
        return None
    columns = [query.col(label) for label in labels]
    if len(columns) == 1:
        return columns[0]
    return query.d.join([(c.is_not(None), c) for c in columns], "; ")


def _problems(query: Layers, d: Derived, scope: dict[str, Val]) -> list[tuple[Col, Col]]:
    """What makes a derived fact an error for a client: a function call that fails (unless
    it waits for a statistic not known yet), a value outside the declared domain."""
    problems: list[tuple[Col, Col]] = []
    for call in _failing_calls(d, query.expr.functions):
        if query.expr.missing_constant(call):
            continue
        text = f"{d.name}: {d.name} cannot be derived: {call.func}() failed for these facts"
        problems.append((query.fails(call, scope), sa.literal(text)))
    outside = _outside(query.col(scope[d.name].label), d.type, query.d.literal)
    if outside is not None:
        text = f"{d.name}: {d.name} is outside its declared domain ({d.type.domain})"
        problems.append((outside, sa.literal(text)))
    return problems


def _by_depth(derived: Sequence[Derived]) -> list[list[Derived]]:
    """The derived facts by depth, in their order within each: depth 0 reads none of the
    others, depth k reads some of depth k-1 and none deeper (a fact reads only facts
    before it, as the pack orders them)."""
    depth: dict[str, int] = {}
    for d in derived:
        depth[d.name] = 1 + max([-1, *(depth[n] for n in names(d.expr) if n in depth)])
    groups: list[list[Derived]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for d in derived:
        groups[depth[d.name]].append(d)
    return groups


def _failing_calls(d: Derived, functions: FunctionRegistry) -> list[Call]:
    """The calls in a derived fact that can fail for present arguments (not null-safe)."""
    return [n for n in d.expr.walk() if isinstance(n, Call) and not functions[n.func].null_safe]


def _outside(value: Col, t: FactType, literal: Callable[..., Any]) -> Col | None:
    """True where a present value breaks the declared domain; None when none is declared."""
    if t.enum is not None:
        return sa.and_(value.is_not(None), value.not_in([literal(v) for v in t.enum]))
    parts = []
    if t.minimum is not None:
        parts.append(value < literal(t.minimum, "number"))
    if t.maximum is not None:
        parts.append(value > literal(t.maximum, "number"))
    return sa.or_(*parts) if parts else None
