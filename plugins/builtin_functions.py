"""General-purpose functions for rule expressions, registered through the same hook as any plugin.

Each has a Python form (the reference) and an SQL form for the batch compiler; the SQL
forms import SQLAlchemy only when a pack is compiled to SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tierwise.functions import Function

from .manager import hookimpl

_EPOCH = dt.date(1970, 1, 1).toordinal()


def _days(value: dt.date) -> int:
    return (value.date() if isinstance(value, dt.datetime) else value).toordinal()


def days_since(value: dt.date, *, as_of: dt.date) -> int:
    """Whole days from `value` to the evaluation date (`as_of`); negative for future dates."""
    return _days(as_of) - _days(value)


def days_between(start: dt.date, end: dt.date) -> int:
    """Whole days from `start` to `end`."""
    return _days(end) - _days(start)


def _sql() -> Any:
    from tierwise.batch import dialects as sqldialect

    return sqldialect


def _days_since_sql(value: Any, *, as_of: dt.date) -> Any:
    import sqlalchemy as sa

    today = sa.cast(sa.literal_column(str(_days(as_of) - _EPOCH)), sa.BigInteger())
    return today.op("-")(_sql().DayNumber(value))


def _days_between_sql(start: Any, end: Any) -> Any:
    q = _sql()
    return q.DayNumber(end).op("-")(q.DayNumber(start))


def _abs_sql(x: Any) -> Any:
    import sqlalchemy as sa

    return sa.func.abs(x)


def _lower_sql(x: Any) -> Any:
    import sqlalchemy as sa

    return sa.func.lower(x)


@hookimpl
def tierwise_functions() -> list[Function]:
    return [
        Function(
            "days_since",
            ("date",),
            "integer",
            days_since,
            days_since.__doc__ or "",
            needs_as_of=True,
            sql=_days_since_sql,
        ),
        Function(
            "days_between",
            ("date", "date"),
            "integer",
            days_between,
            days_between.__doc__ or "",
            sql=_days_between_sql,
        ),
        Function("abs", ("number",), "number", abs, "Absolute value.", sql=_abs_sql),
        Function(
            "min",
            ("number", "number"),
            "number",
            min,
            "The smaller of two numbers.",
            sql=lambda a, b: _sql().Smaller(a, b),
        ),
        Function(
            "max",
            ("number", "number"),
            "number",
            max,
            "The larger of two numbers.",
            sql=lambda a, b: _sql().Larger(a, b),
        ),
        Function(
            "round",
            ("number",),
            "integer",
            round,
            "Round to the nearest integer.",
            sql=lambda x: _sql().RoundHalfEven(x),
        ),
        Function(
            "len",
            ("list",),
            "integer",
            len,
            "Number of items in a list.",
            sql=lambda xs: _sql().ListLength(xs),
        ),
        Function(
            "lower",
            ("string",),
            "string",
            str.lower,
            "Lower-case text, for case-insensitive tests.",
            sql=_lower_sql,
        ),
    ]
