"""No silent defaults: what a run (or a diff, or `decide`) must say loudly about its base.

A declared fact that no client has means a mapping or a source is missing something, and
every rule that reads it silently never fires; a decision that gave every client its
default (or no decision) is as suspect. Each warning names the fact or decision, where it
is declared, and where its value should come from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tierwise.lang.expr import names
from tierwise.pack.ir import Pack
from tierwise.profile import Profile


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
    for decision in pack.decisions:
        if decided.get(decision.name, 0) == 0 and decision.rules:
            fallback = "its default" if decision.default is not None else "no decision"
            warnings.append(
                HealthWarning(
                    "never decided",
                    decision.name,
                    f"{decision.name}: no rule fired for any of the {clients:,} clients, each "
                    f"got {fallback} (decision at {decision.pos}); check the facts it reads",
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
