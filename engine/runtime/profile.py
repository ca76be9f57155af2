"""The profile step on the per-client path: passes over the base that derive each client's
facts as the decisions will see them (validated inputs, then derived facts) and accumulate
the pack's statistics and data health (which clients have each fact, its min, median and
max).

Statistics come in layers: layer 0 reads facts that need no statistic; layer k reads facts
that need statistics of layers below k (the CLV percentiles read the CLV, which reads the
purchase model). Pass k computes layer k with the layers below known, and counts the facts
that became computable; one more pass counts the facts that read the last layer. A base
given as an iterator is kept in memory for the passes after the first; anything that can
be iterated again (a list, a source's reader) is read again instead.

Memory: the values of each cut-points statistic, and of each numeric or date fact for its
median (8 bytes a client each); a count per distinct purchase history for a `bg_nbd`
statistic; everything else is a running count or sum.
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tierwise.lang.types import FactType
from tierwise.pack.ir import Pack, ProfileStat
from tierwise.profile import (
    Profile,
    ProfilePlan,
    Spread,
    bg_nbd,
    cut_points,
    mean,
    median,
    purchase_history,
    share,
)
from tierwise.runtime.evaluate import EvaluationError, Evaluator, compile_expr
from tierwise.stdlib.general import day_number

SPREAD_KINDS = ("number", "integer", "date", "datetime")
"""Facts of these kinds get a min, median and max in the profile."""


FactsOf = Callable[[Any, Mapping[str, Any] | None], dict[str, Any] | None]
"""A client's validated and derived facts, given the statistics known so far (None: none
yet, so facts that need the profile are left out); None for a client that is invalid."""


def profile_base(pack: Pack, clients: Iterable[Any], as_of: dt.date, facts_of: FactsOf) -> Profile:
    """The profile of `clients`: every statistic of `pack`, layer by layer, and the data
    health of every fact (tierwise.profile's definitions)."""
    plan = ProfilePlan(pack)
    records = clients if plan.passes == 1 or iter(clients) is not clients else list(clients)
    counts = _Counts(pack)
    raw: dict[str, Any] = {}
    known: dict[str, Any] | None = None
    for layer in range(plan.passes):
        stats = [_Accumulator(s, pack) for s in plan.stats[layer]]
        facts = plan.facts[layer]
        for record in records:
            working = facts_of(record, known)
            if working is None:
                counts.skipped += layer == 0
                continue
            try:
                parts = [stat.read(working) for stat in stats]
            except EvaluationError:
                counts.skipped += layer == 0
                continue
            counts.clients += layer == 0
            counts.add(facts, working)
            for stat, part in zip(stats, parts, strict=True):
                stat.take(part)
        raw.update({s.stat.name: s.value() for s in stats})
        known = Profile(raw, {}).working_values(pack)
    return Profile(
        {s.name: raw.get(s.name) for s in pack.profile},
        {s.name: s.text for s in pack.profile},
        as_of,
        counts.clients,
        counts.skipped,
        counts.present,
        {name: s.result() for name, s in counts.spreads.items() if s.values},
    )


class _Counts:
    """Clients counted and skipped, and per fact the clients that have it and its spread."""

    def __init__(self, pack: Pack) -> None:
        self.clients = 0
        self.skipped = 0
        types = {**pack.inputs, **{d.name: d.type for d in pack.derived}}
        self.present: dict[str, int] = dict.fromkeys(types, 0)
        self.spreads = {name: _Spread(t) for name, t in types.items() if t.kind in SPREAD_KINDS}

    def add(self, facts: list[str], working: Mapping[str, Any]) -> None:
        """Count the values `working` has of `facts`."""
        present, spreads = self.present, self.spreads
        for name in facts:
            value = working.get(name)
            if value is not None:
                present[name] += 1
                spread = spreads.get(name)
                if spread is not None:
                    spread.take(value)


class _Spread:
    """One fact's values (numbers, or day numbers for dates), for its min, median and max."""

    def __init__(self, t: FactType) -> None:
        self.dates = t.kind in ("date", "datetime")
        self.values = array("d")

    def take(self, value: Any) -> None:
        """Keep one client's value (a date by its day number)."""
        if self.dates:
            if isinstance(value, dt.date):
                self.values.append(day_number(value))
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            self.values.append(value)

    def result(self) -> Spread:
        """The min, median (lower, by nearest rank) and max."""
        ordered = sorted(self.values)
        low, mid, high = ordered[0], median(ordered), ordered[-1]
        if self.dates:
            return Spread(*(dt.date.fromordinal(int(v)).isoformat() for v in (low, mid, high)))
        return Spread(*(_plain(v) for v in (low, mid, high)))


def _plain(v: float) -> float | int:
    """A whole number as an int (JSON without .0), any other as it is."""
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


class _Accumulator:
    """One statistic's running state: its values (cut points), sum, or counts."""

    def __init__(self, stat: ProfileStat, pack: Pack) -> None:
        self.stat = stat
        self.expr: Evaluator = compile_expr(stat.expr, pack.functions)
        self.where: Evaluator | None = (
            None if stat.where is None else compile_expr(stat.where, pack.functions)
        )
        self.values = array("d")
        self.histories: Counter[tuple[int, int, int]] = Counter()
        self.true = 0
        self.known = 0

    def read(self, facts: Mapping[str, Any]) -> Any:
        """This client's contribution: its value, or None when it does not count."""
        if self.where is not None and self.where(facts) is not True:  # type: ignore[arg-type]
            return None
        return self.expr(facts)  # type: ignore[arg-type]

    def take(self, v: Any) -> None:
        if self.stat.kind == "share":
            if v is not None:
                self.known += 1
                self.true += v is True
        elif self.stat.kind == "bg_nbd":
            history = purchase_history(v)
            if history is not None:
                self.histories[history] += 1
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            self.values.append(v)

    def value(self) -> Any:
        if self.stat.kind == "share":
            return share(self.true, self.known)
        if self.stat.kind == "mean":
            return mean(self.values)
        if self.stat.kind == "bg_nbd":
            return bg_nbd(self.histories)
        if not self.values:
            return None
        return cut_points(sorted(self.values), self.stat.groups or 2)
