"""Compile a pack's IR to one SQL query (SQLAlchemy Core): the batch push-down path.

One generator for DuckDB, SQLite and PostgreSQL (sqldialect.py holds what differs). The
query is a chain of nested selects (CTEs on SQLite) over a source of facts, one client per
row: validated inputs, then per decision (in pack order, so later decisions read earlier
outputs) its derived facts, its rule matches and its outcome columns. Semantics are the
durable path's: SQL's three-valued logic is the rule language's, unknown never matches,
`/` is float division with x/0 null, `%` is truncated, float overflow is null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tierwise.batch.dialects import Col, Dialect, sql_type, sqlalchemy_dialect
from tierwise.errors import TierwiseError
from tierwise.lang.expr import (
    And,
    Arith,
    Call,
    Compare,
    Exists,
    In,
    ListLit,
    Literal,
    Name,
    Neg,
    Node,
    Not,
    Or,
    render,
)
from tierwise.lang.types import FactType
from tierwise.pack.ir import Decision, Pack, Rule
from tierwise.runtime.facts import MAX_SAFE_INTEGER

ERRORS_COLUMN = "errors"
STATUSES = ("decided", "default", "no_decision", "error")
MASK_RULES = 8
"""A DuckDB collect of at most this many rules looks its outcomes up by match bit mask."""


class PushdownError(TierwiseError):
    """A pack that cannot run as SQL, e.g. it calls a function that has no SQL form."""


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
class SourceColumn:
    """How one input fact arrives in the source: its column, and how to read it.

    mode: "native" (the column has the fact's SQL type), "text" (text to coerce as a CSV
    cell is, DuckDB only), "iso" (ISO text for a date or datetime), "wrong" (a column of
    another type: every non-null value is an error), "absent" (no column: always null).
    """

    column: str | None
    mode: str = "native"


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
        if d.hit_policy in ("unique", "any"):
            cols["error"] = f"{d.name}__error"
        per[d.name] = cols
    return OutputColumns(id_column, ERRORS_COLUMN, per)


def _fields(d: Decision) -> list[str]:
    if d.aggregate is not None:
        return [d.aggregate.output_name]
    return list(d.output_types)


@dataclass(frozen=True)
class _Val:
    """A value in scope: the layer column holding it, its kind, and for lists the item kind."""

    label: str
    kind: str
    item: str | None = None


class _Layers:
    """The chain of nested selects: each layer passes every column on and adds new ones."""

    def __init__(self, first: sa.Select[Any], flat: bool) -> None:
        self.count = 0
        self.flat = flat
        self.sub = self._wrap(first, "l0")
        self.labels = 0

    def _wrap(self, select: sa.Select[Any], name: str) -> Any:
        """A named layer: a CTE where nested selects would overflow the parser (SQLite),
        else a subquery (DuckDB materialises CTEs, which costs a copy of every row)."""
        return select.cte(name) if self.flat else select.subquery(name)

    def label(self) -> str:
        self.labels += 1
        return f"c{self.labels}"

    def col(self, label: str) -> Col:
        return self.sub.c[label]

    def add(self, columns: Mapping[str, Col]) -> None:
        if not columns:
            return
        self.count += 1
        added = [expr.label(lbl) for lbl, expr in columns.items()]
        self.sub = self._wrap(sa.select(*self.sub.c, *added), f"l{self.count}")


class SqlCompiler:
    """Compiles one pack for one SQL dialect; `select(source, ...)` builds the whole query."""

    def __init__(self, pack: Pack, dialect: str) -> None:
        """Raises PushdownError now (by compiling once, to text) if the pack cannot run in
        `dialect`; this also loads the dialect's renderer, so the first run does not."""
        blockers = pushdown_blockers(pack)
        if blockers:
            raise PushdownError("this pack cannot run as SQL: " + "; ".join(blockers))
        self.pack = pack
        self.d = Dialect(dialect)
        self.dialect_name = dialect
        self.names_read = {n for d in pack.decisions for n in _names_read(d)}
        probe = sa.table("facts", *(sa.column(n) for n in pack.inputs))
        self.sql_text(
            self.select(probe, {n: SourceColumn(n) for n in pack.inputs}, dt.date(2000, 1, 1))
        )

    def sql_text(self, query: sa.Select[Any]) -> str:
        """The query as SQL text with literals inlined (for COPY and plain cursors)."""
        compiled = query.compile(
            dialect=sqlalchemy_dialect(self.dialect_name), compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    def select(
        self,
        source: sa.FromClause,
        columns: Mapping[str, SourceColumn],
        as_of: dt.date,
        id_column: str = "client_id",
        id_source: str | None = None,
    ) -> sa.Select[Any]:
        """The query deciding every client (row) of `source`, one result row per client."""
        self.as_of = as_of
        names = output_columns(self.pack, id_column)
        src_id = id_source or id_column
        first = self._inputs(source, columns, src_id)
        layers = _Layers(first, flat=self.d.sqlite)
        layers.add({"ok": layers.col("err").is_(None)})
        self.layers = layers
        scope: dict[str, _Val] = {}
        for name, t in self.pack.inputs.items():
            scope[name] = _Val(f"i_{name}", t.kind, "string" if t.kind == "list" else None)
        outputs: dict[str, dict[str, str]] = {}
        for decision in self.pack.decisions:
            outputs[decision.name] = self._decision(decision, scope)
        final = [layers.col("id").label(id_column), layers.col("err").label(ERRORS_COLUMN)]
        ok = layers.col("ok")
        for decision in self.pack.decisions:
            for key, out in names.decisions[decision.name].items():
                final.append(sa.case((ok, layers.col(outputs[decision.name][key]))).label(out))
        return sa.select(*final).select_from(layers.sub)

    # -- inputs and validation -----------------------------------------------------------
    def _inputs(
        self, source: sa.FromClause, columns: Mapping[str, SourceColumn], id_source: str
    ) -> sa.Select[Any]:
        client = (
            sa.cast(source.c[id_source], sa.String())
            if id_source in source.c
            else sa.cast(sa.null(), sa.String())
        )
        cols: list[Col] = [client.label("id")]
        coercion: list[tuple[Col, Col]] = []
        messages: list[tuple[Col, Col]] = []
        for name, t in self.pack.inputs.items():
            spec = columns.get(name, SourceColumn(None, "absent"))
            raw = (
                source.c[spec.column]
                if spec.column is not None and spec.column in source.c
                else None
            )
            value, problems = self._validate(
                name, t, raw, spec.mode if raw is not None else "absent"
            )
            cols.append(value.label(f"i_{name}"))
            if spec.mode == "text" and raw is not None:
                coercion.append(problems[0])
                problems = problems[1:]
            messages.extend(problems)
        if coercion or messages:
            # text that is not a value stops a row before validation (adapters.coerce_record)
            failed = sa.or_(*(cond for cond, _ in coercion)) if coercion else sa.false()
            invalid = sa.or_(*(cond for cond, _ in messages)) if messages else sa.false()
            whens = [(failed, self.d.join(coercion, "; "))] if coercion else []
            if messages:
                whens.append((invalid, self.d.join(messages, "; ")))
            cols.append(sa.case(*whens).label("err"))
        else:
            cols.append(sa.cast(sa.null(), sa.String()).label("err"))
        return sa.select(*cols).select_from(source)

    def _validate(
        self, name: str, t: FactType, raw: Col | None, mode: str
    ) -> tuple[Col, list[tuple[Col, Col]]]:
        """A fact's typed value (null when invalid) and its (condition, message) error pairs."""
        d = self.d
        msg = _Messages(name, t)
        if raw is None or mode == "absent":
            return sa.cast(sa.null(), sql_type(t.kind)), []
        if mode == "wrong":
            return sa.cast(sa.null(), sql_type(t.kind)), [(raw.is_not(None), msg.type_error())]
        problems: list[tuple[Col, Col]] = []
        value: Col
        if mode == "text":
            value, bad = self._from_text(t, raw)
            problems.append((bad, msg.type_error()))
        elif d.sqlite:
            value, bad = self._sqlite_value(t, raw)
            problems.append((bad, msg.type_error()))
        elif mode == "iso":
            target = "DATE" if t.kind == "date" else "TIMESTAMPTZ"
            value = _TryCast(raw, target) if d.name == "duckdb" else sa.cast(raw, sql_type(t.kind))
            problems.append((sa.and_(raw.is_not(None), value.is_(None)), msg.type_error()))
        else:
            value = self._native(t, raw)
        if t.kind == "number":
            problems.append(
                (sa.not_(sa.func.coalesce(d.is_finite(value), sa.true())), msg.type_error())
            )
        if t.kind in ("number", "integer"):
            low = (
                t.minimum
                if t.minimum is not None
                else (-MAX_SAFE_INTEGER if t.kind == "integer" else None)
            )
            high = (
                t.maximum
                if t.maximum is not None
                else (MAX_SAFE_INTEGER if t.kind == "integer" else None)
            )
            if low is not None:
                problems.append((value < d.literal(low), msg.range_error(low, high)))
            if high is not None:
                problems.append((value > d.literal(high), msg.range_error(low, high)))
        if t.enum is not None and d.name == "duckdb":
            text = value
            value = _TryCast(text, _enum_type(t.enum))
            problems.append((sa.and_(text.is_not(None), value.is_(None)), msg.enum_error()))
        elif t.enum is not None:
            problems.append((value.not_in([d.literal(v) for v in t.enum]), msg.enum_error()))
        checked = [(sa.func.coalesce(cond, sa.false()), text) for cond, text in problems]
        return value, checked

    def _native(self, t: FactType, raw: Col) -> Col:
        if t.kind == "number":
            return self.d.double(raw)
        if t.kind == "integer":
            return sa.cast(raw, sa.BigInteger())
        if t.kind == "datetime" and self.d.name == "duckdb":
            return sa.cast(raw, sa.DateTime(timezone=True))
        return raw

    def _sqlite_value(self, t: FactType, raw: Col) -> tuple[Col, Col]:
        """SQLite values carry their own type per row: check it as the durable path would."""
        kind = sa.func.typeof(raw)
        present = raw.is_not(None)
        match t.kind:
            case "number":
                return sa.case((kind.in_(["integer", "real"]), sa.cast(raw, sa.Double()))), sa.and_(
                    present, kind.not_in(["integer", "real"])
                )
            case "integer":
                ok = sa.or_(
                    kind == "integer", sa.and_(kind == "real", raw == sa.cast(raw, sa.BigInteger()))
                )
                return sa.case((ok, sa.cast(raw, sa.BigInteger()))), sa.and_(present, sa.not_(ok))
            case "bool":
                ok = sa.and_(kind == "integer", raw.in_([0, 1]))
                return sa.case((ok, raw)), sa.and_(present, sa.not_(ok))
            case "date":
                value = sa.case((kind == "text", sa.func.date(raw)))
                return value, sa.and_(present, value.is_(None))
            case "datetime":
                value = sa.case((kind == "text", sa.func.strftime("%Y-%m-%d %H:%M:%f", raw)))
                return value, sa.and_(present, value.is_(None))
            case "list":
                ok = sa.and_(
                    kind == "text", sa.func.json_valid(raw), sa.func.json_type(raw) == "array"
                )
                return sa.case((ok, raw)), sa.and_(present, sa.not_(ok))
        return sa.case((kind == "text", raw)), sa.and_(present, kind != "text")

    def _from_text(self, t: FactType, raw: Col) -> tuple[Col, Col]:
        """Text as a CSV cell is coerced (tierwise.facts.coerce_text), in DuckDB."""
        s = sa.func.nullif(sa.func.trim(raw), "")
        present = s.is_not(None)
        value: Col
        match t.kind:
            case "number":
                value = _TryCast(s, "DOUBLE")
            case "integer":
                number = _TryCast(s, "DOUBLE")
                whole = sa.and_(sa.func.isfinite(number), number == sa.func.floor(number))
                value = sa.case((whole, sa.cast(number, sa.BigInteger())))
            case "bool":
                low = sa.func.lower(s)
                value = sa.case(
                    (low.in_(["true", "yes", "1", "t", "y"]), sa.true()),
                    (low.in_(["false", "no", "0", "f", "n"]), sa.false()),
                )
            case "date":
                value = _TryCast(sa.func.left(s, 10), "DATE")
            case "datetime":
                value = _TryCast(s, "TIMESTAMPTZ")
            case "list":
                parts = sa.func.regexp_split_to_array(s, r"\s*;\s*")
                value = sa.func.list_filter(parts, sa.literal_column("lambda x: x <> ''"))
                return value, sa.false()
            case _:
                return s, sa.false()
        return value, sa.and_(present, value.is_(None))

    # -- decisions -----------------------------------------------------------------------
    def _decision(self, decision: Decision, scope: dict[str, _Val]) -> dict[str, str]:
        layers = self.layers
        local = dict(scope)
        for dv in decision.derived:
            expr, kind, item = self._expr(dv.expr, local)
            label = layers.label()
            layers.add({label: expr})
            local[dv.name] = _Val(label, kind, item)
        labels = self._matches(decision, scope, local)
        calls = _calls(decision, self.pack)
        if not calls:
            return labels
        # built now, over the newest layer: an expression over an older one cross-joins
        fails = [self._fails(call, local) for call in calls]
        return self._fail_over(decision, scope, labels, fails)

    def _fails(self, call: Call, scope: Mapping[str, _Val]) -> Col:
        """True where the per-client path raises: every argument present, yet no value (the
        `Function.sql` contract: NULL for present arguments exactly where Python raises)."""
        args = [self._expr(a, scope)[0] for a in call.args]
        value = self._call(call, scope)[0]
        return sa.and_(*(a.is_not(None) for a in args), value.is_(None))

    def _fail_over(
        self, decision: Decision, scope: dict[str, _Val], labels: dict[str, str], fails: list[Col]
    ) -> dict[str, str]:
        """A client for whom a function failed gets status error and no outputs, as on the
        per-client path, and later decisions read nulls from it."""
        layers, d = self.layers, self.d
        failed = layers.label()
        layers.add({failed: sa.or_(*fails)})
        flag = layers.col(failed)
        columns: dict[str, Col] = {}
        out: dict[str, str] = {}
        for key, label in labels.items():
            out[key] = layers.label()
            if key == "status":
                columns[out[key]] = sa.case(
                    (flag, d.label("error", STATUSES)), else_=layers.col(label)
                )
            elif key == "error":
                message = sa.literal(f"a function in {decision.name} failed for these facts")
                columns[out[key]] = sa.case((flag, message), else_=layers.col(label))
            else:
                columns[out[key]] = sa.case((flag, sa.null()), else_=layers.col(label))
        for name, val in list(scope.items()):
            if name.startswith(decision.name + "."):
                new = layers.label()
                columns[new] = sa.case((flag, sa.null()), else_=layers.col(val.label))
                scope[name] = _Val(new, val.kind, val.item)
        layers.add(columns)
        return out

    def _matches(
        self, decision: Decision, scope: dict[str, _Val], local: dict[str, _Val]
    ) -> dict[str, str]:
        """The decision's status, rule and output columns, by hit policy."""
        layers = self.layers
        policy = decision.hit_policy
        if policy in ("first", "priority"):
            order = decision.ordered_rules() if policy == "first" else _priority_order(decision)
            at = {r.index: k for k, r in enumerate(decision.rules)}
            w = layers.label()
            whens = [(self._condition(r.condition, local), at[r.index]) for r in order]
            layers.add({w: sa.case(*[(c, sa.literal_column(str(k))) for c, k in whens])})
            if self.d.name == "duckdb":
                return self._single_by_lookup(decision, scope, w)
            return self._single_outcome(decision, scope, w)
        if (
            self.d.name == "duckdb"
            and policy == "collect"
            and decision.aggregate is None
            and len(decision.rules) <= MASK_RULES
        ):
            mask = layers.label()
            bits = [
                sa.case((self._condition(r.condition, local), 1 << k), else_=0)
                for k, r in enumerate(decision.rules)
            ]
            layers.add({mask: _sum(bits)})
            return self._collect_by_mask(decision, scope, mask)
        flags = {r.index: layers.label() for r in decision.rules}
        layers.add(
            {
                flags[r.index]: sa.case((self._condition(r.condition, local), 1), else_=0)
                for r in decision.rules
            }
        )
        return self._multi_outcome(decision, scope, flags)

    def _single_outcome(self, decision: Decision, scope: dict[str, _Val], w: str) -> dict[str, str]:
        """first and priority: the winning rule's position is column `w` (NULL: no match)."""
        layers, d = self.layers, self.d
        win = layers.col(w)
        labels = {k: layers.label() for k in ("status", "rule")}
        columns: dict[str, Col] = {
            labels["status"]: sa.case(
                (win.is_(None), d.literal(_no_match_status(decision))),
                else_=d.literal("decided"),
            ),
            labels["rule"]: sa.case(
                *[(win == k, d.literal(r.id)) for k, r in enumerate(decision.rules)],
            ),
        }
        for f, t in decision.output_types.items():
            default = decision.default.get(f) if decision.default is not None else None
            whens: list[tuple[Col, Col]] = [(win.is_(None), d.literal(default, t.kind))]
            whens += [
                (win == k, d.literal(r.outputs[f], t.kind))
                for k, r in enumerate(decision.rules)
                if r.outputs.get(f) is not None
            ]
            label = layers.label()
            columns[label] = sa.case(*whens, else_=d.literal(None, t.kind))
            labels[f"field:{f}"] = label
            scope[f"{decision.name}.{f}"] = _Val(label, t.kind)
        layers.add(columns)
        return labels

    def _single_by_lookup(
        self, decision: Decision, scope: dict[str, _Val], w: str
    ) -> dict[str, str]:
        """first and priority in DuckDB: each output is looked up by the winning rule's
        position `w` in a constant list (the default last), one index per row instead of a
        CASE per column; strings are ENUMs, cheap to move and written as Parquet dictionaries."""
        layers, d = self.layers, self.d
        win = layers.col(w)
        n = len(decision.rules)
        at = sa.func.coalesce(win, sa.literal_column(str(n))).op("+")(sa.literal_column("1"))
        labels = {k: layers.label() for k in ("status", "rule")}
        statuses = ["decided"] * n + [_no_match_status(decision)]
        ids = [r.id for r in decision.rules]
        columns: dict[str, Col] = {
            labels["status"]: d.lookup(statuses, "string", STATUSES, at),
            labels["rule"]: d.lookup([*ids, None], "string", ids, at),
        }
        for f, t in decision.output_types.items():
            default = decision.default.get(f) if decision.default is not None else None
            values = [r.outputs.get(f) for r in decision.rules] + [default]
            domain = _domain(decision, f) if t.kind == "string" else None
            label = layers.label()
            columns[label] = d.lookup(values, t.kind, domain, at)
            labels[f"field:{f}"] = label
            published = label
            if t.kind == "string" and f"{decision.name}.{f}" in self.names_read:
                published = layers.label()
                columns[published] = d.lookup(values, t.kind, None, at)
            scope[f"{decision.name}.{f}"] = _Val(published, t.kind)
        layers.add(columns)
        return labels

    def _collect_by_mask(
        self, decision: Decision, scope: dict[str, _Val], mask_label: str
    ) -> dict[str, str]:
        """A small plain collect in DuckDB: the set of matching rules is a bit mask, and its
        rule ids and output lists are looked up in constant tables (no per-row joining)."""
        layers, d = self.layers, self.d
        mask = layers.col(mask_label)
        rules = decision.rules
        masks = range(1 << len(rules))

        def hits(m: int) -> list[Rule]:
            return [r for k, r in enumerate(rules) if m >> k & 1]

        id_texts = [";".join(r.id for r in hits(m)) or None for m in masks]
        domain = [t for t in id_texts if t is not None]
        at = mask.op("+")(sa.literal_column("1"))
        labels = {k: layers.label() for k in ("status", "rule")}
        columns: dict[str, Col] = {
            labels["status"]: sa.case(
                (mask == 0, d.label(_no_match_status(decision), STATUSES)),
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
            label = layers.label()
            columns[label] = self._list_lookup(lists, t.kind, _domain(decision, f), at)
            labels[f"field:{f}"] = label
            published = label
            if t.kind == "string" and f"{decision.name}.{f}" in self.names_read:
                published = layers.label()
                columns[published] = self._list_lookup(lists, t.kind, [], at)
            scope[f"{decision.name}.{f}"] = _Val(published, "list", t.kind)
        layers.add(columns)
        return labels

    def _list_lookup(
        self, lists: Sequence[list[Any] | None], kind: str, domain: Sequence[str], at: Col
    ) -> Col:
        """Item `at` of a constant list of lists; string items of a known `domain` are ENUMs
        (a Parquet list of dictionary strings writes at about half the cost of plain text)."""
        d = self.d
        if kind == "string" and domain:
            return d.lookup(list(lists), kind, domain, at)
        tables = [
            sa.cast(sa.null(), sa.ARRAY(sql_type(kind)))
            if values is None
            else d.list_of([(sa.true(), v) for v in values], kind)
            for values in lists
        ]
        return sa.func.list_extract(sa.func.list_value(*tables), at)

    def _multi_outcome(
        self, decision: Decision, scope: dict[str, _Val], flags: dict[int, str]
    ) -> dict[str, str]:
        """unique, any and collect: every rule's match flag is a 0/1 column."""
        layers, d = self.layers, self.d
        matched = {i: layers.col(lbl) == 1 for i, lbl in flags.items()}
        count = _sum([layers.col(lbl) for lbl in flags.values()])
        none = count == 0
        ids = d.join([(matched[r.index], d.literal(r.id)) for r in decision.rules], ";")
        labels = {k: layers.label() for k in ("status", "rule")}
        policy = decision.hit_policy
        conflict: Col | None = None
        if policy == "unique":
            conflict = count > 1
        elif policy == "any":
            groups: list[list[Rule]] = []
            for r in decision.rules:
                group = next((g for g in groups if g[0].outputs == r.outputs), None)
                if group is None:
                    groups.append([r])
                else:
                    group.append(r)
            if len(groups) > 1:
                hit = [
                    sa.case((sa.or_(*(matched[r.index] for r in g)), 1), else_=0) for g in groups
                ]
                conflict = _sum(hit) > 1
        status_whens = [(none, d.label(_no_match_status(decision), STATUSES))]
        if conflict is not None:
            status_whens.append((conflict, d.label("error", STATUSES)))
        columns: dict[str, Col] = {
            labels["status"]: sa.case(*status_whens, else_=d.label("decided", STATUSES)),
            labels["rule"]: ids,
        }
        if policy in ("unique", "any"):
            label = layers.label()
            labels["error"] = label
            if conflict is None:
                columns[label] = sa.cast(sa.null(), sa.String())
        if conflict is not None:
            text = (
                "hit policy unique: rules {} all match"
                if policy == "unique"
                else "hit policy any: rules {} match with different outputs"
            )
            head, tail = text.split("{}")
            comma_ids = sa.func.replace(ids, ";", ", ")
            columns[label] = sa.case(
                (conflict, d.concat(d.literal(head), comma_ids, d.literal(tail)))
            )
        if policy == "collect" and decision.aggregate is not None:
            agg = decision.aggregate
            name = agg.output_name
            value = self._aggregate(decision, matched, count)
            label = layers.label()
            columns[label] = sa.case(
                (none, self._default(decision, name, "number" if agg.op != "count" else "integer")),
                else_=value,
            )
            labels[f"field:{name}"] = label
            scope[f"{decision.name}.{name}"] = _Val(
                label, "integer" if agg.op == "count" else "number"
            )
        elif policy == "collect":
            for f, t in decision.output_types.items():
                items = [
                    (matched[r.index], r.outputs[f])
                    for r in decision.rules
                    if r.outputs.get(f) is not None
                ]
                if decision.default is not None and decision.default.get(f) is not None:
                    items.append((none, decision.default[f]))
                label = layers.label()
                columns[label] = d.list_of(items, t.kind)
                if decision.default is None:  # no decision: null, as on the durable path
                    columns[label] = sa.case((sa.not_(none), columns[label]))
                labels[f"field:{f}"] = label
                scope[f"{decision.name}.{f}"] = _Val(label, "list", t.kind)
        else:
            for f, t in decision.output_types.items():
                whens = [(none, self._default(decision, f, t.kind))]
                if conflict is not None:
                    whens.append((conflict, sa.cast(sa.null(), sql_type(t.kind))))
                whens += [
                    (matched[r.index], d.literal(r.outputs[f], t.kind)) for r in decision.rules
                ]
                label = layers.label()
                columns[label] = sa.case(*whens, else_=sa.cast(sa.null(), sql_type(t.kind)))
                labels[f"field:{f}"] = label
                scope[f"{decision.name}.{f}"] = _Val(label, t.kind)
        layers.add(columns)
        return labels

    def _aggregate(self, decision: Decision, matched: dict[int, Col], count: Col) -> Col:
        agg = decision.aggregate
        assert agg is not None
        d = self.d
        if agg.op == "count":
            return count
        present = [
            (r, r.outputs.get(agg.field or ""))
            for r in decision.rules
            if r.outputs.get(agg.field or "") is not None
        ]
        if not present:
            return sa.cast(sa.null(), sa.Double())
        if agg.op == "sum":
            kind = "integer" if all(isinstance(v, int) for _, v in present) else "number"
            terms = [
                sa.case((matched[r.index], d.literal(v, kind)), else_=d.literal(0, kind))
                for r, v in present
            ]
            any_present = sa.or_(*(matched[r.index] for r, _ in present))
            return sa.case((any_present, _sum(terms)))
        ranked = sorted(present, key=lambda rv: rv[1], reverse=agg.op == "max")
        kind = "integer" if all(isinstance(v, int) for _, v in present) else "number"
        return sa.case(*[(matched[r.index], d.literal(v, kind)) for r, v in ranked])

    def _default(self, decision: Decision, field: str, kind: str) -> Col:
        value = decision.default.get(field) if decision.default is not None else None
        return self.d.literal(value, kind)

    # -- expressions ---------------------------------------------------------------------
    def _condition(self, node: Node, scope: Mapping[str, _Val]) -> Col:
        expr, _, _ = self._expr(node, scope)
        return expr

    def _expr(self, node: Node, scope: Mapping[str, _Val]) -> tuple[Col, str, str | None]:
        """SQL for one expression node, with its kind (and item kind for lists)."""
        d = self.d
        match node:
            case Literal(value=v):
                return d.literal(v), _kind_of(v), None
            case Name(name=n):
                val = scope[n]
                return self.layers.col(val.label), val.kind, val.item
            case Exists(name=n):
                return self.layers.col(scope[n].label).is_not(None), "bool", None
            case Neg(operand=o):
                x, kind, _ = self._expr(o, scope)
                return sa.type_coerce(x, sql_type(kind)).op("*")(d.literal(-1, kind)), kind, None
            case Arith():
                return self._arith(node, scope)
            case Compare(op=op, left=left, right=right):
                a, _, _ = self._expr(left, scope)
                b, _, _ = self._expr(right, scope)
                return (
                    a.op("=" if op == "==" else "<>" if op == "!=" else op, is_comparison=True)(b),
                    "bool",
                    None,
                )
            case In():
                return self._in(node, scope), "bool", None
            case And(items=items):
                return sa.and_(*(self._condition(i, scope) for i in items)), "bool", None
            case Or(items=items):
                return sa.or_(*(self._condition(i, scope) for i in items)), "bool", None
            case Not(operand=o):
                return sa.not_(self._condition(o, scope)), "bool", None
            case Call():
                return self._call(node, scope)
            case ListLit():
                raise PushdownError(f"{node.pos}: a list can only stand after 'in'")
        raise TypeError(f"unknown node {node!r}")

    def _arith(self, node: Arith, scope: Mapping[str, _Val]) -> tuple[Col, str, str | None]:
        d = self.d
        a, ka, _ = self._expr(node.left, scope)
        b, kb, _ = self._expr(node.right, scope)
        integer = ka == kb == "integer"
        zero = d.literal(0, "number")
        if node.op == "%":
            if integer:
                return d.integer_mod(a, sa.func.nullif(b, d.literal(0))), "integer", None
            if d.name == "postgresql":
                raise PushdownError(
                    f"{node.pos}: PostgreSQL has no exact remainder of non-integers "
                    f"({render(node)}); decide this pack in DuckDB or on the durable path"
                )
            return d.float_mod(d.double(a), sa.func.nullif(d.double(b), zero)), "number", None
        if node.op == "/":
            return d.finite(d.double(a), "/", sa.func.nullif(d.double(b), zero)), "number", None
        if integer and node.op == "*":
            # past 64 bits an integer becomes a double, as on the durable path (pyeval.INT64)
            wide = d.double(a).op("*")(d.double(b))
            exact = sa.func.abs(wide) < d.literal(2.0**63, "number")
            return sa.case((exact, a.op("*")(b)), else_=wide), "number", None
        if integer:
            return a.op(node.op)(b), "integer", None
        return d.finite(a, node.op, b), "number", None

    def _in(self, node: In, scope: Mapping[str, _Val]) -> Col:
        d = self.d
        x, kind, _ = self._expr(node.item, scope)
        if isinstance(node.container, ListLit):
            values = [i.value for i in node.container.items if isinstance(i, Literal)]
            if not values:
                return sa.case(
                    (x.is_(None), sa.null()), else_=sa.true() if node.negated else sa.false()
                )
            literals = [d.literal(v) for v in values]
            return x.not_in(literals) if node.negated else x.in_(literals)
        xs, _, item = self._expr(node.container, scope)
        unknown = sa.or_(x.is_(None), xs.is_(None))
        if not _comparable(kind, item or "string"):
            return sa.case((unknown, sa.null()), else_=sa.true() if node.negated else sa.false())
        member = d.list_contains(xs, x)
        return sa.case((unknown, sa.null()), else_=sa.not_(member) if node.negated else member)

    def _call(self, node: Call, scope: Mapping[str, _Val]) -> tuple[Col, str, str | None]:
        fn = self.pack.functions[node.func]
        args = [self._expr(a, scope) for a in node.args]
        cols = [c for c, _, _ in args]
        assert fn.sql is not None
        result = fn.sql(*cols, as_of=self.as_of) if fn.needs_as_of else fn.sql(*cols)
        if not isinstance(result, sa.ColumnElement):
            result = sa.literal(result)
        if not fn.null_safe and args:
            result = sa.case((sa.or_(*(c.is_(None) for c, _, _ in args)), sa.null()), else_=result)
        return result, fn.returns, "string" if fn.returns == "list" else None


def _enum_type(values: Sequence[str]) -> str:
    return "ENUM(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


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


def _no_match_status(decision: Decision) -> str:
    return "default" if decision.default is not None else "no_decision"


def _priority_order(decision: Decision) -> list[Rule]:
    assert decision.priority_order is not None
    key, order = decision.priority_order
    return sorted(decision.rules, key=lambda r: (order.index(r.outputs.get(key)), r.index))


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return "string"


def _comparable(a: str, b: str) -> bool:
    numeric = ("number", "integer")
    return a == b or (a in numeric and b in numeric)


def _names_read(decision: Decision) -> set[str]:
    out: set[str] = set()
    for node in [r.condition for r in decision.rules] + [dv.expr for dv in decision.derived]:
        for sub in node.walk():
            if isinstance(sub, Name | Exists):
                out.add(sub.name)
    return out


class _TryCast(sa.sql.expression.FunctionElement[Any]):
    """DuckDB's TRY_CAST(x AS type): NULL instead of an error for text that is not a value."""

    inherit_cache = False
    name = "try_cast"

    def __init__(self, value: Col, target: str) -> None:
        super().__init__(value)
        self.target = target
        types = {
            "DOUBLE": sa.Double(),
            "DATE": sa.Date(),
            "TIMESTAMPTZ": sa.DateTime(timezone=True),
        }
        self.type = types.get(target, sa.String())


@sa.ext.compiler.compiles(_TryCast)
def _compile_try_cast(element: _TryCast, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"TRY_CAST({compiler.process(value, **kw)} AS {element.target})"


class _Messages:
    """The per-client error texts for one fact, as SQL string literals."""

    def __init__(self, name: str, t: FactType) -> None:
        self.name, self.t = name, t

    def type_error(self) -> Col:
        expected = str(self.t) if self.t.enum is None else "string"
        article = "an" if expected[:1] in "aeiou" else "a"
        return sa.literal(f"{self.name}: should be {article} {expected}", sa.String())

    def range_error(self, low: float | None, high: float | None) -> Col:
        lo = "" if low is None else f">= {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        return sa.literal(
            f"{self.name}: should be {' and '.join(x for x in (lo, hi) if x)}", sa.String()
        )

    def enum_error(self) -> Col:
        assert self.t.enum is not None
        return sa.literal(f"{self.name}: must be one of {', '.join(self.t.enum)}", sa.String())
