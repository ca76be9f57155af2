"""The profile of a run: statistics of the whole client base, such as quantile cut points.

Some facts only mean something against every other client: RFM quintiles, a CLV
percentile. A run computes its profile once, in one pass over the clients' facts, stores
it with the run (it is plain JSON), and hands it to the `tierwise_enrich_facts` hooks, so
each client's evaluation is deterministic: same facts, same profile, same enriched facts.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import math
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

PROFILE_VERSION = 1
DEFAULT_QUANTILES: Mapping[str, int] = {
    "recency_days": 5,
    "purchases_per_year": 5,
    "revenue_12m": 5,
    "clv": 100,
}
"""Fact -> number of equal groups: quintiles for RFM, percentiles for CLV."""


def cut_points(sorted_values: Any, groups: int) -> list[float]:
    """The `groups - 1` boundaries of equal groups, by nearest rank (SQL's PERCENTILE_DISC):
    boundary k is the smallest value with at least k/groups of the values at or below it."""
    n = len(sorted_values)
    if n == 0:
        return []
    return [sorted_values[(k * n + groups - 1) // groups - 1] for k in range(1, groups)]


def rank(value: float, cuts: list[float]) -> int:
    """How many cut points lie strictly below `value` (0 .. len(cuts)); with percentile
    cuts, the value's percentile: 90 means above the 90th percentile, the top 10%."""
    return bisect.bisect_left(cuts, value)


class Profiler:
    """Collects the values of the profiled facts, one client at a time, in constant time each."""

    def __init__(self, as_of: dt.date, quantiles: Mapping[str, int] = DEFAULT_QUANTILES) -> None:
        for name, groups in quantiles.items():
            if groups < 2:
                raise ValueError(f"quantiles of {name!r}: at least 2 groups, got {groups}")
        self.as_of = as_of
        self.quantiles = dict(quantiles)
        self.clients = 0
        self.skipped = 0
        self._values = {name: array("d") for name in quantiles}

    def add(self, facts: Mapping[str, Any]) -> None:
        """Count one client; its numeric, finite values of the profiled facts join the profile."""
        self.clients += 1
        for name, values in self._values.items():
            v = facts.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                values.append(v)

    def skip(self) -> None:
        """Count a client whose facts could not be read (it becomes an error in the run)."""
        self.skipped += 1

    def result(self) -> dict[str, Any]:
        """The profile: JSON-serialisable, and the same for the same clients in any order."""
        quantiles = {}
        for name, groups in sorted(self.quantiles.items()):
            values = sorted(self._values[name])
            quantiles[name] = {
                "groups": groups,
                "count": len(values),
                "cuts": cut_points(values, groups),
            }
        return {
            "version": PROFILE_VERSION,
            "as_of": self.as_of.isoformat(),
            "clients": self.clients,
            "skipped": self.skipped,
            "quantiles": quantiles,
        }


def build_profile(
    clients: Iterable[Any],
    as_of: dt.date,
    *,
    quantiles: Mapping[str, int] = DEFAULT_QUANTILES,
    pm: pluggy.PluginManager | None = None,
) -> dict[str, Any]:
    """The profile of `clients` (fact mappings; anything else, e.g. an unreadable row, is
    skipped). With a plugin manager, each client is first enriched by the
    `tierwise_enrich_facts` hooks with an empty profile, so that facts the hooks derive
    (clv, recency_days...) can be profiled; a client a hook fails on is skipped."""
    from tierwise.plugins.manager import safe_call

    profiler = Profiler(as_of, quantiles)
    hook = pm.hook.tierwise_enrich_facts if pm is not None else None
    for facts in clients:
        if not isinstance(facts, Mapping):
            profiler.skip()
            continue
        if hook is not None:
            extra, failures = safe_call(hook, facts=facts, as_of=as_of, profile={})
            if failures:
                profiler.skip()
                continue
            facts = _merged(facts, extra)
        profiler.add(facts)
    return profiler.result()


def _merged(facts: Mapping[str, Any], extra: list[Mapping[str, Any]]) -> dict[str, Any]:
    merged = dict(facts)
    for more in extra:
        merged.update(more)
    return merged


def profile_digest(profile: Mapping[str, Any]) -> str:
    """A short content hash of a profile, to record which profile decided a run."""
    text = json.dumps(profile, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
