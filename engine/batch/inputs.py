"""The decision query's first layers: each input fact read from its source column by the
one reading of values (tierwise.batch.readers, the SQL forms of tierwise.lang.values) and
checked as the durable path checks it (finiteness, range, enum), with the per-client error
texts the durable path gives; a row with any error is decided no further."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from tierwise.batch.dialects import Col, Dialect, balanced
from tierwise.batch.readers import Lets, Reading, Step
from tierwise.lang.types import FactType
from tierwise.lang.values import MAX_SAFE_INTEGER

Problem = tuple[Col, Col]
"""A (condition, message) pair: where the condition holds, the row has that error."""


@dataclass(frozen=True)
class SourceColumn:
    """How one input fact arrives in the source: its column, and the category of the
    values it holds (tierwise.batch.readers.CATEGORIES), or "absent" (no column: null)."""

    column: str | None
    mode: str = "text"


def validated_inputs(
    inputs: Mapping[str, FactType],
    dialect: Dialect,
    source: sa.FromClause,
    columns: Mapping[str, SourceColumn],
    id_source: str,
) -> sa.Select[Any]:
    """One row per source row: `id`, `i_<fact>` per input (null when invalid) and `err`,
    the row's error texts joined by '; ' (null when it has none)."""
    client = (
        sa.cast(source.c[id_source], sa.String())
        if id_source in source.c
        else sa.cast(sa.null(), sa.String())
    )
    steps: dict[str, Step] = {}
    for name, t in inputs.items():
        spec = columns.get(name, SourceColumn(None, "absent"))
        if spec.column is None or spec.column not in source.c or spec.mode == "absent":
            steps[name] = _absent(dialect, t)
        else:
            steps[name] = dialect.reader.read(t.kind, spec.mode, source.c[spec.column])
    layer, read = _Layers(dialect, source, {"id": client}).run(steps)
    cols: list[Col] = [layer.c.id]
    unreadable: list[Problem] = []
    messages: list[Problem] = []
    for name, t in inputs.items():
        value, present = (layer.c[label] for label in read[name])
        msg = _Messages(name, t)
        unreadable.append((sa.and_(present, value.is_(None)), msg.type_error()))
        checked, problems = _checks(dialect, t, value, msg)
        cols.append(checked.label(f"i_{name}"))
        messages.extend(problems)
    cols.append(_errors(dialect, unreadable, messages).label("err"))
    return sa.select(*cols).select_from(layer)


def _absent(dialect: Dialect, t: FactType) -> Step:
    """The reading of a fact the source has no column for: always missing."""
    yield {}
    return Reading(dialect.reader.null(t.kind), sa.false())


class _Layers:
    """Runs the readings' steps side by side, one layer of the query per step: each layer
    adds what the steps named for it and passes on only the columns a later layer or the
    result reads (a layer computes and copies every column it has, for every row)."""

    def __init__(self, dialect: Dialect, source: sa.FromClause, keep: dict[str, Col]) -> None:
        self.d = dialect
        self.source = source
        self.keep = keep
        """Columns of the first layer (over the source) that the last one passes on."""
        self.labels = 0

    def run(self, steps: dict[str, Step]) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The last layer, and for each fact the labels of its value and presence in it."""
        layers: list[dict[str, Col]] = []
        sent: dict[str, Lets | None] = dict.fromkeys(steps)
        done: dict[str, tuple[str, str]] = {}
        while len(done) < len(steps):
            lets: dict[str, Col] = dict(self.keep) if not layers else {}
            asked: dict[str, dict[str, str]] = {}
            for name, step in steps.items():
                if name in done:
                    continue
                try:
                    wanted = step.send(sent[name])  # type: ignore[arg-type]  # None starts it
                except StopIteration as stop:
                    reading: Reading = stop.value
                    done[name] = (self._label(), self._label())
                    lets.update(zip(done[name], (reading.value, reading.present), strict=True))
                    continue
                asked[name] = {key: self._label() for key in wanted}
                lets.update({asked[name][key]: expr for key, expr in wanted.items()})
            layers.append(lets)
            sent = {
                name: {k: sa.column(lbl, type_=lets[lbl].type) for k, lbl in keys.items()}
                for name, keys in asked.items()
            }
        results = [*self.keep, *(label for pair in done.values() for label in pair)]
        return self._build(layers, results), done

    def _label(self) -> str:
        self.labels += 1
        return f"tw_{self.labels}"

    def _build(self, layers: list[dict[str, Col]], results: list[str]) -> Any:
        """The layers as SQL: each reads the one before through its columns (a step's
        expressions name a column by a placeholder of its label; a source column read
        after the first layer is carried there as `tw_src<k>`)."""
        sources = {id(c): f"tw_src{k}" for k, c in enumerate(self.source.c)}
        reads = [_reads(lets, sources) for lets in layers]
        live = set(results)
        needed: list[set[str]] = []
        for lets, read in zip(reversed(layers), reversed(reads), strict=True):
            needed.append(set(live))
            live = (live - lets.keys()) | read
        needed.reverse()  # needed[r]: the labels layer r passes on
        last: Any = self.source
        for r, lets in enumerate(layers):
            if r == 0:
                carried = [
                    c.label(sources[id(c)]) for c in self.source.c if sources[id(c)] in needed[0]
                ]
                exprs = lets
            else:
                carried = [c for c in last.c if c.key in needed[r] and c.key not in lets]
                exprs = {label: _moved(e, last, sources) for label, e in lets.items()}
            added = [e.label(label) for label, e in exprs.items() if label in needed[r]]
            select = sa.select(*carried, *added).select_from(last)
            last = self.d.layer(select, f"read_{r + 1}")
        return last


def _reads(lets: dict[str, Col], sources: dict[int, str]) -> set[str]:
    """The labels a layer's expressions read: placeholders, and source columns by their
    carried label (the first layer reads those directly, which the caller ignores there)."""
    found: set[str] = set()
    for expr in lets.values():
        for element in iterate(expr):
            if id(element) in sources:
                found.add(sources[id(element)])
            elif _placeholder(element):
                found.add(element.name)
    return found


def _placeholder(element: Any) -> TypeGuard[sa.ColumnClause[Any]]:
    """Whether an element is a step's name for a column of an earlier layer (its label)."""
    return isinstance(element, sa.ColumnClause) and element.table is None and not element.is_literal


def _moved(expr: Col, last: Any, sources: dict[int, str]) -> Col:
    """An expression of placeholders and source columns over the layer `last` instead."""

    def replace(element: Any, **kw: Any) -> Any:
        if id(element) in sources:
            return last.c[sources[id(element)]]
        if _placeholder(element) and element.name in last.c:
            return last.c[element.name]
        return None

    no_options: dict[str, Any] = {}
    return replacement_traverse(expr, no_options, replace)


def _errors(dialect: Dialect, unreadable: list[Problem], messages: list[Problem]) -> Col:
    """A value that cannot be read stops a row before validation (as records.read_record
    does): then only those errors show, else every validation error."""
    if not unreadable and not messages:
        return sa.cast(sa.null(), sa.String())
    whens = []
    for problems in (unreadable, messages):
        if problems:
            checked = [(sa.func.coalesce(cond, sa.false()), text) for cond, text in problems]
            whens.append((_any(c for c, _ in checked), dialect.join(checked, "; ")))
    return sa.case(*whens)


def _any(conditions: Any) -> Col:
    """`a or b or ...` as a balanced tree, shallow for any number of facts."""
    return balanced("OR", list(conditions))


def _checks(d: Dialect, t: FactType, value: Col, msg: _Messages) -> tuple[Col, list[Problem]]:
    """A read value's declared range and enum: the value (an ENUM on DuckDB) and its
    (condition, message) error pairs."""
    problems = _range(d, t, value, msg)
    if t.enum is not None:
        value, outside = d.enum_value(value, t.enum)
        problems.append((outside, msg.enum_error()))
    return value, problems


def _range(d: Dialect, t: FactType, value: Col, msg: _Messages) -> list[Problem]:
    """A number's declared bounds; an integer's are at most ±2^53 (exact in a double)."""
    if t.kind not in ("number", "integer"):
        return []
    integer = t.kind == "integer"
    low = t.minimum if t.minimum is not None else (-MAX_SAFE_INTEGER if integer else None)
    high = t.maximum if t.maximum is not None else (MAX_SAFE_INTEGER if integer else None)
    problems: list[Problem] = []
    if low is not None:
        problems.append((value < d.literal(low), msg.range_error(low, high)))
    if high is not None:
        problems.append((value > d.literal(high), msg.range_error(low, high)))
    return problems


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
