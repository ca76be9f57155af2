"""Run the tests written inside rule files (`tests:` with `given` / `expect`).

Shared by `tierwise test PATH` and the pytest plugin, so both report the same failures
with the same readable difference between what was expected and what was decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tierwise.errors import Pos
from tierwise.outcome import DecisionResult
from tierwise.pack.ir import Decision, RuleTest
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


def cases(engine: Engine) -> Iterator[tuple[Decision, RuleTest]]:
    for decision in engine.pack.decisions:
        for test in decision.tests:
            yield decision, test


def run_case(engine: Engine, decision: Decision, test: RuleTest) -> TestCaseResult:
    """Decide the test's `given` facts with the whole pack and compare with `expect` and `rule`."""
    outcome = engine.decide(test.given, as_of=test.as_of or DEFAULT_AS_OF)
    problems: list[str] = [f"invalid fact {e.fact}: {e.message}" for e in outcome.errors]
    result = outcome.decisions.get(decision.name)
    if result is not None:
        problems.extend(_compare(decision, test, result))
    return TestCaseResult(decision.name, test.name, test.pos, not problems, tuple(problems))


def run_all(engine: Engine) -> list[TestCaseResult]:
    return [run_case(engine, d, t) for d, t in cases(engine)]


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
