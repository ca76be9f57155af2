"""The expression parser: precedence, literals, calls, and errors that point at the column."""

from __future__ import annotations

import datetime as dt

import pytest

from tierwise.errors import Pos
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
    names,
    render,
)
from tierwise.lang.parse import MAX_DEPTH, ParseError, depth, parse_expression

P = Pos("f", 1, 1)


def parse(text: str) -> Node:
    return parse_expression(text, lambda offset: Pos("f.yaml", 3, 11 + offset))


def n(name: str) -> Name:
    return Name(P, name)


def lit(value: object) -> Literal:
    return Literal(P, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a or b and c", Or(P, (n("a"), And(P, (n("b"), n("c")))))),
        ("(a or b) and c", And(P, (Or(P, (n("a"), n("b"))), n("c")))),
        ("not a == 1", Not(P, Compare(P, "==", n("a"), lit(1)))),
        ("not not a", Not(P, Not(P, n("a")))),
        ("a and b and c", And(P, (n("a"), n("b"), n("c")))),
        ("1 + 2 * 3", Arith(P, "+", lit(1), Arith(P, "*", lit(2), lit(3)))),
        ("a - b - c", Arith(P, "-", Arith(P, "-", n("a"), n("b")), n("c"))),
        ("a / b % c", Arith(P, "%", Arith(P, "/", n("a"), n("b")), n("c"))),
        ("-x * 2", Arith(P, "*", Neg(P, n("x")), lit(2))),
        ("-3", lit(-3)),
        ("- 2.5", lit(-2.5)),
        (
            "x + 1 >= y * 2",
            Compare(P, ">=", Arith(P, "+", n("x"), lit(1)), Arith(P, "*", n("y"), lit(2))),
        ),
        ("x in [1, 2]", In(P, n("x"), ListLit(P, (lit(1), lit(2))))),
        ("x not in []", In(P, n("x"), ListLit(P, ()), negated=True)),
        ('"vip" in tags', In(P, lit("vip"), n("tags"))),
        ("pricing.tier == 'gold'", Compare(P, "==", n("pricing.tier"), lit("gold"))),
        ("exists(churned_at)", Exists(P, "churned_at")),
        ("not exists(a.b)", Not(P, Exists(P, "a.b"))),
        (
            "max(a, b + 1) > 2",
            Compare(P, ">", Call(P, "max", (n("a"), Arith(P, "+", n("b"), lit(1)))), lit(2)),
        ),
        ("f()", Call(P, "f", ())),
        ("flag", n("flag")),
        ("true", lit(True)),
    ],
)
def test_precedence_and_shapes(text: str, tree: Node) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("12.5", 12.5),
        ("1e20", 1e20),
        ("1e-7", 1e-7),
        ("2.5E+3", 2500.0),
        (".5", 0.5),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ('"tab\\there"', "tab\there"),
        ('"é ü"', "é ü"),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("2024-02-29T13:45", dt.datetime(2024, 2, 29, 13, 45)),
        ("2024-02-29T13:45:30.5", dt.datetime(2024, 2, 29, 13, 45, 30, 500000)),
        ("false", False),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = parse(text)
    assert isinstance(node, Literal)
    assert node.value == value and type(node.value) is type(value)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("clv > > 1", 17, "expected a value but found '>'"),
        ("clv >= 1 and", 23, "expected a value but found the end"),
        ("a < b < c", 17, "comparisons cannot be chained"),
        ("tier = 'gold'", 16, "'=' is not a comparison"),
        ("x == null", 16, "null cannot be compared"),
        ("x $ 1", 13, "unexpected character '$'"),
        ("(a or b", 18, "expected ')'"),
        ("a b", 13, "unexpected 'b'"),
        ("x in [1, 2", 21, "expected ']'"),
        ("d > 2024-02-30", 15, "invalid date 2024-02-30"),
        ("exists(a + 1)", 11, "exists() takes one fact name"),
        ("x not 3", 13, "unexpected 'not'"),
        ("   ", 11, "empty expression"),
        ("a and or b", 17, "expected a value but found 'or'"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    assert (error.pos.file, error.pos.line, error.pos.col) == ("f.yaml", 3, column)
    assert message in error.message
    assert error.hint, "every parse error carries a hint"


@pytest.mark.parametrize(
    "text",
    [
        "clv >= 50000 and (margin > 0 or not exists(churned_at))",
        "-x * (y - 3) / 2 % 7 != 1",
        'tier in ["gold", "silver"] and "vip" not in tags',
        "days_since(last_purchase) <= 30 or d >= 2024-01-31",
        "not (a and b) or c",
        "pricing.discount >= 1e-07",
    ],
)
def test_render_parses_back_to_the_same_tree(text: str) -> None:
    tree = parse(text)
    assert parse(render(tree)) == tree


def test_names_in_first_seen_order() -> None:
    tree = parse("b > 1 and (a < 2 or exists(c)) and b != a and f(d.e)")
    assert names(tree) == ["b", "a", "c", "d.e"]


def test_rule_text_is_parsed_never_run() -> None:
    assert parse('__import__("os")') == Call(P, "__import__", (lit("os"),))
    with pytest.raises(ParseError) as caught:
        parse('__import__("os").system("false")')
    assert "unexpected character '.'" in caught.value.message


def test_a_call_of_an_unknown_name_is_only_a_call_node() -> None:
    tree = parse('eval("1")')
    assert tree == Call(P, "eval", (lit("1"),))


NESTINGS = {
    # construct: (text nesting k levels, how deep that tree is)
    "parentheses": (lambda k: "(" * k + "x" + ")" * k, lambda k: 1),
    "not": (lambda k: "not " * k + "x", lambda k: k + 1),
    "minus": (lambda k: "-" * k + "x", lambda k: k + 1),
    "list": (lambda k: "[" * k + "]" * k, lambda k: k),
    "call": (lambda k: "f(" * k + "x" + ")" * k, lambda k: k + 1),
    "sum": (lambda k: "x" + " + 1" * k, lambda k: k + 1),
    "product": (lambda k: "x" + " * 2" * k, lambda k: k + 1),
    "mixed": (lambda k: "(" * k + "x" + " + 1)" * k, lambda k: k + 1),
}


@pytest.mark.parametrize("construct", NESTINGS)
def test_nesting_is_bounded_at_max_depth(construct: str) -> None:
    """Up to MAX_DEPTH levels parse (and depth() measures them); one more is an error at the
    construct that passes the limit, never a RecursionError, however deep the text goes."""
    text_of, depth_of = NESTINGS[construct]
    deepest = max(k for k in range(1, MAX_DEPTH + 2) if depth_of(k) <= MAX_DEPTH)
    if construct == "parentheses":
        deepest = MAX_DEPTH
    assert depth(parse(text_of(deepest))) == depth_of(deepest)
    for k in (deepest + 1, 5_000):
        with pytest.raises(ParseError) as caught:
            parse(text_of(k))
        assert caught.value.message == f"an expression may nest at most {MAX_DEPTH} levels"
        assert caught.value.pos.line == 3 and caught.value.pos.col >= 11


def test_flat_chains_of_and_or_are_one_level() -> None:
    text = " or ".join(f"x{k} > {k} and y{k} < 1" for k in range(5_000))
    assert depth(parse(text)) == 4  # or, and, comparison, its sides


def test_depth_counts_derived_facts_as_written_out() -> None:
    node = parse("d * 2 > x")
    assert depth(node) == 3
    assert depth(node, {"d": 10}) == 12
    assert depth(node, {"x": 1}) == 3
