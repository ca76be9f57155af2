"""The typed expression tree that rule conditions, derived facts and table cells parse into.

One tree, many back ends: the durable compiler, the SQL compiler, the solver and the
explainer all walk these nodes. Nodes are immutable and carry their source position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from tierwise.errors import Pos

Scalar = float | int | str | bool | dt.date | dt.datetime | None

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
ARITH_OPS = ("+", "-", "*", "/", "%")
NEGATED_COMPARE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
FLIPPED_COMPARE = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
R = TypeVar("R")


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


class NodeVisitor(Generic[R]):
    """A back end's walk over a tree, as jinja2's: `visit(node, ...)` calls the subclass's
    `visit_<NodeClass>` (found once per node class and cached per visitor class), else
    `generic_visit`; extra arguments pass through to the method."""

    _methods: ClassVar[dict[type[Node], Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods = {}

    def visit(self, node: Node, *args: Any) -> R:
        """The result of this visitor's method for `node`'s class."""
        method = self._methods.get(type(node))
        if method is None:
            method = self._method_for(type(node))
        result: R = method(self, node, *args)
        return result

    @classmethod
    def _method_for(cls, node_class: type[Node]) -> Callable[..., Any]:
        """`visit_<Class>` for the node class or its nearest base that has one."""
        for klass in node_class.__mro__:
            method = getattr(cls, f"visit_{klass.__name__}", None)
            if method is not None:
                break
        else:
            method = cls.generic_visit
        cls._methods[node_class] = method
        return method

    def generic_visit(self, node: Node, *args: Any) -> Any:
        """A node without a `visit_` method: its children are visited, the result is None."""
        for child in node.children():
            self.visit(child, *args)
        return None


class _Render(NodeVisitor[str]):
    """Source-like text of a tree: the rule language's own spelling of each node."""

    def visit_Literal(self, node: Literal) -> str:
        v = node.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, dt.date):
            return v.isoformat()
        return repr(v) if v is not None else "null"

    def visit_ListLit(self, node: ListLit) -> str:
        return "[" + ", ".join(self.visit(i) for i in node.items) + "]"

    def visit_Name(self, node: Name) -> str:
        return node.name

    def visit_Call(self, node: Call) -> str:
        return node.func + "(" + ", ".join(self.visit(a) for a in node.args) + ")"

    def visit_Exists(self, node: Exists) -> str:
        return f"exists({node.name})"

    def visit_Neg(self, node: Neg) -> str:
        return "-" + self.paren(node.operand)

    def visit_Arith(self, node: Arith) -> str:
        return f"{self.paren(node.left)} {node.op} {self.paren(node.right)}"

    visit_Compare = visit_Arith

    def visit_In(self, node: In) -> str:
        keyword = "not in" if node.negated else "in"
        return f"{self.paren(node.item)} {keyword} {self.paren(node.container)}"

    def visit_And(self, node: And) -> str:
        return " and ".join(self.paren(i) for i in node.items)

    def visit_Or(self, node: Or) -> str:
        return " or ".join(self.paren(i) for i in node.items)

    def visit_Not(self, node: Not) -> str:
        return "not " + self.paren(node.operand)

    def generic_visit(self, node: Node, *args: Any) -> str:
        raise TypeError(f"unknown node {node!r}")

    def paren(self, node: Node) -> str:
        """An operand's text, in parentheses when it is itself an operation."""
        text = self.visit(node)
        if isinstance(node, Arith | Compare | In | And | Or | Not):
            return f"({text})"
        return text


_RENDER = _Render()


def render(node: Node) -> str:
    """Source-like text of a tree, for explanations and messages."""
    return _RENDER.visit(node)
