"""The shipped rule packs: their own tests pass and cover every rule and every default, every
rule says why, and bad facts become that client's errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tierwise import Engine
from tierwise.profile import Profile
from tierwise.testing.rule_tests import cases, decide_test, run_all

RULES = Path(__file__).resolve().parent.parent / "rules"


def unknown_profile(engine: Engine) -> Profile:
    """A profile where every statistic of the base is unknown (as a rule test's)."""
    return Profile.given(engine.pack, {})


AS_OF = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(RULES)


def test_the_shipped_decisions(engine: Engine) -> None:
    assert set(engine.decisions) == {
        "value_segment",
        "pricing_tier",
        "loyalty_method",
        "support_action",
        "contact_channel",
    }


def test_every_rule_file_test_passes(engine: Engine) -> None:
    failures = [r.report() for r in run_all(engine) if not r.passed]
    assert not failures, "\n".join(failures)


def test_tests_cover_every_rule_and_every_default(engine: Engine) -> None:
    hit: dict[str, set[str]] = {name: set() for name in engine.decisions}
    for case in cases(engine):
        if case.decision is None or case.rule_test is None:
            continue
        result = decide_test(engine, case.rule_test).decisions[case.decision.name]
        hit[case.decision.name].update(["default"] if result.status == "default" else result.rules)
    for decision in engine.pack.decisions:
        wanted = {r.id for r in decision.rules} | ({"default"} if decision.default else set())
        assert wanted <= hit[decision.name], (
            f"{decision.name}: untested {wanted - hit[decision.name]}"
        )


def test_every_rule_says_why(engine: Engine) -> None:
    for decision in engine.pack.decisions:
        for rule in decision.rules:
            assert rule.because.strip(), f"{decision.name}.{rule.id} has no 'because'"


def test_inputs_are_typed_so_bad_values_are_caught(engine: Engine) -> None:
    bad = {
        "revenue_12m": "1,200",  # text in a number
        "min_order_amount": -20.0,  # a negative amount
        "preferred_channel": "fax",  # an unknown enum value
        "client_type": "reseller",
        "csat_last": 7,  # out of range
        "signup_date": "last spring",  # not a date
    }
    outcome = engine.decide({"client_id": "9", **bad}, as_of=AS_OF, profile=unknown_profile(engine))
    assert not outcome.decisions
    assert {e.fact for e in outcome.errors} == set(bad)


def test_a_date_after_as_of_is_an_error_of_the_decision_that_reads_it(engine: Engine) -> None:
    outcome = engine.decide_pinned(
        {"signup_date": "2026-06-01"}, AS_OF, unknown_profile(engine), {"margin_12m": 100.0}
    )
    support = outcome.decisions["support_action"]
    assert support.status == "error" and "after the evaluation date" in (support.error or "")
    assert outcome.output("value_segment") == {"segment": "core", "attractive": True}


def test_explanations_name_the_facts_that_decided(engine: Engine) -> None:
    outcome = engine.decide_pinned(
        {}, AS_OF, unknown_profile(engine), {"clv_percentile": 97, "margin_12m": 5000.0}
    )
    explanation = outcome.decisions["pricing_tier"].explanations[0]
    assert explanation.rule == "platinum" and "best price" in explanation.because
    segment = outcome.decisions["value_segment"].explanations[0]
    assert segment.facts == {"clv_percentile": 97, "margin_12m": 5000.0}
