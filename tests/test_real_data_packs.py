"""The shipped packs on a realistic base, read whole and as a bare purchase log, through the
per-client path: the cases a marketing analyst checks before signing (the top clients by
value never pay the standard price, one purchase is never rising or frequent, marketing
only where the contact channel allows it, unknown costs stay unknown and are said to be,
a value tier that falls back to revenue when the lifetime value cannot be computed), the
output distribution, and the data-health report of a run."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tierwise import Engine
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.adapters.sql import open_sql
from tierwise.outcome import Outcome
from tierwise.plugins.cli import main

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = {
    "full": ROOT / "adapters" / "sample_mapping.yaml",
    "purchase-log": ROOT / "adapters" / "sample_mapping_purchase_log.yaml",
}
MARKETING = {
    "win_back",
    "retention_offer",
    "referral_programme",
    "direct_marketing",
    "points_programme",
}
AS_OF = SAMPLE_END


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("crm") / "crm.db", clients=3000, seed=5)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(ROOT / "rules")


Decided = list[tuple[dict[str, Any], Outcome]]


def decide(engine: Engine, crm: Path, mapping: Path) -> Decided:
    """Every valid client's facts (as the decisions saw them) with its outcome."""
    source = open_sql(f"sqlite:///{crm}", mapping)
    try:
        records = list(source.clients(AS_OF, engine.pack.inputs))
    finally:
        source.close()
    profile = engine.profile(records, AS_OF)
    out: Decided = []
    for record, outcome in zip(
        records, engine.decide_many(records, AS_OF, profile=profile), strict=True
    ):
        if outcome.ok:
            facts, errors = engine.derive(record, AS_OF, profile=profile)
            assert not errors
            out.append((facts, outcome))
    return out


@pytest.fixture(scope="module", params=list(MAPPINGS))
def decided(request: pytest.FixtureRequest, engine: Engine, crm: Path) -> Decided:
    return decide(engine, crm, MAPPINGS[request.param])


def test_the_top_clients_by_value_never_pay_the_standard_price(decided: Decided) -> None:
    top = [(f, o) for f, o in decided if (f["clv_percentile"] or 0) >= 95]
    assert top and all(o.output("pricing_tier")["tier"] == "platinum" for _, o in top)
    best_facts, best = max(decided, key=lambda fo: fo[0]["clv"] or -1)
    assert best.output("pricing_tier") == {"tier": "platinum", "discount_pct": 15}
    assert best_facts["orders_12m"] >= 1
    # the discount never falls as the value segment rises
    order = ["strategic", "high_value"]
    for f, o in decided:
        if o.output("value_segment")["segment"] in order:
            assert o.output("pricing_tier")["discount_pct"] >= 5, f


def test_one_purchase_is_never_rising_or_frequent(decided: Decided) -> None:
    for f, o in decided:
        if (f["orders_12m"] or 0) <= 1:
            assert o.output("value_segment")["segment"] != "rising"
            assert o.output("pricing_tier")["tier"] not in ("gold", "growth")
            assert o.output("loyalty_method")["method"] != "points_programme"
            assert f["purchases_per_year"] in (0, 1, None)
    rising = [f for f, o in decided if o.output("value_segment")["segment"] == "rising"]
    assert rising and all(f["orders_12m"] >= 2 for f in rising)


def test_marketing_methods_respect_the_contact_channel(decided: Decided) -> None:
    barred = [o for _, o in decided if not o.output("contact_channel")["marketing_allowed"]]
    assert barred
    assert not [o for o in barred if o.output("loyalty_method")["method"] in MARKETING]
    allowed = Counter(o.output("loyalty_method")["method"] for _, o in decided)
    assert allowed["win_back"] and allowed["direct_marketing"]


def test_the_distribution_is_what_an_analyst_expects(decided: Decided) -> None:
    tiers = Counter(o.output("pricing_tier")["tier"] for _, o in decided)
    n = len(decided)
    assert 0.02 < tiers["platinum"] / n < 0.08  # a few percent at the top
    assert tiers["standard"] / n > 0.6  # most clients pay the standard price
    assert tiers["growth"] < tiers["silver"]
    lapsed = [o for f, o in decided if f["lifecycle_stage"] == "lapsed" and f["orders_total"] >= 3]
    won = [o for o in lapsed if o.output("loyalty_method")["method"] == "win_back"]
    assert len(won) > 0.5 * len(lapsed)  # win-back for the lapsed (with consent)


def test_unknown_costs_stay_unknown_and_the_assumption_is_shown(engine: Engine, crm: Path) -> None:
    decided = decide(engine, crm, MAPPINGS["purchase-log"])
    assert all(f["margin_12m"] is None and f["value_margin_rate"] == 0.3 for f, _ in decided)
    segments = Counter(o.output("value_segment")["segment"] for _, o in decided)
    assert not segments["core"] and not segments["unprofitable"] and segments["regular"]
    strategic = [
        o.decisions["value_segment"]
        for _, o in decided
        if o.output("value_segment")["segment"] == "strategic"
    ]
    assert strategic
    for result in strategic:
        (why,) = result.explanations
        assert why.rule == "strategic_assumed_margin"
        assert why.facts["assumed_margin_rate"] == 0.3 and why.facts["margin_12m"] is None
        assert "assumed margin rate" in why.because


def test_without_a_lifetime_value_the_tier_falls_back_to_revenue(
    engine: Engine, crm: Path, tmp_path: Path
) -> None:
    """A mapping without the all-time revenue: no CLV can be computed, so the value tiers
    rank by the last 12 months' revenue, and the explanation says why."""
    text = MAPPINGS["full"].read_text()
    start = text.index("  revenue_total:")
    end = text.index("\n  direct_costs_12m:")
    mapping = tmp_path / "no_total.yaml"
    mapping.write_text(text[:start] + text[end + 1 :])
    decided = decide(engine, crm, mapping)
    assert all(f["clv"] is None for f, _ in decided)
    rules = Counter(
        o.decisions["value_segment"].rules[0]
        for _, o in decided
        if o.decisions["value_segment"].rules
    )
    assert rules["strategic_by_revenue"] and rules["high_value_by_revenue"]
    top = next(
        o for _, o in decided if o.decisions["value_segment"].rules == ["strategic_by_revenue"]
    )
    assert top.output("pricing_tier")["tier"] == "platinum"
    assert "Lifetime value unknown" in top.decisions["value_segment"].explanations[0].because


def test_a_purchase_log_run_reports_its_data_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        main, ["run", "--engine", "durable", "--sample-profile", "purchase-log", "--clients", "600"]
    )
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "data health: " in err and err.index("data health") < len(err)
    assert "WARNING: no client has direct_costs_12m" in err
    assert "decisions-purchase-log.db" in result.stdout
    profile = runner.invoke(main, ["profile", "--sample-profile", "purchase-log"])
    assert profile.exit_code == 0, profile.output
    data = json.loads(profile.stdout)
    health = {f["fact"]: f for f in data["health"]["facts"]}
    assert health["churn_risk"]["present"] == 0 and health["revenue_12m"]["share"] == 1
    assert "value_segment.strategic" in health["margin_12m"]["needed_by"]
    assert {w["subject"] for w in data["health"]["warnings"]} >= {"direct_costs_12m", "margin_12m"}
    assert dt.date.fromisoformat(health["first_purchase_at"]["median"])


def test_a_sum_over_unknown_values_is_unknown_not_zero(tmp_path: Path) -> None:
    """A purchase log mapped onto the sample schema with no cost data: the costs are
    unknown (null), while a client with no orders at all has 0 costs."""
    import sqlite3

    db = tmp_path / "log.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE clients (id INTEGER PRIMARY KEY);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, client_id INTEGER, ordered_at TEXT,"
            " amount REAL, cost REAL);"
            "INSERT INTO clients VALUES (1), (2);"
            "INSERT INTO orders VALUES (1, 1, '2025-06-01', 40.0, NULL),"
            " (2, 1, '2025-07-01', 60.0, NULL);"
        )
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "aggregates:\n"
        "  revenue_12m: {table: orders, function: sum, column: amount, date: ordered_at,"
        " window_days: 365}\n"
        "  direct_costs_12m: {table: orders, function: sum, column: cost, date: ordered_at,"
        " window_days: 365}\n"
    )
    engine = Engine.from_path(ROOT / "rules")
    source = open_sql(f"sqlite:///{db}", mapping)
    try:
        rows = {r["client_id"]: r for r in source.clients(AS_OF, engine.pack.inputs)}
    finally:
        source.close()
    assert rows["1"]["revenue_12m"] == 100 and rows["1"]["direct_costs_12m"] is None
    assert rows["2"]["revenue_12m"] == 0 and rows["2"]["direct_costs_12m"] == 0


def test_the_12_month_window_and_lapsed_share_one_boundary(tmp_path: Path) -> None:
    """Through the sample mapping: a last purchase exactly 365 days before as_of is outside
    the window (orders_12m 0) and lapsed; one day later it is inside and not lapsed."""
    import sqlite3

    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE purchase_log_clients (id INTEGER PRIMARY KEY, client_type TEXT,"
            " signup_date TEXT, preferred_channel TEXT, marketing_consent TEXT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, client_id INTEGER, ordered_at TEXT,"
            " amount REAL, status TEXT);"
            "INSERT INTO purchase_log_clients (id) VALUES (1), (2);"
            "INSERT INTO orders VALUES (1, 1, '2022-01-01', 50, 'paid'),"
            " (2, 1, '2025-01-01', 50, 'paid'), (3, 2, '2022-01-01', 50, 'paid'),"
            " (4, 2, '2025-01-02', 50, 'paid');"
        )
    engine = Engine.from_path(ROOT / "rules")
    source = open_sql(f"sqlite:///{db}", MAPPINGS["purchase-log"])
    try:
        records = list(source.clients(AS_OF, engine.pack.inputs))
    finally:
        source.close()
    profile = engine.profile(records, AS_OF)
    facts = {r["client_id"]: engine.derive(r, AS_OF, profile=profile)[0] for r in records}
    assert (facts["1"]["recency_days"], facts["1"]["orders_12m"]) == (365, 0)
    assert facts["1"]["lifecycle_stage"] == "lapsed"
    assert (facts["2"]["recency_days"], facts["2"]["orders_12m"]) == (364, 1)
    assert facts["2"]["lifecycle_stage"] == "growing"  # 50 in the window, 0 in the year before
