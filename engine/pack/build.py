"""Build a Pack (the IR) from rule files: load, validate, parse, type-check, order.

This is the front half of the pipeline, run once per pack. Every stage reports into one
ErrorSink, so a broken pack lists all of its errors in one run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierwise.errors import ErrorSink, Pos
from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import Literal, Node, names
from tierwise.lang.parse import MAX_DEPTH, ParseError, depth, parse_expression
from tierwise.lang.typecheck import TypeChecker, literal_type
from tierwise.lang.types import BOOL, INTEGER, LIST, NUMBER, FactType
from tierwise.pack.ir import Aggregate, Decision, Derived, Pack, Rule, RuleTest
from tierwise.pack.load import Document, load_table, load_yaml
from tierwise.pack.schema import DecisionFile, InputSpec, validate_document
from tierwise.pack.tables import SPECIAL, Cell, cell_condition, output_value, row_id

_AGGREGATE = re.compile(r"^\s*(count|sum|min|max)\s*(?:\(\s*([A-Za-z_][A-Za-z_0-9]*)\s*\))?\s*$")
RULE_SUFFIXES = (".yaml", ".yml")


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
    digest = hashlib.sha256()
    for file in files:
        doc = load_yaml(file, sink)
        if doc is None:
            continue
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode() + b"\0")
        digest.update(doc.source.encode() + b"\0")
        model = validate_document(doc, sink)
        if model is not None:
            parsed.append((doc, model))
    folder = root if root.is_dir() else root.parent
    builders = [_DecisionBuilder(doc, model, functions, sink, folder) for doc, model in parsed]
    for b in builders:
        for csv_text in b.csv_sources:
            digest.update(csv_text.encode() + b"\0")
    _check_unique_names(builders, sink)
    inputs = _merge_inputs(builders, sink)
    _check_derived_names(builders, sink)
    outputs_env: dict[str, FactType] = {}
    for b in builders:
        outputs_env.update(b.reference_types())
    decisions = [b.build(outputs_env) for b in builders]
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
    )


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


def _check_derived_names(builders: list[_DecisionBuilder], sink: ErrorSink) -> None:
    """A derived fact may not reuse the name of another decision's input: all decisions of
    a client share one set of facts, so it would replace the client's value."""
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


def _merge_inputs(builders: list[_DecisionBuilder], sink: ErrorSink) -> dict[str, FactType]:
    merged: dict[str, tuple[FactType, Pos]] = {}
    for b in builders:
        for name, ftype in b.inputs.items():
            pos = b.doc.key_pos(("inputs", name))
            if name in merged and merged[name][0].kind != ftype.kind:
                other, where = merged[name]
                sink.add(
                    pos,
                    "type mismatch",
                    f"input {name!r} is a {ftype} here but a {other} at {where}",
                    "one fact has one type across the pack",
                )
            merged.setdefault(name, (ftype, pos))
    return {n: t for n, (t, _) in merged.items()}


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
    by_name = {d.name: d for d in decisions}

    def cycle(names: list[str]) -> None:
        sink.add(
            by_name[names[-1]].pos,
            "decision cycle",
            "decisions read each other's outputs in a cycle: " + " -> ".join(names),
            "a decision can only read decisions that do not read it back",
        )

    reads = {d.name: [dep for dep in sorted(d.depends_on) if dep in by_name] for d in decisions}
    return [by_name[n] for n in reads_first(list(by_name), reads, cycle)]


def reads_first(
    names: list[str], reads: dict[str, list[str]], cycle: Callable[[list[str]], None]
) -> list[str]:
    """Names so that each comes after those it reads (else in the given order), depth first;
    each cycle found is passed to `cycle` (a -> b -> a). Without recursion: a pack may chain
    thousands of decisions or derived facts, and the chain's length is checked later."""
    state: dict[str, str] = {}
    order: list[str] = []
    for root in names:
        if root in state:
            continue
        state[root] = "active"
        stack = [(root, iter(reads[root]))]
        while stack:
            name, pending = stack[-1]
            for dep in pending:
                if state.get(dep) == "active":
                    trail = [n for n, _ in stack]
                    cycle([*trail[trail.index(dep) :], dep])
                elif dep not in state:
                    state[dep] = "active"
                    stack.append((dep, iter(reads[dep])))
                    break
            else:
                stack.pop()
                state[name] = "done"
                order.append(name)
    return order


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
        folder: Path,
    ) -> None:
        self.doc, self.model, self.functions, self.sink = doc, model, functions, sink
        self.folder = folder  # the pack's folder, which its decision tables must be in
        self.csv_sources: list[str] = []
        self.inputs = {name: self._input_type(name, spec) for name, spec in model.inputs.items()}
        self.rules = self._rules()
        self.aggregate = self._aggregate()
        self.output_types = self._output_types()

    # -- inputs and outputs --------------------------------------------------------------
    def _input_type(self, name: str, spec: InputSpec | str) -> FactType:
        if isinstance(spec, str):
            return FactType(spec)  # type: ignore[arg-type]
        if spec.enum is not None:
            if spec.type not in (None, "string"):
                self.sink.add(
                    self.doc.pos(("inputs", name, "type")),
                    "wrong value type",
                    "an enum input is a string",
                    "drop 'type:' or write type: string",
                )
            return FactType("string", enum=tuple(spec.enum), unit=spec.unit)
        if spec.type is None:
            self.sink.add(
                self.doc.key_pos(("inputs", name)),
                "missing key",
                f"input {name!r} needs a type or an enum",
                "e.g. {type: number} or {enum: [a, b]}",
            )
            return FactType("string")
        return FactType(spec.type, minimum=spec.min, maximum=spec.max, unit=spec.unit)

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
        conditions = set(self.inputs) | set(self.model.derive)
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
                    ftype = self.inputs.get(name) or FactType("string")
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
    def build(self, outputs_env: dict[str, FactType]) -> Decision | None:
        name = self.model.decision
        env: dict[str, FactType] = dict(self.inputs)
        own = {k for k in outputs_env if k.startswith(name + ".")}
        env.update({k: v for k, v in outputs_env.items() if k not in own})
        derived: list[Derived] = []
        parsed = {
            dname: node
            for dname, text in self.model.derive.items()
            if (node := self._parse(("derive", dname), text)) is not None
        }
        order, cyclic = self._derive_order(parsed)
        env.update(dict.fromkeys(cyclic, NUMBER))  # reported already: no follow-on errors
        written_out: dict[str, int] = {}  # each derived fact's nesting, derived facts inlined
        for dname in order:
            node = parsed[dname]
            where = self.doc.key_pos(("derive", dname))
            written_out[dname] = self._check_depth(node, written_out, where)
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
            derived.append(
                Derived(dname, node, t or FactType("number"), self.doc.key_pos(("derive", dname)))
            )
        checker = TypeChecker(env, self.functions, self.sink)
        rules: list[Rule] = []
        for i, raw in enumerate(self.rules):
            if raw.condition is None:
                continue
            self._check_depth(raw.condition, written_out, raw.pos)
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

    def _check_depth(self, node: Node, written_out: dict[str, int], pos: Pos) -> int:
        """How deep an expression nests once the derived facts it reads are written out (the
        solver and the SQL compiler inline them); past MAX_DEPTH is an error here."""
        levels = depth(node, written_out)
        reported = any(written_out.get(n, 0) > MAX_DEPTH for n in names(node))
        if levels > MAX_DEPTH and not reported:  # once, where a chain passes the limit
            self.sink.add(
                pos,
                "expression syntax",
                f"an expression may nest at most {MAX_DEPTH} levels, counting the derived "
                f"facts it reads as written out; this one nests {levels}",
                "compute long chains of derived facts in the source (the CRM's query)",
            )
        return levels

    def _derive_order(self, parsed: dict[str, Node]) -> tuple[list[str], set[str]]:
        """Derived facts so that each comes after those it reads (else in file order), and
        the names in a cycle, which is an error."""
        cyclic: set[str] = set()

        def cycle(chain: list[str]) -> None:
            cyclic.update(chain)
            self.sink.add(
                self.doc.key_pos(("derive", chain[-1])),
                "derive cycle",
                "derived facts read each other in a cycle: " + " -> ".join(chain),
                "a derived fact can only read inputs and other derived facts that do not "
                "read it back",
            )

        reads = {
            dname: [u for u in names(node) if u in parsed and u not in self.inputs]
            for dname, node in parsed.items()
        }
        return reads_first(list(parsed), reads, cycle), cyclic

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
