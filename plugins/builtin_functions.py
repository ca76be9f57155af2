"""General-purpose functions for rule expressions, registered through the same hook as any plugin."""

from __future__ import annotations

import datetime as dt

from tierwise.functions import Function

from .manager import hookimpl


def _days(value: dt.date) -> int:
    return (value.date() if isinstance(value, dt.datetime) else value).toordinal()


def days_since(value: dt.date, *, as_of: dt.date) -> int:
    """Whole days from `value` to the evaluation date (`as_of`); negative for future dates."""
    return _days(as_of) - _days(value)


def days_between(start: dt.date, end: dt.date) -> int:
    """Whole days from `start` to `end`."""
    return _days(end) - _days(start)


@hookimpl
def tierwise_functions() -> list[Function]:
    return [
        Function("days_since", ("date",), "integer", days_since, days_since.__doc__ or "", needs_as_of=True),
        Function("days_between", ("date", "date"), "integer", days_between, days_between.__doc__ or ""),
        Function("abs", ("number",), "number", abs, "Absolute value."),
        Function("min", ("number", "number"), "number", min, "The smaller of two numbers."),
        Function("max", ("number", "number"), "number", max, "The larger of two numbers."),
        Function("round", ("number",), "integer", lambda x: int(round(x)), "Round to the nearest integer."),
        Function("len", ("list",), "integer", len, "Number of items in a list."),
        Function("lower", ("string",), "string", str.lower, "Lower-case text, for case-insensitive tests."),
    ]
