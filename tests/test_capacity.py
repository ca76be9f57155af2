"""The model of durable's alpha network (engine/runtime/capacity.py) never lets a ruleset through
that durable cannot run.

Random rulesets of and/or trees over a few fields are given to durable itself, with the
model's stack limit set to durable's own 64 (no margin): every ruleset the model accepts
must load, and no message may overflow durable's stack (error 303) in it, as an event or as
a fact. Rulesets near the edge are drawn often (many rules over few fields and literals), so
that the model is also seen to accept rulesets durable runs and refuse ones it cannot.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import durable_rules_engine as dre
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise.runtime import capacity

OPS = ["$eq", "$neq", "$lt", "$lte", "$gt", "$gte"]
FIELDS = ["f0", "f1", "f2", "f3"]
LITERALS = [0, 1, 2, 3, 2.5, "a", "b", True]
VALUES = [-1, 0, 0.5, 1, 2, 2.5, 3, 4, "a", "b", "c", True, False, None]
_names = itertools.count()

tests = st.builds(
    lambda op, f, v: {op: {f: v}},
    st.sampled_from(OPS),
    st.sampled_from(FIELDS),
    st.sampled_from(LITERALS),
)
conditions = st.recursive(
    tests,
    lambda inner: st.builds(
        lambda kind, parts: {kind: parts},
        st.sampled_from(["$and", "$or"]),
        st.lists(inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries({f: st.sampled_from(VALUES) for f in FIELDS}), min_size=1, max_size=40
)


def _outcome(rules: list[dict[str, Any]], events: bool, sample: list[dict[str, Any]]) -> str:
    """What durable does with the ruleset: 'refused' at load, 'overflow' for a message, 'ran'."""
    definition = {
        f"r{i}": {"all": [{"m": cond}], **({"pri": i} if events else {})}
        for i, cond in enumerate(rules)
    }
    try:
        handle = dre.create_ruleset(f"capacity_{next(_names)}", json.dumps(definition))
    except dre.error:
        return "refused"
    for values in sample:
        message = json.dumps({"sid": "0", "id": "c", **values})
        try:
            result = (dre.assert_event if events else dre.assert_fact)(handle, message)
        except dre.error as e:
            assert "303" in str(e), e
            return "overflow"
        if result[0] == 0:
            state = result[1]
            action = dre.start_action_for_state(handle, state)
            while action:
                action = dre.complete_and_start_action(handle, state)
        if not events:
            with contextlib.suppress(dre.error):  # nothing was asserted
                dre.retract_fact(handle, message)
    dre.delete_ruleset(handle)
    return "ran"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rules=st.lists(conditions, min_size=30, max_size=120),
    events=st.booleans(),
    sample=messages,
)
def test_a_ruleset_the_model_accepts_runs_in_durable(
    monkeypatch: pytest.MonkeyPatch,
    rules: list[dict[str, Any]],
    events: bool,
    sample: list[dict[str, Any]],
) -> None:
    monkeypatch.setattr(capacity, "MAX_STACK", 64)
    if capacity.fits(rules):
        assert _outcome(rules, events, sample) == "ran"


def ladder(n: int) -> list[dict[str, Any]]:
    return [{"$gte": {"f0": k}} for k in range(n)]


def grid(n: int) -> list[dict[str, Any]]:
    """n*n rules `a_i > 0 and b_j > 0`: a message with every field 1 matches them all, but
    durable's stack holds only n entries below the root plus n below the a_i walked first."""
    return [
        {"$and": [{"$gt": {f"a{i}": 0}}, {"$gt": {f"b{j}": 0}}]} for i in range(n) for j in range(n)
    ]


@pytest.mark.parametrize(
    ("rules", "message", "fits_durable"),
    [
        (ladder(64), {"f0": 100}, True),
        (ladder(65), {"f0": 100}, False),
        (grid(32), {**{f"a{i}": 1 for i in range(32)}, **{f"b{i}": 1 for i in range(32)}}, True),
        (grid(33), {**{f"a{i}": 1 for i in range(33)}, **{f"b{i}": 1 for i in range(33)}}, False),
        ([{"$eq": {"f0": k}} for k in range(400)], {"f0": 7}, True),
        # 65 rules begun by one message and finished by none still overflow durable
        (
            [{"$and": [{"$gte": {"f0": k}}, {"$eq": {"f1": 1}}]} for k in range(65)],
            {"f0": 100, "f1": 0},
            False,
        ),
    ],
)
def test_the_model_is_exact_at_durables_edge(
    monkeypatch: pytest.MonkeyPatch,
    rules: list[dict[str, Any]],
    message: dict[str, Any],
    fits_durable: bool,
) -> None:
    monkeypatch.setattr(capacity, "MAX_STACK", 64)
    assert capacity.fits(rules) is fits_durable
    assert (_outcome(rules, True, [message]) == "ran") is fits_durable


def _or_of_pairs(groups: int) -> dict[str, Any]:
    return {
        "$or": [{"$and": [{"$gt": {f"a{k}": 0}}, {"$gt": {f"b{k}": 0}}]} for k in range(groups - 1)]
    }


@pytest.mark.parametrize("groups", [15, 16])
def test_groups_per_rule_at_durables_edge(groups: int) -> None:
    rule = _or_of_pairs(groups)
    assert capacity.fits([rule]) is (groups <= capacity.MAX_GROUPS)
    assert (_outcome([rule], False, [{"a0": 1, "b0": 1}]) == "ran") is (groups <= 15)
