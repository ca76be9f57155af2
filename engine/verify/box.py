"""Cheap pre-checks for the solver: a box (per fact: a range and a set of values) that
contains every client a rule can match. Two rules whose boxes are disjoint cannot both
match one client, so their pair never reaches z3; a rule with an empty box never matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tierwise.lang.expr import FLIPPED_COMPARE, And, Compare, In, ListLit, Literal, Name, Node
from tierwise.lang.types import FactType
from tierwise.runtime.evaluate import comparable_value

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Range:
    """An interval of ordered values; `lo_open`/`hi_open` exclude the bound."""

    lo: Any = -_INF
    lo_open: bool = False
    hi: Any = _INF
    hi_open: bool = False

    def meet(self, other: Range) -> Range:
        lo, lo_open = max((self.lo, self.lo_open), (other.lo, other.lo_open), key=_lower_key)
        hi, hi_open = min((self.hi, self.hi_open), (other.hi, other.hi_open), key=_upper_key)
        return Range(lo, lo_open, hi, hi_open)

    @property
    def empty(self) -> bool:
        return self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open))

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        above = value > self.lo or (value == self.lo and not self.lo_open)
        below = value < self.hi or (value == self.hi and not self.hi_open)
        return above and below


def _lower_key(bound: tuple[Any, bool]) -> tuple[Any, bool]:
    return bound[0], bound[1]


def _upper_key(bound: tuple[Any, bool]) -> tuple[Any, bool]:
    return bound[0], not bound[1]


@dataclass(frozen=True, slots=True)
class Slot:
    """What a box knows about one fact: a range, and a finite set of allowed values."""

    range: Range | None = None
    values: frozenset[Any] | None = None

    def meet(self, other: Slot) -> Slot:
        rng = (
            self.range.meet(other.range)
            if self.range and other.range
            else self.range or other.range
        )
        if self.values is not None and other.values is not None:
            values: frozenset[Any] | None = self.values & other.values
        else:
            values = self.values if self.values is not None else other.values
        if values is not None and rng is not None:
            values = frozenset(v for v in values if rng.holds(v))
        return Slot(rng, values)

    @property
    def empty(self) -> bool:
        return (self.range is not None and self.range.empty) or self.values == frozenset()


Box = dict[str, Slot] | None
"""A box: fact name -> Slot; None is the empty box (the rule can never match)."""


def box(node: Node) -> Box:
    """An over-approximation of the clients for whom `node` is true."""
    match node:
        case Literal(value=False) | Literal(value=None):
            return None
        case And(items=items):
            result: Box = {}
            for item in items:
                result = meet(result, box(item))
                if result is None:
                    return None
            return result
        case Compare(op=op, left=left, right=right):
            if isinstance(left, Literal) and isinstance(right, Name):
                op, left, right = FLIPPED_COMPARE[op], right, left
            if isinstance(left, Name) and isinstance(right, Literal) and right.value is not None:
                slot = _slot(op, comparable_value(right.value))
                return {left.name: slot} if slot is not None else {}
        case In(item=Name(name=n), container=ListLit(items=items), negated=False):
            if all(isinstance(i, Literal) for i in items):
                values = frozenset(comparable_value(i.value) for i in items if i.value is not None)  # type: ignore[attr-defined]
                return None if not values else {n: Slot(values=values)}
    return {}


def _slot(op: str, value: Any) -> Slot | None:
    ordered = isinstance(value, int | float) and not isinstance(value, bool)
    if op == "==":
        return Slot(values=frozenset({value}))
    if not ordered:
        return None
    match op:
        case "<":
            return Slot(Range(hi=value, hi_open=True))
        case "<=":
            return Slot(Range(hi=value))
        case ">":
            return Slot(Range(lo=value, lo_open=True))
        case ">=":
            return Slot(Range(lo=value))
    return None


def meet(a: Box, b: Box) -> Box:
    """The intersection of two boxes (None when it is empty)."""
    if a is None or b is None:
        return None
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    result = dict(large)
    for name, slot in small.items():
        joined = result[name].meet(slot) if name in result else slot
        if joined.empty:
            return None
        result[name] = joined
    return result


def disjoint(a: Box, b: Box) -> bool:
    """True when no client can be in both boxes (the hot loop of the pre-check)."""
    if a is None or b is None:
        return True
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for name, slot in small.items():
        other = large.get(name)
        if other is not None and _apart(slot, other):
            return True
    return False


def _apart(a: Slot, b: Slot) -> bool:
    """Whether two slots of one fact have no value in common, without building their meet."""
    if a.values is not None and b.values is not None:
        if a.values.isdisjoint(b.values):
            return True
    elif a.values is not None and b.range is not None:
        return not any(b.range.holds(v) for v in a.values)
    elif b.values is not None and a.range is not None:
        return not any(a.range.holds(v) for v in b.values)
    ra, rb = a.range, b.range
    if ra is None or rb is None:
        return False
    if ra.hi < rb.lo or rb.hi < ra.lo:
        return True
    if ra.hi == rb.lo:
        return ra.hi_open or rb.lo_open
    if rb.hi == ra.lo:
        return rb.hi_open or ra.lo_open
    return False


def exact(node: Node, facts: frozenset[str]) -> bool:
    """Whether `box(node)` is exactly the set of clients `node` matches: a conjunction of
    comparisons of input facts (`facts`) with literals, that box() records in full."""
    match node:
        case Literal(value=True):
            return True
        case And(items=items):
            return all(exact(i, facts) for i in items)
        case Compare(op=op, left=left, right=right):
            if isinstance(left, Literal):
                left, right = right, left
            return (
                isinstance(left, Name)
                and left.name in facts
                and isinstance(right, Literal)
                and right.value is not None
                and _slot(op, comparable_value(right.value)) is not None
            )
        case In(item=Name(name=n), container=ListLit(items=items), negated=False):
            return n in facts and all(isinstance(i, Literal) for i in items)
    return False


def inhabited(b: Box, types: dict[str, FactType]) -> bool:
    """Whether some client with facts of these declared types lies in box `b`."""
    if b is None:
        return False
    return all(_slot_inhabited(slot, types[name]) for name, slot in b.items())


def _slot_inhabited(slot: Slot, t: FactType) -> bool:
    if t.enum is not None:
        domain = Slot(values=frozenset(t.enum))
    elif t.kind in ("integer", "number"):
        lo = -_INF if t.minimum is None else t.minimum
        hi = _INF if t.maximum is None else t.maximum
        domain = Slot(Range(lo, False, hi, False))
    else:
        domain = Slot()
    joined = slot.meet(domain)
    if joined.empty:
        return False
    integral = t.kind in ("integer", "date")
    if joined.values is not None:
        return not integral or any(float(v).is_integer() for v in joined.values)
    rng = joined.range
    if rng is None or not integral:
        return True
    return _least_integer(rng) <= _greatest_integer(rng)


def _least_integer(rng: Range) -> float:
    if rng.lo == -_INF:
        return -_INF
    n = math.ceil(rng.lo)
    return n + 1 if rng.lo_open and n == rng.lo else n


def _greatest_integer(rng: Range) -> float:
    if rng.hi == _INF:
        return _INF
    n = math.floor(rng.hi)
    return n - 1 if rng.hi_open and n == rng.hi else n
