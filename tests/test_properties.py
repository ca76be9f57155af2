"""Differential property test: the durable-based Engine against the reference interpreter.

Random packs (every hit policy, derived facts, decisions reading decisions, missing values,
arithmetic, dates) and random clients; status, output and winning rule ids must agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tierwise import Engine

from . import reference
from .strategies import AS_OF, clients, packs


def _engine(files: dict[str, str]) -> Engine:
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        return Engine.from_path(folder)


def _mismatches(engine: Engine, facts: dict[str, Any]) -> list[str]:
    outcome = engine.decide(facts, as_of=AS_OF)
    expected = reference.decide(engine.pack, facts, AS_OF)
    problems = []
    if outcome.errors:
        problems.append(f"facts rejected: {outcome.errors}")
    for name, want in expected.items():
        got = outcome.decisions.get(name)
        if got is None:
            problems.append(f"{name}: missing from the outcome")
            continue
        if (got.status, got.output, got.rules) != (want.status, want.output, want.rules):
            problems.append(
                f"{name}: engine {got.status} {got.output} {got.rules} (error {got.error}), "
                f"reference {want.status} {want.output} {want.rules}"
            )
    return problems


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # no shrinking: every step builds an engine (minutes); the failure shows pack and client
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(files=packs(), data=st.data())
def test_engine_agrees_with_reference(files: dict[str, str], data: st.DataObject) -> None:
    engine = _engine(files)
    batch = data.draw(st.lists(clients(engine.pack), min_size=1, max_size=25), label="clients")
    for facts in batch:
        problems = _mismatches(engine, facts)
        assert not problems, f"client {facts}:\n" + "\n".join(problems)
