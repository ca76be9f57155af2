"""Differential property test: the durable-based Engine against the reference interpreter.

Random packs (every hit policy, derived facts, decisions reading decisions, missing values,
arithmetic, dates) and random clients; status, output and winning rule ids must agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.profile import Profile

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


def _facts_mismatches(
    engine: Engine, facts: dict[str, Any], profile: Profile, statistics: dict[str, Any]
) -> list[str]:
    outcome = engine.decide(facts, as_of=AS_OF, profile=profile)
    expected = reference.decide(engine.pack, facts, AS_OF, statistics)
    if expected is None:
        return [] if outcome.errors else [f"engine decided a client whose facts fail: {outcome}"]
    if outcome.errors:
        return [f"facts rejected: {outcome.errors}"]
    return [
        f"{name}: engine {got.status} {got.output} {got.rules}, "
        f"reference {want.status} {want.output} {want.rules}"
        for name, want in expected.items()
        if (got := outcome.decisions[name]) is not None
        and (got.status, got.output, got.rules) != (want.status, want.output, want.rules)
    ]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(files=packs(facts=True), data=st.data())
def test_derived_facts_and_base_statistics_agree_with_reference(
    files: dict[str, str], data: st.DataObject
) -> None:
    """A facts file's derived facts and statistics: the engine's profile of a base equals the
    reference's, and every client is decided alike with it."""
    engine = _engine(files)
    base = data.draw(st.lists(clients(engine.pack), min_size=1, max_size=30), label="clients")
    profile = engine.profile(base, AS_OF)
    statistics = reference.profile(engine.pack, base, AS_OF)
    for name, want in statistics.items():
        got = profile.values[name]
        assert (got is None) == (want is None), (name, got, want)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-300), (name, got, want)
        else:
            assert got == want, (name, got, want)
    values = {k: v for k, v in profile.values.items()}
    for facts in base:
        problems = _facts_mismatches(engine, facts, profile, values)
        assert not problems, f"client {facts}:\n" + "\n".join(problems)
