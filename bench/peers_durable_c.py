"""A bare loop over durable_rules' C extension: the floor under tierwise's per-client path.

Drives `durable_rules_engine` directly, as design.md describes: one ruleset per decision;
first-hit decisions assert an event that the lowest-`pri` matching rule consumes; collect
decisions assert a fact, read every match, and retract it. Derived facts are computed in
Python first; messages are written with orjson. No validation, no explanations.
"""

from __future__ import annotations

import itertools
from typing import Any

import durable_rules_engine as dre
import orjson

from .spec import DERIVED, Answer, DecisionSpec, Spec, Test

_OPS = {">=": "$gte", ">": "$gt", "<=": "$lte", "<": "$lt", "==": "$eq"}
_names = itertools.count()
_HEAD = {"sid": "0", "id": "c"}


def _test_json(test: Test) -> dict[str, Any]:
    if test.op == "in":
        return {"$or": [{"$eq": {test.field: v}} for v in test.value]}
    return {_OPS[test.op]: {test.field: test.value}}


def ruleset_json(decision: DecisionSpec) -> dict[str, Any]:
    """The decision as a durable ruleset: rule `r<i>` for the i-th rule, `pri` for first-hit."""
    out: dict[str, Any] = {}
    for i, r in enumerate(decision.rules):
        tests = [_test_json(t) for t in r.tests]
        entry: dict[str, Any] = {"all": [{"m": tests[0] if len(tests) == 1 else {"$and": tests}}]}
        if decision.hit_policy == "first":
            entry["pri"] = i
        out[f"r{i}"] = entry
    return out


class DurableC:
    """Answers a spec by driving durable's C extension directly, one client at a time."""

    name = "durable C extension, bare loop"

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.plan = []
        for d in spec.decisions:
            handle = dre.create_ruleset(
                f"bench_{d.name}_{next(_names)}", orjson.dumps(ruleset_json(d)).decode()
            )
            ids = {f"r{i}": r.id for i, r in enumerate(d.rules)}
            inputs = tuple(f for f in d.fields if f not in DERIVED)
            derived = tuple(f for f in d.fields if f in DERIVED)
            self.plan.append((handle, d.hit_policy == "first", inputs, derived, ids))
        self.derived = [(name, left, right) for name, (left, _, right) in DERIVED.items()]

    def decide(self, client: dict[str, Any]) -> Answer:
        """One client's answer."""
        values: dict[str, Any] = {}
        for name, left, right in self.derived:
            a, b = client[left], client[right]
            values[name] = None if a is None or b is None else a - b
        out: list[Any] = []
        get = client.__getitem__
        for handle, first, inputs, derived, ids in self.plan:
            msg = _HEAD.copy()
            msg.update(zip(inputs, map(get, inputs), strict=True))
            for f in derived:
                msg[f] = values[f]
            text = orjson.dumps(msg).decode()
            out.append(_first_hit(handle, text, ids) if first else _all_hits(handle, text, ids))
        return tuple(out)

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        decide = self.decide
        return [decide(c) for c in clients]


def _first_hit(handle: int, text: str, ids: dict[str, str]) -> str | None:
    result = dre.assert_event(handle, text)
    if result[0] != 0:
        return None
    state = result[1]
    action = dre.start_action_for_state(handle, state)
    if not action:
        return None
    message = action[1]
    dre.complete_and_start_action(handle, state)
    return ids[message[2 : message.index('"', 2)]]


def _all_hits(handle: int, text: str, ids: dict[str, str]) -> tuple[str, ...]:
    hits: list[str] = []
    result = dre.assert_fact(handle, text)
    if result[0] == 0:
        state = result[1]
        action = dre.start_action_for_state(handle, state)
        while action:
            message = action[1] if isinstance(action, tuple) else action
            hits.append(message[2 : message.index('"', 2)])
            action = dre.complete_and_start_action(handle, state)
    dre.retract_fact(handle, text)
    hits.sort(key=_RANK.__getitem__)
    return tuple(ids[h] for h in hits)


_RANK = {f"r{i}": i for i in range(1000)}
"""File order of the rule names `r<i>` that durable reports in its own order."""
