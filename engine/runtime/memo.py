"""Classes of fact values, so that durable is asked once per class of client, not per client.

durable's answer for a message depends only on each test's truth value, and a test
`field op literal` holds or not depending only on where the field's value lies among the
literals that field is tested with. So every value maps to a class (values in one class
pass the same tests), and a decision's result, resolved once for a tuple of classes, holds
for every client with that tuple: only the explanation's fact values are the client's own.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from operator import getitem
from typing import Any

from tierwise.lang.types import FactType
from tierwise.runtime.compile import literal_json

Key = Callable[[dict[str, Any]], tuple[Any, ...]]
Test = tuple[str, str, Any]
"""(durable operator, field name, literal as durable reads it)."""
MEMO_LIMIT = 1 << 15
"""Remembered keys per decision and thread (about 270 bytes each, so at most about 9 MB);
past this the memo starts afresh."""
SAFE_INT = 2**53
"""Literals from here on are not compared exactly once durable turns values into doubles."""
REVIEW = 4096
"""Clients between two reviews of whether each memo pays for itself."""
MIN_HITS = 0.3
"""A memo that answers fewer of the clients than this is switched off: computing a key
costs about a third of asking durable."""
_NAN = {None: math.nan}
"""Null as NaN, for the bisect: NaN compares false with every edge, so it lands past the
last one (infinity), whose class is null's (durable reads NaN and infinity as null)."""
_OTHER = object()
"""The class of a value that equals none of the literals of an equality-only field."""


class Memos:
    """One thread's memos, one per decision; a memo that does not pay for itself (too many
    distinct keys, so too few clients answered from it) is switched off (None)."""

    __slots__ = ("seen", "sizes", "tables")

    def __init__(self, decisions: int) -> None:
        self.tables: list[dict[Any, Any] | None] = [{} for _ in range(decisions)]
        self.seen = 0
        self.sizes = [0] * decisions

    def review(self) -> None:
        """Called every REVIEW clients: each new key was a client not answered by the memo."""
        for i, table in enumerate(self.tables):
            if table is None:
                continue
            if len(table) - self.sizes[i] > REVIEW * (1 - MIN_HITS):
                self.tables[i] = None
            self.sizes[i] = len(table)
        self.seen = 0


def class_key(tests: list[Test], types: dict[str, FactType]) -> Key:
    """A function from facts to the classes of every field that `tests` read.

    Fields of a declared type take a fast path run by C functions: one bisect for a number
    or a date, a dict lookup for a string or a boolean tested for equality only. A value
    that trips the bisect (a null) sends that key through `_placed`, which gives the same
    classes one field at a time; other fields go through `_classifier`, exact for any value.
    """
    by_field: dict[str, list[tuple[str, Any]]] = {}
    for op, name, value in tests:
        by_field.setdefault(name, []).append((op, value))
    equal: list[tuple[str, dict[Any, Any]]] = []
    ordered: list[tuple[str, list[Any], list[int | None], Callable[[Any], Any]]] = []
    other: list[tuple[str, Callable[[Any], Any]]] = []
    for name, field_tests in by_field.items():
        kind = types[name].kind if name in types else None
        exact = all(_exact(v) for _, v in field_tests)
        is_ordered = any(op not in ("$eq", "$neq") for op, _ in field_tests)
        if exact and kind in ("number", "integer", "date"):
            numbers = sorted({v for _, v in field_tests})
            edges = _edges(numbers, kind)
            classes: list[int | None] = list(_merge(numbers, field_tests))
            if kind != "date":  # -inf, inf and nan reach durable as null: their class is None
                edges = [-math.inf, -sys.float_info.max, *edges, math.inf]
                classes = [None, None, *classes, None]
            ordered.append((name, edges, classes, _placed(edges, classes)))
        elif exact and not is_ordered and kind in ("string", "bool"):
            literals = {v for _, v in field_tests}
            equal.append((name, {**{v: v for v in literals}, None: None}))
        else:
            other.append((name, _classifier(field_tests)))
    return _key(equal, ordered, other)


def _key(
    equal: list[tuple[str, dict[Any, Any]]],
    ordered: list[tuple[str, list[Any], list[int | None], Callable[[Any], Any]]],
    other: list[tuple[str, Callable[[Any], Any]]],
) -> Key:
    """One flat tuple per client: the ordered fields' classes, then the equality fields',
    then the other fields'; each part has a fixed length, so two keys are equal exactly when
    every field's class is. Built from C calls (map, bisect, dict.get) with no tuple between,
    and without the parts a decision does not test: this runs once per client and decision
    (the zips below pair tuples built from one list, so never need `strict`)."""
    equal_names = tuple(n for n, _ in equal)
    tables = tuple(t for _, t in equal)
    others = (_OTHER,) * len(equal)
    ordered_names = tuple(n for n, *_ in ordered)
    edges = tuple(e for _, e, _, _ in ordered)
    classes = tuple(c for _, _, c, _ in ordered)
    one_by_one = tuple(c for *_, c in ordered)
    other_names = tuple(n for n, _ in other)
    other_classes = tuple(c for _, c in other)
    table_get = dict.get

    if all(e[-1] == math.inf for e in edges):  # no date: null and NaN share a class

        def ordered_classes(get: Callable[[str], Any]) -> Iterator[Any]:
            """The ordered fields' classes by C calls, a null read as NaN: NaN compares false
            with every edge, so it bisects past the last (infinity), into null's class."""
            values = tuple(map(get, ordered_names))
            return map(getitem, classes, map(bisect_right, edges, map(_NAN.get, values, values)))

    else:

        def ordered_classes(get: Callable[[str], Any]) -> Iterator[Any]:
            """The ordered fields' classes by C calls (TypeError for a null date)."""
            return map(getitem, classes, map(bisect_right, edges, map(get, ordered_names)))

    def one_at_a_time(get: Callable[[str], Any]) -> tuple[Any, ...]:
        """The ordered fields' classes field by field, for a null date or a value of an
        unexpected type."""
        return tuple([c(get(n)) for c, n in zip(one_by_one, ordered_names, strict=False)])

    def rest(get: Callable[[str], Any]) -> tuple[Any, ...]:
        """The classes of the fields neither bisected nor looked up (see `_classifier`)."""
        return tuple([c(get(n)) for c, n in zip(other_classes, other_names, strict=False)])

    if not ordered and not other:

        def equal_key(facts: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(map(table_get, tables, map(facts.get, equal_names), others))

        return equal_key

    def key(facts: dict[str, Any]) -> tuple[Any, ...]:
        get = facts.get
        try:
            found = (*ordered_classes(get), *map(table_get, tables, map(get, equal_names), others))
        except TypeError:
            found = (*one_at_a_time(get), *map(table_get, tables, map(get, equal_names), others))
        return (*found, *rest(get)) if other_names else found

    return key


def _placed(edges: list[Any], classes: list[int | None]) -> Callable[[Any], Any]:
    """One bisect field's class, alone: the fast path's class, or for a value that cannot be
    compared with the edges, None for null and the value itself (1-tuple) otherwise."""

    def placed(v: Any) -> Any:
        if v is None:  # the common reason to come here: answered without raising
            return None
        try:
            return classes[bisect_right(edges, v)]
        except TypeError:
            return (v,)

    return placed


def _edges(numbers: list[Any], kind: str | None) -> list[Any]:
    """Each literal and its successor, so that one bisect_right gives a value's position:
    2i below literal i (and above the one before), 2i+1 equal to it."""
    edges: list[Any] = []
    for n in numbers:
        if kind == "date":
            day = dt.date.fromordinal(n)
            edges += [day, day + dt.timedelta(days=1)]
        elif kind == "integer" and type(n) is int:
            edges += [n, n + 1]
        else:  # as floats (exact: literals are within SAFE_INT), which compare fastest
            edges += [float(n), math.nextafter(float(n), math.inf)]
    return edges


def _merge(numbers: list[Any], tests: list[tuple[str, Any]]) -> list[int]:
    """A class for each position among the sorted literals (2i below literal i, 2i+1 equal
    to it), in linear time. Order tests are monotone, so two positions pass the same ones
    exactly when no order test's boundary lies between them; an equality test only tells
    its literal's own position apart. Positions alike in both share a class."""
    ops: dict[Any, set[str]] = {}
    for op, literal in tests:
        ops.setdefault(literal, set()).add(op)
    classes: dict[tuple[int, int], int] = {}
    out: list[int] = []
    order = 0  # order-test boundaries passed so far
    for position in range(2 * len(numbers) + 1):
        i, equal = divmod(position, 2)
        if equal:
            used = ops[numbers[i]]
            order += bool(used & {"$lt", "$gte"})  # between just below and equal
            mark = i if used & {"$eq", "$neq"} else -1
        else:
            if i:
                order += bool(ops[numbers[i - 1]] & {"$lte", "$gt"})  # equal, just above
            mark = -1
        out.append(classes.setdefault((order, mark), len(classes)))
    return out


def _classifier(tests: list[tuple[str, Any]]) -> Callable[[Any], Any]:
    """One field's exact class function, for any value: null (and a non-finite float, which
    durable reads as null) is None, and a value it cannot place keys as itself (1-tuple)."""
    if not all(_exact(v) for _, v in tests):
        return _exact_class
    literals = {v for _, v in tests}
    if any(op not in ("$eq", "$neq") for op, _ in tests):
        if not all(type(v) in (int, float) for v in literals):
            return _exact_class
        bounds = sorted(literals)
        positions = _merge(bounds, tests)
        n = len(bounds)

        def ordered_class(v: Any) -> Any:
            v = _durable_value(v)
            if type(v) is not int and type(v) is not float:
                return v if v is None else (v,)
            i = bisect_left(bounds, v)
            return positions[2 * i + 1 if i < n and bounds[i] == v else 2 * i]

        return ordered_class
    known = {v: v for v in literals}

    def equality_class(v: Any) -> Any:
        v = _durable_value(v)
        if v is None:
            return None
        return known.get(v, _OTHER) if type(v) in (int, float, str, bool) else (v,)

    return equality_class


def _durable_value(v: Any) -> Any:
    """The value as durable compares it: dates as numbers, non-finite floats as null."""
    if isinstance(v, dt.date):
        return literal_json(v)
    if type(v) is float and not math.isfinite(v):
        return None
    return v


def _exact_class(v: Any) -> Any:
    """For a field whose literals durable may compare unlike Python: the value is its class."""
    return (v,)


def _exact(value: Any) -> bool:
    """A literal that Python and durable compare alike."""
    t = type(value)
    if t is float:
        return math.isfinite(value) and -SAFE_INT < value < SAFE_INT
    if t is int:
        return -SAFE_INT < value < SAFE_INT
    return t is str or t is bool
