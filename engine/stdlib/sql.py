"""The SQL forms of the standard functions (SQLAlchemy Core), one `<name>_sql` per
function, giving the Python forms' values on DuckDB, SQLite and PostgreSQL.

Where a Python form raises for present arguments, its SQL form gives NULL: the batch
compiler reads that as the same failure (`Function.sql`'s contract). Loaded only when a
pack is compiled to SQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from tierwise.batch import dialects
from tierwise.stdlib.crm import (
    COMPARED_AFTER_DAYS,
    MIN_FREQUENCY_DAYS,
    NEW_RATE_MIN_DAYS,
    WINDOW_DAYS,
    YEAR_DAYS,
)
from tierwise.stdlib.general import day_number
from tierwise.stdlib.purchase_model import EXP_LIMIT, PurchaseModel

Col = ColumnElement[Any]
_EPOCH = dt.date(1970, 1, 1).toordinal()


def _double(x: Any) -> Col:
    """A double-precision value, so that SQL divides as Python does (never integer division)."""
    return sa.cast(x if isinstance(x, ColumnElement) else sa.literal(x), sa.Double())


# -- general -----------------------------------------------------------------------------
def days_since_sql(value: Col, *, as_of: dt.date) -> Col:
    today = sa.cast(sa.literal_column(str(day_number(as_of) - _EPOCH)), sa.BigInteger())
    return today.op("-")(dialects.DayNumber(value))


def days_between_sql(start: Col, end: Col) -> Col:
    return dialects.DayNumber(end).op("-")(dialects.DayNumber(start))


def abs_sql(x: Col) -> Col:
    return sa.func.abs(x)


def min_sql(a: Col, b: Col) -> Col:
    return dialects.Smaller(a, b)


def max_sql(a: Col, b: Col) -> Col:
    return dialects.Larger(a, b)


def round_sql(x: Col) -> Col:
    return dialects.RoundHalfEven(x)


def len_sql(xs: Col) -> Col:
    return dialects.ListLength(xs)


def lower_sql(x: Col) -> Col:
    return sa.func.lower(x)


def coalesce_sql(value: Col, otherwise: Col) -> Col:
    return sa.func.coalesce(value, otherwise)


# -- value and profitability -------------------------------------------------------------
def lifetime_value_sql(margin: Col, retention: Col, discount: Col, horizon: Col) -> Col:
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


def lifetime_value_infinite_sql(margin: Col, retention: Col, discount: Col) -> Col:
    r, d = _double(retention), _double(discount)
    return sa.case(
        (sa.or_(retention < 0, discount <= -1, r >= 1 + d), sa.null()),
        else_=_double(margin) * r / (1 + d - r),
    )


def relationship_profit_sql(revenue: Col, direct_costs: Col, relationship_costs: Col) -> Col:
    return revenue - direct_costs - relationship_costs


# -- activity ----------------------------------------------------------------------------
def purchase_frequency_sql(purchases: Col, since: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(since, as_of=as_of)
    period = sa.case((days < MIN_FREQUENCY_DAYS, MIN_FREQUENCY_DAYS), else_=days)
    return sa.case(
        (sa.or_(purchases < 0, days < 0), sa.null()),
        else_=_double(purchases) * _double(YEAR_DAYS) / _double(period),
    )


def yearly_purchases_sql(purchases: Col, first: Col, *, as_of: dt.date) -> Col:
    age = days_since_sql(first, as_of=as_of)
    repeats = sa.case((purchases > 1, purchases - 1), else_=0)
    period = sa.case((age < NEW_RATE_MIN_DAYS, NEW_RATE_MIN_DAYS), else_=age)
    return sa.case(
        (sa.or_(purchases.is_(None), age.is_(None), purchases < 0, age < 0), sa.null()),
        (age >= WINDOW_DAYS, _double(purchases)),
        else_=_double(repeats) * _double(YEAR_DAYS) / _double(period),
    )


def observed_days_sql(since: Col, window: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(since, as_of=as_of)
    return sa.case(
        (sa.or_(days.is_(None), window.is_(None), days < 0, window < 0), sa.null()),
        (days > window, window),
        else_=days,
    )


def recency_sql(last: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(last, as_of=as_of)
    return sa.case((days < 0, sa.null()), else_=days)


def tenure_sql(since: Col, *, as_of: dt.date) -> Col:
    days = days_since_sql(since, as_of=as_of)
    return sa.case((days < 0, sa.null()), else_=_double(days) / _double(YEAR_DAYS))


# -- scores and stages -------------------------------------------------------------------
def rank_sql(value: Col, cuts: Sequence[float]) -> Col:
    """The count of cut points strictly below `value`, as a balanced tree of CASEs over
    the run's constant cut points (depth log2 of their number, not one test per cut)."""
    if any(a > b for a, b in itertools.pairwise(cuts)):
        return sa.cast(sa.null(), sa.BigInteger())

    def below(lo: int, hi: int) -> Col:
        if lo == hi:
            return sa.cast(sa.literal_column(str(lo)), sa.BigInteger())
        mid = (lo + hi) // 2
        edge: Col = sa.cast(sa.literal_column(f"'{float(cuts[mid])!r}'"), sa.Double())
        return sa.case((value > edge, below(mid + 1, hi)), else_=below(lo, mid))

    return sa.case(
        (value.is_(None), sa.cast(sa.null(), sa.BigInteger())), else_=below(0, len(cuts))
    )


def band_sql(value: Col, cuts: Sequence[float]) -> Col:
    return 1 + rank_sql(value, cuts)


def rfm_band_sql(value: Col, cuts: Sequence[float]) -> Col:
    return sa.case(
        (value <= 0, sa.cast(sa.literal_column("0"), sa.BigInteger())), else_=band_sql(value, cuts)
    )


def lifecycle_sql(
    age_days: Col, recency_days: Col, revenue_recent: Col, revenue_previous: Col
) -> Col:
    return sa.case(
        (sa.and_(age_days.is_(None), recency_days.is_(None)), "prospect"),
        (recency_days.is_(None), sa.null()),
        (recency_days >= WINDOW_DAYS, "lapsed"),
        (age_days.is_(None), sa.null()),
        (age_days < COMPARED_AFTER_DAYS, "new"),
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


def satisfaction_trend_sql(recent: Col, previous: Col) -> Col:
    return recent - previous


# -- the base's repeat-purchase model, for one client -------------------------------------
def _model(model: Sequence[float]) -> PurchaseModel | None:
    """The run's purchase model (a constant of the query), or None when it is not one."""
    try:
        return PurchaseModel.of(model)
    except (TypeError, ValueError):
        return None


def _const(x: float) -> Col:
    """A double constant of the query, written exactly (repr), as rank_sql's edges are."""
    return sa.cast(sa.literal_column(f"'{float(x)!r}'"), sa.Double())


def bg_nbd_active_sql(purchases: Col, span_days: Col, age_days: Col, model: Sequence[float]) -> Col:
    m = _model(model)
    if m is None:
        return sa.cast(sa.null(), sa.Double())
    r, alpha, a, b = (_const(v) for v in m.as_list())
    x = _double(purchases - 1)
    z = sa.func.ln(a / (b + x - 1)) + (r + x) * (
        sa.func.ln(alpha + _double(age_days)) - sa.func.ln(alpha + _double(span_days))
    )
    invalid = sa.or_(
        purchases < 1,
        span_days < 0,
        age_days < span_days,
        sa.and_(purchases == 1, span_days != 0),
    )
    missing = sa.or_(purchases.is_(None), span_days.is_(None), age_days.is_(None))
    return sa.case(
        (sa.or_(missing, invalid), sa.null()),
        (purchases == 1, _double(1)),
        (z >= EXP_LIMIT, _double(0)),
        (z <= -EXP_LIMIT, _double(1)),
        else_=_double(1) / (_double(1) + sa.func.exp(z)),
    )


def bg_nbd_rate_sql(purchases: Col, age_days: Col, model: Sequence[float]) -> Col:
    m = _model(model)
    if m is None:
        return sa.cast(sa.null(), sa.Double())
    return sa.case(
        (sa.or_(purchases < 1, age_days < 0), sa.null()),
        else_=(_const(m.r) + _double(purchases - 1))
        / (_const(m.alpha) + _double(age_days))
        * _double(YEAR_DAYS),
    )


def bg_nbd_retention_sql(purchases: Col, age_days: Col, model: Sequence[float]) -> Col:
    m = _model(model)
    if m is None:
        return sa.cast(sa.null(), sa.Double())
    rate = bg_nbd_rate_sql(purchases, age_days, model)
    base = _double(1) + rate / (_const(m.a) + _const(m.b) + _double(purchases - 1))
    return sa.case(
        (_const(m.a) * sa.func.ln(base) >= EXP_LIMIT, _double(0)),
        else_=sa.func.power(base, -_const(m.a)),
    )
