"""What a pack reads, for the people who feed it: every input with its type, domain and
meaning, which decisions and rules read it (and which rules cannot fire without it); every
derived fact with the inputs, functions and base statistics it comes from; every
statistic of the base. `tierwise facts` shows it, `tierwise map` proposes sources for it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tierwise.errors import Pos
from tierwise.lang.expr import Call, Node, names, render
from tierwise.lang.types import FactType
from tierwise.pack.ir import Decision, Derived, Pack
from tierwise.requires import Requirements


@dataclass(frozen=True)
class InputFact:
    """An input: a value the source must give per client (a leaf of the pack's facts)."""

    name: str
    type: FactType
    description: str
    declared_at: Pos
    decisions: tuple[str, ...]
    """The decisions that read it, directly or through derived facts."""
    derived: tuple[str, ...]
    """The derived facts (and statistics) computed from it, directly or not."""
    needed_by: tuple[str, ...]
    """The rules (`decision.rule`) that cannot fire without it."""

    @property
    def used(self) -> bool:
        """Whether anything in the pack reads it."""
        return bool(self.decisions or self.derived)


@dataclass(frozen=True)
class DerivedFact:
    """A fact the pack computes for every client before matching."""

    name: str
    type: FactType
    formula: str
    description: str
    declared_at: Pos
    inputs: tuple[str, ...]
    """The inputs it is computed from, through other derived facts too."""
    functions: tuple[str, ...]
    statistics: tuple[str, ...]
    """The statistics of the base it reads, through other derived facts too."""
    decision: str | None = None
    """The decision it belongs to (`derive:` of a decision file), None for a facts file."""


@dataclass(frozen=True)
class Statistic:
    """A statistic of the whole base, computed once per run (`profile:` of a facts file)."""

    name: str
    kind: str
    text: str
    description: str
    declared_at: Pos
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class FactCatalog:
    """Every fact of a pack, sorted into what the source gives and what the pack computes."""

    inputs: tuple[InputFact, ...]
    derived: tuple[DerivedFact, ...]
    statistics: tuple[Statistic, ...]

    def input(self, name: str) -> InputFact:
        """The input called `name`."""
        return next(i for i in self.inputs if i.name == name)


class _Closure:
    """The inputs, statistics and functions each derived fact reads, written out."""

    def __init__(self, pack: Pack) -> None:
        """The pack's derived facts and statistics, their closures computed on demand."""
        self.pack = pack
        self.exprs: dict[str, Node] = {d.name: d.expr for d in pack.derived}
        self.stat_exprs = {s.name: _stat_nodes(s.expr, s.where) for s in pack.profile}
        self._memo: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def of_nodes(self, nodes: Iterable[Node]) -> tuple[frozenset[str], frozenset[str]]:
        """(inputs, statistics) that expressions read, through derived facts and statistics."""
        inputs: set[str] = set()
        stats: set[str] = set()
        for node in nodes:
            for name in names(node):
                found_inputs, found_stats = self.of_name(name)
                inputs |= found_inputs
                stats |= found_stats
        return frozenset(inputs), frozenset(stats)

    def of_name(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """(inputs, statistics) behind one name (an input is itself)."""
        if name in self.pack.inputs:
            return frozenset([name]), frozenset()
        if name in self._memo:
            return self._memo[name]
        self._memo[name] = (frozenset(), frozenset())  # a cycle is a load error already
        if name in self.exprs:
            found = self.of_nodes([self.exprs[name]])
        elif name in self.stat_exprs:
            inputs, stats = self.of_nodes(self.stat_exprs[name])
            found = inputs, stats | {name}
        else:
            found = frozenset(), frozenset()
        self._memo[name] = found
        return found


def _stat_nodes(expr: Node, where: Node | None) -> list[Node]:
    """The expressions a statistic reads: its value, and its `where`."""
    return [expr] if where is None else [expr, where]


def _functions(node: Node) -> list[str]:
    """The functions an expression calls, in first-seen order."""
    seen: dict[str, None] = {}
    for n in node.walk():
        if isinstance(n, Call):
            seen.setdefault(n.func, None)
    return list(seen)


def _decision_nodes(decision: Decision) -> list[Node]:
    """Every expression of a decision: its rules' conditions and its own derived facts."""
    return [r.condition for r in decision.rules] + [d.expr for d in decision.derived]


def catalog(pack: Pack) -> FactCatalog:
    """The catalog of `pack`'s facts (see FactCatalog)."""
    closure = _Closure(pack)
    derived = [_derived(d, closure, None) for d in pack.derived]
    derived += [_derived(d, closure, dec.name) for dec in pack.decisions for d in dec.derived]
    statistics = [
        Statistic(s.name, s.kind, s.text, s.description, s.pos, _sorted(closure.of_name(s.name)[0]))
        for s in pack.profile
    ]
    computed: dict[str, list[str]] = {name: [] for name in pack.inputs}
    computed_facts: list[DerivedFact | Statistic] = [*derived, *statistics]
    for fact in computed_facts:
        for name in fact.inputs:
            computed[name].append(fact.name)
    read_by = _read_by(pack, closure)
    needed = _needed_by(pack)
    inputs = tuple(
        InputFact(
            name,
            ftype,
            pack.input_descriptions.get(name, ""),
            pack.declared_at[name],
            tuple(read_by[name]),
            tuple(computed[name]),
            tuple(needed[name]),
        )
        for name, ftype in pack.inputs.items()
    )
    return FactCatalog(inputs, tuple(derived), tuple(statistics))


def _read_by(pack: Pack, closure: _Closure) -> dict[str, list[str]]:
    """Input -> the decisions that read it, directly or through derived facts."""
    found: dict[str, list[str]] = {name: [] for name in pack.inputs}
    for decision in pack.decisions:
        for name in sorted(closure.of_nodes(_decision_nodes(decision))[0]):
            found[name].append(decision.name)
    return found


def _needed_by(pack: Pack) -> dict[str, list[str]]:
    """Input -> the rules (`decision.rule`) that cannot fire without it."""
    found: dict[str, list[str]] = {name: [] for name in pack.inputs}
    for (decision, rule), facts in Requirements(pack).of_rules().items():
        for name in sorted(facts & set(pack.inputs)):
            found[name].append(f"{decision}.{rule}")
    return found


def _derived(d: Derived, closure: _Closure, decision: str | None) -> DerivedFact:
    """One derived fact, with what it is computed from."""
    inputs, stats = closure.of_nodes([d.expr])
    return DerivedFact(
        d.name,
        d.type,
        render(d.expr),
        d.description,
        d.pos,
        _sorted(inputs),
        tuple(_functions(d.expr)),
        _sorted(stats),
        decision,
    )


def _sorted(names_: Iterable[str]) -> tuple[str, ...]:
    """Names in alphabetical order, for stable output."""
    return tuple(sorted(names_))
