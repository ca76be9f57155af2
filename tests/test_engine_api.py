"""The Python API (issue 2 item 6): decide, decide_many, invalid facts, explanations, threads."""

from __future__ import annotations

import datetime as dt
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine, Outcome

AS_OF = dt.date(2024, 6, 30)

PRICING = """\
decision: pricing_tier
inputs:
  clv: number
  purchases: integer
  stage: {enum: [new, growing, mature]}
  last_purchase: date
derive:
  value_per_purchase: clv / purchases
rules:
  - id: platinum
    when: clv >= 50000 or (purchases >= 6 and stage == "mature")
    then: {tier: platinum, discount_pct: 15}
    because: Top value, or a mature and frequent client
  - id: gold
    when: value_per_purchase > 1000 and days_since(last_purchase) <= 90
    then: {tier: gold, discount_pct: 8}
    because: High value per purchase, bought recently
default: {tier: standard, discount_pct: 0}
"""

SUPPORT = """\
decision: support
hit_policy: collect
inputs:
  complaints: integer
  vip: bool
rules:
  - id: callback
    when: complaints >= 2 or (vip and complaints >= 1)
    then: {action: callback}
  - id: platinum_check_in
    when: pricing_tier.tier == "platinum"
    then: {action: check_in}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("pack")
    (folder / "pricing_tier.yaml").write_text(PRICING)
    (folder / "support.yaml").write_text(SUPPORT)
    return Engine.from_path(folder)


def test_from_path_accepts_a_file(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(PRICING)
    engine = Engine.from_path(path)
    assert engine.decisions == ["pricing_tier"]
    assert engine.decide({"clv": 60000}, as_of=AS_OF).output("pricing_tier")["tier"] == "platinum"


def test_decide_gives_an_outcome_per_decision_in_dependency_order(engine: Engine) -> None:
    outcome = engine.decide({"client_id": 42, "clv": 60000, "complaints": 0}, as_of=AS_OF)
    assert isinstance(outcome, Outcome)
    assert outcome.client_id == "42"
    assert outcome.as_of == AS_OF
    assert outcome.pack_hash == engine.pack.hash and len(outcome.pack_hash) >= 8
    assert list(outcome.decisions) == ["pricing_tier", "support"]
    assert outcome.output("pricing_tier") == {"tier": "platinum", "discount_pct": 15}
    assert outcome.output("support") == [{"action": "check_in"}]
    assert outcome.decisions["support"].rules == ["platinum_check_in"]
    assert outcome.ok


def test_default_and_no_decision(engine: Engine) -> None:
    outcome = engine.decide({"clv": 10}, as_of=AS_OF)
    assert outcome.decisions["pricing_tier"].status == "default"
    assert outcome.decisions["pricing_tier"].rules == []
    assert outcome.output("pricing_tier") == {"tier": "standard", "discount_pct": 0}
    assert outcome.decisions["support"].status == "no_decision"
    assert outcome.output("support") is None


def test_same_facts_and_as_of_give_the_same_outcome(engine: Engine) -> None:
    facts = {"clv": 20000, "purchases": 10, "last_purchase": "2024-05-01"}
    first = engine.decide(facts, as_of=AS_OF).model_dump()
    assert engine.decide(facts, as_of=AS_OF).model_dump() == first
    later = engine.decide(facts, as_of=dt.date(2025, 1, 1))
    assert later.decisions["pricing_tier"].status == "default"  # no longer recent


def test_invalid_facts_give_errors_naming_the_fact(engine: Engine) -> None:
    outcome = engine.decide(
        {"clv": "a lot", "purchases": 2.5, "stage": "old", "vip": "yes", "complaints": 1},
        as_of=AS_OF,
    )
    assert outcome.decisions == {}
    assert not outcome.ok
    by_fact = {e.fact: e for e in outcome.errors}
    assert set(by_fact) == {"clv", "purchases", "stage", "vip"}
    assert by_fact["clv"].value == "a lot" and "number" in by_fact["clv"].message
    assert "integer" in by_fact["purchases"].message
    assert "new, growing, mature" in by_fact["stage"].message
    assert "vip" in by_fact["vip"].message


def test_decide_many_never_raises_for_a_bad_client(engine: Engine) -> None:
    clients: list[Any] = [
        {"clv": 60000},
        {"clv": "oops"},
        ["not", "a", "mapping"],
        None,
        {"last_purchase": "31/12/2023"},
        {"purchases": True},
        {"clv": float("nan")},
        {"complaints": 3},
    ]
    outcomes = list(engine.decide_many(clients, as_of=AS_OF))
    assert len(outcomes) == len(clients)
    assert [o.ok for o in outcomes] == [True, False, False, False, False, False, False, True]
    assert outcomes[0].output("pricing_tier")["tier"] == "platinum"
    assert outcomes[1].errors[0].fact == "clv"
    assert outcomes[4].errors[0].fact == "last_purchase"
    assert outcomes[5].errors[0].fact == "purchases"
    assert outcomes[6].errors[0].fact == "clv"
    assert outcomes[7].output("support") == [{"action": "callback"}]


def test_explanation_names_rule_because_and_fact_values(engine: Engine) -> None:
    facts = {"clv": 9000, "purchases": 3, "last_purchase": dt.date(2024, 6, 1)}
    result = engine.decide(facts, as_of=AS_OF).decisions["pricing_tier"]
    assert result.rules == ["gold"]
    (why,) = result.explanations
    assert why.rule == "gold"
    assert why.because == "High value per purchase, bought recently"
    assert "value_per_purchase > 1000" in why.condition
    assert why.facts["value_per_purchase"] == 3000
    assert why.facts["last_purchase"] == "2024-06-01"
    assert why.facts.get("days_since(last_purchase)") == 29


def test_explanation_of_or_reports_only_the_branch_that_held(engine: Engine) -> None:
    facts = {"clv": 100, "purchases": 8, "stage": "mature"}
    (why,) = engine.decide(facts, as_of=AS_OF).decisions["pricing_tier"].explanations
    assert why.rule == "platinum"
    assert why.facts == {"purchases": 8, "stage": "mature"}
    (why,) = (
        engine.decide({"clv": 50000, "purchases": 1}, as_of=AS_OF)
        .decisions["pricing_tier"]
        .explanations
    )
    assert why.facts == {"clv": 50000}


def test_explanations_of_every_collected_rule(engine: Engine) -> None:
    facts = {"clv": 60000, "complaints": 1, "vip": True}
    result = engine.decide(facts, as_of=AS_OF).decisions["support"]
    assert [e.rule for e in result.explanations] == ["callback", "platinum_check_in"]
    assert result.explanations[0].facts == {"vip": True, "complaints": 1}
    assert result.explanations[1].facts == {"pricing_tier.tier": "platinum"}


def test_outcome_serialises_to_json(engine: Engine) -> None:
    outcome = engine.decide(
        {"clv": 9000, "purchases": 3, "last_purchase": "2024-06-01"}, as_of=AS_OF
    )
    again = Outcome.model_validate_json(outcome.model_dump_json())
    assert again.model_dump() == outcome.model_dump()


def _clients(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    stages = ["new", "growing", "mature", None]
    return [
        {
            "client_id": i,
            "clv": rng.choice([None, rng.uniform(0, 80000)]),
            "purchases": rng.choice([None, 0, rng.randint(1, 12)]),
            "stage": rng.choice(stages),
            "last_purchase": (AS_OF - dt.timedelta(days=rng.randint(0, 400))).isoformat(),
            "complaints": rng.randint(0, 3),
            "vip": rng.random() < 0.3,
        }
        for i in range(n)
    ]


def _answers(outcomes: list[Outcome]) -> list[tuple[Any, ...]]:
    return [
        (o.client_id, *((d.status, d.rules, d.output) for d in o.decisions.values()))
        for o in outcomes
    ]


def test_an_engine_shared_by_8_threads_gives_the_same_answers(engine: Engine) -> None:
    clients = _clients(20_000)
    expected = _answers(list(engine.decide_many(clients, as_of=AS_OF)))
    got: list[list[Outcome]] = [[] for _ in range(8)]
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            mine = clients[k::8]
            if k % 2:
                got[k] = list(engine.decide_many(mine, as_of=AS_OF))
            else:
                got[k] = [engine.decide(c, as_of=AS_OF) for c in mine]
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    merged: list[Outcome] = [None] * len(clients)  # type: ignore[list-item]
    for k in range(8):
        merged[k::8] = got[k]
    assert _answers(merged) == expected
