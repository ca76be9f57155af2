"""NodeVisitor, the one way a back end walks an expression tree: `visit_<Class>` found once
per node class, the nearest base class's method for a node subclass, `generic_visit` for
the rest, extra arguments passed through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tierwise.errors import Pos
from tierwise.lang.expr import And, Compare, Literal, Name, Node, NodeVisitor, Not, render
from tierwise.lang.parse import parse_expression

POS = Pos("f.yaml", 1, 1)


def parse(text: str) -> Node:
    return parse_expression(text, lambda offset: Pos("f.yaml", 1, 1 + offset))


@dataclass(frozen=True, slots=True)
class Percent(Literal):
    """A node class defined outside expr.py: it has no visit_ method of its own anywhere."""


class Names(NodeVisitor[None]):
    """Collects names through generic_visit, which walks every child of other nodes."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def visit_Name(self, node: Name) -> None:
        self.seen.append(node.name)


class Depth(NodeVisitor[int]):
    """Passes an extra argument down: the depth at which each literal sits."""

    def visit_Literal(self, node: Literal, depth: int) -> int:
        return depth

    def generic_visit(self, node: Node, *args: Any) -> int:
        (depth,) = args
        return max((self.visit(c, depth + 1) for c in node.children()), default=depth)


def test_visit_dispatches_by_node_class_and_walks_the_rest_generically() -> None:
    names = Names()
    assert names.visit(parse("a > 1 and (b == 2 or not exists(c)) and a < d")) is None
    assert names.seen == ["a", "b", "a", "d"]  # exists(c) is an Exists, not a Name


def test_extra_arguments_pass_through_to_the_methods() -> None:
    assert Depth().visit(parse("1 + 2"), 0) == 1
    assert Depth().visit(parse("x > 1 and not (y < 2 * 3)"), 0) == 4


def test_a_node_subclass_takes_its_base_class_method() -> None:
    node = Percent(POS, 5)
    assert Depth().visit(node, 7) == 7
    assert render(node) == "5"


def test_each_visitor_class_has_its_own_method_table() -> None:
    class Upper(NodeVisitor[str]):
        def visit_Name(self, node: Name) -> str:
            return node.name.upper()

        def generic_visit(self, node: Node, *args: Any) -> str:
            return "?"

    class Lower(Upper):
        def visit_Name(self, node: Name) -> str:
            return node.name.lower()

    name = Name(POS, "Clv")
    assert (Upper().visit(name), Lower().visit(name)) == ("CLV", "clv")
    assert (Lower().visit(name), Upper().visit(name)) == ("clv", "CLV")
    assert Upper().visit(Not(POS, name)) == "?"
    assert Names._methods is not Upper._methods is not Lower._methods


def test_render_writes_every_node_as_the_rule_language_spells_it() -> None:
    for text in (
        'segment in ["vip", "b2b"] and not exists(churned_at)',
        "-(clv + 2) * 3 >= 10 or days_since(last) % 7 != 0",
        '"a \\"quoted\\" name" not in tags',
        "signup < 2020-01-31 and seen >= 2024-01-31T10:00:00",
    ):
        assert parse(render(parse(text))) == parse(text)
    tree = And(POS, (Compare(POS, ">", Name(POS, "x"), Literal(POS, None)), Literal(POS, True)))
    assert render(tree) == "(x > null) and true"
