"""Compile a pack's IR to one SQL query (SQLAlchemy Core): the batch push-down path.

One generator for DuckDB, SQLite and PostgreSQL (dialects.py holds what differs). The
query is a chain of layers (nested selects, or CTEs) over a source of facts, one client
per row: validated inputs (inputs.py), then per decision (in pack order, so later
decisions read earlier outputs) its derived facts, its rule matches and its outcome
columns. `SqlCompiler` holds only what is fixed per pack and dialect, so threads may share
it; each `select` builds its query in a `_Query` of its own (as_of, layers, labels, scope).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tierwise import policy
from tierwise.batch import shared
from tierwise.batch.dialects import Col, dialect_for, sql_type
from tierwise.batch.expressions import PushdownError, SqlExpressions, Val
from tierwise.batch.inputs import SourceColumn, validated_inputs
from tierwise.lang.expr import Call, Exists, ListLit, Name
from tierwise.pack.ir import Decision, Pack, Rule
from tierwise.profile import ProfilePlan

ERRORS_COLUMN = "errors"
STATUSES = ("decided", "default", "no_decision", "error")
COMPILED = 16
"""How many compiled (pack, dialect) pairs `compiled` keeps."""
MASK_RULES = 8
"""A collect of at most this many rules looks its outcomes up by match bit mask (where the
dialect has constant lists to index)."""

__all__ = [
    "ERRORS_COLUMN",
    "OutputColumns",
    "PushdownError",
    "SourceColumn",
    "SqlCompiler",
    "compiled",
    "output_columns",
    "pushdown_blockers",
]


_compiled: OrderedDict[tuple[int, str], SqlCompiler] = OrderedDict()
_compiling = threading.Lock()


def compiled(pack: Pack, dialect: str) -> SqlCompiler:
    """The pack compiled for `dialect`, shared by every caller and thread (a compiler is
    immutable; compiling the shipped packs takes half a second): the last COMPILED packs
    and dialects are kept."""
    key = (id(pack), dialect)
    with _compiling:
        known = _compiled.get(key)
        if known is not None and known.pack is pack:
            _compiled.move_to_end(key)
            return known
    compiler = SqlCompiler(pack, dialect)  # outside the lock: a compile may take a while
    with _compiling:
        _compiled[key] = compiler
        while len(_compiled) > COMPILED:
            _compiled.popitem(last=False)
    return compiler


def pushdown_blockers(pack: Pack) -> list[str]:
    """Why a pack cannot be pushed down to SQL (empty when it can), one reason per function."""
    reasons: dict[str, None] = {}
    for d in pack.decisions:
        for node in [r.condition for r in d.rules] + [dv.expr for dv in d.derived]:
            for sub in node.walk():
                if isinstance(sub, Call) and pack.functions[sub.func].sql is None:
                    fn = pack.functions[sub.func]
                    reasons.setdefault(
                        f"function {fn.name} ({fn.plugin}) has no SQL form, used at {sub.pos}"
                    )
    return list(reasons)


@dataclass(frozen=True)
class OutputColumns:
    """The columns of the result, by decision: status, rule ids, each output field, error."""

    id: str
    errors: str
    decisions: dict[str, dict[str, str]]


def output_columns(pack: Pack, id_column: str = "client_id") -> OutputColumns:
    """The result's column names: `<decision>__status`, `__rule`, `__<field>`, `__error`."""
    per: dict[str, dict[str, str]] = {}
    for d in pack.decisions:
        cols = {"status": f"{d.name}__status", "rule": f"{d.name}__rule"}
        for f in _fields(d):
            cols[f"field:{f}"] = f"{d.name}__{f}"
        if policy.can_conflict(d):
            cols["error"] = f"{d.name}__error"
        per[d.name] = cols
    return OutputColumns(id_column, ERRORS_COLUMN, per)


def _fields(d: Decision) -> list[str]:
    if d.aggregate is not None:
        return [d.aggregate.output_name]
    return list(d.output_types)


class SqlCompiler:
    """Compiles one pack for one SQL dialect; `select(source, ...)` builds the whole query.
    Immutable once built: every call keeps its own state in a `_Query`."""

    def __init__(self, pack: Pack, dialect: str) -> None:
        """Raises PushdownError now if the pack cannot run in `dialect`: its derived facts
        and decisions are built once, over a table of validated inputs (the readings of
        inputs depend on the source's columns only, never on the pack's expressions)."""
        blockers = pushdown_blockers(pack)
        if blockers:
            raise PushdownError("this pack cannot run as SQL: " + "; ".join(blockers))
        self.pack = pack
        self.dialect = dialect_for(dialect)
        self.names_read = frozenset(n for d in pack.decisions for n in _names_read(d))
        self.calls = {d.name: tuple(_calls(d, pack)) for d in pack.decisions}
        names = ["id", "err", *(f"i_{n}" for n in pack.inputs)]
        probe = sa.table("validated", *(sa.column(n) for n in names))
        query = _Query(self, dt.date(2000, 1, 1), dict.fromkeys(s.name for s in pack.profile))
        scope = query.over(sa.select(probe))
        errors = shared.derive(query, pack.derived, scope)
        self.kinds = {d.name: (scope[d.name].kind, scope[d.name].item) for d in pack.derived}
        """Each derived fact's kind and list item kind, as its SQL value has them."""
        query.decide_over(scope, list(errors.values()), "client_id")

    def sql_text(self, query: sa.Select[Any]) -> str:
        """The query as SQL text with literals inlined (for COPY and plain cursors)."""
        compiled = query.compile(
            dialect=self.dialect.renderer(), compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    def select(
        self,
        source: sa.FromClause,
        columns: Mapping[str, SourceColumn],
        as_of: dt.date,
        id_column: str = "client_id",
        id_source: str | None = None,
        *,
        statistics: Mapping[str, Any] | None = None,
    ) -> sa.Select[Any]:
        """The query deciding every client (row) of `source`, one result row per client,
        with the run's base `statistics` (statistic -> value) as constants."""
        query = _Query(self, as_of, statistics)
        scope = query.inputs(source, columns, id_source or id_column)
        return query.decide(scope, id_column)

    def select_validated(
        self,
        validated: sa.FromClause,
        as_of: dt.date,
        id_column: str = "client_id",
        *,
        statistics: Mapping[str, Any] | None = None,
    ) -> sa.Select[Any]:
        """`select` over the rows of `validated(...)` read already (e.g. the profile step's
        temporary table of them): the same decisions, without reading the source again."""
        query = _Query(self, as_of, statistics)
        return query.decide(query.over(sa.select(validated)), id_column)

    def validated(
        self, source: sa.FromClause, columns: Mapping[str, SourceColumn], id_source: str
    ) -> sa.Select[Any]:
        """The decision query's first layer on its own: `id`, `i_<fact>` per input (null
        when invalid) and `err` per client of `source`; the profile step materialises it
        once and builds every pass's base on it (`profile_base`)."""
        return validated_inputs(
            self.pack.inputs, self.dialect, self.dialect.facts(source), columns, id_source
        )

    def profile_base(
        self,
        before: sa.FromClause,
        as_of: dt.date,
        *,
        layer: int = 0,
        statistics: Mapping[str, Any] | None = None,
    ) -> sa.Select[Any]:
        """One row per client for pass `layer` of the profile step (ProfilePlan), over the
        table of the pass before (for the first, the rows of `validated(...)`), with the
        `statistics` of the layers below: `id`, `err` and `i_<input>` carried on;
        `p_<fact>` per derived fact known so far and `x_<fact>` per such fact that can fail
        (its errors); `ok` (the client's facts so far were read and derived); and
        `s_<statistic>` (a `bg_nbd` one: `s_<statistic>__<i>` per value) what each
        statistic of the layer counts for it (null where its `where` does not hold). The
        last pass's table holds every fact: `select_facts` decides over it."""
        query = _Query(self, as_of, dict(statistics or {}))
        return query.profile_base(before, ProfilePlan(self.pack), layer)

    def select_facts(
        self,
        facts: sa.FromClause,
        as_of: dt.date,
        id_column: str = "client_id",
        *,
        statistics: Mapping[str, Any] | None = None,
    ) -> sa.Select[Any]:
        """`select` over the last profile pass's table (`profile_base`), whose derived facts
        were computed with these `statistics`: the same decisions, without reading or
        deriving anything again."""
        query = _Query(self, as_of, statistics)
        scope, errors = query.over_facts(facts)
        return query.decide_over(scope, errors, id_column)


class _Query:
    """One call's query under construction: its as_of date, the chain of layers built so far
    (each passes every column on and adds new ones), their labels and the scope of values."""

    def __init__(
        self, compiler: SqlCompiler, as_of: dt.date, statistics: Mapping[str, Any] | None
    ) -> None:
        self.compiler = compiler
        self.d = compiler.dialect
        constants = (
            {s.name: statistics.get(s.name) for s in compiler.pack.profile}
            if statistics is not None
            else {}
        )
        self.expr = SqlExpressions(self.d, compiler.pack.functions, as_of, self.col, constants)
        self.sub: Any = None
        self.layers = 0
        self.labels = 0

    # -- the layer chain -----------------------------------------------------------------
    def label(self) -> str:
        """A new column label, unique within this query."""
        self.labels += 1
        return f"c{self.labels}"

    def col(self, label: str) -> Col:
        """A column of the newest layer."""
        return self.sub.c[label]

    def add(self, columns: Mapping[str, Col]) -> None:
        """A new layer: every column of the last one, and `columns` under their labels."""
        if not columns:
            return
        self.layers += 1
        added = [expr.label(lbl) for lbl, expr in columns.items()]
        select = sa.select(*self.sub.c, *added)
        self.sub = self.d.layer(select, f"l{self.layers}")

    def decide(self, scope: dict[str, Val], id_column: str) -> sa.Select[Any]:
        """Over the validated inputs in `scope`: the derived facts, then `decide_over`."""
        errors = shared.derive(self, self.compiler.pack.derived, scope)
        return self.decide_over(scope, list(errors.values()), id_column)

    def decide_over(
        self, scope: dict[str, Val], fact_errors: list[str], id_column: str
    ) -> sa.Select[Any]:
        """Over every fact in `scope` (and the derived facts' error columns): every
        decision's layers, then the result columns (null for a row with invalid facts,
        whose `errors` say why)."""
        pack = self.compiler.pack
        self.add({"ok": self._valid(fact_errors)})
        outputs = {d.name: self._decision(d, scope) for d in pack.decisions}
        names = output_columns(pack, id_column)
        failed = shared.failures(self, fact_errors)
        errors = self.col("err") if failed is None else sa.func.coalesce(self.col("err"), failed)
        final = [self.col("id").label(id_column), errors.label(ERRORS_COLUMN)]
        ok = self.col("ok")
        for decision in pack.decisions:
            for key, out in names.decisions[decision.name].items():
                final.append(sa.case((ok, self.col(outputs[decision.name][key]))).label(out))
        return sa.select(*final).select_from(self.sub)

    def _valid(self, fact_errors: list[str]) -> Col:
        """Whether a client's inputs were read (`err`) and its derived facts derived (each
        error column in `fact_errors` null)."""
        return sa.and_(*(self.col(label).is_(None) for label in ("err", *fact_errors)))

    def inputs(
        self, source: sa.FromClause, columns: Mapping[str, SourceColumn], id_source: str
    ) -> dict[str, Val]:
        """The first layer, the validated inputs; their values in scope."""
        return self.over(self.compiler.validated(source, columns, id_source))

    def over(self, validated: sa.Select[Any]) -> dict[str, Val]:
        """The first layer: rows of validated inputs (`id`, `i_<fact>`, `err`); their values
        in scope."""
        self.sub = self.d.layer(validated, "l0")
        return self._scope()

    def _scope(self) -> dict[str, Val]:
        """The validated inputs' values, as the first layer holds them."""
        return {
            name: Val(f"i_{name}", t.kind, "string" if t.kind == "list" else None)
            for name, t in self.compiler.pack.inputs.items()
        }

    def profile_base(self, before: sa.FromClause, plan: ProfilePlan, layer: int) -> sa.Select[Any]:
        """See SqlCompiler.profile_base: the facts of the pass before (or the validated
        inputs) carried on, the facts the layer's statistics allow added, and what each
        statistic of the layer reads of them."""
        pack = self.compiler.pack
        self.sub = before
        scope, carried = self._carried(plan, layer)
        added = [d for d in pack.derived if plan.need[d.name] == layer - 1]
        new_errors = shared.derive(self, added, scope)
        errors = {**{f: f"x_{f}" for f in carried}, **new_errors}
        stats, fails = self._statistics(plan, layer, scope)
        ok = self._valid(list(errors.values()))
        if fails:
            ok = sa.and_(ok, sa.not_(sa.or_(*(sa.func.coalesce(f, sa.false()) for f in fails))))
        computed = [d.name for d in pack.derived if plan.need[d.name] < layer]
        return sa.select(
            self.col("id"),
            self.col("err"),
            *(self.col(f"i_{n}") for n in pack.inputs),
            *(self.col(scope[n].label).label(f"p_{n}") for n in computed),
            *(self.col(label).label(f"x_{f}") for f, label in errors.items()),
            ok.label("ok"),
            *(value.label(name) for name, value in stats.items()),
        ).select_from(self.sub)

    def _carried(self, plan: ProfilePlan, layer: int) -> tuple[dict[str, Val], list[str]]:
        """The scope of the table a pass builds on: the inputs and the derived facts of the
        passes before (`p_<fact>`); and the facts among them that have an error column
        there (`x_<fact>`: the statistics known then let it fail for some client)."""
        scope = self._scope()
        carried: list[str] = []
        for d in self.compiler.pack.derived:
            if plan.need[d.name] < layer - 1:
                kind, item = self.compiler.kinds[d.name]
                scope[d.name] = Val(f"p_{d.name}", kind, item)
                if f"x_{d.name}" in self.sub.c:
                    carried.append(d.name)
        return scope, carried

    def _statistics(
        self, plan: ProfilePlan, layer: int, scope: dict[str, Val]
    ) -> tuple[dict[str, Col], list[Col]]:
        """What each statistic of the layer counts for a client (`s_<statistic>`, a `bg_nbd`
        one's `s_<statistic>__<i>`), and the calls that fail to compute one."""
        pack = self.compiler.pack
        stats: dict[str, Col] = {}
        fails: list[Col] = []
        for stat in plan.stats[layer]:
            items = stat.expr.items if isinstance(stat.expr, ListLit) else (stat.expr,)
            for k, item in enumerate(items):
                counted = self.expr.visit(item, scope)[0]
                if stat.kind == "share":
                    counted = sa.case((counted, 1.0), (sa.not_(counted), 0.0))
                if stat.where is not None:
                    counted = sa.case((self.expr.condition(stat.where, scope), counted))
                label = f"s_{stat.name}__{k}" if stat.kind == "bg_nbd" else f"s_{stat.name}"
                stats[label] = counted
            nodes = [stat.expr, *([stat.where] if stat.where is not None else [])]
            fails += [
                self.fails(n, scope)
                for node in nodes
                for n in node.walk()
                if isinstance(n, Call) and not pack.functions[n.func].null_safe
            ]
        return stats, fails

    def over_facts(self, facts: sa.FromClause) -> tuple[dict[str, Val], list[str]]:
        """The first layer: the last profile pass's table (every input and derived fact of
        each client, and their error columns); the facts in scope, the error columns."""
        pack = self.compiler.pack
        kept = ["id", "err", *(f"i_{n}" for n in pack.inputs)]
        kept += [f"{prefix}_{d.name}" for d in pack.derived for prefix in ("p", "x")]
        self.sub = self.d.layer(sa.select(*(facts.c[k] for k in kept if k in facts.c)), "l0")
        plan = ProfilePlan(pack)
        scope, carried = self._carried(plan, plan.passes + 1)
        return scope, [f"x_{f}" for f in carried]

    # -- decisions -----------------------------------------------------------------------
    def _decision(self, decision: Decision, scope: dict[str, Val]) -> dict[str, str]:
        """One decision's layers: derived facts, matches, outcome; its outputs join `scope`."""
        local = dict(scope)
        for dv in decision.derived:
            expr, kind, item = self.expr.visit(dv.expr, local)
            label = self.label()
            self.add({label: expr})
            local[dv.name] = Val(label, kind, item)
        labels = self._matches(decision, scope, local)
        calls = self.compiler.calls[decision.name]
        if not calls:
            return labels
        # built now, over the newest layer: an expression over an older one cross-joins
        fails = [self.fails(call, local) for call in calls]
        return self._fail_over(decision, scope, labels, fails)

    def fails(self, call: Call, scope: Mapping[str, Val]) -> Col:
        """True where the per-client path raises: every argument present, yet no value (the
        `Function.sql` contract: NULL for present arguments exactly where Python raises)."""
        constants = self.expr.constants
        args = [
            self.expr.visit(a, scope)[0]
            for a in call.args
            if not (isinstance(a, Name) and a.name in constants)
        ]
        value = self.expr.visit(call, scope)[0]
        return sa.and_(*(a.is_not(None) for a in args), value.is_(None))

    def _fail_over(
        self, decision: Decision, scope: dict[str, Val], labels: dict[str, str], fails: list[Col]
    ) -> dict[str, str]:
        """A client for whom a function failed gets status error and no outputs, as on the
        per-client path, and later decisions read nulls from it."""
        d = self.d
        failed = self.label()
        self.add({failed: sa.or_(*fails)})
        flag = self.col(failed)
        columns: dict[str, Col] = {}
        out: dict[str, str] = {}
        for key, label in labels.items():
            out[key] = self.label()
            if key == "status":
                columns[out[key]] = sa.case(
                    (flag, d.label("error", STATUSES)), else_=self.col(label)
                )
            elif key == "error":
                message = sa.literal(f"a function in {decision.name} failed for these facts")
                columns[out[key]] = sa.case((flag, message), else_=self.col(label))
            else:
                columns[out[key]] = sa.case((flag, sa.null()), else_=self.col(label))
        for name, val in list(scope.items()):
            if name.startswith(decision.name + "."):
                new = self.label()
                columns[new] = sa.case((flag, sa.null()), else_=self.col(val.label))
                scope[name] = Val(new, val.kind, val.item)
        self.add(columns)
        return out

    def _matches(
        self, decision: Decision, scope: dict[str, Val], local: dict[str, Val]
    ) -> dict[str, str]:
        """The decision's status, rule and output columns, by hit policy."""
        condition = self.expr.condition
        if policy.is_ranked(decision):
            at = {r.index: k for k, r in enumerate(decision.rules)}
            w = self.label()
            order = policy.rule_order(decision)
            whens = [(condition(r.condition, local), at[r.index]) for r in order]
            self.add({w: sa.case(*[(c, sa.literal_column(str(k))) for c, k in whens])})
            return self._single_outcome(decision, scope, w)
        if (
            self.d.lookup_by_list
            and decision.hit_policy == "collect"
            and decision.aggregate is None
            and len(decision.rules) <= MASK_RULES
        ):
            mask = self.label()
            bits = [
                sa.case((condition(r.condition, local), 1 << k), else_=0)
                for k, r in enumerate(decision.rules)
            ]
            self.add({mask: _sum(bits)})
            return self._collect_by_mask(decision, scope, mask)
        flags = {r.index: self.label() for r in decision.rules}
        self.add(
            {
                flags[r.index]: sa.case((condition(r.condition, local), 1), else_=0)
                for r in decision.rules
            }
        )
        return self._multi_outcome(decision, scope, flags)

    def _single_outcome(self, decision: Decision, scope: dict[str, Val], w: str) -> dict[str, str]:
        """first and priority: column `w` is the winning rule's position (NULL: no match),
        and the rule id and each output are items of constant lists at that position (the
        default last): one index per row where the dialect has lists, else one CASE."""
        d = self.d
        win = self.col(w)
        n = len(decision.rules)
        at = sa.func.coalesce(win, sa.literal_column(str(n))).op("+")(sa.literal_column("1"))
        labels = {k: self.label() for k in ("status", "rule")}
        ids = [r.id for r in decision.rules]
        statuses = ["decided"] * n + [policy.no_match_status(decision)]
        columns: dict[str, Col] = {
            labels["status"]: d.lookup(statuses, "string", STATUSES, at),
            labels["rule"]: d.lookup([*ids, None], "string", ids, at),
        }
        for f, t in decision.output_types.items():
            default = decision.default.get(f) if decision.default is not None else None
            values = [r.outputs.get(f) for r in decision.rules] + [default]
            domain = _domain(decision, f) if t.kind == "string" else None
            label = self.label()
            columns[label] = d.lookup(values, t.kind, domain, at)
            labels[f"field:{f}"] = label
            if self._needs_plain_twin(decision, f, t.kind):
                label = self.label()
                columns[label] = d.lookup(values, t.kind, None, at)
            scope[f"{decision.name}.{f}"] = Val(label, t.kind)
        self.add(columns)
        return labels

    def _needs_plain_twin(self, decision: Decision, field: str, kind: str) -> bool:
        """Whether later decisions read this output from a plain-text twin of its column:
        an ENUM output that another decision reads, so it compares with any string."""
        read = f"{decision.name}.{field}" in self.compiler.names_read
        return self.d.has_enum and kind == "string" and read

    def _collect_by_mask(
        self, decision: Decision, scope: dict[str, Val], mask_label: str
    ) -> dict[str, str]:
        """A small plain collect: the set of matching rules is a bit mask, and its rule ids
        and output lists are looked up in constant tables (no per-row joining)."""
        d = self.d
        mask = self.col(mask_label)
        rules = decision.rules
        masks = range(1 << len(rules))

        def hits(m: int) -> list[Rule]:
            return [r for k, r in enumerate(rules) if m >> k & 1]

        id_texts = [";".join(r.id for r in hits(m)) or None for m in masks]
        domain = [t for t in id_texts if t is not None]
        at = mask.op("+")(sa.literal_column("1"))
        labels = {k: self.label() for k in ("status", "rule")}
        columns: dict[str, Col] = {
            labels["status"]: sa.case(
                (mask == 0, d.label(policy.no_match_status(decision), STATUSES)),
                else_=d.label("decided", STATUSES),
            ),
            labels["rule"]: d.lookup(id_texts, "string", domain, at),
        }
        for f, t in decision.output_types.items():
            default = decision.default.get(f) if decision.default is not None else None
            lists: list[list[Any] | None] = []
            for m in masks:
                values = [r.outputs[f] for r in hits(m) if r.outputs.get(f) is not None]
                lists.append([default] if m == 0 and default is not None else values)
            if decision.default is None:  # no decision: null for readers, as on the durable path
                lists[0] = None
            label = self.label()
            string_domain = _domain(decision, f) if t.kind == "string" else None
            columns[label] = d.list_lookup(lists, t.kind, string_domain, at)
            labels[f"field:{f}"] = label
            if self._needs_plain_twin(decision, f, t.kind):
                label = self.label()
                columns[label] = d.list_lookup(lists, t.kind, None, at)
            scope[f"{decision.name}.{f}"] = Val(label, "list", t.kind)
        self.add(columns)
        return labels

    def _multi_outcome(
        self, decision: Decision, scope: dict[str, Val], flags: dict[int, str]
    ) -> dict[str, str]:
        """unique, any and collect: every rule's match flag is a 0/1 column."""
        d = self.d
        matched = {i: self.col(lbl) == 1 for i, lbl in flags.items()}
        count = _sum([self.col(lbl) for lbl in flags.values()])
        none = count == 0
        ids = d.join([(matched[r.index], d.literal(r.id)) for r in decision.rules], ";")
        labels = {k: self.label() for k in ("status", "rule")}
        conflict = _conflict(decision, matched, count)
        status_whens = [(none, d.label(policy.no_match_status(decision), STATUSES))]
        if conflict is not None:
            status_whens.append((conflict, d.label("error", STATUSES)))
        columns: dict[str, Col] = {
            labels["status"]: sa.case(*status_whens, else_=d.label("decided", STATUSES)),
            labels["rule"]: ids,
        }
        if policy.can_conflict(decision):
            labels["error"] = self.label()
            columns[labels["error"]] = self._conflict_message(decision, conflict, ids)
        if decision.hit_policy == "collect" and decision.aggregate is not None:
            self._aggregate_column(decision, scope, matched, count, columns, labels)
        elif decision.hit_policy == "collect":
            self._collect_columns(decision, scope, matched, none, columns, labels)
        else:
            for f, t in decision.output_types.items():
                whens = [(none, self._default(decision, f, t.kind))]
                if conflict is not None:
                    whens.append((conflict, sa.cast(sa.null(), sql_type(t.kind))))
                whens += [
                    (matched[r.index], d.literal(r.outputs[f], t.kind)) for r in decision.rules
                ]
                label = self.label()
                columns[label] = sa.case(*whens, else_=sa.cast(sa.null(), sql_type(t.kind)))
                labels[f"field:{f}"] = label
                scope[f"{decision.name}.{f}"] = Val(label, t.kind)
        self.add(columns)
        return labels

    def _conflict_message(self, decision: Decision, conflict: Col | None, ids: Col) -> Col:
        """unique and any: the policy's error text where the matches conflict, else null."""
        if conflict is None:
            return sa.cast(sa.null(), sa.String())
        head, tail = policy.conflict_affixes(decision)
        comma_ids = sa.func.replace(ids, ";", policy.ID_SEPARATOR)
        d = self.d
        return sa.case((conflict, d.concat(d.literal(head), comma_ids, d.literal(tail))))

    def _aggregate_column(
        self,
        decision: Decision,
        scope: dict[str, Val],
        matched: dict[int, Col],
        count: Col,
        columns: dict[str, Col],
        labels: dict[str, str],
    ) -> None:
        """collect with count/sum/min/max: one number, the default when nothing matched."""
        agg = decision.aggregate
        assert agg is not None
        kind = "integer" if agg.op == "count" else "number"
        label = self.label()
        columns[label] = sa.case(
            (count == 0, self._default(decision, agg.output_name, kind)),
            else_=self._aggregate(decision, matched, count),
        )
        labels[f"field:{agg.output_name}"] = label
        scope[f"{decision.name}.{agg.output_name}"] = Val(label, kind)

    def _collect_columns(
        self,
        decision: Decision,
        scope: dict[str, Val],
        matched: dict[int, Col],
        none: Col,
        columns: dict[str, Col],
        labels: dict[str, str],
    ) -> None:
        """A plain collect: per output field, the list of every matching rule's value."""
        d = self.d
        for f, t in decision.output_types.items():
            items = [
                (matched[r.index], r.outputs[f])
                for r in decision.rules
                if r.outputs.get(f) is not None
            ]
            if decision.default is not None and decision.default.get(f) is not None:
                items.append((none, decision.default[f]))
            label = self.label()
            columns[label] = d.list_of(items, t.kind)
            if decision.default is None:  # no decision: null, as on the durable path
                columns[label] = sa.case((sa.not_(none), columns[label]))
            labels[f"field:{f}"] = label
            scope[f"{decision.name}.{f}"] = Val(label, "list", t.kind)

    def _aggregate(self, decision: Decision, matched: dict[int, Col], count: Col) -> Col:
        """count, sum, min or max over the matching rules' values (tierwise.policy's terms:
        a sum adds in file order, min and max take the first matching term)."""
        agg = decision.aggregate
        assert agg is not None
        d = self.d
        if agg.op == "count":
            return count
        terms = policy.aggregate_terms(decision)
        if not terms:
            return sa.cast(sa.null(), sa.Double())
        kind = "integer" if all(isinstance(v, int) for _, v in terms) else "number"
        if agg.op == "sum":
            added = [
                sa.case((matched[r.index], d.literal(v, kind)), else_=d.literal(0, kind))
                for r, v in terms
            ]
            any_present = sa.or_(*(matched[r.index] for r, _ in terms))
            return sa.case((any_present, _sum(added)))
        return sa.case(*[(matched[r.index], d.literal(v, kind)) for r, v in terms])

    def _default(self, decision: Decision, field: str, kind: str) -> Col:
        value = decision.default.get(field) if decision.default is not None else None
        return self.d.literal(value, kind)


def _conflict(decision: Decision, matched: dict[int, Col], count: Col) -> Col | None:
    """Where the matches conflict (tierwise.policy): matches in two or more of its conflict
    groups; None when there are fewer than two groups, so nothing can conflict."""
    groups = policy.conflict_groups(decision)
    if len(groups) < 2:
        return None
    if all(len(g) == 1 for g in groups):  # a rule a group: the matches are the groups hit
        return count > 1
    hit = [sa.case((sa.or_(*(matched[r.index] for r in g)), 1), else_=0) for g in groups]
    return _sum(hit) > 1


def _domain(decision: Decision, field: str) -> list[str]:
    """Every string value a decision can give `field`, for an ENUM type."""
    values = [r.outputs.get(field) for r in decision.rules]
    if decision.default is not None:
        values.append(decision.default.get(field))
    return sorted({v for v in values if isinstance(v, str)})


def _sum(terms: Sequence[Col]) -> Col:
    """Left to right, as Python's sum adds (float sums depend on the order)."""
    out = terms[0]
    for t in terms[1:]:
        out = out.op("+")(t)
    return out


def _calls(decision: Decision, pack: Pack) -> list[Call]:
    """Every call of a function that can fail (not null-safe) in a decision's derived facts
    and rules: the per-client path evaluates all of them before matching."""
    nodes = [dv.expr for dv in decision.derived] + [r.condition for r in decision.rules]
    return [
        n
        for node in nodes
        for n in node.walk()
        if isinstance(n, Call) and not pack.functions[n.func].null_safe
    ]


def _names_read(decision: Decision) -> set[str]:
    out: set[str] = set()
    for node in [r.condition for r in decision.rules] + [dv.expr for dv in decision.derived]:
        for sub in node.walk():
            if isinstance(sub, Name | Exists):
                out.add(sub.name)
    return out
