"""What differs between the SQL engines the batch compiler targets: DuckDB, SQLite, PostgreSQL.

One generator (compiler.py) asks a `Dialect` how to say things, as sqlglot's generator does:
class-level feature flags say what an engine has and which query plan suits it, methods
spell values, lists and arithmetic, and each engine's subclass overrides only what it says
differently. Values follow the rule language: dates compare as dates, `/` is float
division, lists hold non-null scalars.
"""

from __future__ import annotations

import datetime as dt
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FunctionElement

from tierwise.batch.readers import (
    DuckDBReader,
    PostgreSQLReader,
    Reader,
    SQLiteReader,
    TryCast,
)
from tierwise.lang.values import OVERFLOW_AT, UNDERFLOW_AT

Col = ColumnElement[Any]


def sql_type(kind: str) -> sa.types.TypeEngine[Any]:
    """The SQL type that holds a value of one rule-language kind."""
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "number": sa.Double(),
        "integer": sa.BigInteger(),
        "string": sa.String(),
        "bool": sa.Boolean(),
        "date": sa.Date(),
        "datetime": sa.DateTime(timezone=True),
    }
    return types.get(kind, sa.String())


class Dialect(ABC):
    """Standard SQL, as PostgreSQL and DuckDB mostly agree on it; a subclass per engine
    overrides the flags and methods where that engine differs."""

    name: ClassVar[str]
    title: ClassVar[str]
    flat_layers: ClassVar[bool] = False
    """The query's layers are CTEs (WITH) instead of nested subqueries."""
    fence_layers: ClassVar[bool] = False
    """Each layer is an optimisation fence (OFFSET 0): its columns are computed once per row
    and streamed to the next layer, never inlined into every expression that reads them (a
    planner that inlines copies each column's expression, and a correlated subquery of the
    source's, into each reader: SQLite reran them about 1,400 times per row)."""
    has_enum: ClassVar[bool] = False
    """Strings of a known set are ENUM values (cheap to move, dictionary-encoded output)."""
    lookup_by_list: ClassVar[bool] = False
    """A small collect's rule ids and outputs are looked up in constant lists by match mask."""
    has_float_mod: ClassVar[bool] = True
    """`%` on doubles is exact (C's fmod)."""
    session: ClassVar[tuple[str, ...]] = ()
    """Statements run in the decision query's transaction before it (push-down)."""
    named_cursor: ClassVar[bool] = False
    """Push-down rows stream through a named (server-side) cursor."""
    temp_schema: ClassVar[str] = "temp"
    """The schema of the connection's temporary tables: a name qualified with it can never
    be one of the database's own tables."""

    reader_class: ClassVar[type[Reader]]
    """The SQL forms of the one reading of values for this engine."""

    def __init__(self) -> None:
        self._renderer: sa.Dialect | None = None
        self._reader: Reader | None = None

    def renderer(self) -> sa.Dialect:
        """The SQLAlchemy dialect that renders this engine's SQL text (named paramstyle: no %%)."""
        if self._renderer is None:
            self._renderer = self._sqlalchemy()
        return self._renderer

    @abstractmethod
    def _sqlalchemy(self) -> sa.Dialect:
        """A new SQLAlchemy dialect object for this engine."""

    # -- the query's shape ---------------------------------------------------------------
    def layer(self, select: sa.Select[Any], name: str) -> Any:
        """One named layer over the previous one: a subquery, or a CTE where nested selects
        would overflow the parser; fenced where the flag asks for it."""
        if self.fence_layers:
            select = self.fence(select)
        return select.cte(name) if self.flat_layers else select.subquery(name)

    def fence(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """`select` with OFFSET 0, which keeps a planner from merging it into its reader."""
        return select.offset(sa.literal_column("0"))

    def facts(self, source: sa.FromClause) -> sa.FromClause:
        """The source as the first layer reads it: fenced where layers are, so that each of
        its columns (a view's expression, a mapping's subquery) is computed once per row
        however many checks read it."""
        if not self.fence_layers:
            return source
        return self.fence(sa.select(source)).subquery("source_facts")

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
            return self.datetime_literal(utc)
        if isinstance(value, dt.date):
            return self.date_literal(value)
        return sa.literal(str(value), sa.String())

    def date_literal(self, value: dt.date) -> Col:
        return sa.cast(sa.literal_column(f"'{value.isoformat()}'"), sa.Date())

    def datetime_literal(self, utc: dt.datetime) -> Col:
        """A UTC instant."""
        return sa.cast(sa.literal_column(f"'{utc.isoformat()}'"), sa.DateTime(timezone=True))

    def label(self, value: str | None, domain: Sequence[str]) -> Col:
        """A string from a small known set of them (a status, a rule id)."""
        return self.literal(value, "string")

    def lookup(
        self, values: Sequence[Any], kind: str, domain: Sequence[str] | None, at: Col
    ) -> Col:
        """Item `at` (1-based) of a constant list of `values` of one kind (strings of a known
        `domain` where the engine has ENUMs); NULL past the end. Here a CASE in which a run
        of equal neighbours is one range test."""
        runs: list[tuple[int, Any]] = []
        for k, v in enumerate(values, 1):
            if runs and (type(runs[-1][1]), runs[-1][1]) == (type(v), v):
                runs[-1] = (k, v)
            else:
                runs.append((k, v))
        while runs and runs[-1][1] is None:
            runs.pop()
        if not runs:
            return self.literal(None, kind)
        whens = [(at <= sa.literal_column(str(last)), self.literal(v, kind)) for last, v in runs]
        return sa.case(*whens, else_=self.literal(None, kind))

    def list_lookup(
        self, lists: Sequence[list[Any] | None], kind: str, domain: Sequence[str] | None, at: Col
    ) -> Col:
        """Item `at` (1-based) of a constant list of lists of `kind` items (None: NULL)."""
        constants = {
            k: sa.null() if items is None else self.list_of([(sa.true(), v) for v in items], kind)
            for k, items in enumerate(lists, 1)
        }
        return sa.case(constants, value=at)

    # -- reading source columns ----------------------------------------------------------
    @property
    def reader(self) -> Reader:
        """The SQL forms of the one reading of values, in this engine's terms."""
        if self._reader is None:
            self._reader = self.reader_class(self)
        return self._reader

    def category(self, type_name: str | None) -> str:
        """How a column of the engine's type `type_name` holds its values (a category of
        tierwise.batch.readers); None is a column of unknown type."""
        raise NotImplementedError(f"{self.title} reads no typed columns")

    def enum_value(self, value: Col, allowed: Sequence[str]) -> tuple[Col, Col]:
        """A string fact of an enum type, and when its value is not one of `allowed`."""
        return value, value.not_in([self.literal(v) for v in allowed])

    def double(self, x: Col) -> Col:
        return sa.cast(x, sa.Double())

    # -- arithmetic ----------------------------------------------------------------------
    def integer_mod(self, a: Col, b: Col) -> Col:
        """a % b on integer kinds (the divisor is already NULLIF'd). An integer past 64 bits
        is a double (as on the durable path), so each engine must take a double here too."""
        return sa.type_coerce(a, sa.BigInteger()) % sa.type_coerce(b, sa.BigInteger())

    def float_mod(self, a: Col, b: Col) -> Col:
        """a % b on doubles, truncated like C's fmod (the divisor is already NULLIF'd)."""
        return sa.type_coerce(a, sa.Double()) % sa.type_coerce(b, sa.Double())

    def finite(self, a: Col, op: str, b: Col) -> Col:
        """`a op b` on doubles, NULL when it overflows (as the durable path's inf -> null)."""
        inf = self.infinity()
        return sa.func.nullif(sa.func.nullif(arith(a, op, b), inf), -inf)

    def infinity(self) -> Col:
        return self.literal(float("inf"), "number")

    def is_finite(self, x: Col) -> Col:
        """Neither infinite nor NaN."""
        specials = ("Infinity", "-Infinity", "NaN")
        return sa.and_(*(x != sa.cast(sa.literal_column(f"'{v}'"), sa.Double()) for v in specials))

    # -- lists ---------------------------------------------------------------------------
    def list_contains(self, xs: Col, x: Col) -> Col:
        """Whether list `xs` holds `x` (both known non-null by the caller)."""
        return x == sa.any_(xs)

    def list_of(self, items: Sequence[tuple[Col, Any]], kind: str) -> Col:
        """The list of `value` for every (condition, value) whose condition holds, in order."""
        elements: list[Col] = [sa.case((c, self.literal(v, kind))) for c, v in items]
        elements.append(sa.cast(sa.null(), sql_type(kind)))
        return sa.func.array_remove(postgresql.array(elements), sa.null())

    def join(self, items: Sequence[tuple[Col, Col]], sep: str) -> Col:
        """`sep`-joined texts of the (condition, text) pairs whose condition holds; NULL if none."""
        parts = [sa.case((c, t)) for c, t in items]
        return sa.func.nullif(sa.func.concat_ws(sep, *parts), "")

    def concat(self, *parts: Col) -> Col:
        return balanced("||", list(parts))


class DuckDB(Dialect):
    """DuckDB, embedded: ENUM types, TRY_CAST, native lists, and text cells coerced in SQL."""

    name, title = "duckdb", "DuckDB"
    has_enum = True
    lookup_by_list = True
    reader_class = DuckDBReader

    def finite(self, a: Col, op: str, b: Col) -> Col:
        """DuckDB's binder writes NULLIF(a, b) as CASE WHEN a = b THEN NULL ELSE a END, so
        the overflow guard repeats its operand: computed once, eight nested additions no
        longer take all the memory."""
        return once((a, b), lambda x, y: super(DuckDB, self).finite(x, op, y))

    def _sqlalchemy(self) -> sa.Dialect:
        import duckdb_engine

        return duckdb_engine.Dialect(paramstyle="named")

    def label(self, value: str | None, domain: Sequence[str]) -> Col:
        """An ENUM constant (cheap to move and to write as a Parquet dictionary)."""
        if not domain:
            return self.literal(value, "string")
        text = "NULL" if value is None else _quote(value)
        return sa.literal_column(f"CAST({text} AS {_enum_type(domain)})", sa.String())

    def lookup(
        self, values: Sequence[Any], kind: str, domain: Sequence[str] | None, at: Col
    ) -> Col:
        """An index into a constant list: one per row instead of a CASE per column; with a
        `domain`, strings (or lists of them) of one ENUM type, cast once when the query binds."""
        table: Col
        if domain:
            nested = any(isinstance(v, list) for v in values)
            items = ", ".join(_enum_item(v) for v in values)
            enum = _enum_type(domain)
            target = f"{enum}[][]" if nested else f"{enum}[]"
            table = sa.literal_column(f"CAST([{items}] AS {target})", sa.ARRAY(sa.String()))
        else:
            table = sa.func.list_value(*(self.literal(v, kind) for v in values))
        return sa.func.list_extract(table, at)

    def list_lookup(
        self, lists: Sequence[list[Any] | None], kind: str, domain: Sequence[str] | None, at: Col
    ) -> Col:
        """String items of a known `domain` are ENUMs (a Parquet list of dictionary strings
        writes at about half the cost of plain text)."""
        if kind == "string" and domain:
            return self.lookup(list(lists), kind, domain, at)
        tables = [
            sa.cast(sa.null(), sa.ARRAY(sql_type(kind)))
            if items is None
            else self.list_of([(sa.true(), v) for v in items], kind)
            for items in lists
        ]
        return sa.func.list_extract(sa.func.list_value(*tables), at)

    def category(self, type_name: str | None) -> str:
        """DuckDB's types, as DESCRIBE spells them (Parquet, Arrow and JSON columns)."""
        name = (type_name or "NULL").upper()
        base = name.split("(")[0]
        if name == "VARCHAR[]":
            return "list"
        if name.startswith("TIMESTAMP WITH TIME ZONE") or base == "TIMESTAMPTZ":
            return "timestamptz"
        if base.startswith("TIMESTAMP"):
            return "timestamp"
        if base in _DUCKDB_INTEGERS:
            return "integer"
        return _DUCKDB_TYPES.get(base, "other")

    def enum_value(self, value: Col, allowed: Sequence[str]) -> tuple[Col, Col]:
        enum = TryCast(value, _enum_type(allowed))
        return enum, sa.and_(value.is_not(None), enum.is_(None))

    def is_finite(self, x: Col) -> Col:
        return sa.func.isfinite(x)

    def list_contains(self, xs: Col, x: Col) -> Col:
        return sa.func.list_contains(xs, x)

    def list_of(self, items: Sequence[tuple[Col, Any]], kind: str) -> Col:
        if not items:
            return sa.cast(sa.literal_column("[]"), sa.ARRAY(sql_type(kind)))
        values = sa.func.list_value(*(self.literal(v, kind) for _, v in items))
        if all(c is sa.true() for c, _ in items):
            return values
        mask = sa.func.list_value(*(sa.func.coalesce(c, sa.false()) for c, _ in items))
        return sa.func.list_where(values, mask)


class SQLite(Dialect):
    """SQLite, inside a CRM's database file: values carry their own type per row, dates are
    ISO text, lists are JSON text, and a CTE read once is flattened into its reader."""

    name, title = "sqlite", "SQLite"
    flat_layers = True  # nested selects overflow SQLite's parser stack
    fence_layers = True  # a CTE read once is flattened into its reader, unless it has OFFSET
    reader_class = SQLiteReader

    def _sqlalchemy(self) -> sa.Dialect:
        return sqlite.dialect(paramstyle="named")

    def fence(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """SQLite spells OFFSET without a limit as LIMIT -1 OFFSET 0."""
        return select.limit(sa.literal_column("-1")).offset(sa.literal_column("0"))

    def category(self, type_name: str | None) -> str:
        """Whatever a column's declared type, each value has its own (typeof)."""
        return "dynamic"

    def date_literal(self, value: dt.date) -> Col:
        return sa.literal_column(f"'{value.isoformat()}'", sa.String())

    def datetime_literal(self, utc: dt.datetime) -> Col:
        """UTC text with microseconds, as the reading of datetimes writes them (text
        compares as the instants do; strftime writes year 1 as `1`)."""
        text = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return sa.literal_column(f"'{text}'", sa.String())

    def integer_mod(self, a: Col, b: Col) -> Col:
        return once((a, b), self._integer_mod)

    def _integer_mod(self, a: Col, b: Col) -> Col:
        exact = super().integer_mod(a, b)
        both = sa.and_(sa.func.typeof(a) == "integer", sa.func.typeof(b) == "integer")
        return sa.case((both, exact), else_=self.float_mod(a, b))

    def float_mod(self, a: Col, b: Col) -> Col:
        return sa.func.mod(a, b)  # SQLite's math functions: C's fmod

    def infinity(self) -> Col:
        return sa.literal_column("9e999")

    def is_finite(self, x: Col) -> Col:
        return sa.func.abs(x) < self.infinity()

    def list_contains(self, xs: Col, x: Col) -> Col:
        each = sa.func.json_each(xs).table_valued("value").alias("je")
        return sa.exists(
            sa.select(sa.literal_column("1")).select_from(each).where(each.c.value == x)
        )

    def list_of(self, items: Sequence[tuple[Col, Any]], kind: str) -> Col:
        elements: list[Col] = [sa.case((c, self.literal(v, kind))) for c, v in items]
        elements.append(sa.cast(sa.null(), sql_type(kind)))
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
        pieces = [
            sa.case((c, sa.literal(sep, sa.String()).op("||")(t)), else_="") for c, t in items
        ]
        return sa.func.nullif(sa.func.substr(balanced("||", pieces), len(sep) + 1), "")


class PostgreSQL(Dialect):
    """PostgreSQL, inside a CRM's server: arrays for lists, NUMERIC for exact remainders,
    and an overflow that raises instead of giving infinity."""

    name, title = "postgresql", "PostgreSQL"
    has_float_mod = False
    fence_layers = True  # subqueries are pulled up into their reader, unless they have OFFSET
    session = (
        "SET LOCAL TimeZone = 'UTC'",
        "SET LOCAL jit = off",  # compiling the wide CASE columns took 6.7 s of a 100k-row query
    )
    named_cursor = True
    temp_schema = "pg_temp"
    reader_class = PostgreSQLReader

    def _sqlalchemy(self) -> sa.Dialect:
        return postgresql.dialect(paramstyle="named")

    def category(self, type_name: str | None) -> str:
        """PostgreSQL's types by name (pg_type's typname, or as SQL spells them), as its
        driver gives their values to Python; an unknown one is `other`."""
        name = (type_name or "").lower()
        if name.endswith("[]") or name.startswith("_"):
            element = name[:-2] if name.endswith("[]") else name[1:]
            return "list" if _PG_TYPES.get(element) == "text" else "other"
        return _PG_TYPES.get(name, "other")

    def column_categories(self, cursor: Any, query: str) -> dict[str, str]:
        """The category of every column of `query`, from the types PostgreSQL reports
        for its result (a domain as its base type); a type this module does not name is
        read by its catalog category: text-like, enums, network and geometric types as
        their text (as the driver gives them), arrays of those as lists."""
        cursor.execute(f"SELECT * FROM ({query}) AS tierwise_columns LIMIT 0")
        oids = {str(c[0]): int(c[1]) for c in cursor.description}
        cursor.execute(
            "SELECT t.oid, t.typname, t.typcategory, e.typname, e.typtype "
            "FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
            "WHERE t.oid = ANY(%s)",
            (sorted(set(oids.values())),),
        )
        by_oid = {int(row[0]): self._catalog_category(*row[1:]) for row in cursor.fetchall()}
        return {name: by_oid.get(oid, "other") for name, oid in oids.items()}

    def _catalog_category(
        self, typname: str, typcategory: str, element: str | None, element_type: str | None
    ) -> str:
        """A type's category by name, else by its catalog category."""
        if typname in _PG_TYPES or (typcategory != "A" and typcategory not in _PG_TEXT_CATEGORIES):
            return self.category(typname)
        if typcategory != "A":
            return "text"
        if element_type == "e":
            return "text"  # the driver gives an array of an enum as its text
        return self.category(f"{element}[]")

    def integer_mod(self, a: Col, b: Col) -> Col:
        return arith(_pg_numeric(a), "%", _pg_numeric(b))

    def finite(self, a: Col, op: str, b: Col) -> Col:
        """PostgreSQL raises on overflow and on underflow, so the result's size is checked
        in NUMERIC first: NULL where the double would be infinite (the durable path's inf),
        0 where it rounds to 0 (as Python gives it)."""
        return once((a, b), lambda x, y: self._finite(x, op, y))

    def _finite(self, a: Col, op: str, b: Col) -> Col:
        size = sa.func.abs(arith(_pg_numeric(a), op, _pg_numeric(b)))
        return sa.case(
            (size >= sa.literal_column(OVERFLOW_AT), None),
            (size <= sa.literal_column(UNDERFLOW_AT), self.literal(0.0, "number")),
            else_=arith(a, op, b),
        )


DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (DuckDB, SQLite, PostgreSQL)}
_DUCKDB_INTEGERS = frozenset(
    ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
     "UINTEGER", "UBIGINT", "UHUGEINT")
)  # fmt: skip
_DUCKDB_TYPES = {
    "VARCHAR": "text", "ENUM": "text", "NULL": "text", "DECIMAL": "decimal", "FLOAT": "float",
    "DOUBLE": "float", "REAL": "float", "BOOLEAN": "bool", "DATE": "date", "JSON": "json",
}  # fmt: skip
"""DuckDB's types and how their values are read (text, NULL: a column of nulls only)."""
_PG_TEXT_CATEGORIES = frozenset("SEIGV")
"""pg_type categories the driver gives as text: strings, enums, network addresses,
geometric types, bit strings."""
_PG_TYPES = {
    **dict.fromkeys(("int2", "int4", "int8", "oid", "smallint", "integer", "bigint"), "integer"),
    **dict.fromkeys(("numeric", "decimal"), "decimal"),
    **dict.fromkeys(("float4", "real"), "float4"),
    **dict.fromkeys(("float8", "double precision"), "float"),
    **dict.fromkeys(("bool", "boolean"), "bool"),
    "date": "date",
    **dict.fromkeys(("timestamp", "timestamp without time zone"), "timestamp"),
    **dict.fromkeys(("timestamptz", "timestamp with time zone"), "timestamptz"),
    **dict.fromkeys(("json", "jsonb"), "json"),
    **dict.fromkeys(
        (
            "text",
            "varchar",
            "bpchar",
            "char",
            "name",
            "character varying",
            "character",
            "citext",
            "money",
            "inet",
            "cidr",
            "macaddr",
            "macaddr8",
            "xml",
            "bit",
            "varbit",
        ),
        "text",
    ),
    **dict.fromkeys(("time", "timetz", "interval", "bytea", "uuid"), "other"),
}
"""PostgreSQL's types by name and how their values are read: as psycopg2 gives them to
Python (money and network addresses as their text; times, intervals, bytes and UUIDs as
values no fact is)."""

_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


def arith(a: Col, op: str, b: Col) -> Col:
    """`a op b` with SQLAlchemy's own arithmetic operators, which know their precedence and
    parenthesise what needs it (a custom `.op()` would write `a * (b % c)` as `a * b % c`)."""
    return _ARITH[op](a, b)  # type: ignore[no-any-return]


def once(operands: Sequence[Col], build: Callable[..., Col]) -> Col:
    """`build(*operands)` where build may repeat its operands: an operand that is more than
    a column or a literal is computed once, in a scalar subquery, and build reads it by
    name, so nested guards (overflow, integer width, a function's null check) do not write
    their operands out again: nested that way, the SQL grew exponentially."""
    if all(_simple(o) for o in operands):
        return build(*operands)
    names = [sa.literal_column(f"v.x{k}", type_=o.type) for k, o in enumerate(operands)]
    return _Once(build(*names), *operands)


class _Once(FunctionElement[Any]):
    """`(SELECT body FROM (SELECT o0 AS x0, ...) AS v)`: the body over operands computed
    once. An operand may read an enclosing `v` (a derived table sees the outer query's
    names, not its own), which is what lets these nest."""

    inherit_cache = True
    name = "once"

    def __init__(self, body: Col, *operands: Col) -> None:
        super().__init__(body, *operands)
        self.type = body.type


@compiles(_Once)
def _compile_once(element: _Once, compiler: Any, **kw: Any) -> str:
    body, *operands = list(element.clauses)
    values = ", ".join(f"{compiler.process(o, **kw)} AS x{k}" for k, o in enumerate(operands))
    return f"(SELECT {compiler.process(body, **kw)} FROM (SELECT {values}) AS v)"


def _simple(x: Any) -> bool:
    """A column, a literal or NULL, or one of them cast: cheap to write out twice."""
    while isinstance(x, sa.Cast | sa.TypeCoerce | sa.Grouping | sa.Label):
        x = x.element if not isinstance(x, sa.Cast) else x.clause
    return isinstance(x, sa.ColumnClause | sa.BindParameter | sa.Null | sa.True_ | sa.False_)


def dialect_for(name: str) -> Dialect:
    """The Dialect of one engine, by its SQLAlchemy name."""
    if name not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return DIALECTS[name]()


def _enum_type(values: Sequence[str]) -> str:
    return "ENUM(" + ", ".join(_quote(v) for v in values) + ")"


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
    """`a op b op c ...` (`||`, AND, OR) as a balanced tree of the type of its terms, so
    long chains stay shallow for SQL parsers (SQLite's expression depth is 1,000)."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    left = balanced(op, terms[:middle])
    return sa.Grouping(left).op(op, return_type=left.type)(
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
