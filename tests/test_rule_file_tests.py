"""Tests inside rule files: the runner's comparisons, and pytest collecting one item per case."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierwise import Engine
from tierwise.testing.rule_tests import run_all

pytest_plugins = ["pytester"]

COLLECT = """\
decision: actions
hit_policy: collect
inputs: {complaints: integer, nps: integer}
rules:
  - {id: callback, when: complaints > 0, then: {action: callback}}
  - {id: survey, when: nps < 7, then: {action: survey}}
tests:
  - name: both
    given: {complaints: 1, nps: 3}
    expect: [{action: callback}, {action: survey}]
  - name: none
    given: {complaints: 0, nps: 9}
    expect: null
  - name: wrong order
    given: {complaints: 1, nps: 3}
    expect: [{action: survey}, {action: callback}]
  - name: checks nothing
    given: {complaints: 1}
"""


def test_runner_compares_lists_no_decision_and_flags_empty_tests(tmp_path: Path) -> None:
    (tmp_path / "actions.yaml").write_text(COLLECT)
    results = {r.name: r for r in run_all(Engine.from_path(tmp_path))}
    assert results["both"].passed and results["none"].passed
    assert not results["wrong order"].passed
    assert (
        "expected [{action: 'survey'}, {action: 'callback'}]" in results["wrong order"].problems[0]
    )
    assert results["checks nothing"].problems == (
        "this test has neither 'expect' nor 'rule', so it checks nothing",
    )
    assert results["both"].pos.line == 8


def test_pytest_collects_one_item_per_case_with_a_readable_failure(
    pytester: pytest.Pytester,
) -> None:
    rules = pytester.mkdir("rules")
    (rules / "actions.yaml").write_text(COLLECT)
    pytester.makefile(".yaml", unrelated="name: not a rule file\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*rules/actions.yaml::both PASSED*",
            "*actions.yaml::wrong order FAILED*",
            "*actions.yaml:14:5: actions / wrong order: FAILED*",
        ]
    )


def test_a_broken_pack_fails_as_one_item_listing_its_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bad="decision: bad\nrules:\n  - {id: a, when: x >, then: {v: 1}}\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bad.yaml:3:*expression syntax*"])
