"""`tierwise facts` as a CRM team meets it: every input of the pack, with its type, range,
unit and meaning, grouped by the record it comes from, the rules that cannot fire without
it and the mapping keys that can feed it; then what the pack derives and the statistics
it computes, each traced back to the inputs (text and JSON)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tierwise.catalog import catalog
from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry

from .cli_process import RULES, tierwise, write_pack


def _json(tmp_path: Path, *args: str) -> dict[str, Any]:
    done = tierwise("facts", "--json", *args, cwd=tmp_path)
    assert done.code == 0, done.err
    data: dict[str, Any] = json.loads(done.out)
    return data


def test_every_input_of_the_shipped_packs_with_where_it_comes_from(tmp_path: Path) -> None:
    data = _json(tmp_path)
    pack = load_pack(RULES, function_registry())
    inputs = {f["name"]: f for f in data["inputs"]}
    assert list(inputs) == list(pack.inputs)
    churn = inputs["churn_risk"]
    assert (churn["type"], churn["min"], churn["max"]) == ("number", 0, 1)
    assert churn["description"].startswith("the CRM's churn probability")
    assert churn["group"] == "the client record" and "aggregate" not in churn["feeds"]
    assert inputs["revenue_12m"]["unit"] == "EUR"
    assert inputs["preferred_channel"]["enum"] == ["email", "phone", "sms", "app", "in_person"]
    first = inputs["first_purchase_at"]
    assert first["group"] == "orders"
    assert "value_segment.strategic" in first["needed_by"] and "clv" in first["derived"]
    assert first["feeds"]["aggregate"] == (
        "aggregates: {first_purchase_at: {table: TABLE, function: min, column: COLUMN, "
        "date: DATE_COLUMN}}"
    )
    assert "window_days: 365" in inputs["orders_12m"]["feeds"]["aggregate"]
    assert "function: count" in inputs["open_complaints"]["feeds"]["aggregate"]
    assert inputs["open_complaints"]["group"] == "support tickets"
    assert inputs["relationship_costs_12m"]["group"] == "support tickets"  # "support work"
    assert inputs["nps_last"]["group"] == "satisfaction surveys"
    assert inputs["client_type"]["decisions"] == inputs["client_type"]["needed_by"] == []


def test_derived_facts_and_statistics_trace_back_to_the_inputs(tmp_path: Path) -> None:
    data = _json(tmp_path)
    derived = {d["name"]: d for d in data["derived"]}
    clv = derived["clv"]
    assert clv["formula"] == "coalesce(clv_churn_score, clv_purchase_model)"
    assert {"first_purchase_at", "orders_total", "churn_risk"} <= set(clv["inputs"])
    assert "purchase_model" in clv["statistics"] and clv["decision"] is None
    assert derived["recency_days"]["functions"] == ["recency"]
    assert derived["days_since_survey"]["decision"] == "support_action"
    stats = {s["name"]: s for s in data["statistics"]}
    assert stats["revenue_cuts"]["inputs"] == ["orders_12m", "revenue_12m"]
    assert stats["clv_cuts"]["computed"] == "cut_points(clv, 100 groups)"


def test_the_catalog_holds_what_the_requirements_say() -> None:
    pack = load_pack(RULES, function_registry())
    found = catalog(pack)
    nps = found.input("nps_last")
    assert set(nps.needed_by) == {"support_action.detractor_call", "loyalty_method.referral"}
    assert {i.name for i in found.inputs if not i.used} == {"client_type", "min_order_amount"}


def test_the_text_groups_inputs_by_the_record_they_come_from(tmp_path: Path) -> None:
    done = tierwise("facts", cwd=tmp_path)
    assert done.code == 0, done.err
    headings = re.findall(r"^From (.+)$", done.out, re.M)
    assert headings == ["the client record", "orders", "support tickets", "satisfaction surveys"]
    listed = re.findall(r"^  (\w+)  ", done.out, re.M)
    pack = load_pack(RULES, function_registry())
    assert sorted(listed) == sorted(pack.inputs)  # each input once
    assert "      1 rule(s) cannot fire without it: support_action.welcome_call" in done.out
    assert "  clv = coalesce(clv_churn_score, clv_purchase_model)" in done.out
    assert "Statistics of the whole base, computed once per run" in done.out


def test_a_pack_of_ones_own(tmp_path: Path) -> None:
    rules = write_pack(tmp_path)
    data = _json(tmp_path, "--rules", str(rules))
    assert [f["name"] for f in data["inputs"]] == ["clv", "segment"]
    assert data["inputs"][0]["needed_by"] == ["tier.gold"]
    assert data["derived"] == data["statistics"] == []


def test_a_broken_pack_shows_its_errors(tmp_path: Path) -> None:
    bad = 'decision: x\nrules:\n  - id: a\n    when: "clv >"\n    then: {b: 1}\n'
    (tmp_path / "bad.yaml").write_text(bad)
    done = tierwise("facts", "--rules", "bad.yaml", cwd=tmp_path)
    assert done.code == 1
    assert "bad.yaml:4:" in done.err and "expression syntax" in done.err
    assert "Traceback" not in done.err
