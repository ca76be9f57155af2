"""Client metrics for relationship marketing: lifetime value, profitability of the
relationship, recency, tenure, purchases a year, lifecycle stage, satisfaction trend, the
rank of a value among the base's cut points (percentiles, RFM bands), and what the base's
repeat-purchase model (tierwise.stdlib.purchase_model) says of one client.

The Python forms are the reference; where they raise (a diverging CLV series, a date after
`as_of`), the SQL forms in tierwise.stdlib.sql give NULL. docs/functions.md is the
reference for rule authors.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools

from tierwise.functions import Function
from tierwise.stdlib.constants import per_tuple
from tierwise.stdlib.general import days_since, standard
from tierwise.stdlib.purchase_model import (
    PurchaseModel,
    probability_active,
    yearly_rate,
    yearly_survival,
)

YEAR_DAYS = 365.25
"""Days in a year, for tenure and purchase frequency (the Julian year: leap years included)."""
MIN_FREQUENCY_DAYS = 30
"""Purchase frequency is measured over at least this many days, so a client who bought
yesterday does not count as buying 365 times a year."""
WINDOW_DAYS = 365
"""The 12-month window: rows dated in (as_of - 365 days, as_of], as the mapping's
`window_days: 365` counts them. A client with no purchase in it is `lapsed`: lapsed means
recency_days >= 365, exactly when orders_12m is 0."""
COMPARED_AFTER_DAYS = 2 * WINDOW_DAYS
"""Growth is judged by comparing the last 12 months with the 12 before, so only for a
client whose first purchase is at least this old (both periods fully observed); a younger
one is `new`."""
NEW_RATE_MIN_DAYS = 90
"""A client younger than the window has their repeat purchases counted per year over at
least this many days, so two purchases a week apart are not 52 a year."""


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


def yearly_purchases(purchases: int, first: dt.date, *, as_of: dt.date) -> float:
    """Purchases a year: the purchases of the 12-month window for a client whose first
    purchase is at least a year old; for a younger one, the repeat purchases (all but the
    first) per year since the first, measured over at least 90 days. One purchase is 0."""
    if purchases < 0:
        raise ValueError(f"purchase count must not be negative, got {purchases}")
    age = days_to_as_of(first, as_of, "the first purchase")
    if age >= WINDOW_DAYS:
        return float(purchases)
    return max(purchases - 1, 0) * YEAR_DAYS / max(age, NEW_RATE_MIN_DAYS)


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
@per_tuple
def _check_cuts(cuts: tuple[float, ...]) -> None:
    """ValueError unless the cut points ascend (a profile's tuple is checked once)."""
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


def rfm_band(value: float, cuts: tuple[float, ...]) -> int:
    """An RFM frequency or money score: 0 for no purchase (a value of 0 or less is its own
    band), else `band(value, cuts)` against cut points of the buyers only, so tied values
    share the lowest band of their tie (one purchase is never a frequent buyer's score)."""
    _check_cuts(cuts)
    return 0 if value <= 0 else band(value, cuts)


def lifecycle(
    age_days: int | None,
    recency_days: int | None,
    revenue_recent: float | None,
    revenue_previous: float | None,
) -> str | None:
    """Relationship stage: prospect, new, growing, mature, declining or lapsed.

    No purchase at all (age and recency null): prospect. No purchase in the 12-month window
    (recency >= 365 days): lapsed. First purchase less than two years ago (the last 12
    months and the 12 before are not both observed): new. Then the two full years
    compared: revenue of the last 12 months >= 1.2 x the 12 before (and higher): growing;
    <= 0.8 x (and lower): declining; otherwise mature. Null where a needed fact is missing
    (a client with a last purchase but no first purchase date is not a prospect).
    """
    if age_days is None and recency_days is None:
        return "prospect"
    if recency_days is None:
        return None
    if recency_days >= WINDOW_DAYS:
        return "lapsed"
    if age_days is None:
        return None
    if age_days < COMPARED_AFTER_DAYS:
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


# -- the base's repeat-purchase model, for one client -------------------------------------
def _repeats(purchases: int) -> int:
    """Repeat purchases (all but the first); ValueError for no purchase."""
    if purchases < 1:
        raise ValueError(f"a purchase history has at least one purchase, got {purchases}")
    return purchases - 1


@per_tuple
def _model(values: tuple[float, ...]) -> PurchaseModel:
    """The purchase model of a profile value (a profile's tuple is read once)."""
    return PurchaseModel.of(values)


def bg_nbd_active(purchases: int, span_days: int, age_days: int, model: tuple[float, ...]) -> float:
    """The probability that the client has not left, from the base's purchase `model`
    (a `bg_nbd` statistic), their purchases (the first included), the days from their first
    purchase to their last, and the days since the first. 1 for a client who bought once."""
    return probability_active(_model(model), _repeats(purchases), span_days, age_days)


def bg_nbd_rate(purchases: int, age_days: int, model: tuple[float, ...]) -> float:
    """Purchases a year the client is expected to make while active: (r + purchases - 1) /
    (alpha + age_days) * 365.25, the base's rate updated by the client's own history."""
    return yearly_rate(_model(model), _repeats(purchases), age_days, YEAR_DAYS)


def bg_nbd_retention(purchases: int, age_days: int, model: tuple[float, ...]) -> float:
    """The probability that an active client is still active a year from now:
    (1 + bg_nbd_rate / (a + b + purchases - 1))^-a (each purchase may be the last)."""
    return yearly_survival(_model(model), _repeats(purchases), age_days, YEAR_DAYS)


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
    standard("yearly_purchases", ("integer", "date"), "number", yearly_purchases, needs_as_of=True),
    standard("recency", ("date",), "integer", recency, needs_as_of=True),
    standard("tenure", ("date",), "number", tenure, needs_as_of=True),
    standard("rank", ("number", "numbers"), "integer", rank),
    standard("band", ("number", "numbers"), "integer", band),
    standard("rfm_band", ("number", "numbers"), "integer", rfm_band),
    standard(
        "lifecycle",
        ("integer", "integer", "number", "number"),
        "string",
        lifecycle,
        null_safe=True,
    ),
    standard("satisfaction_trend", ("number", "number"), "number", satisfaction_trend),
    standard(
        "bg_nbd_active", ("integer", "integer", "integer", "numbers"), "number", bg_nbd_active
    ),
    standard("bg_nbd_rate", ("integer", "integer", "numbers"), "number", bg_nbd_rate),
    standard("bg_nbd_retention", ("integer", "integer", "numbers"), "number", bg_nbd_retention),
)
