"""Prove what a rule pack does for every possible client, with an SMT solver (z3).

For each decision: rules that can never match (a contradictory condition), rules that can
never win (shadowed under first-hit or priority), overlaps under `unique`, overlaps with
different outputs under `any`, and gaps (clients inside the declared domains that no rule
matches, where there is no default). "Never" findings are proofs: what the solver cannot
model is treated as free, which only widens what it considers possible. Findings that
claim a client exists carry that client, and it is replayed through the engine before it
is reported, so every example really shows its finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from tierwise import policy
from tierwise.errors import Pos
from tierwise.outcome import DecisionResult
from tierwise.pack.ir import Decision, Pack, Rule
from tierwise.profile import Profile
from tierwise.verify.box import Box, box, disjoint, exact, inhabited
from tierwise.verify.encode import Encoder, Space, Strings, Trace, decode

KINDS = ("dead rule", "shadowed rule", "overlap", "conflicting overlap", "gap")
TRIES = 6
"""Models the solver proposes for one finding before it gives up confirming it."""
DECADE = 3653


@dataclass(frozen=True)
class Finding:
    """One proven problem of a decision, where it is, and a client that shows it."""

    kind: str
    decision: str
    rules: tuple[str, ...]
    message: str
    pos: Pos
    related: tuple[Pos, ...] = ()
    example: dict[str, Any] | None = None
    as_of: str | None = None
    note: str = ""

    def __str__(self) -> str:
        lines = [f"{self.pos}: {self.kind}: {self.message}"]
        lines += [f"    see {p}" for p in self.related]
        if self.example is not None:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.example.items())
            lines.append(
                f"    example client: {shown}" + (f" (as of {self.as_of})" if self.as_of else "")
            )
        if self.note:
            lines.append(f"    note: {self.note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-friendly data."""
        return {
            "kind": self.kind,
            "decision": self.decision,
            "rules": list(self.rules),
            "message": self.message,
            "pos": str(self.pos),
            "related": [str(p) for p in self.related],
            "example": self.example,
            "as_of": self.as_of,
            "note": self.note,
        }


def analyze(pack: Pack, *, timeout_ms: int = 5000) -> list[Finding]:
    """Every finding for every decision of `pack`, in decision and rule order.

    `timeout_ms` bounds each solver query; a query that times out reports nothing.
    """
    replay = _Replay(pack)
    findings: list[Finding] = []
    for decision in pack.decisions:
        findings += _DecisionCheck(pack, decision, timeout_ms, replay).run()
    return findings


class _Replay:
    """Runs example clients through the real engine (built on first use)."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self._engine: Any = None

    def result(
        self, decision: str, example: dict[str, Any], as_of: dt.date
    ) -> DecisionResult | None:
        if self._engine is None:
            from tierwise.runtime.engine import Engine

            self._engine = Engine(self.pack)
        derived = {d.name for d in self.pack.derived}
        pinned = {k: v for k, v in example.items() if k in derived}
        given = {k: v for k, v in example.items() if k not in derived}
        unknown = Profile.given(self.pack, {})
        outcome = self._engine.decide_pinned(given, as_of, unknown, pinned)
        if outcome.errors:
            return None
        return outcome.decisions.get(decision)


@dataclass
class _RuleModel:
    rule: Rule
    match: z3.BoolRef
    miss: z3.BoolRef
    trace: Trace
    inputs: list[str]
    box: Box
    alive: bool
    """True when the pre-check already shows that some client matches the rule."""


class _DecisionCheck:
    """One decision, one solver: rule conditions are asserted once behind literals
    (`match_i` implies rule i is true, `miss_i` that it is not) and each query is a check
    under a few of those literals, so nothing is re-encoded between queries."""

    def __init__(self, pack: Pack, decision: Decision, timeout_ms: int, replay: _Replay) -> None:
        self.decision = decision
        self.replay = replay
        self.strings = Strings()
        self.space = Space(pack, self.strings)
        encoder = Encoder(self.space, decision)
        self.models: list[_RuleModel] = []
        self.solver = z3.Solver()
        self.solver.set("timeout", timeout_ms)
        self.solver.set("core.minimize", True)
        types = {n: pack.inputs.get(n) or t for n, t in decision.inputs.items()}
        facts = frozenset(types)
        for rule in decision.rules:
            truth, trace = encoder.condition(rule.condition)
            match, miss = z3.Bool(f"match_{rule.index}"), z3.Bool(f"miss_{rule.index}")
            self.solver.add(z3.Implies(match, truth.true), z3.Implies(miss, z3.Not(truth.true)))
            inputs = encoder.input_names(rule.condition)
            b = box(rule.condition)
            alive = exact(rule.condition, facts) and inhabited(b, types)
            self.models.append(_RuleModel(rule, match, miss, trace, inputs, b, alive))
        self.solver.add(self.space.constraints)
        self.prefer = z3.Bool("prefer_plain_values")
        self.solver.add(z3.Implies(self.prefer, self._plain_values()))
        self.findings: list[Finding] = []

    def run(self) -> list[Finding]:
        dead = self._dead_and_shadowed()
        if policy.can_conflict(self.decision):
            self._overlaps(dead)
        if self.decision.default is None:
            self._gap()
        return self.findings

    # -- dead and shadowed rules -------------------------------------------------------
    def _winning_order(self) -> list[_RuleModel]:
        """The rule models in the order the hit policy tries them (tierwise.policy)."""
        return [self.models[r.index] for r in policy.rule_order(self.decision)]

    def _dead_and_shadowed(self) -> set[int]:
        ranked = policy.is_ranked(self.decision)
        dead: set[int] = set()
        earlier: list[_RuleModel] = []
        for m in self._winning_order():
            if m.box is None:
                dead.add(m.rule.index)
                self._dead(m)
                continue
            beaters = [e for e in earlier if not disjoint(e.box, m.box)] if ranked else []
            earlier.append(m)
            if beaters:
                if self._check(m.match, *[e.miss for e in beaters]) != z3.unsat:
                    continue
                core = {str(c) for c in self.solver.unsat_core()}
                alone = z3.sat if m.alive else self._check(m.match)
                if alone == z3.sat:
                    self._shadowed(m, [e for e in beaters if str(e.miss) in core])
                if alone != z3.unsat:
                    continue
            elif m.alive or self._check(m.match) != z3.unsat:
                continue
            dead.add(m.rule.index)
            self._dead(m)
        return dead

    def _check(self, *assumptions: z3.BoolRef) -> z3.CheckSatResult:
        """solver.check(*assumptions), minus z3py's per-literal coercions."""
        solver = self.solver
        array, size = z3.z3._to_ast_array(assumptions)
        return z3.CheckSatResult(
            z3.z3core.Z3_solver_check_assumptions(solver.ctx.ref(), solver.solver, size, array)
        )

    def _earlier(self, m: _RuleModel) -> set[str]:
        order = [e.rule.id for e in self._winning_order()]
        return set(order[: order.index(m.rule.id)])

    def _dead(self, m: _RuleModel) -> None:
        self.findings.append(
            Finding(
                "dead rule",
                self.decision.name,
                (m.rule.id,),
                f"rule {m.rule.id!r} of {self.decision.name} can never match: no client inside "
                f"the declared input domains makes its condition true ({m.rule.text})",
                m.rule.pos,
                note=_note(m.trace),
            )
        )

    def _shadowed(self, m: _RuleModel, winners: list[_RuleModel]) -> None:
        names = ", ".join(repr(w.rule.id) for w in winners)
        first = self.decision.hit_policy == "first"
        why = "earlier in first-hit order" if first else "ranked higher by priority_order"
        found = self._witness([m.match], [m, *winners], _winner_in(self._earlier(m)))
        self.findings.append(
            Finding(
                "shadowed rule",
                self.decision.name,
                (m.rule.id, *(w.rule.id for w in winners)),
                f"rule {m.rule.id!r} of {self.decision.name} can never win: every client it "
                f"matches also matches {names}, {why}",
                m.rule.pos,
                tuple(w.rule.pos for w in winners),
                found[0] if found else None,
                found[1] if found else None,
                _note(m.trace, *(w.trace for w in winners)),
            )
        )

    # -- overlaps ------------------------------------------------------------------------
    def _overlaps(self, dead: set[int]) -> None:
        live = [m for m in self.models if m.rule.index not in dead]
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                if not policy.conflicting(self.decision, [a.rule, b.rule]):
                    continue
                if disjoint(a.box, b.box):
                    continue
                found = self._witness([a.match, b.match], [a, b], _error_with(a.rule.id, b.rule.id))
                if found is not None:
                    self._overlap(a, b, *found)

    def _overlap(self, a: _RuleModel, b: _RuleModel, example: dict[str, Any], as_of: str) -> None:
        if self.decision.hit_policy == "any":
            kind = "conflicting overlap"
            what = f"with different outputs ({_show(a.rule.outputs)} vs {_show(b.rule.outputs)}), "
            what += "which hit policy any makes an error"
        else:
            kind = "overlap"
            what = "which hit policy unique makes an error"
        self.findings.append(
            Finding(
                kind,
                self.decision.name,
                (a.rule.id, b.rule.id),
                f"rules {a.rule.id!r} and {b.rule.id!r} of {self.decision.name} both match "
                f"some clients, {what}",
                a.rule.pos,
                (b.rule.pos,),
                example,
                as_of,
                _note(a.trace, b.trace),
            )
        )

    # -- gaps ----------------------------------------------------------------------------
    def _gap(self) -> None:
        names = sorted({n for m in self.models for n in m.inputs})
        present = z3.Bool("all_inputs_present")
        self.solver.add(
            z3.Implies(
                present,
                z3.And([self.space.facts[n].val.present for n in names if n in self.space.facts]),
            )
        )
        found = self._witness([present, *(m.miss for m in self.models)], self.models, _no_decision)
        if found is None:
            return
        d = self.decision
        self.findings.append(
            Finding(
                "gap",
                d.name,
                (),
                f"no rule of {d.name} matches some clients whose inputs are all present and "
                "inside their declared domains, and there is no default",
                d.pos,
                example=found[0],
                as_of=found[1],
                note=_note(*(m.trace for m in self.models)),
            )
        )

    # -- examples ------------------------------------------------------------------------
    def _witness(
        self,
        assumptions: list[z3.BoolRef],
        involved: list[_RuleModel],
        accept: Callable[[DecisionResult], bool],
    ) -> tuple[dict[str, Any], str] | None:
        """A client the solver finds under `assumptions` that the engine confirms, or None."""
        facts = self.space.facts
        names = list(dict.fromkeys(n for m in involved for n in m.inputs if n in facts))
        frees = [f for m in involved for f in m.trace.frees]
        self.solver.push()
        try:
            for _ in range(TRIES):
                if self._check(self.prefer, *assumptions) != z3.sat and (
                    self._check(*assumptions) != z3.sat
                ):
                    return None
                model = self.solver.model()
                example, as_of = self._example(model, names)
                result = self.replay.result(self.decision.name, example, as_of)
                if result is not None and accept(result):
                    return example, as_of.isoformat()
                # Another client next time: the engine disagreed with this one, because a
                # value the solver treated as free (or rounded) came out differently.
                self.solver.add(
                    self._another_client(model, names) if names else _blocking(model, frees)
                )
            return None
        finally:
            self.solver.pop()

    def _plain_values(self) -> z3.BoolRef:
        """Values an example should have when it can: evaluated today, with dates within
        a decade of that day (the proofs themselves hold for every date)."""
        today = dt.date.today().toordinal()
        as_of = self.space.as_of
        parts = [as_of == today]
        for var in self.space.facts.values():
            if var.type.kind == "date":
                parts.append(
                    z3.Implies(
                        var.val.present,
                        z3.And(var.val.term >= today - DECADE, var.val.term <= today + DECADE),
                    )
                )
        return z3.And(parts)

    def _example(self, model: z3.ModelRef, names: list[str]) -> tuple[dict[str, Any], dt.date]:
        facts = self.space.facts
        strings = [
            model.eval(facts[n].val.term, model_completion=True).as_long()
            for n in names
            if facts[n].type.kind == "string"
        ]
        example = {n: decode(model, facts[n], self.strings, strings) for n in names}
        as_of = dt.date.fromordinal(model.eval(self.space.as_of, model_completion=True).as_long())
        return example, as_of

    def _another_client(self, model: z3.ModelRef, names: list[str]) -> z3.BoolRef:
        """A constraint that the facts `names` differ from this model's client."""
        changes = []
        for n in names:
            val = self.space.facts[n].val
            if not z3.is_true(model.eval(val.present, model_completion=True)):
                changes.append(val.present)
            elif isinstance(val.term, z3.FuncDeclRef):
                changes.append(z3.Not(val.present))
            else:
                changes.append(z3.Or(z3.Not(val.present), val.term != model.eval(val.term, True)))
        return z3.Or(changes)


def _blocking(model: z3.ModelRef, terms: list[Any]) -> z3.BoolRef:
    """A constraint that rules out this model's values of `terms`."""
    return (
        z3.Or([t != model.eval(t, model_completion=True) for t in terms])
        if terms
        else z3.BoolVal(False)
    )


def _winner_in(ids: set[str]) -> Callable[[DecisionResult], bool]:
    return lambda r: r.status == "decided" and bool(r.rules) and r.rules[0] in ids


def _error_with(a: str, b: str) -> Callable[[DecisionResult], bool]:
    return lambda r: r.status == "error" and a in r.rules and b in r.rules


def _no_decision(result: DecisionResult) -> bool:
    return result.status == "no_decision"


def _note(*traces: Trace) -> str:
    notes = sorted({n for t in traces for n in t.notes})
    return "; ".join(notes)


def _show(outputs: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in outputs.items()) + "}"
