"""Property test of tierwise.verify on random packs: a rule proven dead never matches a
random client, a rule proven shadowed never wins, and every example replays as claimed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry
from tierwise.runtime.engine import Engine
from tierwise.verify.analyze import analyze

from .strategies import AS_OF, clients, packs
from .test_verify import assert_examples_hold


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=packs(), data=st.data())
def test_proofs_hold_for_random_clients(files: dict[str, str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        pack = load_pack(tmp, function_registry())
        findings = analyze(pack, timeout_ms=1000)
        assert_examples_hold(pack, findings)
    dead = {(f.decision, f.rules[0]) for f in findings if f.kind == "dead rule"}
    shadowed = {(f.decision, f.rules[0]) for f in findings if f.kind == "shadowed rule"}
    engine = Engine(pack)
    for _ in range(20):
        outcome = engine.decide(data.draw(clients(pack)), as_of=AS_OF)
        for name, result in outcome.decisions.items():
            assert not {(name, r) for r in result.rules} & dead, (name, result, files)
            if result.status == "decided" and pack.decision(name).hit_policy in (
                "first",
                "priority",
            ):
                assert (name, result.rules[0]) not in shadowed, (name, result, files)
