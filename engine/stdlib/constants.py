"""Work done on a profile's constants once, not per client: a base's cut points and purchase
model reach a function as one tuple for every client, so what is checked or built from a
tuple is kept by that tuple's identity (the tuple is kept alive, so its id is not reused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
LIMIT = 256
"""Tuples remembered per function; past this the memo starts afresh."""


def per_tuple(fn: Callable[[Any], T]) -> Callable[[Any], T]:
    """`fn` of one argument, remembered for a tuple argument (immutable, so the result
    holds for as long as it lives); any other argument, or a call that raises, is computed
    each time."""
    seen: dict[int, tuple[Any, T]] = {}

    def remembered(value: Any) -> T:
        hit = seen.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        result = fn(value)
        if type(value) is tuple:
            if len(seen) >= LIMIT:
                seen.clear()
            seen[id(value)] = (value, result)
        return result

    remembered.__doc__ = fn.__doc__
    remembered.__name__ = fn.__name__
    return remembered
