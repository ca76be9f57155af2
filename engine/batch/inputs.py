"""The decision query's first layers: each input fact read from its source column by the
one reading of values (tierwise.batch.readers, the SQL forms of tierwise.lang.values) and
checked as the durable path checks it (finiteness, range, enum), with the per-client error
texts the durable path gives; a row with any error is decided no further."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.visitors import replacement_traverse

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
    used = {c.column for c in columns.values() if c.column is not None and c.column in source.c}
    raws = [source.c[column] for column in sorted(used)]
    layer, read = _Layers(dialect, source, [client.label("id"), *raws]).run(steps)
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
    passes on every column of the one before and adds what the steps named for it, their
    expressions moved onto the layer before (their columns read from there)."""

    def __init__(self, dialect: Dialect, source: sa.FromClause, first: list[Col]) -> None:
        self.d = dialect
        self.last: sa.FromClause = source
        self.carried: list[Col] = first
        self.labels = 0
        self.moved: dict[int, tuple[Col, Col]] = {}
        """id of a column of the source or of an earlier layer -> (that column, the column of
        the last layer that carries it on): what a step's expression is moved onto."""

    def run(self, steps: dict[str, Step]) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The last layer, and for each fact the labels of its value and presence in it."""
        sent: dict[str, Lets | None] = dict.fromkeys(steps)
        done: dict[str, tuple[str, str]] = {}
        while len(done) < len(steps):
            lets: dict[str, Col] = {}
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
            layer = self._add(lets)
            sent = {
                name: {k: layer.c[lbl] for k, lbl in keys.items()} for name, keys in asked.items()
            }
        return self.last, done

    def _label(self) -> str:
        self.labels += 1
        return f"tw_{self.labels}"

    def _add(self, lets: dict[str, Col]) -> Any:
        """A new layer over the last with `lets` added, their columns of the source and of
        earlier layers replaced by the last layer's (a lookup by identity: SQLAlchemy's
        ClauseAdapter searched every column's proxies, most of the query's build time)."""
        moved = self.moved

        def replace(element: Any, **kw: Any) -> Any:
            found = moved.get(id(element))
            return None if found is None else found[1]

        no_options: dict[str, Any] = {}
        added = [
            replacement_traverse(expr, no_options, replace).label(label)
            for label, expr in lets.items()
        ]
        select = sa.select(*self.carried, *added).select_from(self.last)
        self.last = self.d.layer(select, f"read_{self.labels}")
        now: list[Col] = list(self.last.c)  # the carried columns first, in their order
        onto = {id(old): new for old, new in zip(self.carried, now, strict=False)}
        for key, (column, held) in list(moved.items()):
            moved[key] = (column, onto[id(held)])
        moved.update({id(old): (old, new) for old, new in zip(self.carried, now, strict=False)})
        self.carried = now
        return self.last


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
