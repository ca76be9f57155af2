"""The benchmarks' spec agrees with itself: tierwise, every installed peer and the
hand-written Python give the same answers on a few hundred generated clients.

A benchmark that compares engines answering different questions measures nothing, so
this runs every runner of bench/ on the same clients and counts mismatches.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("numpy", reason="the bench's client generator needs numpy (pip install numpy)")

from bench.spec import SPECS, count_mismatches, generate, generate_columns  # noqa: E402

CLIENTS = 300

# (runner module, class, the pip package it needs, whether it handles missing facts)
RUNNERS = [
    ("bench.peers_tierwise", "TierwiseMany", "tierwise", True),
    ("bench.peers_tierwise", "TierwiseArrow", "tierwise", True),
    ("bench.peers_durable_c", "DurableC", "durable_rules_engine", True),
    ("bench.peers_durable", "DurableWrapper", "durable", True),
    ("bench.peers_zen", "ZenEvaluate", "zen", True),
    ("bench.peers_zen", "ZenBatch", "zen", True),
    ("bench.peers_business_rules", "BusinessRules", "business_rules", False),
    ("bench.peers_rule_engine", "RuleEngine", "rule_engine", False),
    ("bench.peers", "HandWritten", "tierwise", True),
]


def _runner(module: str, cls: str, package: str) -> type:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install -r bench/requirements.txt)")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as e:
        pytest.skip(f"{module}.{cls} is not importable yet: {e}")


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize(
    ("module", "cls", "package", "handles_missing"), RUNNERS, ids=[r[1] for r in RUNNERS]
)
def test_runner_agrees_with_hand_written(
    module: str, cls: str, package: str, handles_missing: bool, spec_name: str
) -> None:
    runner_class = _runner(module, cls, package)
    spec = SPECS[spec_name]
    missing = 0.05 if handles_missing else 0.0
    clients = generate(CLIENTS, seed=7, missing=missing)
    runner = runner_class(spec)
    if getattr(runner, "kind", "dicts") == "dicts":
        answers = runner.run(clients)
    else:
        import pyarrow as pa

        result = runner.run(pa.table(generate_columns(CLIENTS, seed=7, missing=missing)))
        answers = runner.answers(result, [c["client_id"] for c in clients])
    bad, examples = count_mismatches(spec, clients, answers)
    assert bad == 0, f"{bad} of {CLIENTS} answers differ, e.g. {examples}"


@pytest.mark.parametrize("spec_name", sorted(SPECS))
def test_every_rule_wins_somewhere(spec_name: str) -> None:
    """The generated clients exercise every rule, so a wrong rule in any engine shows up."""
    spec = SPECS[spec_name]
    clients = generate(3000, seed=7)
    seen: list[Counter[str]] = [Counter() for _ in spec.decisions]
    for client in clients:
        for counter, answer in zip(seen, spec.handwritten(client), strict=True):
            counter.update(answer if isinstance(answer, tuple) else [answer])
    for decision, counter in zip(spec.decisions, seen, strict=True):
        never = [r.id for r in decision.rules if counter[r.id] == 0]
        assert not never, f"{decision.name}: rules {never} never match the generated clients"


def test_generator_is_seeded() -> None:
    assert generate(50, seed=3, missing=0.1) == generate(50, seed=3, missing=0.1)
    assert generate(50, seed=3) != generate(50, seed=4)
