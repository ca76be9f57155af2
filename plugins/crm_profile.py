"""Enrichment: one client's CRM metrics (CLV, recency, lifecycle...) and, against the run's
profile (engine/profiling.py), its RFM scores and CLV percentile.

Reads the facts the sample mapping gives (revenue_12m, first_purchase_at, churn_risk...);
a metric whose inputs are absent is left out, and a metric the client already has (from
its CRM) is kept. Input it cannot use (text where a number belongs, a purchase after
`as_of`) raises ValueError naming the fact: the run makes that the client's error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from tierwise.lang.types import FactType
from tierwise.runtime.facts import coerce_text
from tierwise.runtime.profile import rank

from . import crm_functions as fn
from .manager import hookimpl

DISCOUNT_RATE = 0.10
"""Yearly discount rate of the CLV (10%)."""
CLV_HORIZON_YEARS = 5
"""CLV counts the margins of the next five years."""
FREQUENCY_WINDOW_DAYS = 365
"""Purchase frequency is over the last year, or since the first purchase if that is later."""
MONEY = ("revenue_prev_12m", "margin_12m", "clv")
"""Amounts the plugin computes, rounded to the cent."""
ENRICHED_FACTS = (
    "revenue_prev_12m",
    "margin_12m",
    "retention_rate",
    "clv",
    "recency_days",
    "tenure_years",
    "purchases_per_year",
    "lifecycle_stage",
    "csat_trend",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_score",
    "clv_percentile",
)
"""Every fact `enrich` may add."""


class _Inputs:
    """Reads facts as numbers or dates, collecting every problem instead of stopping at one."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.facts = facts
        self.problems: list[str] = []

    def number(self, name: str) -> float | None:
        value = self.facts.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            self.problems.append(f"{name} should be a number, got {value!r}")
            return None
        return self._text(name, value, FactType("number")) if isinstance(value, str) else value

    def date(self, name: str) -> dt.date | None:
        value = self.facts.get(name)
        if isinstance(value, str):
            return self._text(name, value, FactType("date"))
        if value is not None and not isinstance(value, dt.date):
            self.problems.append(f"{name} should be a date, got {value!r}")
            return None
        return value

    def _text(self, name: str, value: str, t: FactType) -> Any:
        try:
            return coerce_text(value, t)
        except ValueError as e:
            self.problems.append(f"{name}: {e}")
            return None

    def compute(self, name: str, function: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """`function(*args)`, null when an argument is null; a ValueError becomes a problem."""
        if any(a is None for a in args):
            return None
        try:
            return function(*args, **kw)
        except ValueError as e:
            self.problems.append(f"{name}: {e}")
            return None


def crm_metrics(facts: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The metrics that need only the client's own facts: margin, CLV, recency, tenure,
    purchase frequency, lifecycle stage, satisfaction trend (docs/functions.md)."""
    inputs = _Inputs(facts)
    revenue = inputs.number("revenue_12m")
    revenue_24m = inputs.number("revenue_24m")
    first = inputs.date("first_purchase_at")
    last = inputs.date("last_purchase_at")
    churn_risk = inputs.number("churn_risk")
    if churn_risk is not None and not 0 <= churn_risk <= 1:
        inputs.problems.append(f"churn_risk is a probability from 0 to 1, got {churn_risk}")
        churn_risk = None
    out: dict[str, Any] = {}
    out["revenue_prev_12m"] = (
        None if revenue is None or revenue_24m is None else revenue_24m - revenue
    )
    out["margin_12m"] = inputs.compute(
        "margin_12m",
        fn.relationship_profit,
        revenue,
        inputs.number("direct_costs_12m"),
        inputs.number("relationship_costs_12m"),
    )
    out["retention_rate"] = None if churn_risk is None else 1 - churn_risk
    out["clv"] = inputs.compute(
        "clv",
        fn.lifetime_value,
        out["margin_12m"],
        out["retention_rate"],
        DISCOUNT_RATE,
        CLV_HORIZON_YEARS,
    )
    out["recency_days"] = inputs.compute("last_purchase_at", fn.recency, last, as_of=as_of)
    out["tenure_years"] = inputs.compute("first_purchase_at", fn.tenure, first, as_of=as_of)
    window_start = as_of - dt.timedelta(days=FREQUENCY_WINDOW_DAYS)
    since = None if first is None else max(first, window_start)
    orders = inputs.number("orders_12m")
    out["purchases_per_year"] = inputs.compute(
        "purchases_per_year", fn.purchase_frequency, orders, since, as_of=as_of
    )
    if "first_purchase_at" in facts:  # absent: unknown; null: the client never bought
        out["lifecycle_stage"] = fn.lifecycle(
            out["tenure_years"], out["recency_days"], revenue, out["revenue_prev_12m"]
        )
    out["csat_trend"] = inputs.compute(
        "csat_trend",
        fn.satisfaction_trend,
        inputs.number("csat_avg_90d"),
        inputs.number("csat_avg_365d"),
    )
    if inputs.problems:
        raise ValueError("; ".join(inputs.problems))
    for money in MONEY:  # to the cent: 34961.59, not 34961.59000000001
        if out[money] is not None:
            out[money] = round(out[money], 2)
    return out


def profile_metrics(facts: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    """RFM scores 1..5 (and their sum, 3..15) for clients who bought, and the CLV percentile
    0..99, against the profile's cut points; nothing when the profile lacks them."""
    quantiles = profile.get("quantiles", {})

    def cuts(name: str, count: int) -> list[float] | None:
        found = quantiles.get(name, {}).get("cuts")
        return found if found is not None and len(found) == count else None

    out: dict[str, Any] = {}
    recency, frequency, money = (
        facts.get(n) for n in ("recency_days", "purchases_per_year", "revenue_12m")
    )
    r_cuts, f_cuts, m_cuts = (
        cuts(n, 4) for n in ("recency_days", "purchases_per_year", "revenue_12m")
    )
    if recency is not None and r_cuts and f_cuts and m_cuts:
        out["rfm_r"] = fn.rfm_recency_band(recency, *r_cuts)
        out["rfm_f"] = fn.rfm_band(frequency, *f_cuts) if frequency is not None else None
        out["rfm_m"] = fn.rfm_band(money, *m_cuts) if money is not None else None
        parts = (out["rfm_r"], out["rfm_f"], out["rfm_m"])
        out["rfm_score"] = None if None in parts else sum(parts)
    clv_cuts = cuts("clv", 99)
    if clv_cuts and facts.get("clv") is not None:
        out["clv_percentile"] = rank(facts["clv"], clv_cuts)
    return out


def enrich(facts: Mapping[str, Any], as_of: dt.date, profile: Mapping[str, Any]) -> dict[str, Any]:
    """The facts this plugin adds for one client; facts the client already has win."""
    metrics = {k: v for k, v in crm_metrics(facts, as_of).items() if facts.get(k) is None}
    combined = {**facts, **metrics}
    metrics.update(
        {k: v for k, v in profile_metrics(combined, profile).items() if facts.get(k) is None}
    )
    return metrics


@hookimpl
def tierwise_enrich_facts(
    facts: Mapping[str, Any], as_of: dt.date, profile: Mapping[str, Any]
) -> dict[str, Any]:
    return enrich(facts, as_of, profile)


@hookimpl
def tierwise_enriched_facts() -> list[str]:
    """What `tierwise_enrich_facts` above may add, so a pack reading it stays per client."""
    return list(ENRICHED_FACTS)
