"""tierwise.verify: packs with known dead rules, shadowed rules, overlaps and gaps; every
finding is checked, and every example client is replayed through the real engine."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from tierwise.pack.build import load_pack
from tierwise.pack.ir import Pack
from tierwise.plugins.manager import function_registry
from tierwise.runtime.engine import Engine
from tierwise.verify.analyze import Finding, analyze


def make_pack(tmp_path: Path, **files: str) -> Pack:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_pack(tmp_path, function_registry())


def by_kind(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.kind, []).append(f)
    return out


def replay(pack: Pack, finding: Finding):  # type: ignore[no-untyped-def]
    """The engine's result for the finding's example client."""
    assert finding.example is not None and finding.as_of is not None
    outcome = Engine(pack).decide(finding.example, as_of=dt.date.fromisoformat(finding.as_of))
    assert not outcome.errors, outcome.errors
    return outcome.decisions[finding.decision]


def assert_examples_hold(pack: Pack, findings: list[Finding]) -> None:
    """Every example client, run through the engine, really shows its finding."""
    for f in findings:
        if f.example is None:
            assert f.kind in ("dead rule", "shadowed rule"), f
            continue
        result = replay(pack, f)
        if f.kind == "gap":
            assert result.status == "no_decision", (f, result)
        elif f.kind in ("overlap", "conflicting overlap"):
            assert result.status == "error" and set(f.rules) <= set(result.rules), (f, result)
        elif f.kind == "shadowed rule":
            assert result.status == "decided" and result.rules[0] != f.rules[0], (f, result)


PRICING = """
    decision: pricing_tier
    hit_policy: first
    inputs:
      clv: {type: number, min: 0}
      revenue_12m: number
      direct_costs_12m: number
      purchases_per_year: {type: integer, min: 0}
      stage: {enum: [new, growing, mature, lapsed]}
    derive:
      margin_12m: revenue_12m - direct_costs_12m
    rules:
      - id: platinum
        when: clv >= 50000 and margin_12m > 0
        then: {tier: platinum, discount_pct: 15}
      - id: gold
        when: clv >= 10000 and purchases_per_year >= 6
        then: {tier: gold, discount_pct: 8}
      - id: gold_plus
        when: clv >= 60000 and margin_12m > 10 and purchases_per_year >= 10
        then: {tier: gold, discount_pct: 9}
      - id: negative
        when: clv < 0
        then: {tier: none, discount_pct: 0}
      - id: absent_and_compared
        when: not exists(clv) and clv > 5
        then: {tier: none, discount_pct: 0}
      - id: small
        when: clv < 10000
        then: {tier: standard, discount_pct: 0}
"""


def test_dead_shadowed_and_gap_in_a_first_hit_decision(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, pricing=PRICING)
    findings = analyze(pack)
    kinds = by_kind(findings)
    assert sorted(f.rules[0] for f in kinds["dead rule"]) == ["absent_and_compared", "negative"]
    dead = next(f for f in kinds["dead rule"] if f.rules == ("negative",))
    assert dead.pos == pack.decision("pricing_tier").rule("negative").pos
    assert str(dead).startswith(f"{tmp_path / 'pricing.yaml'}:22:5:")
    [shadowed] = kinds["shadowed rule"]
    # every client of gold_plus also matches platinum and gold: either one proves it
    assert shadowed.rules[0] == "gold_plus" and set(shadowed.rules[1:]) <= {"platinum", "gold"}
    decision = pack.decision("pricing_tier")
    assert shadowed.related == tuple(decision.rule(r).pos for r in shadowed.rules[1:])
    [gap] = kinds["gap"]
    assert gap.example is not None
    assert gap.example["clv"] >= 10000 and gap.example["purchases_per_year"] < 6
    assert set(kinds) == {"dead rule", "shadowed rule", "gap"}
    assert_examples_hold(pack, findings)


def test_a_default_closes_every_gap(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, pricing=PRICING + "    default: {tier: standard, discount_pct: 0}\n")
    assert "gap" not in by_kind(analyze(pack))


def test_overlaps_under_unique_and_any(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        support="""
        decision: support
        hit_policy: unique
        inputs:
          satisfaction: {type: integer, min: 0, max: 10}
        rules:
          - {id: low, when: satisfaction <= 3, then: {action: callback}}
          - {id: mid, when: satisfaction >= 3 and satisfaction <= 7, then: {action: survey}}
          - {id: high, when: satisfaction > 7, then: {action: none}}
        """,
        loyalty="""
        decision: loyalty
        hit_policy: any
        inputs:
          points: {type: integer, min: 0}
        rules:
          - {id: a, when: points > 10, then: {method: rewards}}
          - {id: b, when: points > 20, then: {method: rewards}}
          - {id: c, when: points > 30, then: {method: manager}}
        default: {method: none}
        """,
    )
    findings = analyze(pack)
    kinds = by_kind(findings)
    [overlap] = kinds["overlap"]
    assert overlap.rules == ("low", "mid") and overlap.example == {"satisfaction": 3}
    conflicts = sorted(f.rules for f in kinds["conflicting overlap"])
    assert conflicts == [("a", "c"), ("b", "c")]
    assert "gap" not in kinds and "dead rule" not in kinds
    assert_examples_hold(pack, findings)


def test_integer_and_enum_domains_are_exact(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        seg="""
        decision: seg
        hit_policy: first
        inputs:
          n: integer
          x: number
          stage: {enum: [new, growing, mature]}
        rules:
          - {id: int_between, when: n > 1 and n < 2, then: {s: a}}
          - {id: real_between, when: x > 1 and x < 2, then: {s: b}}
          - {id: new, when: stage == "new", then: {s: c}}
          - {id: grown, when: 'stage in ["growing"]', then: {s: d}}
        """,
    )
    findings = analyze(pack)
    assert [f.rules for f in by_kind(findings)["dead rule"]] == [("int_between",)]
    [gap] = by_kind(findings)["gap"]
    assert gap.example is not None and gap.example["stage"] == "mature"
    assert_examples_hold(pack, findings)


def test_kleene_logic_and_division_by_zero(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        ratio="""
        decision: ratio
        hit_policy: first
        inputs:
          a: number
          b: number
        derive:
          r: a / b
        rules:
          - {id: high, when: r > 1, then: {level: high}}
          - {id: not_high, when: not (r > 1), then: {level: low}}
        """,
    )
    findings = analyze(pack)
    [gap] = by_kind(findings)["gap"]
    assert gap.example is not None and gap.example["b"] == 0
    assert set(by_kind(findings)) == {"gap"}
    assert_examples_hold(pack, findings)


def test_dates_and_days_since_are_modelled_exactly(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        recency="""
        decision: recency
        hit_policy: first
        inputs:
          last_purchase_at: date
        rules:
          - {id: recent, when: days_since(last_purchase_at) <= 30, then: {r: recent}}
          - {id: old, when: days_since(last_purchase_at) > 30, then: {r: old}}
          - id: after_1990
            when: last_purchase_at > 1990-01-01 and days_since(last_purchase_at) > 40
            then: {r: x}
          - id: impossible
            when: last_purchase_at < 2020-01-01 and last_purchase_at > 2020-06-01
            then: {r: y}
        """,
    )
    findings = analyze(pack)
    kinds = by_kind(findings)
    assert "gap" not in kinds
    assert [f.rules[0] for f in kinds["dead rule"]] == ["impossible"]
    assert [f.rules[0] for f in kinds["shadowed rule"]] == ["after_1990"]
    assert_examples_hold(pack, findings)


def test_free_functions_never_give_a_wrong_proof(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        seg="""
        decision: seg
        hit_policy: first
        inputs:
          segment: string
          score: number
        rules:
          - {id: vip, when: lower(segment) == "vip", then: {s: vip}}
          - {id: upper, when: lower(segment) == "VIP", then: {s: never_in_practice}}
          - {id: rounded, when: round(score) > 3, then: {s: r}}
          - {id: same_call, when: lower(segment) == "a" and lower(segment) == "b", then: {s: dead}}
        """,
    )
    findings = analyze(pack)
    kinds = by_kind(findings)
    # `upper` never matches in practice, but lower() is not modelled: no claim either way.
    assert [f.rules[0] for f in kinds["dead rule"]] == ["same_call"]
    assert "lower() treated as free" in kinds["dead rule"][0].note
    [gap] = kinds["gap"]
    assert "function lower() treated as free" in gap.note
    assert_examples_hold(pack, findings)


def test_outputs_of_other_decisions_are_encoded_from_their_rules(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        tier="""
        decision: tier
        hit_policy: first
        inputs:
          clv: {type: number, min: 0}
        rules:
          - {id: gold, when: clv >= 10000, then: {tier: gold}}
        default: {tier: standard}
        """,
        care="""
        decision: care
        hit_policy: unique
        inputs:
          tickets: {type: integer, min: 0}
        rules:
          - {id: gold_care, when: tier.tier == "gold", then: {action: manager}}
          - {id: busy, when: tickets > 5, then: {action: callback}}
          - {id: impossible, when: tier.tier == "platinum", then: {action: none}}
          - {id: quiet, when: tier.tier == "standard" and tickets <= 5, then: {action: none}}
        """,
    )
    findings = analyze(pack)
    kinds = by_kind(findings)
    assert [f.rules for f in kinds["dead rule"]] == [("impossible",)]
    [overlap] = kinds["overlap"]
    assert overlap.rules == ("gold_care", "busy")
    assert overlap.example is not None and overlap.example["clv"] >= 10000
    assert "gap" not in kinds
    assert_examples_hold(pack, findings)


def test_priority_rules_that_can_never_win(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        rank="""
        decision: rank
        hit_policy: priority
        priority_order: {level: [high, low]}
        inputs:
          tickets: {type: integer, min: 0}
        rules:
          - {id: low_any, when: tickets >= 1, then: {level: low}}
          - {id: high_many, when: tickets >= 3, then: {level: high}}
          - {id: low_many, when: tickets >= 5, then: {level: low}}
        default: {level: low}
        """,
    )
    findings = analyze(pack)
    [shadowed] = by_kind(findings)["shadowed rule"]
    assert shadowed.rules == ("low_many", "high_many")
    assert "priority_order" in shadowed.message
    assert_examples_hold(pack, findings)


def test_findings_serialise_to_json_friendly_data(tmp_path: Path) -> None:
    import json

    pack = make_pack(tmp_path, pricing=PRICING)
    data = [f.to_dict() for f in analyze(pack)]
    text = json.dumps(data)
    assert '"kind": "gap"' in text and str(tmp_path / "pricing.yaml") in text


@pytest.mark.parametrize("policy", ["first", "unique", "any", "collect"])
def test_a_clean_decision_has_no_findings(tmp_path: Path, policy: str) -> None:
    pack = make_pack(
        tmp_path,
        clean=f"""
        decision: clean
        hit_policy: {policy}
        inputs:
          clv: {{type: number, min: 0}}
          flag: bool
        rules:
          - {{id: a, when: clv < 100 and flag, then: {{x: 1}}}}
          - {{id: b, when: clv < 100 and not flag, then: {{x: 2}}}}
          - {{id: c, when: clv >= 100, then: {{x: 3}}}}
        """,
    )
    assert analyze(pack) == []


def test_list_and_datetime_facts(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        tags="""
        decision: tags
        hit_policy: unique
        inputs:
          tags: list
          seen_at: datetime
          segment: string
        rules:
          - {id: vip, when: '"vip" in tags', then: {x: 1}}
          - {id: b2b, when: '"b2b" in tags and seen_at > 2025-01-01T00:00', then: {x: 2}}
          - {id: seg, when: 'segment in tags and not ("vip" in tags)', then: {x: 3}}
          - id: late
            when: seen_at > 2025-06-01T00:00 and seen_at < 2025-03-01T00:00
            then: {x: 4}
        """,
    )
    findings = analyze(pack)
    kinds = by_kind(findings)
    assert [f.rules for f in kinds["dead rule"]] == [("late",)]
    assert sorted(f.rules for f in kinds["overlap"]) == [("b2b", "seg"), ("vip", "b2b")]
    [gap] = kinds["gap"]
    assert gap.example is not None and "vip" not in gap.example["tags"]
    assert_examples_hold(pack, findings)
