"""The facts every decision of a pack reads: the inputs, derived facts and statistics of
the whole base that facts files declare, typed and ordered once for the whole pack.

A facts file starts with `facts: <name>`. Its derived facts may read inputs, each other and
the base statistics of `profile:`; a statistic may read facts that need other statistics
(the CLV percentiles read the CLV, which reads the purchase model), so the profile is
computed in layers (tierwise.runtime.profile), one pass over the base per layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierwise.errors import ErrorSink, Pos
from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import ListLit, Node, names, render
from tierwise.lang.parse import ParseError, parse_expression
from tierwise.lang.typecheck import TypeChecker
from tierwise.lang.types import NUMBER, NUMBERS, FactType
from tierwise.pack.depth import written_out_depth
from tierwise.pack.inputs import dependency_order, input_types
from tierwise.pack.ir import Derived, FactTest, ProfileStat
from tierwise.pack.load import Document
from tierwise.pack.schema import DeriveSpec, FactsFile, ProfileSpec

STAT_KINDS = ("cut_points", "mean", "share", "bg_nbd")


@dataclass
class SharedFacts:
    """What the facts files give every decision: derived facts in evaluation order, the
    base statistics, the facts files' tests, and the types decisions may read."""

    derived: tuple[Derived, ...] = ()
    profile: tuple[ProfileStat, ...] = ()
    tests: tuple[FactTest, ...] = ()
    env: dict[str, FactType] = field(default_factory=dict)
    declared_at: dict[str, Pos] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)  # derived facts' nesting, written out


@dataclass
class _Parsed:
    """One derived fact or statistic, parsed but not yet typed."""

    name: str
    doc: Document
    key: tuple[Any, ...]
    expr: Node | None
    where: Node | None = None
    stat: ProfileSpec | None = None
    spec: DeriveSpec | None = None
    description: str = ""

    @property
    def reads(self) -> list[str]:
        found = [] if self.expr is None else names(self.expr)
        return found + ([] if self.where is None else names(self.where))


class FactsFileBuilder:
    """Reads one facts file: its inputs now, its derived facts and statistics for the pack."""

    def __init__(self, doc: Document, model: FactsFile, sink: ErrorSink) -> None:
        self.doc, self.model, self.sink = doc, model, sink
        self.inputs = input_types(doc, model.inputs, sink)

    def parsed(self) -> list[_Parsed]:
        """The file's statistics and derived facts, parsed (syntax errors reported)."""
        out = [self._stat(name, spec) for name, spec in self.model.profile.items()]
        for name, spec in self.model.derive.items():
            out.append(parsed_derive(self.doc, name, spec, self.sink))
        return out

    def _stat(self, name: str, spec: ProfileSpec) -> _Parsed:
        given = [k for k in STAT_KINDS if getattr(spec, k) is not None]
        path = ("profile", name)
        if len(given) != 1:
            self.sink.add(
                self.doc.key_pos(path),
                "wrong value type",
                f"statistic {name!r} needs exactly one of {', '.join(STAT_KINDS)}"
                + (f" (it has {', '.join(given)})" if given else ""),
                "{cut_points: revenue_12m, groups: 5}, {mean: orders_total} or "
                "{share: orders_total >= 2, where: orders_total >= 1}",
            )
            return _Parsed(name, self.doc, path, None, stat=spec)
        kind = given[0]
        if (kind == "cut_points") != (spec.groups is not None):
            self.sink.add(
                self.doc.key_pos(path),
                "wrong value type",
                "groups: goes with cut_points (and cut_points needs it)",
                "{cut_points: revenue_12m, groups: 5}",
            )
        where = (
            None if spec.where is None else parse(self.doc, (*path, "where"), spec.where, self.sink)
        )
        expr = parse(self.doc, (*path, kind), getattr(spec, kind), self.sink)
        return _Parsed(name, self.doc, path, expr, where, spec, description=spec.description or "")

    def tests(self) -> list[FactTest]:
        return [
            FactTest(
                t.name or f"{self.model.facts}[{i}]",
                t.given,
                t.profile,
                t.expect,
                t.as_of,
                self.doc.pos(("tests", self.model.index("tests", i))),
            )
            for i, t in enumerate(self.model.tests)
        ]


def parsed_derive(doc: Document, name: str, spec: DeriveSpec | str, sink: ErrorSink) -> _Parsed:
    """One `derive:` entry (an expression, or {expr, unit, description}), parsed."""
    if isinstance(spec, str):
        item = _Parsed(name, doc, ("derive", name), parse(doc, ("derive", name), spec, sink))
    else:
        expr = parse(doc, ("derive", name, "expr"), spec.expr, sink)
        item = _Parsed(
            name, doc, ("derive", name), expr, spec=spec, description=spec.description or ""
        )
    if item.expr is None:
        sink.unusable.add(name)  # its syntax error is reported; its readers are not
    return item


def declared_domain(item: _Parsed, inferred: FactType, sink: ErrorSink) -> FactType:
    """A derived fact's type: the inferred kind, with the domain its spec declares."""
    spec = item.spec
    if spec is None:
        return inferred
    if spec.enum is not None and inferred.kind not in ("string", "null"):
        sink.add(
            item.doc.pos((*item.key, "enum")),
            "type mismatch",
            f"{item.name} is {_article(str(inferred))}, so it cannot declare an enum",
        )
        return inferred
    if (spec.min is not None or spec.max is not None) and not inferred.numeric:
        sink.add(
            item.doc.pos((*item.key, "min" if spec.min is not None else "max")),
            "type mismatch",
            f"{item.name} is {_article(str(inferred))}, so it cannot declare a range",
        )
        return inferred
    return FactType(
        "string" if spec.enum is not None else inferred.kind,
        enum=tuple(spec.enum) if spec.enum is not None else inferred.enum,
        minimum=spec.min,
        maximum=spec.max,
        unit=spec.unit,
    )


def parse(doc: Document, path: tuple[Any, ...], text: str, sink: ErrorSink) -> Node | None:
    """An expression of a rule file, or None with the syntax error reported."""
    try:
        return parse_expression(text, doc.locator(path, text))
    except ParseError as e:
        sink.add(e.pos, "expression syntax", e.message, e.hint)
        return None


def build_shared(
    builders: list[FactsFileBuilder],
    inputs: Mapping[str, FactType],
    functions: FunctionRegistry,
    sink: ErrorSink,
) -> SharedFacts:
    """Type and order the facts files' derived facts and statistics against their inputs
    (`inputs`: every input of the pack, with its one type); every problem goes to `sink`."""
    items: dict[str, _Parsed] = {}
    for b in builders:
        for item in b.parsed():
            if item.name in inputs:
                _report_duplicate(sink, item, "an input of the pack")
            elif item.name in items:
                _report_duplicate(sink, item, f"defined at {_where(items[item.name])}")
            else:
                items[item.name] = item

    def on_cycle(cycle: list[str]) -> None:
        sink.add(
            _where(items[cycle[0]]),
            "derive cycle",
            "derived facts read each other in a cycle: " + " -> ".join(cycle),
            "a derived fact can only read inputs and facts that do not read it back",
        )

    order, cyclic = dependency_order(list(items), lambda n: items[n].reads, on_cycle)
    env = {name: inputs[name] for b in builders for name in b.inputs if name in inputs}
    env.update(dict.fromkeys(cyclic, NUMBER))  # reported already: no follow-on errors
    shared = SharedFacts(env=env)
    needs_profile: set[str] = set()
    derived: list[Derived] = []
    stats: list[ProfileStat] = []
    for name in order:
        item = items[name]
        reads_profile = [n for n in item.reads if n in needs_profile]
        for node in (item.expr, item.where):
            if node is not None:
                levels = written_out_depth(node, shared.depths, _where(item), sink)
                shared.depths[name] = max(levels, shared.depths.get(name, 0))
        if item.stat is not None:
            stat = _typed_stat(item, env, functions, sink)
            if stat is not None:
                stats.append(stat)
            needs_profile.add(name)
            env[name] = stat.type if stat is not None else NUMBER
        elif item.expr is not None:
            t = declared_domain(
                item, TypeChecker(env, functions, sink).infer(item.expr) or NUMBER, sink
            )
            env[name] = t
            if reads_profile:
                needs_profile.add(name)
            derived.append(
                Derived(
                    name,
                    item.expr,
                    t,
                    _where(item),
                    t.unit,
                    item.description,
                    bool(reads_profile),
                )
            )
        shared.declared_at[name] = _where(item)
    for d in derived:
        for used in names(d.expr):
            if "." in used:
                sink.add(
                    d.pos,
                    "unknown fact",
                    f"{d.name} reads {used!r}: a facts file cannot read a decision's output",
                    "derive it inside the decision that reads it instead",
                )
    shared.derived, shared.profile = tuple(derived), tuple(stats)
    shared.tests = tuple(t for b in builders for t in b.tests())
    shared.env = env
    return shared


def _typed_stat(
    item: _Parsed, env: Mapping[str, FactType], functions: FunctionRegistry, sink: ErrorSink
) -> ProfileStat | None:
    assert item.stat is not None
    if item.expr is None:
        return None
    kind = next(k for k in STAT_KINDS if getattr(item.stat, k) is not None)
    checker = TypeChecker(env, functions, sink)
    if kind == "share":
        checker.condition(item.expr)
    elif kind == "bg_nbd":
        _check_history(item, checker, sink)
    else:
        t = checker.infer(item.expr)
        if t is not None and not t.numeric:
            sink.add(
                item.expr.pos,
                "type mismatch",
                f"{kind} needs a number, but {item.name} reads {_article(str(t))}",
                "e.g. cut_points: revenue_12m or mean: orders_total",
            )
    if item.where is not None:
        checker.condition(item.where)
    stype = {
        "cut_points": NUMBERS,
        "mean": NUMBER,
        "share": FactType("number", minimum=0, maximum=1),
        "bg_nbd": NUMBERS,
    }[kind]
    text = getattr(item.stat, kind) + (f" where {item.stat.where}" if item.stat.where else "")
    return ProfileStat(
        item.name,
        kind,
        item.expr,
        item.where,
        item.stat.groups,
        stype,
        _where(item),
        f"{kind}({text}" + (f", {item.stat.groups} groups)" if item.stat.groups else ")"),
        item.description,
    )


def _check_history(item: _Parsed, checker: TypeChecker, sink: ErrorSink) -> None:
    """A `bg_nbd` statistic reads a list of three numbers: repeat purchases, days from the
    first to the last purchase, days since the first purchase."""
    assert item.expr is not None
    if not isinstance(item.expr, ListLit) or len(item.expr.items) != 3:
        sink.add(
            item.expr.pos,
            "wrong value type",
            f"bg_nbd needs a list of three values, but {item.name} reads {render(item.expr)!r}",
            "[orders_total - 1, days_between(first_purchase_at, last_purchase_at), "
            "recency(first_purchase_at)]",
        )
        return
    for part in item.expr.items:
        t = checker.infer(part)
        if t is not None and not t.numeric:
            sink.add(part.pos, "type mismatch", f"bg_nbd needs numbers, got {_article(str(t))}")


def _where(item: _Parsed) -> Pos:
    return item.doc.key_pos(item.key)


def _report_duplicate(sink: ErrorSink, item: _Parsed, other: str) -> None:
    sink.add(
        _where(item),
        "duplicate fact",
        f"{item.name!r} is already {other}",
        "every fact of a pack has one name and one definition",
    )


def _article(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text
