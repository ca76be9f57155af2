"""The run profile (quantile cut points) and the crm_profile enrichment built on it."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa

from tierwise.plugins import crm_profile
from tierwise.plugins.manager import get_plugin_manager
from tierwise.runtime.profile import Profiler, build_profile, cut_points, profile_digest, rank

AS_OF = dt.date(2026, 1, 1)


def test_cut_points_are_nearest_rank_quantiles() -> None:
    values = list(range(1, 11))  # 1..10
    assert cut_points(values, 5) == [2, 4, 6, 8]
    assert cut_points(values, 4) == [3, 5, 8]  # ceil(2.5)=3rd, 5th, ceil(7.5)=8th value
    assert cut_points([7], 5) == [7, 7, 7, 7]
    assert cut_points([], 5) == []
    assert cut_points([0, 0, 0, 0, 1, 5], 5) == [0, 0, 0, 1]  # ties collapse groups


def test_rank_counts_cut_points_strictly_below() -> None:
    cuts = [10.0, 20.0, 30.0]
    assert [rank(v, cuts) for v in (5, 10, 10.5, 30, 31)] == [0, 0, 1, 2, 3]
    percentiles = cut_points(list(range(1, 1001)), 100)
    assert (
        rank(1000, percentiles) == 99 and rank(905, percentiles) == 90 and rank(1, percentiles) == 0
    )


def test_profile_is_deterministic_json_whatever_the_order() -> None:
    rng = random.Random(3)
    clients = [
        {"clv": rng.uniform(-100, 5000), "revenue_12m": rng.randrange(0, 900)} for _ in range(500)
    ]
    clients += [{"clv": None}, {"clv": "n/a"}, {"clv": True}, {"clv": float("nan")}]
    first = build_profile(clients, AS_OF)
    shuffled = clients[:]
    rng.shuffle(shuffled)
    second = build_profile(shuffled, AS_OF)
    assert first == second and profile_digest(first) == profile_digest(second)
    assert json.loads(json.dumps(first)) == first
    assert first["clients"] == 504
    assert first["quantiles"]["clv"]["count"] == 500  # null, text, bool and NaN are not values
    assert len(first["quantiles"]["clv"]["cuts"]) == 99
    assert first["quantiles"]["recency_days"] == {"groups": 5, "count": 0, "cuts": []}


def test_unreadable_rows_are_counted_as_skipped() -> None:
    profile = build_profile([{"clv": 1.0}, object(), {"clv": 2.0}], AS_OF)
    assert (profile["clients"], profile["skipped"]) == (2, 1)


def test_profiler_rejects_fewer_than_two_groups() -> None:
    with pytest.raises(ValueError, match="at least 2 groups"):
        Profiler(AS_OF, {"clv": 1})


# -- the crm_profile enrichment -------------------------------------------------------------
CLIENT = {
    "client_id": "42",
    "revenue_12m": 1200.0,
    "revenue_24m": 2200.0,
    "direct_costs_12m": 700.0,
    "relationship_costs_12m": 100.0,
    "churn_risk": 0.2,
    "first_purchase_at": dt.date(2023, 1, 1),
    "last_purchase_at": dt.date(2025, 12, 2),
    "orders_12m": 6,
    "csat_avg_90d": 3.5,
    "csat_avg_365d": 4.0,
}


def test_crm_metrics_by_hand() -> None:
    m = crm_profile.crm_metrics(CLIENT, AS_OF)
    assert m["revenue_prev_12m"] == 1000.0
    assert m["margin_12m"] == 400.0  # 1200 - 700 - 100
    assert m["retention_rate"] == pytest.approx(0.8)
    q = 0.8 / 1.1  # five years of a 400 margin, 80% retention, 10% discount
    assert m["clv"] == round(sum(400 * q**t for t in range(1, 6)), 2)  # 849.64, to the cent
    assert m["recency_days"] == 30
    assert m["tenure_years"] == pytest.approx(1096 / 365.25)
    assert m["purchases_per_year"] == pytest.approx(6 * 365.25 / 365)
    assert m["lifecycle_stage"] == "growing"  # 1200 >= 1.2 x 1000
    assert m["csat_trend"] == -0.5


def test_prospects_and_unknowns() -> None:
    prospect = {
        "first_purchase_at": None,
        "last_purchase_at": None,
        "revenue_12m": 0.0,
        "direct_costs_12m": 0.0,
        "relationship_costs_12m": 30.0,
        "orders_12m": 0,
    }
    m = crm_profile.crm_metrics(prospect, AS_OF)
    assert m["lifecycle_stage"] == "prospect" and m["margin_12m"] == -30.0
    assert m["recency_days"] is None and m["purchases_per_year"] is None
    assert m["clv"] is None  # no churn risk, so no retention: unknown
    assert "lifecycle_stage" not in crm_profile.crm_metrics({}, AS_OF)  # no purchase data at all


def test_iso_text_is_read_and_bad_input_is_an_error_naming_the_facts() -> None:
    text = dict(CLIENT, first_purchase_at="2023-01-01", revenue_12m="1200")
    assert crm_profile.crm_metrics(text, AS_OF) == crm_profile.crm_metrics(CLIENT, AS_OF)
    bad = dict(CLIENT, revenue_12m="lots", last_purchase_at=dt.date(2026, 3, 1), churn_risk=1.5)
    with pytest.raises(ValueError) as e:
        crm_profile.crm_metrics(bad, AS_OF)
    message = str(e.value)
    assert "revenue_12m: 'lots' is not a number" in message
    assert "last_purchase_at: date 2026-03-01 is after the evaluation date 2026-01-01" in message
    assert "churn_risk is a probability from 0 to 1, got 1.5" in message


def test_enrichment_against_the_profile() -> None:
    profile = {
        "quantiles": {
            "recency_days": {"cuts": [10, 40, 120, 365]},
            "purchases_per_year": {"cuts": [1, 2, 4, 8]},
            "revenue_12m": {"cuts": [100, 300, 800, 2000]},
            "clv": {"cuts": [float(c) for c in range(10, 1000, 10)]},  # 10, 20, ... 990
        }
    }
    facts = crm_profile.enrich(CLIENT, AS_OF, profile)
    # recency 30 -> above one cut -> 4; 6.0/year -> above 3 cuts -> 4; 1200 -> above 3 -> 4
    assert (facts["rfm_r"], facts["rfm_f"], facts["rfm_m"], facts["rfm_score"]) == (4, 4, 4, 12)
    assert facts["clv_percentile"] == 84  # CLV 849.64 is above the cuts 10, 20 ... 840
    without = crm_profile.enrich(CLIENT, AS_OF, {})
    assert "rfm_score" not in without and "clv_percentile" not in without


def test_facts_the_crm_already_has_win() -> None:
    facts = crm_profile.enrich(dict(CLIENT, clv=99999.0, lifecycle_stage="mature"), AS_OF, {})
    assert "clv" not in facts and "lifecycle_stage" not in facts
    assert facts["margin_12m"] == 400.0


def test_profile_with_the_enrichment_hooks() -> None:
    clients = [dict(CLIENT, client_id=str(i), revenue_12m=100.0 * i) for i in range(1, 101)]
    clients.append(dict(CLIENT, client_id="bad", last_purchase_at="yesterday"))
    profile = build_profile(clients, AS_OF, pm=get_plugin_manager())
    assert (profile["clients"], profile["skipped"]) == (100, 1)
    assert profile["quantiles"]["revenue_12m"]["cuts"] == [2000.0, 4000.0, 6000.0, 8000.0]
    assert profile["quantiles"]["clv"]["count"] == 100  # derived by the hook, then profiled


def test_profile_of_a_sql_query_result() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE facts (revenue_12m REAL)"))
        conn.execute(sa.text("INSERT INTO facts VALUES (:v)"), [{"v": v} for v in range(1, 11)])
        rows = conn.execute(sa.text("SELECT revenue_12m FROM facts")).mappings()
        profile = build_profile(rows, AS_OF, quantiles={"revenue_12m": 5})
    assert profile["quantiles"]["revenue_12m"]["cuts"] == [2.0, 4.0, 6.0, 8.0]
