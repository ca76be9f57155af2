"""Client metrics for relationship marketing: lifetime value, profitability of the
relationship, recency, tenure, observed days, lifecycle stage, satisfaction trend, and
the rank of a value among the base's cut points (percentiles, RFM bands).

The Python forms are the reference; where they raise (a diverging CLV series, a date after
`as_of`), the SQL forms in tierwise.stdlib.sql give NULL. docs/functions.md is the
reference for rule authors.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools

from tierwise.functions import Function
from tierwise.stdlib.general import days_since, standard

YEAR_DAYS = 365.25
"""Days in a year, for tenure and purchase frequency (the Julian year: leap years included)."""
MIN_FREQUENCY_DAYS = 30
"""Purchase frequency is measured over at least this many days, so a client who bought
yesterday does not count as buying 365 times a year."""
LAPSED_AFTER_DAYS = 365
"""A client whose last purchase is older than this is `lapsed`."""
NEW_FOR_YEARS = 1
"""A client whose first purchase is younger than this is `new`."""


def days_to_as_of(value: dt.date, as_of: dt.date, what: str) -> int:
    """Days from `value` to `as_of`; a date after `as_of` is an error naming `what`."""
    days = days_since(value, as_of=as_of)
    if days < 0:
        raise ValueError(
            f"{what} {value.isoformat()} is after the evaluation date {as_of.isoformat()}"
        )
    return days


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


def relationship_profit(revenue: float, direct_costs: float, relationship_costs: float) -> float:
    """Relationship profitability: revenue - direct costs - costs of the relationship itself."""
    return revenue - direct_costs - relationship_costs


# -- activity ----------------------------------------------------------------------------
def purchase_frequency(purchases: int, since: dt.date, *, as_of: dt.date) -> float:
    """Purchases per year between `since` and `as_of`: purchases * 365.25 / max(days, 30)."""
    if purchases < 0:
        raise ValueError(f"purchase count must not be negative, got {purchases}")
    days = days_to_as_of(since, as_of, "the start of the purchase period")
    return purchases * YEAR_DAYS / max(days, MIN_FREQUENCY_DAYS)


def observed_days(since: dt.date, window: int, *, as_of: dt.date) -> int:
    """Days of a `window` (days up to `as_of`) during which the client was known: the
    window, or fewer when `since` (e.g. the first purchase) lies inside it."""
    if window < 0:
        raise ValueError(f"the window must not be negative, got {window}")
    return min(days_to_as_of(since, as_of, "date"), window)


def recency(last: dt.date, *, as_of: dt.date) -> int:
    """Days from `last` (e.g. the last purchase) to `as_of`; a date after `as_of` is an error."""
    return days_to_as_of(last, as_of, "date")


def tenure(since: dt.date, *, as_of: dt.date) -> float:
    """Years from `since` (e.g. the first purchase) to `as_of`: days / 365.25."""
    return days_to_as_of(since, as_of, "date") / YEAR_DAYS


# -- scores and stages -------------------------------------------------------------------
def _check_cuts(cuts: tuple[float, ...]) -> None:
    if any(a > b for a, b in itertools.pairwise(cuts)):
        raise ValueError(f"cut points must be ascending, got {list(cuts)}")


def rank(value: float, cuts: tuple[float, ...]) -> int:
    """How many cut points lie strictly below `value` (0 .. number of cuts); with the 99
    cut points of percentiles, the value's percentile: 90 means above 90% of the base."""
    _check_cuts(cuts)
    return bisect.bisect_left(cuts, value)


def band(value: float, cuts: tuple[float, ...]) -> int:
    """The group 1 .. n of `value` among the n equal groups that `cuts` bound: 1 + the
    number of cut points strictly below it (quintile cuts give 1..5)."""
    return 1 + rank(value, cuts)


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


def satisfaction_trend(recent: float, previous: float) -> float:
    """Change in satisfaction score: recent average - previous average, in score points."""
    return recent - previous


CRM_FUNCTIONS: tuple[Function, ...] = (
    standard("lifetime_value", ("number", "number", "number", "integer"), "number", lifetime_value),
    standard(
        "lifetime_value_infinite", ("number", "number", "number"), "number", lifetime_value_infinite
    ),
    standard("relationship_profit", ("number", "number", "number"), "number", relationship_profit),
    standard(
        "purchase_frequency",
        ("integer", "date"),
        "number",
        purchase_frequency,
        needs_as_of=True,
    ),
    standard("observed_days", ("date", "integer"), "integer", observed_days, needs_as_of=True),
    standard("recency", ("date",), "integer", recency, needs_as_of=True),
    standard("tenure", ("date",), "number", tenure, needs_as_of=True),
    standard("rank", ("number", "numbers"), "integer", rank),
    standard("band", ("number", "numbers"), "integer", band),
    standard(
        "lifecycle",
        ("number", "integer", "number", "number"),
        "string",
        lifecycle,
        null_safe=True,
    ),
    standard("satisfaction_trend", ("number", "number"), "number", satisfaction_trend),
)
