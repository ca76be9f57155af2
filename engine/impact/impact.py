"""Compare two versions of a rule pack: what changed in the rules (static diff), and what
the change does to real clients (impact: per decision a transition matrix, the change in
numeric outputs, and example clients per transition).

Clients are decided with the batch path (`tierwise.batch.BatchEngine`, one SQL query) when
both packs can run as SQL, else with `Engine.decide_many` (one path for both, chosen by
tierwise.paths.choose_path); either way every client is decided by both packs at the same
`as_of`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierwise.impact.static import DecisionChange, DiffError, static_diff
from tierwise.lang.arrow import arrow_type
from tierwise.pack.ir import Decision, Pack
from tierwise.paths import PathName, Source, choose_path
from tierwise.profile import Profile, ProfileError, checked

EXAMPLES = 3
"""Example clients kept per transition."""
ABSENT, NO_DECISION, ERROR, INVALID = "(absent)", "(no decision)", "(error)", "(invalid facts)"
NONE = "(none)"


# -- deciding ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decided:
    """One decision for one client, as the diff needs it."""

    status: str
    rules: tuple[str, ...]
    fields: dict[str, Any]


CLIENTS = Source("arrow", "the clients")
"""A diff's clients: read whole into memory, decided as one Arrow table on the SQL path."""


def decide_all(
    pack: Pack,
    clients: list[dict[str, Any]],
    as_of: dt.date,
    engine: PathName,
    profile: Profile | None = None,
) -> list[dict[str, Decided]]:
    """Every client decided by `pack` on the path `engine` ("sql" or "durable"), with the
    stored `profile` (ProfileError if it does not fit the pack), else the clients' own."""
    if engine == "sql":
        from tierwise.batch import BatchEngine

        return _decide_batch(BatchEngine(pack), pack, clients, as_of, profile)
    from tierwise.runtime.engine import Engine

    durable = Engine(pack)
    if profile is None and pack.profile:
        profile = durable.profile(clients, as_of)
    lists = listed(pack)
    out = []
    for outcome in durable.decide_many(clients, as_of=as_of, profile=profile):
        if outcome.errors:
            out.append({d.name: Decided("invalid", (), {}) for d in pack.decisions})
            continue
        out.append(
            {
                name: decided(result.status, result.rules, result.output, name in lists)
                for name, result in outcome.decisions.items()
            }
        )
    return out


def listed(pack: Pack) -> set[str]:
    """The decisions whose output is a list of outputs (collect without an aggregate)."""
    return {d.name for d in pack.decisions if d.hit_policy == "collect" and d.aggregate is None}


def decided(status: str, rules: Iterable[str], output: Any, is_list: bool) -> Decided:
    """A decision's outcome as the diff compares it: a list's outputs as lists by field."""
    if is_list:
        output = output if isinstance(output, list) else [output] if output else []
    if isinstance(output, list):
        keys = dict.fromkeys(k for o in output for k in o)
        fields = {k: [o[k] for o in output if o.get(k) is not None] for k in keys}
    else:
        fields = dict(output or {})
    return Decided(status, tuple(rules), fields)


def _decide_batch(
    batch: Any,
    pack: Pack,
    clients: list[dict[str, Any]],
    as_of: dt.date,
    profile: Profile | None,
) -> list[dict[str, Decided]]:
    import pyarrow as pa

    columns: dict[str, Any] = {
        "client_id": pa.array([str(c.get("client_id")) for c in clients], pa.string())
    }
    for name, t in pack.inputs.items():
        columns[name] = pa.array([c.get(name) for c in clients], arrow_type(t))
    arrow = pa.table(columns)
    if profile is None and pack.profile:
        profile = batch.profile_arrow(arrow, as_of)
    table = batch.decide_arrow(arrow, as_of, profile=profile)
    cols, lists = batch.columns.decisions, listed(pack)
    out = []
    for row in table.to_pylist():
        results = {}
        for d in pack.decisions:
            names = cols[d.name]
            if row.get("errors"):
                results[d.name] = Decided("invalid", (), {})
                continue
            rules = row.get(names["rule"]) or ""
            fields = {k[6:]: row.get(c) for k, c in names.items() if k.startswith("field:")}
            if d.name in lists:
                fields = {k: v for k, v in fields.items() if v}
            status = row.get(names["status"]) or "no_decision"
            if status == "no_decision":
                fields = {}
            results[d.name] = Decided(status, tuple(r for r in str(rules).split(";") if r), fields)
        out.append(results)
    return out


# -- impact --------------------------------------------------------------------------------
@dataclass
class Transition:
    """Clients whose decision went from `before` to `after`, with a few examples."""

    before: str
    after: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class NumericChange:
    """The change of one numeric output summed over the clients (and weighted)."""

    field: str
    before: float
    after: float
    changed_clients: int
    weighted_before: float | None = None
    weighted_after: float | None = None

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass
class DecisionImpact:
    """One decision's impact: how many clients changed, the matrix, the numeric changes."""

    decision: str
    field: str | None
    per_item: bool
    changed: int
    transitions: list[Transition]
    numeric: list[NumericChange]


@dataclass
class Diff:
    """A whole diff: both sides, the static changes, and the impact on the clients."""

    old: str
    new: str
    as_of: str
    clients: int
    unreadable: int
    weight: str | None
    engines: dict[str, str]
    static: list[DecisionChange]
    impact: list[DecisionImpact]

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON-friendly data (what `--json` writes and the HTML report reads)."""
        data = dataclasses.asdict(self)
        for item, impact in zip(data["impact"], self.impact, strict=True):
            for n, numeric in zip(item["numeric"], impact.numeric, strict=True):
                n["delta"] = numeric.delta
        return data


def impact(
    old: Pack,
    new: Pack,
    clients: list[dict[str, Any]],
    old_results: list[dict[str, Decided]],
    new_results: list[dict[str, Decided]],
    weight: str | None,
) -> list[DecisionImpact]:
    """Per decision (new order, then removed ones): transitions and numeric changes."""
    olds = {d.name: d for d in old.decisions}
    news = {d.name: d for d in new.decisions}
    names = list(news) + [n for n in olds if n not in news]
    out = []
    for name in names:
        a, b = olds.get(name), news.get(name)
        key_a, key_b = _label_field(a), _label_field(b)
        reads = sorted(set(a.inputs if a else ()) | set(b.inputs if b else ()))
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        examples: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        numeric_fields = _numeric_fields(a) | _numeric_fields(b)
        changed = 0
        sums = {f: [0.0, 0.0, 0, 0.0, 0.0] for f in sorted(numeric_fields)}
        for client, ra, rb in zip(clients, old_results, new_results, strict=True):
            da, db = ra.get(name), rb.get(name)
            labels_a, labels_b = _label(da, key_a), _label(db, key_b)
            if labels_a != labels_b:
                changed += 1
            for pair in _pairs(labels_a, labels_b):
                counts[pair] += 1
                if pair[0] != pair[1] and len(examples[pair]) < EXAMPLES:
                    examples[pair].append(_example(client, da, db, reads))
            w = client.get(weight) if weight else None
            for f, acc in sums.items():
                x, y = _number(da, f), _number(db, f)
                acc[0] += x
                acc[1] += y
                acc[2] += x != y
                if isinstance(w, int | float) and not isinstance(w, bool):
                    acc[3] += x * w
                    acc[4] += y * w
        transitions = [
            Transition(before, after, n, examples.get((before, after), []))
            for (before, after), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        numeric = [
            NumericChange(
                f,
                acc[0],
                acc[1],
                int(acc[2]),
                acc[3] if weight else None,
                acc[4] if weight else None,
            )
            for f, acc in sums.items()
        ]
        per_item = any(
            d is not None and d.hit_policy == "collect" and d.aggregate is None for d in (a, b)
        )
        out.append(DecisionImpact(name, key_b or key_a, per_item, changed, transitions, numeric))
    return out


def _label_field(d: Decision | None) -> str | None:
    """The output that names a decision's result (tier, method): its first non-numeric one."""
    if d is None:
        return None
    if d.aggregate is not None:
        return d.aggregate.output_name
    fields = list(d.output_types)
    for f in fields:
        if not d.output_types[f].numeric:
            return f
    return fields[0] if fields else None


def _label(d: Decided | None, key: str | None) -> str | frozenset[str]:
    """What a client got: one label, or for a collect decision the set of items."""
    if d is None:
        return ABSENT
    if d.status == "invalid":
        return INVALID
    if d.status == "error":
        return ERROR
    if d.status == "no_decision":
        return NO_DECISION
    value = d.fields.get(key) if key else None
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return NONE if value is None else str(value)


def _pairs(a: str | frozenset[str], b: str | frozenset[str]) -> list[tuple[str, str]]:
    """Matrix cells one client counts in. A collect decision counts per item: kept items on
    the diagonal, dropped ones as item -> (none), new ones as (none) -> item."""
    if isinstance(a, str) and isinstance(b, str):
        return [(a, b)]
    items_a = a if isinstance(a, frozenset) else frozenset()
    items_b = b if isinstance(b, frozenset) else frozenset()
    pairs = [(i, i) for i in sorted(items_a & items_b)]
    pairs += [(i, b if isinstance(b, str) else NONE) for i in sorted(items_a - items_b)]
    pairs += [(a if isinstance(a, str) else NONE, i) for i in sorted(items_b - items_a)]
    if not pairs:
        pairs.append((a if isinstance(a, str) else NONE, b if isinstance(b, str) else NONE))
    return pairs


def _numeric_fields(d: Decision | None) -> set[str]:
    if d is None:
        return set()
    if d.aggregate is not None:
        return {d.aggregate.output_name}
    return {f for f, t in d.output_types.items() if t.numeric}


def _number(d: Decided | None, name: str) -> float:
    value = d.fields.get(name) if d is not None else None
    if isinstance(value, list):
        return float(sum(v for v in value if isinstance(v, int | float)))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _example(
    client: Mapping[str, Any], a: Decided | None, b: Decided | None, reads: Iterable[str]
) -> dict[str, Any]:
    return {
        "client_id": client.get("client_id"),
        "rules_before": list(a.rules) if a else [],
        "rules_after": list(b.rules) if b else [],
        "facts": {n: _plain(client.get(n)) for n in reads if client.get(n) is not None},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def diff(
    old: Pack,
    new: Pack,
    clients: list[dict[str, Any]],
    *,
    old_label: str,
    new_label: str,
    as_of: dt.date,
    weight: str | None = None,
    unreadable: int = 0,
    profile: Profile | None = None,
) -> Diff:
    """The static diff and the impact of `old` -> `new` on `clients`, both packs deciding
    with the stored `profile` when one is given (it must fit both), else the clients' own."""
    if weight is not None and weight not in new.inputs and weight not in old.inputs:
        raise DiffError(f"--weight {weight}: no such input fact in either pack")
    if profile is not None:
        for side, pack in (("OLD", old), ("NEW", new)):
            try:
                checked(pack, profile)
            except ProfileError as e:
                raise DiffError(
                    f"the profile does not fit the {side} rules: {e}; leave out --profile "
                    "to profile the clients for each side"
                ) from None
    path = choose_path([old, new], CLIENTS)
    old_results = decide_all(old, clients, as_of, path.engine, profile)
    new_results = decide_all(new, clients, as_of, path.engine, profile)
    return Diff(
        old_label,
        new_label,
        as_of.isoformat(),
        len(clients),
        unreadable,
        weight,
        {"old": path.engine, "new": path.engine},
        static_diff(old, new),
        impact(old, new, clients, old_results, new_results, weight),
    )


def default_weight(old: Pack, new: Pack) -> str | None:
    """revenue_12m when a pack declares it: discounts weighted by what the client spends."""
    return "revenue_12m" if "revenue_12m" in new.inputs or "revenue_12m" in old.inputs else None
