"""The decision query's first layer: each input fact read from its source column and checked
as the durable path checks it (type, finiteness, range, enum), with the per-client error
texts the durable path gives; a row with any error is decided no further."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tierwise.batch.dialects import Col, Dialect, sql_type
from tierwise.lang.types import FactType
from tierwise.runtime.facts import MAX_SAFE_INTEGER

Problem = tuple[Col, Col]
"""A (condition, message) pair: where the condition holds, the row has that error."""


@dataclass(frozen=True)
class SourceColumn:
    """How one input fact arrives in the source: its column, and how to read it.

    mode: "native" (the column has the fact's SQL type), "text" (text to coerce as a CSV
    cell is, DuckDB only), "iso" (ISO text for a date or datetime), "wrong" (a column of
    another type: every non-null value is an error), "absent" (no column: always null).
    """

    column: str | None
    mode: str = "native"


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
    cols: list[Col] = [client.label("id")]
    coercion: list[Problem] = []
    messages: list[Problem] = []
    for name, t in inputs.items():
        spec = columns.get(name, SourceColumn(None, "absent"))
        raw = source.c[spec.column] if spec.column is not None and spec.column in source.c else None
        mode = spec.mode if raw is not None else "absent"
        value, problems = _validate(dialect, name, t, raw, mode)
        cols.append(value.label(f"i_{name}"))
        if mode == "text":
            coercion.append(problems[0])
            problems = problems[1:]
        messages.extend(problems)
    cols.append(_errors(dialect, coercion, messages).label("err"))
    return sa.select(*cols).select_from(source)


def _errors(dialect: Dialect, coercion: list[Problem], messages: list[Problem]) -> Col:
    """Text that is not a value stops a row before validation (adapters.coerce_record):
    then only the coercion errors show, else every validation error."""
    if not coercion and not messages:
        return sa.cast(sa.null(), sa.String())
    whens = []
    if coercion:
        whens.append((sa.or_(*(cond for cond, _ in coercion)), dialect.join(coercion, "; ")))
    if messages:
        whens.append((sa.or_(*(cond for cond, _ in messages)), dialect.join(messages, "; ")))
    return sa.case(*whens)


def _validate(
    d: Dialect, name: str, t: FactType, raw: Col | None, mode: str
) -> tuple[Col, list[Problem]]:
    """A fact's typed value (null when invalid) and its (condition, message) error pairs;
    in text mode the first pair is the coercion's."""
    msg = _Messages(name, t)
    if raw is None or mode == "absent":
        return sa.cast(sa.null(), sql_type(t.kind)), []
    if mode == "wrong":
        return sa.cast(sa.null(), sql_type(t.kind)), [(raw.is_not(None), msg.type_error())]
    problems: list[Problem] = []
    value: Col
    bad: Col | None
    if mode == "text":
        value, bad = d.from_text(t.kind, raw)
    elif mode == "iso":
        value = d.iso_value(t.kind, raw)
        bad = sa.and_(raw.is_not(None), value.is_(None))
    else:
        value, bad = d.native_value(t.kind, raw)
    if bad is not None:
        problems.append((bad, msg.type_error()))
    if t.kind == "number":
        problems.append(
            (sa.not_(sa.func.coalesce(d.is_finite(value), sa.true())), msg.type_error())
        )
    problems += _range(d, t, value, msg)
    if t.enum is not None:
        value, outside = d.enum_value(value, t.enum)
        problems.append((outside, msg.enum_error()))
    return value, [(sa.func.coalesce(cond, sa.false()), text) for cond, text in problems]


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
