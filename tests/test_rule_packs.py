"""The shipped rule packs: their own tests pass and cover every rule and every default, every
rule says why, and bad facts become that client's errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tierwise import Engine
from tierwise.testing.rule_tests import DEFAULT_AS_OF, cases, run_all

RULES = Path(__file__).resolve().parent.parent / "rules"
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
    for decision, test in cases(engine):
        result = engine.decide(test.given, as_of=test.as_of or DEFAULT_AS_OF).decisions[
            decision.name
        ]
        hit[decision.name].update(["default"] if result.status == "default" else result.rules)
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
    outcome = engine.decide({"client_id": "9", **bad}, as_of=AS_OF)
    assert not outcome.decisions
    assert {e.fact for e in outcome.errors} == set(bad)


def test_a_date_after_as_of_is_an_error_of_the_decision_that_reads_it(engine: Engine) -> None:
    outcome = engine.decide({"signup_date": "2026-06-01", "margin_12m": 100.0}, as_of=AS_OF)
    support = outcome.decisions["support_action"]
    assert support.status == "error" and "after the evaluation date" in (support.error or "")
    assert outcome.output("value_segment") == {"segment": "core", "attractive": True}


def test_explanations_name_the_facts_that_decided(engine: Engine) -> None:
    outcome = engine.decide({"clv_percentile": 97, "margin_12m": 5000.0}, as_of=AS_OF)
    explanation = outcome.decisions["pricing_tier"].explanations[0]
    assert explanation.rule == "platinum" and "best price" in explanation.because
    segment = outcome.decisions["value_segment"].explanations[0]
    assert segment.facts == {"clv_percentile": 97, "margin_12m": 5000.0}
