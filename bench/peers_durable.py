"""durable_rules through its own Python wrapper (`durable.lang`), as a user would write it.

One ruleset per decision, rules with `@when_all`. First-hit decisions `post` an event
(consumed by the matching rule of lowest `pri`); collect decisions `assert_fact`, let every
matching action run, then `retract_fact`. A message no rule matches raises
MessageNotHandledException in the wrapper: that is "no match". Derived facts are computed
in Python first (durable's conditions cannot subtract two fields and compare the result).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
from collections.abc import Callable
from typing import Any

from durable.engine import MessageNotHandledException
from durable.lang import get_host, m, pri, ruleset, when_all

from .spec import DERIVED, Answer, DecisionSpec, Spec, Test

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_names = itertools.count()


def _condition(test: Test) -> Any:
    field = getattr(m, test.field)
    if test.op == "in":
        return functools.reduce(operator.or_, [field == v for v in test.value])
    return _OPS[test.op](field, test.value)


class _Decision:
    """One decision as a durable.lang ruleset; its actions record the rules that fired."""

    def __init__(self, decision: DecisionSpec) -> None:
        self.name = f"bench_{decision.name}_{next(_names)}"
        self.first = decision.hit_policy == "first"
        self.fields = tuple(decision.fields)
        self.hits: list[str] = []
        with ruleset(self.name):
            for i, r in enumerate(decision.rules):
                condition = functools.reduce(operator.and_, [_condition(t) for t in r.tests])
                action = self._recorder(r.id)
                if self.first:
                    when_all(pri(i), condition)(action)
                else:
                    when_all(condition)(action)

    def _recorder(self, rule_id: str) -> Callable[[Any], None]:
        hits = self.hits

        def fired(c: Any) -> None:
            hits.append(rule_id)

        fired.__name__ = rule_id
        return fired


class DurableWrapper:
    """Answers a spec through durable.lang, one client at a time."""

    name = "durable_rules (its Python wrapper)"

    def __init__(self, spec: Spec) -> None:
        self.decisions = [_Decision(d) for d in spec.decisions]
        self.host = get_host()
        self.order = {d.name: {r.id: i for i, r in enumerate(d.rules)} for d in spec.decisions}
        self.ranks = [self.order[d.name] for d in spec.decisions]

    def decide(self, client: dict[str, Any]) -> Answer:
        """One client's answer."""
        facts = dict(client)
        for name, (left, _, right) in DERIVED.items():
            a, b = client[left], client[right]
            facts[name] = None if a is None or b is None else a - b
        out: list[Any] = []
        host = self.host
        for d, rank in zip(self.decisions, self.ranks, strict=True):
            message = {f: facts[f] for f in d.fields}
            d.hits.clear()
            if d.first:
                with contextlib.suppress(MessageNotHandledException):
                    host.post(d.name, message)
                out.append(d.hits[0] if d.hits else None)
                continue
            try:
                host.assert_fact(d.name, message)
            except MessageNotHandledException:
                pass
            else:
                host.retract_fact(d.name, message)
            out.append(tuple(sorted(d.hits, key=rank.__getitem__)))
        return tuple(out)

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        decide = self.decide
        return [decide(c) for c in clients]
