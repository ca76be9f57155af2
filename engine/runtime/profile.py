"""The profile step on the per-client path: one streaming pass over the base that derives
each client's facts as the decisions will see them (validated inputs, then the derived facts
that do not need the profile) and accumulates the pack's statistics and data health.

Memory: the values of each cut-points statistic (8 bytes a client); everything else is a
running count or sum.
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections.abc import Mapping
from typing import Any

from tierwise.pack.ir import Pack, ProfileStat
from tierwise.profile import Profile, cut_points, mean, share
from tierwise.runtime.evaluate import Evaluator, compile_expr


class Profiler:
    """Accumulates one pack's statistics and fact presence, one client's facts at a time."""

    def __init__(self, pack: Pack, as_of: dt.date) -> None:
        self.pack = pack
        self.as_of = as_of
        self.clients = 0
        self.skipped = 0
        self.present: dict[str, int] = dict.fromkeys(
            [*pack.inputs, *(d.name for d in pack.derived if not d.needs_profile)], 0
        )
        """Clients with a value, per input and derived fact that needs no profile (the
        others are not computed in this pass)."""
        self._stats = [_Accumulator(s, pack) for s in pack.profile]

    def add(self, facts: Mapping[str, Any]) -> None:
        """Count one client whose facts were read and derived (without the profile); raises
        EvaluationError, counting nothing, when a statistic's expression fails for it."""
        parts = [stat.read(facts) for stat in self._stats]
        self.clients += 1
        present = self.present
        for name in present:
            if facts.get(name) is not None:
                present[name] += 1
        for stat, part in zip(self._stats, parts, strict=True):
            stat.take(part)

    def skip(self) -> None:
        """Count a client whose facts could not be read (it is an error in the run)."""
        self.skipped += 1

    def result(self) -> Profile:
        return Profile(
            {s.stat.name: s.value() for s in self._stats},
            {s.stat.name: s.stat.text for s in self._stats},
            self.as_of,
            self.clients,
            self.skipped,
            self.present,
        )


class _Accumulator:
    """One statistic's running state: its values (cut points), sum, or counts."""

    def __init__(self, stat: ProfileStat, pack: Pack) -> None:
        self.stat = stat
        self.expr: Evaluator = compile_expr(stat.expr, pack.functions)
        self.where: Evaluator | None = (
            None if stat.where is None else compile_expr(stat.where, pack.functions)
        )
        self.values = array("d")
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
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            self.values.append(v)

    def value(self) -> Any:
        if self.stat.kind == "share":
            return share(self.true, self.known)
        if self.stat.kind == "mean":
            return mean(self.values)
        if not self.values:
            return None
        return cut_points(sorted(self.values), self.stat.groups or 2)
