"""General functions for rule expressions: dates relative to `as_of`, numbers, text, lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tierwise.functions import Function, SqlForm

PLUGIN = "tierwise.stdlib"


def day_number(value: dt.date) -> int:
    """The proleptic Gregorian day number of a date (a datetime counts by its date)."""
    return (value.date() if isinstance(value, dt.datetime) else value).toordinal()


def days_since(value: dt.date, *, as_of: dt.date) -> int:
    """Whole days from `value` to the evaluation date (`as_of`); negative for future dates."""
    return day_number(as_of) - day_number(value)


def days_between(start: dt.date, end: dt.date) -> int:
    """Whole days from `start` to `end`."""
    return day_number(end) - day_number(start)


def coalesce(value: float | None, otherwise: float | None) -> float | None:
    """`value`, or `otherwise` when `value` is missing (SQL's COALESCE): for a fact that has
    a better source and a fallback, e.g. coalesce(1 - churn_risk, bg_nbd_retention(...))."""
    return value if value is not None else otherwise


def standard(
    name: str,
    params: tuple[str, ...],
    returns: str,
    impl: Callable[..., Any],
    doc: str = "",
    *,
    needs_as_of: bool = False,
    null_safe: bool = False,
) -> Function:
    """A standard function, its SQL form being `<name>_sql` in tierwise.stdlib.sql;
    `doc` defaults to the Python form's docstring."""
    return Function(
        name,
        params,
        returns,
        impl,
        doc or impl.__doc__ or "",
        needs_as_of=needs_as_of,
        null_safe=null_safe,
        sql=SqlForm("tierwise.stdlib.sql", f"{name}_sql"),
        plugin=PLUGIN,
    )


GENERAL_FUNCTIONS: tuple[Function, ...] = (
    standard("days_since", ("date",), "integer", days_since, needs_as_of=True),
    standard("days_between", ("date", "date"), "integer", days_between),
    standard("abs", ("number",), "number", abs, "Absolute value."),
    standard("min", ("number", "number"), "number", min, "The smaller of two numbers."),
    standard("max", ("number", "number"), "number", max, "The larger of two numbers."),
    standard(
        "round", ("number",), "integer", round, "Round to the nearest integer (half to even)."
    ),
    standard("len", ("list",), "integer", len, "Number of items in a list."),
    standard("coalesce", ("number", "number"), "number", coalesce, null_safe=True),
    standard(
        "lower", ("string",), "string", str.lower, "Lower-case text, for tests that ignore case."
    ),
)
