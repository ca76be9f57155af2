"""Client-metric functions for rule expressions (CLV, profitability, RFM, lifecycle...).

Each function has a Python form (the reference) and, where SQL can say the same, an `sql`
form over SQLAlchemy column expressions giving the same values on DuckDB, SQLite and
PostgreSQL. Where the Python form raises (a diverging CLV series, a date after `as_of`),
the SQL form gives NULL: SQL cannot raise for one row portably. docs/functions.md is the
reference for rule authors.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from tierwise.functions import Function

from .builtin_functions import _days_since_sql as days_since_sql
from .builtin_functions import days_since
from .manager import hookimpl

YEAR_DAYS = 365.25
"""Days in a year, for tenure and purchase frequency (the Julian year: leap years included)."""
MIN_FREQUENCY_DAYS = 30
"""Purchase frequency is measured over at least this many days, so a client who bought
yesterday does not count as buying 365 times a year."""
LAPSED_AFTER_DAYS = 365
"""A client whose last purchase is older than this is `lapsed`."""
NEW_FOR_YEARS = 1
"""A client whose first purchase is younger than this is `new`."""

Col = ColumnElement[Any]


# -- dates -----------------------------------------------------------------------------
def _days_to_as_of(value: dt.date, as_of: dt.date, what: str) -> int:
    days = days_since(value, as_of=as_of)
    if days < 0:
        raise ValueError(
            f"{what} {value.isoformat()} is after the evaluation date {as_of.isoformat()}"
        )
    return days


def _double(x: Any) -> Col:
    """A double-precision value, so that SQL divides as Python does (never integer division)."""
    return sa.cast(x if isinstance(x, ColumnElement) else sa.literal(x), sa.Double())


# -- value and profitability -------------------------------------------------------------
def _check_clv_args(retention: float, discount: float) -> None:
    if retention < 0:
        raise ValueError(f"retention rate must not be negative, got {retention}")
    if discount <= -1:
        raise ValueError(f"discount rate must be greater than -1 (-100%), got {discount}")


def lifetime_value(margin: float, retention: float, discount: float, horizon: int) -> float:
    """CLV over `horizon` periods: sum over t=1..n of m * r^t / (1+d)^t.

    The first margin is earned one period from now, discounted once and weighted by one
    retention; computed in closed form m*q*(1-q^n)/(1-q) with q = r/(1+d) (m*n when q = 1).
    """
    _check_clv_args(retention, discount)
    if horizon < 0:
        raise ValueError(f"horizon must not be negative, got {horizon}")
    q = retention / (1 + discount)
    if q == 1:
        return float(margin * horizon)
    return margin * q * (1 - q**horizon) / (1 - q)


def _lifetime_value_sql(margin: Col, retention: Col, discount: Col, horizon: Col) -> Col:
    q = _double(retention) / (1 + _double(discount))
    # 1 - q^n; where q^n is below 1e-304, 1 - q^n is exactly 1.0 in doubles, and
    # PostgreSQL's power() would raise an underflow error instead of giving 0
    one_minus_qn = sa.case(
        (horizon == 0, _double(0)),
        (q == 0, _double(1)),
        (sa.func.ln(q) * horizon < -700, _double(1)),
        else_=1 - sa.func.power(q, horizon),
    )
    args = (margin, retention, discount, horizon)
    return sa.case(
        (
            sa.or_(*(a.is_(None) for a in args), retention < 0, discount <= -1, horizon < 0),
            sa.null(),
        ),
        (q == 1, _double(margin) * horizon),
        else_=_double(margin) * q * one_minus_qn / (1 - q),
    )


def lifetime_value_infinite(margin: float, retention: float, discount: float) -> float:
    """CLV over an unlimited horizon: m*r/(1+d-r), the limit of the finite sum.

    The series converges only when retention r < 1 + d; otherwise this raises ValueError.
    """
    _check_clv_args(retention, discount)
    if retention >= 1 + discount:
        raise ValueError(
            f"retention {retention} >= 1 + discount rate {discount}: the CLV series diverges "
            "(use lifetime_value with a finite horizon)"
        )
    return margin * retention / (1 + discount - retention)


def _lifetime_value_infinite_sql(margin: Col, retention: Col, discount: Col) -> Col:
    r, d = _double(retention), _double(discount)
    return sa.case(
        (sa.or_(retention < 0, discount <= -1, r >= 1 + d), sa.null()),
        else_=_double(margin) * r / (1 + d - r),
    )


def relationship_profit(revenue: float, direct_costs: float, relationship_costs: float) -> float:
    """Relationship profitability: revenue - direct costs - costs of the relationship itself."""
    return revenue - direct_costs - relationship_costs


def _relationship_profit_sql(revenue: Col, direct_costs: Col, relationship_costs: Col) -> Col:
    return revenue - direct_costs - relationship_costs


# -- activity ----------------------------------------------------------------------------
def purchase_frequency(purchases: int, since: dt.date, *, as_of: dt.date) -> float:
    """Purchases per year between `since` and `as_of`: purchases * 365.25 / max(days, 30)."""
    if purchases < 0:
        raise ValueError(f"purchase count must not be negative, got {purchases}")
    days = _days_to_as_of(since, as_of, "the start of the purchase period")
    return purchases * YEAR_DAYS / max(days, MIN_FREQUENCY_DAYS)


def _purchase_frequency_sql(purchases: Col, since: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(since, as_of=as_of)
    period = sa.case((days < MIN_FREQUENCY_DAYS, MIN_FREQUENCY_DAYS), else_=days)
    return sa.case(
        (sa.or_(purchases < 0, days < 0), sa.null()),
        else_=_double(purchases) * _double(YEAR_DAYS) / _double(period),
    )


def recency(last: dt.date, *, as_of: dt.date) -> int:
    """Days from `last` (e.g. the last purchase) to `as_of`; a date after `as_of` is an error."""
    return _days_to_as_of(last, as_of, "date")


def _recency_sql(last: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(last, as_of=as_of)
    return sa.case((days < 0, sa.null()), else_=days)


def tenure(since: dt.date, *, as_of: dt.date) -> float:
    """Years from `since` (e.g. the first purchase) to `as_of`: days / 365.25."""
    return _days_to_as_of(since, as_of, "date") / YEAR_DAYS


def _tenure_sql(since: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(since, as_of=as_of)
    return sa.case((days < 0, sa.null()), else_=_double(days) / _double(YEAR_DAYS))


# -- scores and stages -------------------------------------------------------------------
def _check_cuts(cuts: tuple[float, ...]) -> None:
    if any(a > b for a, b in itertools.pairwise(cuts)):
        raise ValueError(f"RFM cut points must be ascending, got {list(cuts)}")


def rfm_band(value: float, c1: float, c2: float, c3: float, c4: float) -> int:
    """RFM score 1..5 for frequency or money: 1 + the number of cut points below `value`."""
    cuts = (c1, c2, c3, c4)
    _check_cuts(cuts)
    return 1 + sum(1 for c in cuts if value > c)


def _count_above(value: Col, cuts: tuple[Col, ...]) -> Col:
    total: Col = sa.literal(0)
    for c in cuts:
        total = total + sa.case((value > c, 1), (value <= c, 0))  # NULL if either is NULL
    return total


def _cuts_descending(cuts: tuple[Col, ...]) -> Col:
    return sa.or_(*(a > b for a, b in itertools.pairwise(cuts)))


def _rfm_band_sql(value: Col, c1: Col, c2: Col, c3: Col, c4: Col) -> Col:
    cuts = (c1, c2, c3, c4)
    return sa.case((_cuts_descending(cuts), sa.null()), else_=1 + _count_above(value, cuts))


def rfm_recency_band(days: float, c1: float, c2: float, c3: float, c4: float) -> int:
    """RFM recency score 1..5 (recent is better): 5 - the number of cut points below `days`."""
    cuts = (c1, c2, c3, c4)
    _check_cuts(cuts)
    return 5 - sum(1 for c in cuts if days > c)


def _rfm_recency_band_sql(days: Col, c1: Col, c2: Col, c3: Col, c4: Col) -> Col:
    cuts = (c1, c2, c3, c4)
    return sa.case((_cuts_descending(cuts), sa.null()), else_=5 - _count_above(days, cuts))


def lifecycle(
    tenure_years: float | None,
    recency_days: int | None,
    revenue_recent: float | None,
    revenue_previous: float | None,
) -> str | None:
    """Relationship stage: prospect, new, growing, mature, declining or lapsed.

    No tenure (never bought): prospect. Last purchase > 365 days ago: lapsed. Tenure < 1
    year: new. Revenue of the recent period >= 1.2 x the previous one (and higher): growing;
    <= 0.8 x (and lower): declining; otherwise mature. Null where a needed fact is missing.
    """
    if tenure_years is None:
        return "prospect"
    if recency_days is None:
        return None
    if recency_days > LAPSED_AFTER_DAYS:
        return "lapsed"
    if tenure_years < NEW_FOR_YEARS:
        return "new"
    if revenue_recent is None or revenue_previous is None:
        return None
    if revenue_recent > revenue_previous and revenue_recent * 5 >= revenue_previous * 6:
        return "growing"
    if revenue_recent < revenue_previous and revenue_recent * 5 <= revenue_previous * 4:
        return "declining"
    return "mature"


def _lifecycle_sql(
    tenure_years: Col, recency_days: Col, revenue_recent: Col, revenue_previous: Col
) -> Col:
    return sa.case(
        (tenure_years.is_(None), "prospect"),
        (recency_days.is_(None), sa.null()),
        (recency_days > LAPSED_AFTER_DAYS, "lapsed"),
        (tenure_years < NEW_FOR_YEARS, "new"),
        (sa.or_(revenue_recent.is_(None), revenue_previous.is_(None)), sa.null()),
        (
            sa.and_(revenue_recent > revenue_previous, revenue_recent * 5 >= revenue_previous * 6),
            "growing",
        ),
        (
            sa.and_(revenue_recent < revenue_previous, revenue_recent * 5 <= revenue_previous * 4),
            "declining",
        ),
        else_="mature",
    )


def satisfaction_trend(recent: float, previous: float) -> float:
    """Change in satisfaction score: recent average - previous average, in score points."""
    return recent - previous


def _satisfaction_trend_sql(recent: Col, previous: Col) -> Col:
    return recent - previous


def _fn(
    name: str, params: tuple[str, ...], returns: str, impl: Any, sql: Any, **kw: Any
) -> Function:
    return Function(name, params, returns, impl, impl.__doc__ or "", sql=sql, plugin=__name__, **kw)


FUNCTIONS: tuple[Function, ...] = (
    _fn(
        "lifetime_value",
        ("number", "number", "number", "integer"),
        "number",
        lifetime_value,
        _lifetime_value_sql,
    ),
    _fn(
        "lifetime_value_infinite",
        ("number", "number", "number"),
        "number",
        lifetime_value_infinite,
        _lifetime_value_infinite_sql,
    ),
    _fn(
        "relationship_profit",
        ("number", "number", "number"),
        "number",
        relationship_profit,
        _relationship_profit_sql,
    ),
    _fn(
        "purchase_frequency",
        ("integer", "date"),
        "number",
        purchase_frequency,
        _purchase_frequency_sql,
        needs_as_of=True,
    ),
    _fn("recency", ("date",), "integer", recency, _recency_sql, needs_as_of=True),
    _fn("tenure", ("date",), "number", tenure, _tenure_sql, needs_as_of=True),
    _fn("rfm_band", ("number",) * 5, "integer", rfm_band, _rfm_band_sql),
    _fn("rfm_recency_band", ("number",) * 5, "integer", rfm_recency_band, _rfm_recency_band_sql),
    _fn(
        "lifecycle",
        ("number", "integer", "number", "number"),
        "string",
        lifecycle,
        _lifecycle_sql,
        null_safe=True,
    ),
    _fn(
        "satisfaction_trend",
        ("number", "number"),
        "number",
        satisfaction_trend,
        _satisfaction_trend_sql,
    ),
)


@hookimpl
def tierwise_functions() -> list[Function]:
    return list(FUNCTIONS)
