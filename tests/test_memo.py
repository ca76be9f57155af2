"""The memo of results by class of fact values (engine/memo.py) must never change an answer.

Its soundness rests on one property: two values in the same class pass exactly the same
tests. That is checked directly for every kind of field, at and around every literal; then
a warm engine (most clients answered from the memo) is held to the reference interpreter.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.lang.types import FactType
from tierwise.runtime import memo
from tierwise.runtime.compile import literal_json

from . import reference

OPS = ["$eq", "$neq", "$lt", "$lte", "$gt", "$gte"]
INTS = [-3, 0, 1, 2, 5, 10, 2**53 - 1, 2**53, 2**60]
FLOATS = [-0.5, 0.0, 0.5, 1.0, 2.5, 1e-7, 1e20, math.nextafter(1.0, 2.0)]
DATES = [dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2024, 2, 29)]
PYTHON_OPS = {
    "$eq": lambda a, b: a == b,
    "$neq": lambda a, b: a != b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
}


def _holds(op: str, value: Any, literal: Any) -> bool:
    """durable's truth for `value op literal`: null (and non-finite, sent as null) never holds."""
    if value is None or (type(value) is float and not math.isfinite(value)):
        return False
    return PYTHON_OPS[op](literal_json(value), literal)


def _near(pool: list[Any]) -> list[Any]:
    """Each literal, its neighbours, and values between them."""
    out: list[Any] = [None]
    for v in pool:
        if isinstance(v, dt.date):
            out += [v, v - dt.timedelta(days=1), v + dt.timedelta(days=1)]
        elif isinstance(v, float):
            out += [v, math.nextafter(v, -math.inf), math.nextafter(v, math.inf), v + 0.25]
        else:
            out += [v, v - 1, v + 1, v + 0.5]
    return out


KINDS: dict[str, tuple[list[Any], list[Any]]] = {
    # kind: (literal pool, value pool)
    "integer": ([*INTS, 2.5], [v for v in _near(INTS) if not isinstance(v, float)]),
    "number": (
        FLOATS + INTS[:5],
        [*_near(FLOATS + INTS[:5]), math.inf, -math.inf, math.nan, 2**63 - 1],
    ),
    "date": (DATES, _near(DATES)),
    "string": (["a", "b", "gold", ""], [None, "a", "b", "gold", "", "c", "A"]),
    "bool": ([True, False], [None, True, False]),
}


@st.composite
def field_tests(draw: st.DrawFn) -> tuple[str, list[tuple[str, Any]], list[Any]]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    literals, values = KINDS[kind]
    ops = OPS if kind in ("integer", "number", "date") else OPS[:2]
    tests = draw(
        st.lists(st.tuples(st.sampled_from(ops), st.sampled_from(literals)), min_size=1, max_size=6)
    )
    return kind, [(op, literal_json(v)) for op, v in tests], values


@settings(max_examples=400, deadline=None)
@given(case=field_tests())
def test_values_in_one_class_pass_the_same_tests(
    case: tuple[str, list[tuple[str, Any]], list[Any]],
) -> None:
    kind, tests, values = case
    key = memo.class_key([(op, "x", v) for op, v in tests], {"x": FactType(kind)})  # type: ignore[arg-type]
    seen: dict[Any, tuple[Any, tuple[bool, ...]]] = {}
    for value in values:
        truth = tuple(_holds(op, value, lit) for op, lit in tests)
        k = key({"x": value})
        if k in seen:
            other, other_truth = seen[k]
            assert truth == other_truth, (
                f"{value!r} and {other!r} share a class but not their tests {tests}"
            )
        else:
            seen[k] = (value, truth)


def test_classes_merge_positions_no_test_tells_apart() -> None:
    """`x >= 10` alone: every value below 10 is one class, every value from 10 up another."""
    key = memo.class_key([("$gte", "x", 10)], {"x": FactType("integer")})
    assert len({key({"x": v}) for v in [-5, 0, 9]}) == 1
    assert len({key({"x": v}) for v in [10, 11, 10**6]}) == 1
    assert key({"x": 9}) != key({"x": 10}) != key({"x": None})


INPUTS = """
inputs:
  clv: {type: number}
  visits: {type: integer}
  since: {type: date}
  tier: {enum: [gold, silver, bronze]}
  city: {type: string}
"""


def test_a_fields_class_does_not_depend_on_a_null_beside_it() -> None:
    """A null in one field sends the key the slow way; the other fields keep their classes,
    so `x == 0` with x = 7 never shares a key with x = 0, whatever y is."""
    types = {"x": FactType("number"), "y": FactType("integer")}
    key = memo.class_key([("$eq", "x", 0), ("$gte", "y", 3)], types)
    for x in (0, 7, -1.5):
        assert key({"x": x, "y": None})[0] == key({"x": x, "y": 5})[0]
    assert key({"x": 0, "y": None}) != key({"x": 7, "y": None})
    assert key({"x": None, "y": 5})[0] is None


PACK = {
    "offer.yaml": """decision: offer
hit_policy: first"""
    + INPUTS
    + """rules:
  - {id: vip, when: 'clv >= 1000 and tier == "gold"', then: {offer: vip}}
  - {id: loyal, when: 'since <= 2020-01-01 and visits > 3', then: {offer: loyal}}
  - {id: local, when: 'city in ["Lyon", "Nantes"] and clv > 0.5', then: {offer: local}}
  - {id: margin, when: 'clv - visits * 100 >= 200', then: {offer: margin}}
default: {offer: none}
""",
    "flags.yaml": """decision: flags
hit_policy: collect"""
    + INPUTS
    + """rules:
  - {id: big, when: 'clv > 999.5', then: {flag: big}}
  - {id: often, when: 'visits >= 3', then: {flag: often}}
  - {id: not_gold, when: 'not (tier == "gold")', then: {flag: not_gold}}
""",
}


@st.composite
def boundary_clients(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "clv": draw(
            st.sampled_from([None, 0.5, 0.500001, 999.5, 1000, 1000.0, 999.99, 500, 700.0])
        ),
        "visits": draw(st.sampled_from([None, 0, 3, 4, 5, 8])),
        "since": draw(
            st.sampled_from([None, dt.date(2020, 1, 1), dt.date(2020, 1, 2), dt.date(2019, 12, 31)])
        ),
        "tier": draw(st.sampled_from([None, "gold", "silver", "bronze"])),
        "city": draw(st.sampled_from([None, "Lyon", "Nantes", "Paris", "lyon", ""])),
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("memo")
    for name, text in PACK.items():
        (folder / name).write_text(text, encoding="utf-8")
    return Engine.from_path(folder)


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(boundary_clients(), min_size=50, max_size=200))
def test_warm_engine_agrees_with_reference(engine: Engine, batch: list[dict[str, Any]]) -> None:
    as_of = dt.date(2026, 1, 1)
    for facts, outcome in zip(batch, engine.decide_many(batch, as_of), strict=True):
        want = reference.decide(engine.pack, facts, as_of)
        for name, w in want.items():
            got = outcome.decisions[name]
            assert (got.status, got.output, got.rules) == (w.status, w.output, w.rules), facts


def test_explanations_are_each_clients_own(engine: Engine) -> None:
    """Two clients in one class share a result, never each other's fact values."""
    as_of = dt.date(2026, 1, 1)
    a, b = engine.decide_many(
        [{"clv": 1500.0, "tier": "gold"}, {"clv": 2500.0, "tier": "gold"}], as_of
    )
    assert a.decisions["offer"].explanations[0].facts["clv"] == 1500.0
    assert b.decisions["offer"].explanations[0].facts["clv"] == 2500.0
    a.decisions["offer"].output["offer"] = "changed"  # type: ignore[index]
    assert b.decisions["offer"].output == {"offer": "vip"}


def test_a_full_memo_starts_afresh(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tierwise.runtime.engine.MEMO_LIMIT", 2)
    as_of = dt.date(2026, 1, 1)
    clients = [{"clv": float(c), "visits": v} for c in (0, 600, 1200) for v in (0, 5)] * 3
    for facts, outcome in zip(clients, engine.decide_many(clients, as_of), strict=True):
        want = reference.decide(engine.pack, facts, as_of)
        assert outcome.decisions["flags"].rules == want["flags"].rules
