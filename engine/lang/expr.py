"""The typed expression tree that rule conditions, derived facts and table cells parse into.

One tree, many back ends: the durable compiler, the SQL compiler, the solver and the
explainer all walk these nodes. Nodes are immutable and carry their source position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from tierwise.errors import Pos

Scalar = float | int | str | bool | dt.date | dt.datetime | None

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
ARITH_OPS = ("+", "-", "*", "/", "%")
NEGATED_COMPARE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
FLIPPED_COMPARE = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every expression node."""

    pos: Pos = field(compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        """This node and all below it, parents first."""
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Scalar


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A fact, a derived fact, or another decision's output (`pricing_tier.tier`)."""

    name: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Exists(Node):
    """exists(x): the fact is present and not null. Never unknown."""

    name: str


@dataclass(frozen=True, slots=True)
class Neg(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Arith(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class In(Node):
    """`item in container`; container is a list literal or a list-typed fact."""

    item: Node
    container: Node
    negated: bool = False

    def children(self) -> tuple[Node, ...]:
        return (self.item, self.container)


@dataclass(frozen=True, slots=True)
class And(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class Or(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


def names(node: Node) -> list[str]:
    """The fact names a tree reads, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for n in node.walk():
        if isinstance(n, Name | Exists):
            seen.setdefault(n.name, None)
    return list(seen)


def render(node: Node) -> str:
    """Source-like text of a tree, for explanations and messages."""
    match node:
        case Literal(value=v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, str):
                return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if isinstance(v, dt.date):
                return v.isoformat()
            return repr(v) if v is not None else "null"
        case ListLit(items=items):
            return "[" + ", ".join(render(i) for i in items) + "]"
        case Name(name=n):
            return n
        case Call(func=f, args=args):
            return f + "(" + ", ".join(render(a) for a in args) + ")"
        case Exists(name=n):
            return f"exists({n})"
        case Neg(operand=o):
            return "-" + _paren(o)
        case Arith(op=op, left=left, right=right) | Compare(op=op, left=left, right=right):
            return f"{_paren(left)} {op} {_paren(right)}"
        case In(item=i, container=c, negated=neg):
            return f"{_paren(i)} {'not in' if neg else 'in'} {_paren(c)}"
        case And(items=items):
            return " and ".join(_paren(i) for i in items)
        case Or(items=items):
            return " or ".join(_paren(i) for i in items)
        case Not(operand=o):
            return "not " + _paren(o)
    raise TypeError(f"unknown node {node!r}")


def _paren(node: Node) -> str:
    text = render(node)
    if isinstance(node, Arith | Compare | In | And | Or | Not):
        return f"({text})"
    return text
