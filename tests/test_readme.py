"""The README's rule-language example loads, passes its own tests, and decides as shown."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tierwise import Engine
from tierwise.testing.rule_tests import run_all

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_pack_works_as_documented(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"One YAML file per decision:\n\n```yaml\n(.*?)```", text, re.S)
    assert match is not None, "the README lost its rule-language example"
    (tmp_path / "pricing.yaml").write_text(match.group(1))
    engine = Engine.from_path(tmp_path / "pricing.yaml")
    assert all(r.passed for r in run_all(engine))
    outcome = engine.decide(
        {"client_id": "42", "clv": 12400, "purchases_per_year": 7}, as_of=dt.date(2026, 11, 1)
    )
    result = outcome.decisions["pricing_tier"]
    assert result.output == {"tier": "gold", "discount_pct": 8}
    assert f"# {result.output}" in text
    assert f"facts={result.explanations[0].facts})" in text


def test_the_readme_facts_file_example_loads_and_passes_its_tests(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"computed once per run over the whole client base:\n\n```yaml\n(.*?)```", text, re.S
    )
    assert match is not None, "the README lost its facts-file example"
    (tmp_path / "crm.yaml").write_text(match.group(1))
    (tmp_path / "tier.yaml").write_text(
        "decision: tier\nrules:\n  - {id: top, when: revenue_band == 5, then: {tier: top}}\n"
        "default: {tier: other}\n"
    )
    engine = Engine.from_path(tmp_path)
    results = run_all(engine)
    assert results and all(r.passed for r in results)
    clients = [{"revenue_12m": float(v), "orders_12m": v % 4} for v in range(100)]
    profile = engine.profile(clients, dt.date(2026, 1, 1))
    assert len(profile.values["revenue_cuts"]) == 4 and 0 < profile.values["repeat_share"] < 1
