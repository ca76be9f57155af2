"""The intermediate representation: typed decisions, rules and derived facts.

Stage three of the pipeline, and the one input of every compiler (durable, SQL, solver).
Plain frozen dataclasses: once built, a pack never changes, so it can be shared freely.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tierwise.errors import Pos
from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import Node
from tierwise.lang.types import FactType
from tierwise.policy import rule_order

Output = dict[str, Any]


@dataclass(frozen=True)
class Derived:
    """A fact computed from other facts before matching (`margin_12m: revenue - costs`).

    `needs_profile`: it reads a statistic of the whole base (directly or through another
    derived fact), so it can only be computed once the run's profile is known."""

    name: str
    expr: Node
    type: FactType
    pos: Pos
    unit: str | None = None
    description: str = ""
    needs_profile: bool = False


@dataclass(frozen=True)
class ProfileStat:
    """A statistic of the whole client base, computed once per run before any decision.

    kind "cut_points": the `groups - 1` boundaries of equal groups of `expr` (nearest rank);
    "mean": the mean of `expr`; "share": the share of clients for whom `expr` holds. Each
    over the clients for whom `where` holds (all when None); nulls never count."""

    name: str
    kind: str
    expr: Node
    where: Node | None
    groups: int | None
    type: FactType
    pos: Pos
    text: str
    description: str = ""


@dataclass(frozen=True)
class FactTest:
    """A case from a facts file's `tests:`: inputs (and profile values) given, derived
    facts expected."""

    name: str
    given: dict[str, Any]
    profile: dict[str, Any]
    expect: dict[str, Any]
    as_of: dt.date | None
    pos: Pos


@dataclass(frozen=True)
class Rule:
    id: str
    index: int
    condition: Node
    outputs: Output
    because: str
    priority: int | None
    pos: Pos
    text: str


@dataclass(frozen=True)
class Aggregate:
    """collect's aggregation: count, or sum/min/max of one numeric output field."""

    op: str
    field: str | None

    @property
    def output_name(self) -> str:
        return self.field or "count"


@dataclass(frozen=True)
class RuleTest:
    """A case from a file's `tests:`: facts given (inputs, and derived facts to pin), the
    profile values, and the expected output and rules."""

    name: str
    given: dict[str, Any]
    profile: dict[str, Any]
    expect: Any
    expect_given: bool
    rules: tuple[str, ...] | None
    as_of: dt.date | None
    pos: Pos


@dataclass(frozen=True)
class Decision:
    name: str
    description: str
    hit_policy: str
    aggregate: Aggregate | None
    priority_order: tuple[str, tuple[Any, ...]] | None
    inputs: dict[str, FactType]
    derived: tuple[Derived, ...]
    rules: tuple[Rule, ...]
    default: Output | None
    output_types: dict[str, FactType]
    tests: tuple[RuleTest, ...]
    depends_on: frozenset[str]
    pos: Pos

    @property
    def file(self) -> str:
        return self.pos.file

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def ordered_rules(self) -> list[Rule]:
        """Rules in the order they win, as tierwise.policy.rule_order gives them (first-hit
        order under first: higher `priority` first, then file order)."""
        return rule_order(self)


@dataclass(frozen=True)
class Pack:
    """A loaded rule pack: decisions in dependency order, all inputs, the facts every
    decision shares (derived facts in evaluation order, base statistics), a content hash,
    where each input and derived fact is declared, and what each input means (its
    `description:`, for `tierwise facts`)."""

    decisions: tuple[Decision, ...]
    inputs: dict[str, FactType]
    functions: FunctionRegistry
    hash: str
    root: str
    files: tuple[str, ...] = field(default=())
    derived: tuple[Derived, ...] = field(default=())
    profile: tuple[ProfileStat, ...] = field(default=())
    fact_tests: tuple[FactTest, ...] = field(default=())
    declared_at: dict[str, Pos] = field(default_factory=dict)
    input_descriptions: dict[str, str] = field(default_factory=dict)

    def decision(self, name: str) -> Decision:
        return next(d for d in self.decisions if d.name == name)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def stat(self, name: str) -> ProfileStat:
        return next(s for s in self.profile if s.name == name)
