"""No silent defaults: what a run (or a diff, or `decide`) must say loudly about its base.

A declared fact that no client has means a mapping or a source is missing something, and
every rule that reads it silently never fires; a decision that gave every client its
default (or no decision) is as suspect. Each warning names the fact or decision, where it
is declared, and where its value should come from. `data_health` is the report a run
prints before it decides (and `tierwise profile` gives): per declared fact, the share of
clients that have it, its min, median and max, and the rules it is needed by.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierwise.lang.expr import names
from tierwise.pack.ir import Pack
from tierwise.profile import Profile
from tierwise.requires import Requirements


@dataclass(frozen=True)
class HealthWarning:
    """One thing a user must hear about: `kind` is "missing fact" or "never decided"."""

    kind: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


def silent_defaults(
    pack: Pack, profile: Profile, decided: Mapping[str, int], origin: Callable[[str], str]
) -> list[HealthWarning]:
    """The warnings for a base whose `profile` counts the clients that have each fact and
    holds the statistics; `decided` counts the clients for whom each decision fired a rule,
    and `origin(fact)` says where the source takes an input from (or that it has none)."""
    return missing_facts(pack, profile, origin) + never_decided(pack, profile, decided)


def never_decided(pack: Pack, profile: Profile, decided: Mapping[str, int]) -> list[HealthWarning]:
    """A warning per decision that fired no rule for any client of the run."""
    if profile.clients == 0:
        return []
    warnings: list[HealthWarning] = []
    for decision in pack.decisions:
        if decided.get(decision.name, 0) == 0 and decision.rules:
            fallback = "its default" if decision.default is not None else "no decision"
            warnings.append(
                HealthWarning(
                    "never decided",
                    decision.name,
                    f"{decision.name}: no rule fired for any of the {profile.clients:,} "
                    f"clients, each got {fallback} (decision at {decision.pos}); check the "
                    "facts it reads",
                )
            )
    return warnings


def missing_facts(
    pack: Pack, profile: Profile, origin: Callable[[str], str]
) -> list[HealthWarning]:
    """A warning per fact or statistic that rules read and no client of the base has, with
    the rules that cannot fire without it."""
    clients, present = profile.clients, profile.present
    if clients == 0:
        return []
    warnings: list[HealthWarning] = []
    read = _facts_read(pack)
    for name in pack.inputs:
        if present.get(name, 0) == 0 and name in read:
            warnings.append(
                HealthWarning(
                    "missing fact",
                    name,
                    f"no client has {name} (declared at {pack.declared_at.get(name, '?')}), so "
                    f"every rule that reads it never fires; the source gives it from: "
                    f"{origin(name)}",
                )
            )
    missing_inputs = {n for n in pack.inputs if present.get(n, 0) == 0}
    for d in pack.derived:
        if present.get(d.name, 1) == 0 and d.name in read:
            lacking = sorted(_inputs_below(pack, d.name) & missing_inputs)
            why = (
                f"no client has {', '.join(lacking)}"
                if lacking
                else "its formula gave no value for any client"
            )
            warnings.append(
                HealthWarning(
                    "missing fact",
                    d.name,
                    f"no client has a value for {d.name}, derived at {d.pos}: {why}",
                )
            )
    for stat in pack.profile:
        if profile.values.get(stat.name) is None and stat.name in read:
            warnings.append(
                HealthWarning(
                    "missing fact",
                    stat.name,
                    f"the statistic {stat.name} ({stat.text}, at {stat.pos}) has no value: no "
                    "client has what it is computed from, so every fact that reads it is "
                    "unknown",
                )
            )
    return warnings


def _facts_read(pack: Pack) -> set[str]:
    """Every fact a rule or a derived fact reads, through the derived facts it reads."""
    read: set[str] = set()
    for decision in pack.decisions:
        for node in [r.condition for r in decision.rules] + [d.expr for d in decision.derived]:
            read.update(names(node))
    sources = {d.name: d.expr for d in pack.derived} | {s.name: s.expr for s in pack.profile}
    stack = [n for n in read if n in sources]
    while stack:  # a fact read makes what it is derived from read
        for used in names(sources[stack.pop()]):
            if used not in read:
                read.add(used)
                if used in sources:
                    stack.append(used)
    return read


def _inputs_below(pack: Pack, name: str) -> set[str]:
    """The inputs a shared derived fact is computed from, directly or through others."""
    by_name = {d.name: d for d in pack.derived}
    stats = {s.name: s for s in pack.profile}
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        node = by_name[current].expr if current in by_name else None
        if node is None and current in stats:
            node = stats[current].expr
        for used in names(node) if node is not None else []:
            if used not in seen:
                seen.add(used)
                stack.append(used)
    return {n for n in seen if n in pack.inputs}


@dataclass(frozen=True)
class FactHealth:
    """One declared fact in a base: clients that have it, its spread, the rules needing it."""

    name: str
    kind: str
    """"input" or "derived"."""
    declared_at: str
    present: int | None
    """Clients with a value; None when the profile did not count it."""
    clients: int
    min: Any = None
    median: Any = None
    max: Any = None
    needed_by: tuple[str, ...] = ()
    """Rules (decision.rule) that cannot fire without this fact."""
    blocked: tuple[str, ...] = ()
    """Decisions none of whose rules can fire without it."""

    @property
    def share(self) -> float | None:
        """The share of clients that have the fact (None when not counted)."""
        return None if self.present is None or not self.clients else self.present / self.clients

    def to_json(self) -> dict[str, Any]:
        """One row of the report's JSON."""
        return {
            "fact": self.name,
            "kind": self.kind,
            "declared_at": self.declared_at,
            "present": self.present,
            "share": self.share,
            "min": self.min,
            "median": self.median,
            "max": self.max,
            "needed_by": list(self.needed_by),
            "decisions_blocked": list(self.blocked),
        }


@dataclass(frozen=True)
class DataHealth:
    """The data-health report of one base for one pack: a row per declared fact, and the
    loud warnings (a fact rules read that no client has, a statistic without a value)."""

    clients: int
    skipped: int
    facts: list[FactHealth]
    warnings: list[HealthWarning] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: clients, a row per fact, the warnings."""
        return {
            "clients": self.clients,
            "skipped": self.skipped,
            "facts": [f.to_json() for f in self.facts],
            "warnings": [w.to_json() for w in self.warnings],
        }

    def lines(self) -> list[str]:
        """The report as text: one line per fact, then the warnings."""
        head = f"data health: {self.clients:,} clients ({self.skipped:,} unreadable)"
        width = max((len(f.name) for f in self.facts), default=4)
        columns = f"{'has it':>7}  {'min':>10}  {'median':>10}  {'max':>10}  needed by"
        rows = [head, f"  {'fact':<{width}}  {columns}"]
        for f in self.facts:
            share = "-" if f.share is None else f"{f.share:.0%}"
            needed = _needed_text(f)
            rows.append(
                f"  {f.name:<{width}}  {share:>7}  {_cell(f.min):>10}  {_cell(f.median):>10}  "
                f"{_cell(f.max):>10}  {needed}"
            )
        rows.extend(f"WARNING: {w.message}" for w in self.warnings)
        return rows


def data_health(
    pack: Pack, profile: Profile, origin: Callable[[str], str] | None = None
) -> DataHealth:
    """The data-health report of the base `profile` describes (its `present` counts and
    `spread`), for `pack`; `origin(fact)` says where the source takes an input from."""
    needs = Requirements(pack).of_rules()
    by_fact: dict[str, list[str]] = {}
    for (decision, rule), facts in needs.items():
        for fact in facts:
            by_fact.setdefault(fact, []).append(f"{decision}.{rule}")
    blocked = {
        fact: tuple(
            d.name
            for d in pack.decisions
            if d.rules and all(fact in needs[(d.name, r.id)] for r in d.rules)
        )
        for fact in by_fact
    }
    rows: list[FactHealth] = []
    declared = [(n, "input", str(pack.declared_at.get(n, "?"))) for n in pack.inputs]
    declared += [(d.name, "derived", str(d.pos)) for d in pack.derived]
    for name, kind, where in declared:
        spread = profile.spread.get(name)
        rows.append(
            FactHealth(
                name,
                kind,
                where,
                profile.present.get(name),
                profile.clients,
                spread.min if spread else None,
                spread.median if spread else None,
                spread.max if spread else None,
                tuple(by_fact.get(name, ())),
                blocked.get(name, ()),
            )
        )
    warnings = missing_facts(pack, profile, origin or (lambda fact: "the source"))
    return DataHealth(profile.clients, profile.skipped, rows, warnings)


def _needed_text(f: FactHealth) -> str:
    """The report's last column: how many rules need the fact, and the decisions it blocks."""
    if not f.needed_by:
        return ""
    text = f"{len(f.needed_by)} rule(s)"
    if f.blocked:
        text += f"; every rule of {', '.join(f.blocked)}"
    return text


def _cell(v: Any) -> str:
    """A value as the report shows it."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1e7 else f"{v:.3g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)
