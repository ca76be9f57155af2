"""Run the tests written inside rule files (`tests:` with `given` / `expect`).

Shared by `tierwise test PATH` and the pytest plugin, so both report the same failures
with the same readable difference between what was expected and what was decided. A
decision's test decides the whole pack; its `given` may pin derived facts (their formula is
skipped) and `profile:` gives statistics of the base (the others are unknown). A facts
file's test checks derived facts; a number is checked to the decimals it is written with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierwise.errors import Pos
from tierwise.outcome import DecisionResult, Outcome
from tierwise.pack.ir import Decision, FactTest, RuleTest
from tierwise.profile import Profile, ProfileError
from tierwise.runtime.engine import Engine

DEFAULT_AS_OF = dt.date(2026, 1, 1)
"""Tests without `as_of` run on this fixed date, so that they give the same answer every day."""


@dataclass(frozen=True)
class TestCaseResult:
    decision: str
    name: str
    pos: Pos
    passed: bool
    problems: tuple[str, ...] = ()

    def report(self) -> str:
        head = f"{self.pos}: {self.decision} / {self.name}: {'ok' if self.passed else 'FAILED'}"
        return "\n".join([head, *("    " + p for p in self.problems)])


@dataclass(frozen=True)
class Case:
    """One test of a rule file: of a decision (`decision` set) or of a facts file."""

    group: str
    name: str
    pos: Pos
    decision: Decision | None = None
    rule_test: RuleTest | None = None
    fact_test: FactTest | None = None

    @property
    def file(self) -> str:
        return self.pos.file


def cases(engine: Engine) -> Iterator[Case]:
    """Every test of the pack: the facts files' first, then each decision's."""
    for ft in engine.pack.fact_tests:
        yield Case(Path(ft.pos.file).stem, ft.name, ft.pos, fact_test=ft)
    for decision in engine.pack.decisions:
        for test in decision.tests:
            yield Case(decision.name, test.name, test.pos, decision, rule_test=test)


def run_case(engine: Engine, case: Case) -> TestCaseResult:
    """Run one test and compare what was decided (or derived) with what it expects."""
    test = case.rule_test or case.fact_test
    assert test is not None
    try:
        profile = Profile.given(engine.pack, test.profile)
    except ProfileError as e:
        problems = [str(e)]
    else:
        problems = (
            _run_fact_test(engine, case.fact_test, profile)
            if case.fact_test is not None
            else _run_decision_test(engine, case, profile)
        )
    return TestCaseResult(case.group, case.name, case.pos, not problems, tuple(problems))


def run_all(engine: Engine) -> list[TestCaseResult]:
    return [run_case(engine, case) for case in cases(engine)]


def decide_test(engine: Engine, test: RuleTest, profile: Profile | None = None) -> Outcome:
    """A decision test's outcome: its `given` decided by the whole pack on its date, the
    derived facts it gives pinned, with its profile values (the others unknown)."""
    derived = {d.name for d in engine.pack.derived}
    pinned = {k: v for k, v in test.given.items() if k in derived}
    given = {k: v for k, v in test.given.items() if k not in derived}
    profile = profile or Profile.given(engine.pack, test.profile)
    return engine.decide_pinned(given, test.as_of or DEFAULT_AS_OF, profile, pinned)


def _run_decision_test(engine: Engine, case: Case, profile: Profile) -> list[str]:
    assert case.decision is not None and case.rule_test is not None
    test = case.rule_test
    outcome = decide_test(engine, test, profile)
    problems: list[str] = [f"invalid fact {e.fact}: {e.message}" for e in outcome.errors]
    result = outcome.decisions.get(case.decision.name)
    if result is not None:
        problems.extend(_compare(case.decision, test, result))
    return problems


def _run_fact_test(engine: Engine, test: FactTest, profile: Profile) -> list[str]:
    facts, errors = engine.derive(test.given, test.as_of or DEFAULT_AS_OF, profile=profile)
    if errors:
        return [f"invalid fact {e.fact}: {e.message}" for e in errors]
    return [
        f"{name}: expected {_show(want)}, got {_show(facts.get(name, '<unknown fact>'))}"
        for name, want in test.expect.items()
        if not _written_equal(want, facts.get(name, "<unknown fact>"))
    ]


def _written_equal(want: Any, got: Any) -> bool:
    """Equal, a float to the decimals it is written with (12.34 checks 12.335 .. 12.345)."""
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        text = repr(want)
        if "e" not in text and "." in text:
            return abs(got - want) <= 0.5 * 10 ** -len(text.split(".")[1]) + 1e-12
    return _equal(want, got)


def _compare(decision: Decision, test: RuleTest, result: DecisionResult) -> list[str]:
    problems: list[str] = []
    if result.status == "error":
        return [f"decision failed: {result.error}"]
    if test.expect_given:
        problems.extend(_compare_output(test.expect, result))
    if test.rules is not None:
        got = ["default"] if result.status == "default" else result.rules
        if list(test.rules) != got:
            problems.append(
                f"rule: expected {', '.join(test.rules) or 'none'}, got {', '.join(got) or 'none'}"
            )
    if not problems and not test.expect_given and test.rules is None:
        problems.append("this test has neither 'expect' nor 'rule', so it checks nothing")
    return problems


def _compare_output(expect: Any, result: DecisionResult) -> list[str]:
    got = result.output
    if expect is None:
        if result.status != "no_decision":
            return [f"expected no decision, got {_show(got)} ({result.status})"]
        return []
    if result.status == "no_decision":
        return [f"expected {_show(expect)}, got no decision (no rule matched, no default)"]
    if isinstance(expect, list):
        got_list = got if isinstance(got, list) else [got or {}]
        if len(expect) != len(got_list) or any(
            _mismatch(e, g) for e, g in zip(expect, got_list, strict=False)
        ):
            return [f"expected {_show(expect)}", f"     got {_show(got_list)}"]
        return []
    if isinstance(got, list):
        return [f"expected {_show(expect)}", f"     got a list of {len(got)} outputs: {_show(got)}"]
    diff = _mismatch(expect, got or {})
    return [f"{k}: expected {_show(e)}, got {_show(g)}" for k, e, g in diff]


def _mismatch(expect: dict[str, Any], got: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ; `expect` may name a subset of the outputs."""
    return [
        (k, v, got.get(k, "<missing>"))
        for k, v in expect.items()
        if not _equal(v, got.get(k, "<missing>"))
    ]


def _equal(a: Any, b: Any) -> bool:
    if (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return float(a) == float(b)
    return bool(a == b)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
