"""The type checker: what a condition may compare, call and compute, decided at load time."""

from __future__ import annotations

import pytest

from tierwise.errors import ErrorSink, Pos
from tierwise.lang.parse import parse_expression
from tierwise.lang.typecheck import TypeChecker
from tierwise.lang.types import FactType
from tierwise.plugins.manager import function_registry

ENV = {
    "clv": FactType("number"),
    "freq": FactType("integer"),
    "name": FactType("string"),
    "stage": FactType("string", enum=("new", "mature")),
    "vip": FactType("bool"),
    "since": FactType("date"),
    "at": FactType("datetime"),
    "tags": FactType("list"),
    "tier.name": FactType("string"),
}
FUNCTIONS = function_registry()


def check(text: str) -> list[tuple[int, str, str]]:
    """(column, kind, message) of every problem in a condition; column 1 is the text's start."""
    sink = ErrorSink()
    node = parse_expression(text, lambda offset: Pos("f", 1, 1 + offset))
    TypeChecker(ENV, FUNCTIONS, sink).condition(node)
    return [(e.pos.col, e.kind, e.message) for e in sink.errors]


@pytest.mark.parametrize(
    "text",
    [
        "clv > freq and freq % 2 == 1 and clv / freq >= 0.5",
        'name == "x" and stage == "new" and stage != name',
        'stage in ["new", "mature"] and name not in ["a", "b"]',
        "vip and not vip == false",
        "since < 2024-01-01 and since != since and at >= 2024-01-01T08:00",
        '"vip" in tags and name in tags',
        "days_since(since) > 30 and days_between(since, at) < 5",
        "abs(clv - 1) < 1e-7 and round(clv) == freq and len(tags) >= 2",
        'lower(name) == "x" and max(clv, freq) > min(1, 2.5)',
        'exists(name) and exists(tier.name) and tier.name == "gold"',
        "true",
        "-clv < 3 and -(freq + 1) > -10",
    ],
)
def test_well_typed_conditions(text: str) -> None:
    assert check(text) == []


@pytest.mark.parametrize(
    ("text", "column", "kind", "message"),
    [
        ("name == 5", 1, "type mismatch", "cannot compare a string with an integer"),
        ('clv > "5"', 1, "type mismatch", "cannot compare a number with a string"),
        ("since > 5", 1, "type mismatch", "cannot compare a date with an integer"),
        ("since == at", 1, "type mismatch", "cannot compare a date with a datetime"),
        ("vip == 1", 1, "type mismatch", "cannot compare a bool with an integer"),
        ('name > "a"', 1, "type mismatch", "'>' needs numbers or dates, not a string"),
        ("vip < true", 1, "type mismatch", "'<' needs numbers or dates, not a bool"),
        ('stage < "new"', 1, "type mismatch", "'<' cannot order enum values"),
        ('stage == "old"', 10, "unknown enum value", "'old' is not one of stage's values"),
        ('stage in ["new", "gone"]', 18, "unknown enum value", "'gone' is not one of stage's"),
        ('freq in [1, "2"]', 13, "type mismatch", "cannot compare an integer with a string"),
        ("freq in [1, clv]", 13, "wrong value type", "list items must be literal values"),
        ("name + 1 > 2", 1, "type mismatch", "arithmetic '+' needs numbers, but this is a string"),
        ("-name == 1", 1, "type mismatch", "cannot negate a string"),
        ("clv", 1, "type mismatch", "a condition must be true or false, but this is a number"),
        ("vip and freq", 9, "type mismatch", "but this is an integer"),
        ("clv in 5", 8, "type mismatch", "'in' needs a list, but this is an integer"),
        ("vip in tags", 1, "type mismatch", "cannot look for a bool in a list"),
        ("nam == 1", 1, "unknown fact", "unknown fact 'nam'"),
        ('tier.nme == "x"', 1, "unknown fact", "unknown fact 'tier.nme'"),
        ("dayz(since) > 1", 1, "unknown function", "unknown function 'dayz'"),
        (
            "days_since(since, at) > 1",
            1,
            "wrong arguments",
            "days_since() takes 1 argument(s), got 2",
        ),
        (
            "days_since(clv) > 1",
            12,
            "type mismatch",
            "days_since() expects a date here, got a number",
        ),
        ('abs("x") > 1', 5, "type mismatch", "abs() expects a number here, got a string"),
    ],
)
def test_type_errors(text: str, column: int, kind: str, message: str) -> None:
    problems = check(text)
    assert len(problems) == 1, problems
    col, got_kind, got_message = problems[0]
    assert (col, got_kind) == (column, kind)
    assert message in got_message


def test_every_problem_of_one_condition_is_reported() -> None:
    problems = check('name == 5 and nam > 1 and dayz(clv) and stage == "old"')
    assert [kind for _, kind, _ in problems] == [
        "type mismatch",
        "unknown fact",
        "unknown function",
        "unknown enum value",
    ]


def test_unknown_fact_hint_suggests_a_close_name() -> None:
    sink = ErrorSink()
    node = parse_expression("frq > 1", lambda offset: Pos("f", 1, 1 + offset))
    TypeChecker(ENV, FUNCTIONS, sink).condition(node)
    assert "'freq'" in sink.errors[0].hint


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("freq + freq", "integer"),
        ("freq * 2 - freq % 3", "integer"),
        ("freq / 2", "number"),
        ("freq + 0.5", "number"),
        ("-freq", "integer"),
        ("days_since(since)", "integer"),
        ("clv > 1", "bool"),
        ("exists(clv)", "bool"),
    ],
)
def test_inferred_types(text: str, kind: str) -> None:
    sink = ErrorSink()
    node = parse_expression(text, lambda offset: Pos("f", 1, 1 + offset))
    inferred = TypeChecker(ENV, FUNCTIONS, sink).infer(node)
    assert inferred is not None and inferred.kind == kind
    assert not sink.errors
