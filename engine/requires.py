"""Which facts a rule cannot fire without: the facts that must have a value for its
condition to be true, found from the condition's shape (SQL's three-valued logic: a
comparison with a missing value is unknown, and unknown never matches).

`and` needs what each part needs, `or` only what every branch needs, `exists(x)` needs
nothing (it is true or false either way); a derived fact needs what its formula needs (a
function that reads nulls itself needs nothing, coalesce what both arguments need);
`d.out == value` needs
what every rule of decision `d` that gives that value needs (nothing when d's default
gives it). The data-health report lists, per fact, the rules that cannot fire without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from tierwise.lang.expr import (
    And,
    Arith,
    Call,
    Compare,
    Exists,
    In,
    ListLit,
    Literal,
    Name,
    Neg,
    Node,
    Not,
    Or,
)
from tierwise.pack.ir import Decision, Pack


class Requirements:
    """The facts each rule of a pack needs, computed once per pack."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self._derived = {d.name: d.expr for d in pack.derived}
        self._local: dict[str, Node] = {}
        self._decisions = {d.name: d for d in pack.decisions}
        self._fact_cache: dict[str, frozenset[str]] = {}
        self._stack: set[str] = set()

    def of_rules(self) -> dict[tuple[str, str], frozenset[str]]:
        """(decision, rule id) -> the facts (inputs and derived) it cannot fire without."""
        return {(d.name, r.id): self.of_rule(d, r.id) for d in self.pack.decisions for r in d.rules}

    def of_rule(self, decision: Decision, rule_id: str) -> frozenset[str]:
        """The facts one rule of `decision` cannot fire without (its local derived facts read)."""
        saved = self._local
        self._local = {dv.name: dv.expr for dv in decision.derived}
        try:
            return self._node(decision.rule(rule_id).condition)
        finally:
            self._local = saved

    def _node(self, node: Node) -> frozenset[str]:
        """The facts an expression needs to have a value (a condition: to be true)."""
        match node:
            case And(items=items):
                return frozenset().union(*(self._node(i) for i in items))
            case Or(items=items):
                return _common(self._node(i) for i in items)
            case Not(operand=o) | Neg(operand=o):
                return self._node(o)
            case Exists():
                return frozenset()
            case Literal() | ListLit():
                return frozenset().union(*(self._node(c) for c in node.children()))
            case Compare(op="==", left=Name(name=n), right=Literal(value=v)) if "." in n:
                return self._output(n, (v,))
            case In(item=Name(name=n), container=ListLit(items=items), negated=False) if (
                "." in n and all(isinstance(i, Literal) for i in items)
            ):
                return self._output(n, tuple(i.value for i in items if isinstance(i, Literal)))
            case Compare() | Arith() | In():
                return frozenset().union(*(self._node(c) for c in node.children()))
            case Call(func="coalesce", args=args):  # a value when either argument has one
                return _common(self._node(a) for a in args)
            case Call(func=func, args=args):
                fn = self.pack.functions.get(func)
                if fn is not None and fn.null_safe:
                    return frozenset()
                return frozenset().union(*(self._node(a) for a in args))
            case Name(name=n):
                return self._name(n)
        return frozenset()

    def _name(self, name: str) -> frozenset[str]:
        """A name needs itself, and a derived fact also what its formula needs."""
        if name in self._local:
            return self._node(self._local[name])
        if name not in self._derived:
            return frozenset([name]) if "." not in name else frozenset()
        if name not in self._fact_cache:
            if name in self._stack:  # a cycle is a load error already
                return frozenset([name])
            self._stack.add(name)
            self._fact_cache[name] = frozenset([name]) | self._node(self._derived[name])
            self._stack.discard(name)
        return self._fact_cache[name]

    def _output(self, target: str, values: tuple[object, ...]) -> frozenset[str]:
        """What `decision.out` being one of `values` needs: what every rule giving one
        of them needs (nothing when the default gives one)."""
        decision_name, _, out = target.partition(".")
        decision = self._decisions.get(decision_name)
        if decision is None or target in self._stack:
            return frozenset()
        if isinstance(decision.default, dict) and decision.default.get(out) in values:
            return frozenset()
        giving = [
            r.id
            for r in decision.rules
            if isinstance(r.outputs, dict) and r.outputs.get(out) in values
        ]
        if not giving:
            return frozenset()
        self._stack.add(target)
        try:
            return _common(self.of_rule(decision, rule_id) for rule_id in giving)
        finally:
            self._stack.discard(target)


def _common(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    """What every one of the sets holds (the facts every branch needs)."""
    result: frozenset[str] | None = None
    for s in sets:
        result = s if result is None else result & s
    return result or frozenset()
