"""What differs between the SQL engines the batch compiler targets: DuckDB, SQLite, PostgreSQL.

Literals, lists, float remainder, finiteness and string joins are spelled differently in
each; everything else in the SQL compiler is one generator. Values follow the rule
language: dates compare as dates, `/` is float division, lists hold non-null scalars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FunctionElement

Col = ColumnElement[Any]
DIALECTS = ("duckdb", "sqlite", "postgresql")


def sqlalchemy_dialect(name: str) -> sa.Dialect:
    """The SQLAlchemy dialect used to render SQL text for one engine (named paramstyle: no %%)."""
    if name == "duckdb":
        import duckdb_engine

        return duckdb_engine.Dialect(paramstyle="named")
    if name == "postgresql":
        return postgresql.dialect(paramstyle="named")
    if name == "sqlite":
        return sqlite.dialect(paramstyle="named")
    raise ValueError(f"unknown SQL dialect {name!r}; use one of {', '.join(DIALECTS)}")


def sql_type(kind: str) -> sa.types.TypeEngine[Any]:
    """The SQL type that holds a value of one rule-language kind."""
    return {
        "number": sa.Double(),
        "integer": sa.BigInteger(),
        "string": sa.String(),
        "bool": sa.Boolean(),
        "date": sa.Date(),
        "datetime": sa.DateTime(timezone=True),
    }.get(kind, sa.String())


class Dialect:
    """One SQL engine's spelling of the rule language's values and list operations."""

    def __init__(self, name: str) -> None:
        if name not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {name!r}; use one of {', '.join(DIALECTS)}")
        self.name = name
        self.sqlite = name == "sqlite"

    # -- literals ------------------------------------------------------------------------
    def literal(self, value: Any, kind: str | None = None) -> Col:
        """A typed SQL literal; floats are parsed from their exact repr, never as DECIMAL."""
        if value is None:
            return sa.null() if kind is None else sa.cast(sa.null(), sql_type(kind))
        if isinstance(value, bool):
            return sa.true() if value else sa.false()
        if isinstance(value, int) and kind != "number":
            return sa.cast(sa.literal_column(str(value)), sa.BigInteger())
        if isinstance(value, int | float):
            return sa.cast(sa.literal_column(f"'{float(value)!r}'"), sa.Double())
        if isinstance(value, dt.datetime):
            utc = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
            if self.sqlite:
                return sa.literal_column(
                    f"'{utc.strftime('%Y-%m-%d %H:%M:%S')}.{utc.microsecond // 1000:03d}'",
                    sa.String(),
                )
            return sa.cast(sa.literal_column(f"'{utc.isoformat()}'"), sa.DateTime(timezone=True))
        if isinstance(value, dt.date):
            if self.sqlite:
                return sa.literal_column(f"'{value.isoformat()}'", sa.String())
            return sa.cast(sa.literal_column(f"'{value.isoformat()}'"), sa.Date())
        return sa.literal(str(value), sa.String())

    def label(self, value: str | None, domain: Sequence[str]) -> Col:
        """A string from a small known set: an ENUM constant in DuckDB (cheap to move and to
        write as a Parquet dictionary), plain text elsewhere."""
        if self.name != "duckdb":
            return self.literal(value, "string")
        if not domain:
            return self.literal(value, "string")
        enum = "ENUM(" + ", ".join(_quote(v) for v in domain) + ")"
        text = "NULL" if value is None else _quote(value)
        return sa.literal_column(f"CAST({text} AS {enum})", sa.String())

    def lookup(
        self, values: Sequence[Any], kind: str, domain: Sequence[str] | None, at: Col
    ) -> Col:
        """DuckDB: item `at` (1-based) of a constant list of `values` of one kind; with a
        `domain`, the values are strings (or lists of strings) of one ENUM type, cast once
        when the query binds."""
        table: Col
        if domain:
            enum = "ENUM(" + ", ".join(_quote(v) for v in domain) + ")"
            nested = any(isinstance(v, list) for v in values)
            items = ", ".join(_enum_item(v) for v in values)
            target = f"{enum}[][]" if nested else f"{enum}[]"
            table = sa.literal_column(f"CAST([{items}] AS {target})", sa.ARRAY(sa.String()))
        else:
            table = sa.func.list_value(*(self.literal(v, kind) for v in values))
        return sa.func.list_extract(table, at)

    def double(self, x: Col) -> Col:
        return sa.cast(x, sa.Double())

    # -- arithmetic ----------------------------------------------------------------------
    def integer_mod(self, a: Col, b: Col) -> Col:
        """a % b on integer kinds (the divisor is already NULLIF'd). An integer past 64 bits
        is a double (as on the durable path), so each engine must take a double here too."""
        if self.name == "postgresql":
            return _pg_numeric(a).op("%")(_pg_numeric(b))
        exact = sa.type_coerce(a, sa.BigInteger()) % sa.type_coerce(b, sa.BigInteger())
        if self.name == "duckdb":
            return exact
        both = sa.and_(sa.func.typeof(a) == "integer", sa.func.typeof(b) == "integer")
        return sa.case((both, exact), else_=self.float_mod(a, b))

    def float_mod(self, a: Col, b: Col) -> Col:
        """a % b on doubles, truncated like C's fmod (the divisor is already NULLIF'd)."""
        if self.name == "duckdb":
            return sa.type_coerce(a, sa.Double()) % sa.type_coerce(b, sa.Double())
        if self.sqlite:
            return sa.func.mod(a, b)  # SQLite's math functions: C's fmod
        raise ValueError("PostgreSQL has no exact remainder of doubles")

    def finite(self, a: Col, op: str, b: Col) -> Col:
        """`a op b` on doubles, NULL when it overflows (as the durable path's inf -> null).
        PostgreSQL raises on overflow, so it checks the result's size in NUMERIC first."""
        if self.name == "postgresql":
            exact = sa.cast(a, sa.Numeric()).op(op)(sa.cast(b, sa.Numeric()))
            fits = sa.func.abs(exact) <= sa.literal_column("1.7976931348623157e308")
            return sa.case((fits, a.op(op)(b)))
        inf = sa.literal_column("9e999") if self.sqlite else self.literal(float("inf"), "number")
        result = sa.func.nullif(sa.func.nullif(a.op(op)(b), inf), -inf)
        return result

    def is_finite(self, x: Col) -> Col:
        if self.name == "duckdb":
            return sa.func.isfinite(x)
        if self.name == "postgresql":
            specials = ("Infinity", "-Infinity", "NaN")
            return sa.and_(
                *(x != sa.cast(sa.literal_column(f"'{v}'"), sa.Double()) for v in specials)
            )
        return sa.func.abs(x) < sa.literal_column("9e999")

    # -- lists ---------------------------------------------------------------------------
    def list_contains(self, xs: Col, x: Col) -> Col:
        """Whether list `xs` holds `x` (both known non-null by the caller)."""
        if self.name == "duckdb":
            return sa.func.list_contains(xs, x)
        if self.name == "postgresql":
            return x == sa.any_(xs)
        each = sa.func.json_each(xs).table_valued("value").alias("je")
        return sa.exists(
            sa.select(sa.literal_column("1")).select_from(each).where(each.c.value == x)
        )

    def list_length(self, xs: Col) -> Col:
        if self.name == "duckdb":
            return sa.func.len(xs)
        if self.name == "postgresql":
            return sa.func.cardinality(xs)
        return sa.func.json_array_length(xs)

    def list_of(self, items: Sequence[tuple[Col, Any]], kind: str) -> Col:
        """The list of `value` for every (condition, value) whose condition holds, in order."""
        if self.name == "duckdb":
            if not items:
                return sa.cast(sa.literal_column("[]"), sa.ARRAY(sql_type(kind)))
            if all(c is sa.true() for c, _ in items):
                return sa.func.list_value(*(self.literal(v, kind) for _, v in items))
            values = sa.func.list_value(*(self.literal(v, kind) for _, v in items))
            mask = sa.func.list_value(*(sa.func.coalesce(c, sa.false()) for c, _ in items))
            return sa.func.list_where(values, mask)
        elements = [sa.case((c, self.literal(v, kind))) for c, v in items]
        elements.append(sa.cast(sa.null(), sql_type(kind)))
        if self.name == "postgresql":
            return sa.func.array_remove(postgresql.array(elements), sa.null())
        each = (
            sa.func.json_each(sa.func.json_array(*elements))
            .table_valued("value", "type")
            .alias("je")
        )
        return (
            sa.select(sa.func.coalesce(sa.func.json_group_array(each.c.value), "[]"))
            .select_from(each)
            .where(each.c.type != "null")
            .scalar_subquery()
        )

    def join(self, items: Sequence[tuple[Col, Col]], sep: str) -> Col:
        """`sep`-joined texts of the (condition, text) pairs whose condition holds; NULL if none."""
        if self.name in ("duckdb", "postgresql"):
            parts = [sa.case((c, t)) for c, t in items]
            return sa.func.nullif(sa.func.concat_ws(sep, *parts), "")
        pieces = [
            sa.case((c, sa.literal(sep, sa.String()).op("||")(t)), else_="") for c, t in items
        ]
        return sa.func.nullif(sa.func.substr(balanced("||", pieces), len(sep) + 1), "")

    def concat(self, *parts: Col) -> Col:
        return balanced("||", list(parts))


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _enum_item(value: str | list[str] | None) -> str:
    """One item of a constant list cast to an ENUM type: NULL, a string, or a list of them."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ", ".join(_quote(v) for v in value) + "]"
    return _quote(value)


def _pg_numeric(x: Col) -> Col:
    """A PostgreSQL number as NUMERIC through its shortest round-trip text (a direct cast of
    a double keeps only 15 digits); PostgreSQL has no % on doubles."""
    return sa.cast(sa.cast(x, sa.Text()), sa.Numeric())


def balanced(op: str, terms: Sequence[Col]) -> Col:
    """`a op b op c ...` as a balanced tree, so long chains stay shallow for SQL parsers."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return sa.Grouping(balanced(op, terms[:middle])).op(op)(
        sa.Grouping(balanced(op, terms[middle:]))
    )


class ListLength(FunctionElement[int]):
    """The number of items in a list value (native list, array, or JSON text on SQLite)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "list_length"


@compiles(ListLength)
def _list_length(element: ListLength, compiler: Any, **kw: Any) -> str:
    return f"cardinality({compiler.process(next(iter(element.clauses)), **kw)})"


@compiles(ListLength, "duckdb")
def _list_length_duckdb(element: ListLength, compiler: Any, **kw: Any) -> str:
    return f"len({compiler.process(next(iter(element.clauses)), **kw)})"


@compiles(ListLength, "sqlite")
def _list_length_sqlite(element: ListLength, compiler: Any, **kw: Any) -> str:
    return f"json_array_length({compiler.process(next(iter(element.clauses)), **kw)})"


class DayNumber(FunctionElement[int]):
    """A date (or a datetime's date) as a whole day count, so two of them subtract to days."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "day_number"


@compiles(DayNumber)
def _day_number(element: DayNumber, compiler: Any, **kw: Any) -> str:
    return (
        f"(CAST({compiler.process(next(iter(element.clauses)), **kw)} AS DATE) - DATE '1970-01-01')"
    )


@compiles(DayNumber, "sqlite")
def _day_number_sqlite(element: DayNumber, compiler: Any, **kw: Any) -> str:
    value = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(julianday(date({value})) - 2440587.5 AS INTEGER)"


def date_literal(value: dt.date) -> Col:
    """A date constant that every dialect reads as a date (ISO text on SQLite)."""
    return DateConstant(value.isoformat())


class DateConstant(FunctionElement[dt.date]):
    """An ISO date literal: DATE 'yyyy-mm-dd', or plain text on SQLite."""

    type = sa.Date()
    inherit_cache = False
    name = "date_constant"

    def __init__(self, iso: str) -> None:
        super().__init__()
        self.iso = iso


@compiles(DateConstant)
def _date_constant(element: DateConstant, compiler: Any, **kw: Any) -> str:
    return f"DATE '{element.iso}'"


@compiles(DateConstant, "sqlite")
def _date_constant_sqlite(element: DateConstant, compiler: Any, **kw: Any) -> str:
    return f"'{element.iso}'"


class RoundHalfEven(FunctionElement[int]):
    """Python's round(x): to the nearest integer, ties to even, as a double holding the
    integer (past 64 bits the durable path gives a double too)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "round_half_even"


@compiles(RoundHalfEven)
def _round_half_even(element: RoundHalfEven, compiler: Any, **kw: Any) -> str:
    x = compiler.process(next(iter(element.clauses)), **kw)
    return f"round(CAST({x} AS DOUBLE PRECISION))"


@compiles(RoundHalfEven, "duckdb")
def _round_half_even_duckdb(element: RoundHalfEven, compiler: Any, **kw: Any) -> str:
    x = compiler.process(next(iter(element.clauses)), **kw)
    return f"round_even(CAST({x} AS DOUBLE), 0)"  # a double: past 64 bits it stays one


@compiles(RoundHalfEven, "sqlite")
def _round_half_even_sqlite(element: RoundHalfEven, compiler: Any, **kw: Any) -> str:
    x = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"(CASE WHEN abs({x} - CAST({x} AS INTEGER)) = 0.5 THEN 2 * round({x} / 2.0) "
        f"ELSE round({x}) END)"
    )


class Smaller(FunctionElement[Any]):
    """The smaller of two non-null values (LEAST, or SQLite's two-argument min)."""

    inherit_cache = True
    name = "smaller"


class Larger(FunctionElement[Any]):
    """The larger of two non-null values (GREATEST, or SQLite's two-argument max)."""

    inherit_cache = True
    name = "larger"


@compiles(Smaller)
def _smaller(element: Smaller, compiler: Any, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(Smaller, "sqlite")
def _smaller_sqlite(element: Smaller, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(Larger)
def _larger(element: Larger, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(Larger, "sqlite")
def _larger_sqlite(element: Larger, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"
