"""The static diff of two packs: decisions and rules added, removed or changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tierwise.errors import TierwiseError
from tierwise.pack.ir import Decision, Pack, Rule


class DiffError(TierwiseError):
    """A diff that cannot run: an unreadable client source, an unknown weight fact."""


# -- static diff ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleChange:
    """One rule added, removed, changed (which parts) or moved (first-hit order)."""

    rule: str
    change: str
    parts: tuple[str, ...]
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True)
class DecisionChange:
    """What changed in one decision: its status, its settings, its rules."""

    decision: str
    status: str
    settings: tuple[str, ...]
    rules: tuple[RuleChange, ...]


def static_diff(old: Pack, new: Pack) -> list[DecisionChange]:
    """Per decision (new order, then removed ones): added, removed, changed and moved rules."""
    olds = {d.name: d for d in old.decisions}
    news = {d.name: d for d in new.decisions}
    names = list(news) + [n for n in olds if n not in news]
    out = []
    for name in names:
        a, b = olds.get(name), news.get(name)
        if a is None or b is None:
            d = b or a
            assert d is not None
            change = "added" if a is None else "removed"
            rules = tuple(
                RuleChange(
                    r.id,
                    change,
                    (),
                    _rule_view(r) if b is None else None,
                    _rule_view(r) if a is None else None,
                )
                for r in d.rules
            )
            out.append(DecisionChange(name, change, (), rules))
            continue
        settings = tuple(_setting_changes(a, b))
        rules = tuple(_rule_changes(a, b))
        out.append(
            DecisionChange(name, "changed" if settings or rules else "same", settings, rules)
        )
    return out


def _setting_changes(a: Decision, b: Decision) -> list[str]:
    changes = []
    if a.hit_policy != b.hit_policy:
        changes.append(f"hit_policy: {a.hit_policy} -> {b.hit_policy}")
    if a.default != b.default:
        changes.append(f"default: {_show(a.default)} -> {_show(b.default)}")
    if a.priority_order != b.priority_order:
        changes.append("priority_order changed")
    if a.aggregate != b.aggregate:
        changes.append("aggregate changed")
    derived_a = {d.name: _render(d.expr) for d in a.derived}
    derived_b = {d.name: _render(d.expr) for d in b.derived}
    for n in sorted(set(derived_a) | set(derived_b)):
        if derived_a.get(n) != derived_b.get(n):
            changes.append(f"derive {n}: {derived_a.get(n, '-')} -> {derived_b.get(n, '-')}")
    return changes


def _rule_changes(a: Decision, b: Decision) -> list[RuleChange]:
    old_rules = {r.id: r for r in a.rules}
    new_rules = {r.id: r for r in b.rules}
    changes = []
    for r in b.rules:
        before = old_rules.get(r.id)
        if before is None:
            changes.append(RuleChange(r.id, "added", (), None, _rule_view(r)))
            continue
        parts = [
            part
            for part, x, y in (
                ("condition", _render(before.condition), _render(r.condition)),
                ("outputs", before.outputs, r.outputs),
                ("because", before.because, r.because),
                ("priority", before.priority, r.priority),
            )
            if x != y
        ]
        if parts:
            changes.append(
                RuleChange(r.id, "changed", tuple(parts), _rule_view(before), _rule_view(r))
            )
    for r in a.rules:
        if r.id not in new_rules:
            changes.append(RuleChange(r.id, "removed", (), _rule_view(r), None))
    if b.hit_policy in ("first", "priority"):
        kept_old = [r.id for r in a.ordered_rules() if r.id in new_rules]
        kept_new = [r.id for r in b.ordered_rules() if r.id in old_rules]
        if kept_old != kept_new:
            changed = {c.rule for c in changes}
            for i, rid in enumerate(kept_new):
                if rid != kept_old[i] and rid not in changed:
                    changes.append(
                        RuleChange(
                            rid,
                            "moved",
                            ("order",),
                            _rule_view(old_rules[rid]),
                            _rule_view(new_rules[rid]),
                        )
                    )
    return changes


def _rule_view(r: Rule) -> dict[str, Any]:
    return {
        "when": _render(r.condition),
        "then": dict(r.outputs),
        "because": r.because,
        "priority": r.priority,
        "pos": str(r.pos),
    }


def _render(node: Any) -> str:
    from tierwise.lang.expr import render

    return render(node)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return "none" if value is None else str(value)


# -- clients -------------------------------------------------------------------------------
