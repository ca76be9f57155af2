"""A run's profile: the values of a pack's statistics of the whole client base (quantile
cut points, means, shares), computed once per run over every client, stored with the run
and handed to every path that decides, so that the same client gets the same facts on
every path. Also the data health of the base: how many clients have each fact.

The statistics' meaning is defined here once (`cut_points`, `mean`, `share`, and
`bg_nbd`, the base's repeat-purchase model); the SQL profile query (tierwise.batch.profile)
computes the same numbers inside the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tierwise.errors import TierwiseError
from tierwise.lang.expr import names
from tierwise.pack.ir import Pack, ProfileStat
from tierwise.stdlib import purchase_model

PROFILE_VERSION = 2


class ProfileError(TierwiseError):
    """A profile that is missing where a pack needs one, or does not fit the pack."""


def cut_points(sorted_values: Sequence[float], groups: int) -> list[float]:
    """The `groups - 1` boundaries of equal groups, by nearest rank (SQL's PERCENTILE_DISC):
    boundary k is the smallest value with at least k/groups of the values at or below it."""
    n = len(sorted_values)
    if n == 0:
        return []
    return [sorted_values[(k * n + groups - 1) // groups - 1] for k in range(1, groups)]


def mean(values: Sequence[float]) -> float | None:
    """The mean, exactly rounded (fsum), or None for no values."""
    return math.fsum(values) / len(values) if values else None


def share(true: int, known: int) -> float | None:
    """The share of clients for whom a condition holds, among those for whom it is known."""
    return true / known if known else None


def median(sorted_values: Sequence[Any]) -> Any:
    """The lower median by nearest rank (PERCENTILE_DISC(0.5)), or None for no values."""
    return sorted_values[(len(sorted_values) + 1) // 2 - 1] if sorted_values else None


def purchase_history(value: Any) -> purchase_model.Key | None:
    """One client's contribution to a `bg_nbd` statistic: its expression's value
    [repeat purchases, days from the first to the last purchase, days since the first]
    as whole numbers, or None when a part is missing or they are not a history."""
    if not isinstance(value, list | tuple) or len(value) != 3:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    if not all(math.isfinite(v) and v == int(v) for v in value):
        return None
    return purchase_model.history_key(int(value[0]), int(value[1]), int(value[2]))


def bg_nbd(histories: Mapping[purchase_model.Key, int]) -> list[float] | None:
    """The `bg_nbd` statistic: [r, alpha, a, b] fitted by maximum likelihood to the clients'
    histories (history -> clients), time in days; None for too few clients or no repeat."""
    model = purchase_model.fit(histories)
    return model.as_list() if model is not None else None


def bg_nbd_of_counts(rows: Iterable[tuple[Any, Any, Any, int]]) -> list[float] | None:
    """The `bg_nbd` statistic from grouped rows (repeat purchases, span days, age days,
    clients), as an SQL GROUP BY over the statistic's three values gives them; rows that
    are not a purchase history count for nothing, as on the per-client path."""
    histories: Counter[purchase_model.Key] = Counter()
    for x, span, age, count in rows:
        key = purchase_history([x, span, age])
        if key is not None:
            histories[key] += int(count)
    return bg_nbd(histories)


@dataclass(frozen=True)
class Spread:
    """The smallest, median and largest value of one fact over the clients that have it
    (dates as ISO text)."""

    min: Any
    median: Any
    max: Any

    def to_json(self) -> dict[str, Any]:
        """The spread as the profile's JSON holds it."""
        return {"min": self.min, "median": self.median, "max": self.max}


@dataclass(frozen=True)
class Profile:
    """The statistics of one base at one date, for one pack's definitions of them.

    `values`: statistic -> its value (a list of cut points, a number, or None when no
    client had a value); `definitions`: statistic -> its text when computed, so a stored
    profile is never used for a changed definition; `present`: fact -> clients that have
    it; `clients`: clients counted, `skipped`: clients whose facts could not be read;
    `spread`: numeric and date fact -> its min, median and max over the clients."""

    values: dict[str, Any]
    definitions: dict[str, str]
    as_of: dt.date | None = None
    clients: int = 0
    skipped: int = 0
    present: dict[str, int] = field(default_factory=dict)
    spread: dict[str, Spread] = field(default_factory=dict)

    @classmethod
    def given(cls, pack: Pack, values: Mapping[str, Any]) -> Profile:
        """A profile whose values are given (a rule test's), every other statistic unknown."""
        checked = {s.name: _value(s, values.get(s.name)) for s in pack.profile}
        return cls(
            {k: list(v) if isinstance(v, tuple) else v for k, v in checked.items()},
            {s.name: s.text for s in pack.profile},
        )

    def check(self, pack: Pack) -> None:
        """Raise ProfileError unless this profile has every statistic of `pack`, each
        computed by the definition the pack has now."""
        for stat in pack.profile:
            if stat.name not in self.values:
                raise ProfileError(f"the profile has no statistic {stat.name!r} ({stat.text})")
            if self.definitions.get(stat.name) != stat.text:
                raise ProfileError(
                    f"the profile's {stat.name!r} was computed as "
                    f"{self.definitions.get(stat.name)!r}, the pack defines {stat.text!r} "
                    f"at {stat.pos}: compute the profile again"
                )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, the same for the same base whatever the order of its clients."""
        return {
            "version": PROFILE_VERSION,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "clients": self.clients,
            "skipped": self.skipped,
            "values": self.values,
            "definitions": self.definitions,
            "present": dict(sorted(self.present.items())),
            "spread": {k: v.to_json() for k, v in sorted(self.spread.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        """A stored profile; raises ProfileError when it is not one this version wrote."""
        if not isinstance(data, Mapping) or data.get("version") != PROFILE_VERSION:
            found = data.get("version") if isinstance(data, Mapping) else type(data).__name__
            raise ProfileError(
                f"not a tierwise profile of version {PROFILE_VERSION} (found {found!r})"
            )
        as_of = data.get("as_of")
        return cls(
            dict(data.get("values") or {}),
            dict(data.get("definitions") or {}),
            dt.date.fromisoformat(as_of) if as_of else None,
            int(data.get("clients") or 0),
            int(data.get("skipped") or 0),
            {k: int(v) for k, v in (data.get("present") or {}).items()},
            {
                k: Spread(v.get("min"), v.get("median"), v.get("max"))
                for k, v in (data.get("spread") or {}).items()
                if isinstance(v, Mapping)
            },
        )

    @property
    def digest(self) -> str:
        """A short content hash, to record which profile decided a run."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def working_values(self, pack: Pack) -> dict[str, Any]:
        """The statistics as evaluation reads them (cut points as tuples)."""
        return {s.name: _value(s, self.values.get(s.name)) for s in pack.profile}


def checked(pack: Pack, profile: Profile | None) -> Profile | None:
    """The profile a pack decides with: None for a pack that reads no statistics of the
    base; ProfileError when one is needed and none is given, or it does not fit the pack."""
    if not pack.profile:
        return None
    if profile is None:
        raise ProfileError(
            "this pack reads statistics of the whole client base ("
            + ", ".join(f"{s.name} at {s.pos}" for s in pack.profile)
            + "): compute them first (Engine.profile, BatchEngine.profile_*, `tierwise "
            "profile`), or pass a stored profile (Profile.from_json)"
        )
    profile.check(pack)
    return profile


def _value(stat: ProfileStat, value: Any) -> Any:
    if value is None:
        return None
    if stat.kind == "cut_points":
        count = (stat.groups or 2) - 1
        if not isinstance(value, list | tuple) or not all(_number(v) for v in value):
            raise ProfileError(f"profile value of {stat.name!r} should be a list of numbers")
        if len(value) != count or list(value) != sorted(value):
            raise ProfileError(
                f"profile value of {stat.name!r} should be {count} ascending cut points, "
                f"got {list(value)}"
            )
        return tuple(float(v) for v in value)
    if stat.kind == "bg_nbd":
        if not isinstance(value, list | tuple) or not all(_number(v) for v in value):
            raise ProfileError(f"profile value of {stat.name!r} should be a list of numbers")
        try:
            return tuple(purchase_model.PurchaseModel.of(value).as_list())
        except ValueError as e:
            raise ProfileError(f"profile value of {stat.name!r}: {e}") from None
    if not _number(value):
        raise ProfileError(f"profile value of {stat.name!r} should be a number, got {value!r}")
    return float(value)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class ProfilePlan:
    """Which statistics each pass of the profile step computes, and which facts it counts:
    a fact is counted in the pass after the last layer of statistics it needs (inputs in
    the first). `need`: derived fact -> the layer of statistics it needs (-1: none), so a
    pass over layer k computes the facts whose need is below k. Every path's profile step
    (per client, SQL) follows this one plan."""

    def __init__(self, pack: Pack) -> None:
        reads = {d.name: names(d.expr) for d in pack.derived}
        stat_reads = {
            s.name: names(s.expr) + ([] if s.where is None else names(s.where))
            for s in pack.profile
        }
        level: dict[str, int] = {}  # -1: needs no statistic; k: needs layers up to k

        def need(name: str) -> int:
            """The layer of statistics `name` needs (-1: none), through what it reads."""
            if name not in level:
                level[name] = -1  # a cycle is a load error already
                if name in stat_reads:
                    level[name] = 1 + max([-1, *(need(n) for n in stat_reads[name])])
                elif name in reads:
                    level[name] = max([-1, *(need(n) for n in reads[name])])
            return level[name]

        layer = {s.name: need(s.name) for s in pack.profile}
        fact_need = {d.name: need(d.name) for d in pack.derived}
        self.need = fact_need
        self.passes = max(
            [1, *(v + 1 for v in layer.values()), *(v + 2 for v in fact_need.values())]
        )
        self.stats = [[s for s in pack.profile if layer[s.name] == k] for k in range(self.passes)]
        self.facts = [
            [*pack.inputs, *(n for n, v in fact_need.items() if v == -1)]
            if k == 0
            else [n for n, v in fact_need.items() if v == k - 1]
            for k in range(self.passes)
        ]
