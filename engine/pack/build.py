"""Build a Pack (the IR) from rule files: load, validate, parse, type-check, order.

This is the front half of the pipeline, run once per pack. Every stage reports into one
ErrorSink, so a broken pack lists all of its errors in one run.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierwise.errors import ErrorSink, Pos
from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import Literal, Node, names
from tierwise.lang.parse import MAX_DEPTH, ParseError, parse_expression
from tierwise.lang.typecheck import TypeChecker, literal_type
from tierwise.lang.types import BOOL, INTEGER, LIST, NUMBER, FactType
from tierwise.pack.depth import written_out_depth
from tierwise.pack.facts import FactsFileBuilder, SharedFacts, build_shared, parsed_derive
from tierwise.pack.inputs import dependency_order, input_types
from tierwise.pack.ir import Aggregate, Decision, Derived, Pack, Rule, RuleTest
from tierwise.pack.load import Document, load_table, load_yaml
from tierwise.pack.schema import (
    DecisionFile,
    FactsFile,
    FactTestModel,
    TestModel,
    validate_document,
)
from tierwise.pack.tables import SPECIAL, Cell, cell_condition, output_value, row_id

_AGGREGATE = re.compile(r"^\s*(count|sum|min|max)\s*(?:\(\s*([A-Za-z_][A-Za-z_0-9]*)\s*\))?\s*$")
RULE_SUFFIXES = (".yaml", ".yml")
ID_FACT = "client_id"
"""A test's `given` may name the client's id as well as its facts."""


def rule_files(path: Path) -> list[Path]:
    """The YAML rule files of a pack: the file itself, or every *.yaml under a folder."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
    return [path]


def load_pack(path: str | Path, functions: FunctionRegistry) -> Pack:
    """Load a file or folder of rule files into a Pack; raise RulePackError listing every error."""
    root = Path(path)
    sink = ErrorSink()
    if not root.exists():
        sink.add(
            Pos(str(root), 1, 1),
            "file error",
            "no such file or folder",
            "pass a rule file or a folder of them",
        )
        sink.raise_if_any()
    files = rule_files(root)
    if not files:
        sink.add(Pos(str(root), 1, 1), "file error", "no rule files (*.yaml) here")
    parsed: list[tuple[Document, DecisionFile]] = []
    facts_files: list[FactsFileBuilder] = []
    digest = hashlib.sha256()
    for file in files:
        doc = load_yaml(file, sink)
        if doc is None:
            continue
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode() + b"\0")
        digest.update(doc.source.encode() + b"\0")
        model = validate_document(doc, sink)
        if isinstance(model, FactsFile):
            facts_files.append(FactsFileBuilder(doc, model, sink))
        elif model is not None:
            parsed.append((doc, model))
    shared_names = _shared_names(facts_files)
    folder = root if root.is_dir() else root.parent
    builders = [
        _DecisionBuilder(doc, model, functions, sink, shared_names, folder) for doc, model in parsed
    ]
    for b in builders:
        for csv_text in b.csv_sources:
            digest.update(csv_text.encode() + b"\0")
    _check_unique_names(builders, sink)
    declared = [(f.doc, f.inputs) for f in facts_files] + [(b.doc, b.inputs) for b in builders]
    inputs, declared_at = _merge_inputs(declared, sink)
    shared = build_shared(facts_files, inputs, functions, sink)
    _check_derived_names(builders, shared, sink)
    outputs_env: dict[str, FactType] = {}
    for b in builders:
        outputs_env.update(b.reference_types())
    decisions = [b.build(outputs_env, shared.env, shared.depths) for b in builders]
    documents: list[FactsFileBuilder | _DecisionBuilder] = [*facts_files, *builders]
    _check_test_names(
        [(b.doc, b.model.tests) for b in documents],
        {*inputs, *(d.name for d in shared.derived), ID_FACT},
        {s.name for s in shared.profile},
        sink,
    )
    ordered = _dependency_order([d for d in decisions if d is not None], sink)
    _check_chain_depth(ordered, sink)
    sink.raise_if_any()
    return Pack(
        tuple(ordered),
        inputs,
        functions,
        digest.hexdigest()[:16],
        str(root),
        tuple(str(f) for f in files),
        shared.derived,
        shared.profile,
        shared.tests,
        {**declared_at, **shared.declared_at},
    )


def _shared_names(facts_files: list[FactsFileBuilder]) -> dict[str, FactType | None]:
    """The facts files' inputs (typed) and derived facts and statistics (typed later)."""
    names: dict[str, FactType | None] = {}
    for f in facts_files:
        names.update(dict.fromkeys([*f.model.derive, *f.model.profile]))
        names.update(f.inputs)
    return names


def _check_unique_names(builders: list[_DecisionBuilder], sink: ErrorSink) -> None:
    seen: dict[str, Pos] = {}
    for b in builders:
        name = b.model.decision
        if name in seen:
            sink.add(
                b.doc.pos(("decision",)),
                "duplicate decision",
                f"decision {name!r} is also defined at {seen[name]}",
                "each decision lives in one file",
            )
        else:
            seen[name] = b.doc.pos(("decision",))


def _check_derived_names(
    builders: list[_DecisionBuilder], shared: SharedFacts, sink: ErrorSink
) -> None:
    """A decision's derived fact may not reuse the name of another decision's input, nor
    any fact the facts files define: all decisions of a client share one set of facts, so
    it would replace the client's value. Nor may a decision declare as its input a fact
    that a facts file derives."""
    declared: dict[str, Pos] = {}
    for b in builders:
        for name in b.inputs:
            declared.setdefault(name, b.doc.key_pos(("inputs", name)))
    for b in builders:
        for name in b.model.derive:
            if name in declared and name not in b.inputs:
                sink.add(
                    b.doc.key_pos(("derive", name)),
                    "duplicate fact",
                    f"{name!r} is an input declared at {declared[name]}",
                    f"give the derived fact its own name, e.g. {name}_derived",
                )
            elif name in shared.declared_at:
                sink.add(
                    b.doc.key_pos(("derive", name)),
                    "duplicate fact",
                    f"{name!r} is already defined at {shared.declared_at[name]}",
                    "every decision reads the facts files' facts as they are defined there",
                )
        for name in b.inputs:
            if name in shared.declared_at:
                sink.add(
                    b.doc.key_pos(("inputs", name)),
                    "duplicate fact",
                    f"{name!r} is derived at {shared.declared_at[name]}, not an input",
                    f"drop {name} from inputs: the decision reads the derived fact as it is",
                )


def _check_test_names(
    files: list[tuple[Document, Sequence[TestModel | FactTestModel]]],
    facts: set[str],
    stats: set[str],
    sink: ErrorSink,
) -> None:
    """A test that gives (or expects) a fact the pack does not have, or a statistic its
    profile does not have, is an error: a misspelt name would silently test nothing."""
    for doc, tests in files:
        for i, test in enumerate(tests):
            sections = [("given", test.given, facts), ("profile", test.profile, stats)]
            if isinstance(test, FactTestModel):
                sections.append(("expect", test.expect, facts))
            for section, values, known in sections:
                for name in values:
                    if name not in known:
                        close = difflib.get_close_matches(name, sorted(known), n=1)
                        sink.add(
                            doc.key_pos(("tests", i, section, name)),
                            "unknown fact" if section != "profile" else "unknown statistic",
                            f"this test's {section} names {name!r}, which the pack does not have",
                            f"did you mean {close[0]!r}?" if close else "",
                        )


def _merge_inputs(
    declared: list[tuple[Document, dict[str, FactType]]], sink: ErrorSink
) -> tuple[dict[str, FactType], dict[str, Pos]]:
    """Every input of the pack with one type, and where each is first declared."""
    merged: dict[str, tuple[FactType, Pos]] = {}
    for doc, file_inputs in declared:
        for name, ftype in file_inputs.items():
            pos = doc.key_pos(("inputs", name))
            if name in merged and merged[name][0].kind != ftype.kind:
                other, where = merged[name]
                sink.add(
                    pos,
                    "type mismatch",
                    f"input {name!r} is a {ftype} here but a {other} at {where}",
                    "one fact has one type across the pack",
                )
            merged.setdefault(name, (ftype, pos))
    return {n: t for n, (t, _) in merged.items()}, {n: p for n, (_, p) in merged.items()}


def _check_chain_depth(ordered: list[Decision], sink: ErrorSink) -> None:
    """Decisions read each other at most MAX_DEPTH deep: the SQL path nests one query per
    decision read, and Python's stack holds only so many."""
    level: dict[str, int] = {}
    for d in ordered:
        level[d.name] = 1 + max((level.get(dep, 0) for dep in d.depends_on), default=0)
        if level[d.name] == MAX_DEPTH + 1:
            sink.add(
                d.pos,
                "limit",
                f"decisions may read each other's outputs at most {MAX_DEPTH} deep; "
                f"{d.name!r} is at the end of a chain of {level[d.name]}",
                "read the first decisions' facts directly instead of through the chain",
            )


def _dependency_order(decisions: list[Decision], sink: ErrorSink) -> list[Decision]:
    """Decisions so that each comes after the decisions it reads; cycles are errors."""
    by_name = {d.name: d for d in decisions}

    def cycle(names: list[str]) -> None:
        sink.add(
            by_name[names[-1]].pos,
            "decision cycle",
            "decisions read each other's outputs in a cycle: " + " -> ".join(names),
            "a decision can only read decisions that do not read it back",
        )

    order, _ = dependency_order(list(by_name), lambda n: sorted(by_name[n].depends_on), cycle)
    return [by_name[n] for n in order]


@dataclass
class _RawRule:
    id: str
    condition: Node | None
    outputs: dict[str, Any]
    because: str
    priority: int | None
    pos: Pos
    text: str
    then_path: tuple[Any, ...]
    output_pos: dict[str, Pos] = field(default_factory=dict)
    """Where each output was written, when not at then_path (CSV cells)."""


class _DecisionBuilder:
    """Turns one validated file into a Decision, reporting problems with positions."""

    def __init__(
        self,
        doc: Document,
        model: DecisionFile,
        functions: FunctionRegistry,
        sink: ErrorSink,
        shared: dict[str, FactType | None],
        folder: Path,
    ) -> None:
        """`shared`: the facts files' facts a table column may name (inputs with their
        type; derived facts and statistics, typed later, as None)."""
        self.doc, self.model, self.functions, self.sink = doc, model, functions, sink
        self.shared = shared
        self.folder = folder  # the pack's folder, which its decision tables must be in
        self.csv_sources: list[str] = []
        self.inputs = input_types(doc, model.inputs, sink)
        self.rules = self._rules()
        self.aggregate = self._aggregate()
        self.output_types = self._output_types()

    # -- inputs and outputs --------------------------------------------------------------
    def _aggregate(self) -> Aggregate | None:
        text = self.model.aggregate
        if text is None:
            return None
        pos = self.doc.pos(("aggregate",))
        if self.model.hit_policy != "collect":
            self.sink.add(pos, "wrong value type", "aggregate only applies to hit_policy: collect")
            return None
        m = _AGGREGATE.match(text)
        if not m or (m.group(1) == "count") != (m.group(2) is None):
            self.sink.add(
                pos,
                "wrong value type",
                f"unknown aggregate {text!r}",
                "count, sum(field), min(field) or max(field)",
            )
            return None
        return Aggregate(m.group(1), m.group(2))

    def _output_types(self) -> dict[str, FactType]:
        types: dict[str, FactType] = {}
        sources = [(r.outputs, r.then_path, r.output_pos) for r in self.rules]
        if self.model.default is not None:
            sources.append((self.model.default, ("default",), {}))
        for outputs, path, places in sources:
            for key, value in outputs.items():
                if value is None:
                    continue
                t = literal_type(value)
                old = types.get(key)
                if old is None:
                    types[key] = t
                elif old.numeric and t.numeric:
                    types[key] = NUMBER if "number" in (old.kind, t.kind) else INTEGER
                elif old.kind != t.kind:
                    self.sink.add(
                        places.get(key) or self.doc.pos((*path, key)),
                        "type mismatch",
                        f"output {key!r} is a {t} here but a {old} in another rule",
                        "every rule gives each output the same type",
                    )
        for outputs, _, _ in sources:
            for key in outputs:
                types.setdefault(key, FactType("string"))
        agg = self.aggregate
        if agg is not None and agg.field is not None:
            agg_type = types.get(agg.field)
            if agg_type is None or not agg_type.numeric:
                self.sink.add(
                    self.doc.pos(("aggregate",)),
                    "type mismatch",
                    f"{agg.op}({agg.field}) needs a numeric output {agg.field!r}",
                    "outputs: " + ", ".join(types),
                )
        return types

    def reference_types(self) -> dict[str, FactType]:
        """The types other decisions see when they read this one's outputs (`name.field`)."""
        name = self.model.decision
        if self.aggregate is not None:
            kind = INTEGER if self.aggregate.op == "count" else NUMBER
            return {f"{name}.{self.aggregate.output_name}": kind}
        if self.model.hit_policy == "collect":
            return {f"{name}.{k}": LIST for k in self.output_types}
        return {f"{name}.{k}": t for k, t in self.output_types.items()}

    # -- rules ---------------------------------------------------------------------------
    def _rules(self) -> list[_RawRule]:
        raws: list[_RawRule] = []
        for i, rule in enumerate(self.model.rules):
            path: tuple[Any, ...] = ("rules", i)
            cond: Node | None
            if isinstance(rule.when, bool):
                cond, text = (
                    Literal(self.doc.pos((*path, "when")), rule.when),
                    str(rule.when).lower(),
                )
            else:
                cond, text = self._parse((*path, "when"), rule.when), rule.when
            raws.append(
                _RawRule(
                    rule.id,
                    cond,
                    dict(rule.then),
                    rule.because,
                    rule.priority,
                    self.doc.pos(path),
                    text,
                    (*path, "then"),
                )
            )
        if self.model.table is not None:
            raws.extend(self._table_rules())
        seen: dict[str, Pos] = {}
        for r in raws:
            if r.id in seen:
                self.sink.add(
                    r.pos,
                    "duplicate rule id",
                    f"rule id {r.id!r} is also used at {seen[r.id]}",
                    "rule ids are unique within a decision",
                )
            seen.setdefault(r.id, r.pos)
        if not raws and self.model.table is None:  # an unreadable table is reported already
            self.sink.add(
                self.doc.pos(("decision",)),
                "missing key",
                "a decision needs 'rules:' or a 'table:'",
                "rules: [{id: gold, when: clv >= 10000, then: {tier: gold}}]",
            )
        return raws

    def _parse(self, path: tuple[Any, ...], text: str) -> Node | None:
        try:
            return parse_expression(text, self.doc.locator(path, text))
        except ParseError as e:
            self.sink.add(e.pos, "expression syntax", e.message, e.hint)
            return None

    def _table_rules(self) -> list[_RawRule]:
        table = self.model.table
        assert table is not None
        rows: list[tuple[dict[str, Cell], Pos, tuple[Any, ...]]] = []
        if table.file is not None:
            origin = self.doc.pos(("table", "file"))
            loaded = load_table(table.file, Path(self.doc.path), self.folder, self.sink, origin)
            if loaded is None:
                return []
            self.csv_sources.append(loaded.text)
            for row in loaded.rows:
                cells = {
                    name: Cell(text, text, pos)
                    for (name, _), (text, pos) in zip(loaded.header, row, strict=False)
                }
                rows.append((cells, row[0][1], ("table", "file")))
            if any(len(row) != len(loaded.header) for row in loaded.rows):
                bad = next(row for row in loaded.rows if len(row) != len(loaded.header))
                self.sink.add(
                    bad[0][1],
                    "CSV syntax",
                    f"this row has {len(bad)} cells but the header has {len(loaded.header)}",
                )
            csv_mode = True
        else:
            for i, yaml_row in enumerate(table.rows or []):
                path = ("table", "rows", i)
                rows.append(
                    (
                        {k: Cell(str(v), v, self.doc.pos((*path, k))) for k, v in yaml_row.items()},
                        self.doc.pos(path),
                        path,
                    )
                )
            csv_mode = False
        conditions = set(self.inputs) | set(self.model.derive) | set(self.shared)
        raws: list[_RawRule] = []
        for n, (cells, pos, path) in enumerate(rows, start=1):
            parts: list[Node] = []
            outputs: dict[str, Any] = {}
            places: dict[str, Pos] = {}
            for name, cell in cells.items():
                if name in SPECIAL:
                    continue
                if name in conditions or "." in name:
                    # derived facts and other decisions' outputs are typed later; a bare
                    # word in their cells is text, as a spreadsheet user means it
                    ftype = self.inputs.get(name) or self.shared.get(name) or FactType("string")
                    cond = cell_condition(name, ftype, cell, self.sink)
                    if cond is not None:
                        parts.append(cond)
                else:
                    outputs[name] = output_value(cell.text) if csv_mode else cell.value
                    places[name] = cell.pos
            from tierwise.lang.expr import And

            cond_node: Node = (
                Literal(pos, True)
                if not parts
                else parts[0]
                if len(parts) == 1
                else And(pos, tuple(parts))
            )
            rid = row_id(cells.get("id"), n, self.sink)
            prio = cells.get("priority")
            if prio and prio.text.strip() and not prio.text.strip().lstrip("-").isdigit():
                self.sink.add(
                    prio.pos,
                    "wrong value type",
                    f"priority {prio.text!r} is not a whole number",
                    "priority is a whole number; rules with a higher priority are tried first",
                )
            raws.append(
                _RawRule(
                    rid,
                    cond_node,
                    outputs,
                    cells["because"].text if "because" in cells else "",
                    int(prio.text) if prio and prio.text.strip().lstrip("-").isdigit() else None,
                    pos,
                    " and ".join(_render(p) for p in parts) or "true",
                    path,
                    places,
                )
            )
        return raws

    # -- the decision --------------------------------------------------------------------
    def build(
        self,
        outputs_env: dict[str, FactType],
        shared_env: dict[str, FactType],
        shared_depths: dict[str, int],
    ) -> Decision | None:
        """The decision, typed against its inputs, the facts every decision shares and the
        outputs of the decisions it reads."""
        name = self.model.decision
        env: dict[str, FactType] = {**shared_env, **self.inputs}
        own = {k for k in outputs_env if k.startswith(name + ".")}
        env.update({k: v for k, v in outputs_env.items() if k not in own})
        derived: list[Derived] = []
        items = {
            dname: item
            for dname, spec in self.model.derive.items()
            if (item := parsed_derive(self.doc, dname, spec, self.sink)).expr is not None
        }
        parsed = {dname: item.expr for dname, item in items.items() if item.expr is not None}
        order, cyclic = self._derive_order(parsed)
        env.update(dict.fromkeys(cyclic, NUMBER))  # reported already: no follow-on errors
        written_out = dict(shared_depths)  # each derived fact's nesting, written out
        for dname in order:
            node = parsed[dname]
            spec = items[dname].spec
            if spec is not None and (spec.enum, spec.min, spec.max) != (None, None, None):
                self.sink.add(
                    self.doc.key_pos(("derive", dname)),
                    "wrong value type",
                    "a decision's derived fact declares no domain (enum, min, max)",
                    "declare the fact in a facts file, whose derived facts are checked against it",
                )
            where = self.doc.key_pos(("derive", dname))
            written_out[dname] = written_out_depth(node, written_out, where, self.sink)
            checker = TypeChecker(env, self.functions, self.sink)
            t = checker.infer(node)
            if dname in env and dname not in cyclic:
                self.sink.add(
                    self.doc.key_pos(("derive", dname)),
                    "duplicate fact",
                    f"{dname!r} is already an input",
                    f"give the derived fact its own name, e.g. {dname}_derived",
                )
            env[dname] = t or FactType("number")
            spec = items[dname].spec
            derived.append(
                Derived(
                    dname,
                    node,
                    t or FactType("number"),
                    self.doc.key_pos(("derive", dname)),
                    spec.unit if spec else None,
                    items[dname].description,
                )
            )
        checker = TypeChecker(env, self.functions, self.sink)
        rules: list[Rule] = []
        for i, raw in enumerate(self.rules):
            if raw.condition is None:
                continue
            written_out_depth(raw.condition, written_out, raw.pos, self.sink)
            checker.condition(raw.condition)
            rules.append(
                Rule(
                    raw.id,
                    i,
                    raw.condition,
                    raw.outputs,
                    raw.because,
                    raw.priority,
                    raw.pos,
                    raw.text,
                )
            )
        priority_order = self._priority_order()
        if self.model.hit_policy != "first":
            for i, raw in enumerate(self.rules):
                if raw.priority is not None:
                    in_yaml = i < len(self.model.rules)
                    self.sink.add(
                        self.doc.pos(("rules", i, "priority")) if in_yaml else raw.pos,
                        "wrong value type",
                        f"rule {raw.id!r} has a priority, which only orders rules under "
                        f"hit_policy: first (this decision is {self.model.hit_policy})",
                        "drop priority:, or rank outputs with hit_policy: priority and "
                        "priority_order:",
                    )
        depends: set[str] = set()
        for node in [r.condition for r in rules] + [d.expr for d in derived]:
            depends.update(n.split(".", 1)[0] for n in names(node) if "." in n)
        if self.model.hit_policy == "priority" and priority_order is None:
            self.sink.add(
                self.doc.pos(("hit_policy",)),
                "missing key",
                "hit_policy: priority needs 'priority_order:'",
                "priority_order: {tier: [platinum, gold, silver]}  (best first)",
            )
        tests = tuple(self._tests())
        return Decision(
            name,
            self.model.description,
            self.model.hit_policy,
            self.aggregate,
            priority_order,
            self.inputs,
            tuple(derived),
            tuple(rules),
            self.model.default,
            self.output_types,
            tests,
            frozenset(depends),
            self.doc.pos(("decision",)),
        )

    def _derive_order(self, parsed: dict[str, Node]) -> tuple[list[str], set[str]]:
        """Derived facts so that each comes after those it reads (else in file order), and
        the names in a cycle, which is an error."""

        def on_cycle(cycle: list[str]) -> None:
            self.sink.add(
                self.doc.key_pos(("derive", cycle[0])),
                "derive cycle",
                "derived facts read each other in a cycle: " + " -> ".join(cycle),
                "a derived fact can only read inputs and other derived facts that do not "
                "read it back",
            )

        def reads(dname: str) -> list[str]:
            return [n for n in names(parsed[dname]) if n not in self.inputs]

        return dependency_order(list(parsed), reads, on_cycle)

    def _priority_order(self) -> tuple[str, tuple[Any, ...]] | None:
        order = self.model.priority_order
        if order is None:
            return None
        pos = self.doc.pos(("priority_order",))
        if self.model.hit_policy != "priority":
            self.sink.add(
                pos, "wrong value type", "priority_order only applies to hit_policy: priority"
            )
        if len(order) != 1:
            self.sink.add(
                pos,
                "wrong value type",
                "priority_order names exactly one output",
                "priority_order: {tier: [gold, silver]}",
            )
            return None
        key, values = next(iter(order.items()))
        for r in self.rules:
            if r.outputs.get(key) not in values:
                self.sink.add(
                    r.output_pos.get(key) or self.doc.pos(r.then_path),
                    "unknown enum value",
                    f"rule {r.id!r} gives {key}={r.outputs.get(key)!r}, "
                    "which priority_order does not rank",
                    "rank every output value: " + ", ".join(map(str, values)),
                )
        return key, tuple(values)

    def _tests(self) -> list[RuleTest]:
        tests = []
        for i, t in enumerate(self.model.tests):
            rules = (
                (t.rule,)
                if isinstance(t.rule, str)
                else tuple(t.rule)
                if t.rule is not None
                else None
            )
            tests.append(
                RuleTest(
                    t.name or f"{self.model.decision}[{i}]",
                    t.given,
                    t.profile,
                    t.expect,
                    "expect" in t.model_fields_set,
                    rules,
                    t.as_of,
                    self.doc.pos(("tests", i)),
                )
            )
        return tests


def _render(node: Node) -> str:
    from tierwise.lang.expr import render

    return render(node)


__all__ = ["BOOL", "load_pack", "rule_files"]
