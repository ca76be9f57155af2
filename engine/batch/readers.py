"""The SQL forms of the one reading of values (tierwise.lang.values): a source column of
some category (text, integers, timestamps... as the database types it) read as a fact of
a declared kind, exactly as `values.read` reads the value the driver gives Python.

Every form is built from the constants and patterns of tierwise.lang.values, and none can
raise: text is checked against the grammar (its regular expression, or GLOB patterns on
SQLite) before it is converted, numbers are range-checked before a cast, dates and times
are built from checked parts. A value that cannot be read is NULL where the source holds
one, which the decision query makes that client's error, never the whole query's.

A reading is computed in steps (a `Step` generator): each `yield` names expressions that
the next layer of the query computes once per row, and gets back the columns holding them,
so that an intermediate value (trimmed text, the parts of a date) is never copied into
every expression that reads it. SQLite reads the spellings almost every value has (digits,
a date or datetime as SQLite or ISO write it) in one layer, and runs the general steps in a
subquery (`deferred`) only for other text: a layer computes its columns for every row.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from tierwise.lang import values as v

if TYPE_CHECKING:
    from tierwise.batch.dialects import Col, Dialect

CATEGORIES = (
    "text", "integer", "decimal", "float", "float4", "bool", "date", "timestamp",
    "timestamptz", "list", "json", "dynamic", "other",
)  # fmt: skip
"""How a source column holds its values: as text; as integers, exact decimals, doubles
(`float4`: PostgreSQL's real, which its driver reads through its text); booleans; dates,
timestamps without and with a time zone; lists of text; JSON values (each read by its
JSON type); `dynamic` (SQLite: each value has its own type); `other` (no reading: every
value is an error)."""
_LOWEST = dt.date(v.YEARS[0], 1, 1)
_HIGHEST = dt.datetime(v.YEARS[1], 12, 31, 23, 59, 59, 999999)


@dataclass(frozen=True)
class Reading:
    """A source value read as a fact: `value` (NULL when missing or unreadable) and
    `present`, true where the source holds a value (empty text and JSON null do not), so
    that `present and value is null` is a value that cannot be read."""

    value: Col
    present: Col


Lets = dict[str, "Col"]
"""Expressions a step names for the next layer (or the columns that hold them)."""
Step = Generator[Lets, Lets, Reading]
"""A reading computed in layers (see the module's docstring)."""
Value = Generator[Lets, Lets, "Col"]
"""A part of a reading computed in layers: its value's expression."""


@dataclass(frozen=True)
class DatetimeParts:
    """Text matched against the datetime pattern: whether it matched, each part as an
    integer (NULL where the text has none), and whether the offset is west of UTC."""

    matched: Col
    year: Col
    month: Col
    day: Col
    hour: Col
    minute: Col
    second: Col
    micro: Col
    west: Col
    offset_hours: Col
    offset_minutes: Col


def _text(value: str) -> Col:
    return sa.literal(value, sa.String())


def _int(value: int) -> Col:
    return sa.literal_column(str(value), sa.BigInteger())


class Reader(abc.ABC):
    """The readings in standard SQL, as PostgreSQL and DuckDB mostly agree on them; each
    dialect's subclass spells what it says differently (its text parsing above all)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def read(self, kind: str, category: str, raw: Col) -> Step:
        """`raw`, a column of `category`, read as a fact of `kind`."""
        if category == "text":
            got = yield {"s": self.trimmed(raw)}
            value = yield from self.from_text(kind, got["s"])
            return Reading(value, got["s"].is_not(None))
        if category == "dynamic":
            return (yield from self.dynamic(kind, raw))
        if category == "json":
            return (yield from self.json(kind, raw))
        return Reading(self.typed(kind, category, raw), raw.is_not(None))

    def dynamic(self, kind: str, raw: Col) -> Step:
        """A column whose values each have their own type (SQLite's)."""
        raise ValueError(f"{self.d.title} columns have one type each")

    def json(self, kind: str, raw: Col) -> Step:
        """A JSON column, each value read by its JSON type."""
        raise ValueError(f"{self.d.title} has no JSON columns")

    # -- typed columns -------------------------------------------------------------------
    def typed(self, kind: str, category: str, raw: Col) -> Col:
        """A column of a typed category read as `kind` (NULL: not one)."""
        match category, kind:
            case ("integer", _):
                return self.from_integer(kind, raw)
            case ("decimal", _):
                return self.from_decimal(kind, raw)
            case ("float", _):
                return self.from_double(kind, raw)
            case ("float4", _):
                return self.from_double(kind, sa.cast(sa.cast(raw, sa.Text()), sa.Double()))
            case ("bool", "bool"):
                return raw
            case ("date", "date"):
                return self.in_years(raw, raw)
            case ("date" | "timestamp" | "timestamptz", "datetime"):
                return self.in_years(raw, sa.cast(raw, sa.DateTime(timezone=True)))
            case ("timestamp" | "timestamptz", "date"):
                return self.in_years(raw, sa.cast(raw, sa.Date()))
            case ("list", "list"):
                return self.from_list(raw)
        return self.null(kind)

    def null(self, kind: str) -> Col:
        """The missing value of a kind (a list's is an array of text)."""
        if kind == "list":
            return sa.cast(sa.null(), sa.ARRAY(sa.String()))
        return self.d.literal(None, kind)

    def from_integer(self, kind: str, x: Col) -> Col:
        """An integer as a number, an integer (within ±2^53) or a boolean (0 or 1)."""
        if kind == "number":
            return self.d.double(x)
        if kind == "integer":
            return sa.case((self.safe_integer(x), sa.cast(x, sa.BigInteger())))
        if kind == "bool":
            return sa.case((x == 1, sa.true()), (x == 0, sa.false()))
        return self.null(kind)

    def safe_integer(self, x: Col) -> Col:
        """Whether a number lies within ±2^53 (compared as it is: abs() of the smallest
        64-bit integer overflows)."""
        return x.between(_int(-v.MAX_SAFE_INTEGER), _int(v.MAX_SAFE_INTEGER))

    def from_decimal(self, kind: str, x: Col) -> Col:
        """An exact decimal as a number (the nearest double), an integer (whole, within
        ±2^53) or a boolean (0 or 1)."""
        if kind == "number":
            return self.decimal_double(x)
        if kind == "integer":
            whole = sa.and_(x == sa.func.floor(x), self.safe_integer(x))
            return sa.case((whole, sa.cast(x, sa.BigInteger())))
        return self.from_integer(kind, x)

    def decimal_double(self, x: Col) -> Col:
        """An exact decimal as the nearest double (here decimals never exceed a double)."""
        return self.d.double(x)

    def from_double(self, kind: str, x: Col) -> Col:
        """A double as a number (finite) or an integer (finite, whole, within ±2^53)."""
        finite = self.d.is_finite(x)
        if kind == "number":
            return sa.case((finite, self.d.double(x)))
        if kind == "integer":
            limit = self.d.literal(float(v.MAX_SAFE_INTEGER), "number")
            whole = sa.and_(finite, sa.func.abs(x) <= limit, self.whole(x))
            return sa.case((whole, sa.cast(x, sa.BigInteger())))
        return self.null(kind)

    def whole(self, x: Col) -> Col:
        """Whether a finite double within ±2^53 is whole."""
        return x == sa.func.floor(x)

    def in_years(self, raw: Col, value: Col) -> Col:
        """`value` where `raw` (a date or timestamp) lies in the years a date may have."""
        return sa.case(
            (sa.and_(raw >= self.d.literal(_LOWEST), raw <= self.d.literal(_HIGHEST)), value)
        )

    @abc.abstractmethod
    def from_list(self, xs: Col) -> Col:
        """A list of text: every item text (no NULL), each trimmed, empty ones dropped."""

    # -- text ----------------------------------------------------------------------------
    def trimmed(self, raw: Col) -> Col:
        """Text trimmed of whitespace; NULL when empty."""
        return sa.func.nullif(sa.func.trim(raw, _text(v.WHITESPACE)), "")

    def from_text(self, kind: str, s: Col) -> Value:
        """Trimmed, non-empty text read as `kind` (NULL: not one)."""
        match kind:
            case "string":
                return s
            case "number":
                return (yield from self.text_number(s))
            case "integer":
                got = yield {"x": (yield from self.text_number(s))}
                return self.from_double("integer", got["x"])
            case "bool":
                ascii_only, low = self.is_ascii(s), sa.func.lower(s)
                return sa.case(
                    (sa.and_(ascii_only, low.in_(v.TRUE_WORDS)), sa.true()),
                    (sa.and_(ascii_only, low.in_(v.FALSE_WORDS)), sa.false()),
                )
            case "date" | "datetime":
                return (yield from self.text_temporal(kind, s))
            case "list":
                return self.text_list(s)
        return self.null(kind)

    def is_ascii(self, s: Col) -> Col:
        """Whether text is ASCII (lower() then makes only ASCII words of it)."""
        return sa.func.length(s) == sa.func.octet_length(s)

    @abc.abstractmethod
    def text_number(self, s: Col) -> Value:
        """Text written as a number (the grammar) as a finite double."""

    def text_temporal(self, kind: str, s: Col) -> Value:
        """Text written as a date or datetime as that kind: parts matched by the pattern,
        checked (a real day, a time of day, an offset), then built and moved to UTC."""
        p = yield from self.datetime_parts(s)
        got = yield {
            "year": p.year, "month": p.month, "day": p.day,
            "hour": sa.func.coalesce(p.hour, 0), "minute": sa.func.coalesce(p.minute, 0),
            "second": sa.func.coalesce(p.second, 0), "micro": sa.func.coalesce(p.micro, 0),
            "off_h": sa.func.coalesce(p.offset_hours, 0),
            "off_m": sa.func.coalesce(p.offset_minutes, 0),
            "matched": p.matched, "west": p.west,
        }  # fmt: skip
        year, month, day = got["year"], got["month"], got["day"]
        valid = sa.and_(
            got["matched"],
            year >= v.YEARS[0],
            month.between(1, 12),
            day.between(1, _days_in_month(year, month)),
            got["hour"] <= 23,
            got["minute"] <= 59,
            got["second"] <= 59,
            got["off_h"] <= v.MAX_OFFSET_HOURS,
            got["off_m"] <= 59,
        )
        east = got["off_h"] * 60 + got["off_m"]
        got = yield {**got, "valid": valid, "offset": sa.case((got["west"], -east), else_=east)}
        return sa.case((got["valid"], self.instant(kind, got)))

    @abc.abstractmethod
    def datetime_parts(self, s: Col) -> Generator[Lets, Lets, DatetimeParts]:
        """The parts of text matched against the datetime pattern (NULL where absent)."""

    @abc.abstractmethod
    def instant(self, kind: str, p: Lets) -> Col:
        """Checked parts (year ... micro, and `offset` in minutes east of UTC) as a UTC
        datetime, or its date; NULL outside the years."""

    @abc.abstractmethod
    def text_list(self, s: Col) -> Col:
        """Text written as a list: a JSON array of strings, or `;`-separated items."""


def _days_in_month(year: Col, month: Col) -> Col:
    """The number of days in a month of a year (Gregorian), in integer arithmetic."""
    leap = sa.or_(sa.and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
    return sa.case(
        (month == 2, sa.case((leap, 29), else_=28)),
        (month.in_([4, 6, 9, 11]), 30),
        else_=31,
    )


def _micro(fraction: Col) -> Col:
    """A second's fraction (1 to 6 digits, as text) as the digits of its microseconds."""
    return sa.func.substr(fraction.op("||")("0" * v.FRACTION_DIGITS), 1, v.FRACTION_DIGITS)


class DuckDBReader(Reader):
    """DuckDB: RE2 regular expressions, TRY_CAST, lists and JSON values."""

    def from_list(self, xs: Col) -> Col:
        complete = sa.func.list_count(xs) == sa.func.len(xs)
        return sa.case((complete, self._items(xs)))

    def _items(self, xs: Col) -> Col:
        trimmed = sa.func.list_transform(xs, _lambda(f"trim(x, {_quoted(v.WHITESPACE)})"))
        return sa.func.list_filter(trimmed, _lambda("x <> ''"))

    def is_ascii(self, s: Col) -> Col:
        return sa.func.strlen(s) == sa.func.length(s)

    def text_number(self, s: Col) -> Value:
        ok = sa.and_(
            sa.func.length(s) <= v.NUMBER_MAX_LENGTH,
            sa.func.regexp_full_match(s, _text(v.NUMBER_PATTERN)),
        )
        got = yield {"x": sa.case((ok, TryCast(s, "DOUBLE")))}
        return sa.case((sa.func.isfinite(got["x"]), got["x"]))

    def datetime_parts(self, s: Col) -> Generator[Lets, Lets, DatetimeParts]:
        pattern = _text(v.DATETIME_PATTERN)
        names = [f"g{i}" for i in range(1, 12)]
        got = yield {
            "groups": sa.func.regexp_extract(s, pattern, sa.literal_column(_names(names))),
            "matched": sa.func.regexp_full_match(s, pattern),
        }

        def group(i: int) -> Col:
            return sa.func.nullif(sa.func.struct_extract(got["groups"], names[i - 1]), "")

        def part(i: int) -> Col:
            return TryCast(group(i), "BIGINT")

        return DatetimeParts(
            got["matched"], part(1), part(2), part(3), part(4), part(5), part(6),
            TryCast(_micro(group(7)), "BIGINT"), group(9) == "-", part(10), part(11),
        )  # fmt: skip

    def instant(self, kind: str, p: Lets) -> Col:
        clock = (p["hour"] * 60 + p["minute"] - p["offset"]) * 60 + p["second"]
        micros = clock * 1_000_000 + p["micro"]
        day = sa.cast(sa.func.make_date(p["year"], p["month"], p["day"]), sa.DateTime())
        utc = day + sa.func.to_microseconds(micros)
        highest: Col = sa.literal_column(f"TIMESTAMP '{_HIGHEST}'")
        within = utc.between(self.d.literal(_LOWEST), highest)
        kept = sa.cast(utc, sa.DateTime(timezone=True) if kind == "datetime" else sa.Date())
        return sa.case((within, kept))

    def text_list(self, s: Col) -> Col:
        json_list = sa.func.regexp_full_match(s, _text(v.json_list_pattern()))
        from_json = sa.case((json_list, self._items(sa.func.json_extract_string(s, "$[*]"))))
        return sa.case(
            (sa.func.starts_with(s, "["), from_json),
            else_=self._items(sa.func.string_split(s, v.LIST_SEPARATOR)),
        )

    def json(self, kind: str, raw: Col) -> Step:
        """A JSON value by its JSON type: text by the grammar, numbers and booleans by
        their type, arrays of strings as lists (orjson gives Python the same types)."""
        got = yield {
            "t": sa.func.json_type(raw),
            "s": self.trimmed(sa.func.json_extract_string(raw, "$")),
        }
        t, s = got["t"], got["s"]
        text = yield from self.from_text(kind, s)
        number: Col = sa.cast(raw, sa.Double())
        whens: list[tuple[Col, Col]] = [(t == "VARCHAR", text)]
        if kind in ("number", "integer", "bool"):
            integer = self.from_integer(kind, TryCast(raw, "HUGEINT"))
            whens.append((t.in_(["BIGINT", "UBIGINT"]), number if kind == "number" else integer))
            whens.append((t == "DOUBLE", self.from_double(kind, number)))
        if kind == "bool":
            whens.append((t == "BOOLEAN", sa.cast(raw, sa.Boolean())))
        if kind == "list":
            items = sa.func.json_extract(raw, "$[*]")
            other = sa.func.len(sa.func.list_filter(items, _lambda("json_type(x) <> 'VARCHAR'")))
            strings = self._items(sa.func.json_extract_string(raw, "$[*]"))
            whens.append((sa.and_(t == "ARRAY", other == 0), strings))
        present = sa.case((t == "VARCHAR", s.is_not(None)), else_=t != "NULL")
        return Reading(sa.case(*whens, else_=self.null(kind)), present)


class SQLiteReader(Reader):
    """SQLite: no regular expressions (GLOB patterns and positions instead), values of
    their own type per row, text that may not be UTF-8, dates as ISO text, JSON lists."""

    def read(self, kind: str, category: str, raw: Col) -> Step:
        return (yield from self.dynamic(kind, raw))

    def dynamic(self, kind: str, raw: Col) -> Step:
        """Each value by its own type: text (valid UTF-8 only) by the grammar, integers
        and reals as numbers; a blob is never a value. Text in a plain spelling (`plain`)
        is read in the next layer, any other by the general reading in a subquery that
        only such text runs (a layer computes each of its columns for every row)."""
        is_text = sa.func.typeof(raw) == "text"
        got = yield {
            "typeof": sa.func.typeof(raw),
            "s": sa.case((is_text, self.trimmed(raw))),
            "utf8": sa.case((is_text, Utf8(raw)), else_=sa.true()),
            **({"instant": _instant(raw)} if kind in ("date", "datetime") else {}),
        }
        typeof, s, utf8 = got["typeof"], got["s"], got["utf8"]
        general = deferred(self.from_text(kind, s))
        plain = self.plain(kind, s, got.get("instant"))
        text = general if plain is None else sa.func.coalesce(plain, general)
        value = sa.case(
            (typeof == "text", sa.case((utf8, text))),
            (typeof == "integer", self.from_integer(kind, raw)),
            (typeof == "real", self.from_double(kind, raw)),
            else_=self.null(kind),
        )
        present = sa.case(
            (typeof == "text", sa.or_(s.is_not(None), sa.not_(utf8))), else_=raw.is_not(None)
        )
        return Reading(value, present)

    def trimmed(self, raw: Col) -> Col:
        """Text that begins and ends with printable ASCII other than a space has nothing to
        trim (every white-space character is outside it): trim() with the white-space set
        costs three times a GLOB."""
        ends = sa.or_(raw.op("GLOB")("[!-~]*[!-~]"), raw.op("GLOB")("[!-~]"))
        return sa.case((ends, raw), else_=super().trimmed(raw))

    def plain(self, kind: str, s: Col, instant: Col | None) -> Col | None:
        """Trimmed text read as `kind` when it is in the spelling almost every value has,
        NULL when it is not (then the general reading decides); None: no such spelling.
        Each gives exactly what the grammar gives the text it accepts."""
        match kind:
            case "number":
                return self.plain_number(s)
            case "integer":
                return self.plain_integer(s)
            case "date" | "datetime":
                assert instant is not None
                return self.plain_instant(kind, s, instant)
        return None

    def plain_number(self, s: Col) -> Col:
        """Digits with at most one point after an optional minus, in at most 15
        characters (`-1200.50`): its digits (an exact double) over a power of ten, one
        correctly rounded division as the general reading's exact path computes it."""
        plain = sa.and_(
            sa.func.length(s) <= 15,
            sa.or_(s.op("GLOB")("[0-9]*"), s.op("GLOB")("-[0-9]*")),
            sa.not_(sa.func.substr(s, 2).op("GLOB")("*[^0-9.]*")),
            sa.not_(s.op("GLOB")("*.*.*")),
        )
        point = sa.func.instr(s, ".")
        decimals = sa.case((point > 0, sa.func.length(s) - point), else_=0)
        sign = sa.case((s.op("GLOB")("-*"), -1.0), else_=1.0)  # -0 is -0.0
        digits = sa.cast(sa.func.replace(sa.func.ltrim(s, "-"), ".", ""), sa.Integer())
        return sa.case((plain, sign * digits / sa.func.power(10.0, decimals)))

    def plain_integer(self, s: Col) -> Col:
        """An integer as SQLite writes one (no sign but a minus, no leading zero),
        within ±2^53."""
        n = sa.cast(s, sa.Integer())
        return sa.case((sa.and_(sa.cast(n, sa.Text()) == s, self.safe_integer(n)), n))

    def plain_instant(self, kind: str, s: Col, instant: Col) -> Col:
        """A date or a datetime as SQLite writes one, `2024-01-05`, `2024-01-05 10:00:00`,
        or in ISO's `2024-01-05T10:00:00` (and `Z`): text that spells `instant` (`_instant`:
        always a real day and time of day) is that instant, in UTC. Year 0 is outside the
        years a date may have."""
        day = sa.func.substr(instant, 1, 10)
        iso = sa.func.replace(instant, " ", "T")
        at_midnight, at_time = (
            (day, day)
            if kind == "date"
            else (day.op("||")(" 00:00:00.000000"), instant.op("||")(".000000"))
        )
        return sa.case(
            (instant < "0001-01-01", None),
            (s == day, at_midnight),
            (s.in_([instant, iso, iso.op("||")("Z")]), at_time),
        )

    def null(self, kind: str) -> Col:
        return self.d.literal(None, "string" if kind == "list" else kind)  # lists: JSON text

    def from_integer(self, kind: str, x: Col) -> Col:
        if kind == "bool":
            return sa.case((x.in_([0, 1]), x))
        return super().from_integer(kind, x)

    def whole(self, x: Col) -> Col:
        return x == sa.cast(x, sa.BigInteger())

    def from_list(self, xs: Col) -> Col:
        raise ValueError("SQLite has no list columns: lists are JSON text")

    def is_ascii(self, s: Col) -> Col:
        return sa.true()  # SQLite's lower() changes ASCII letters only

    def text_number(self, s: Col) -> Value:
        """The grammar checked by GLOB patterns on the mantissa and the exponent; the
        value computed exactly (one correctly rounded operation) when it has at most 15
        significant digits and a power of ten up to 22 (and a little beyond), else by
        SQLite's own conversion, which can miss the nearest double by its last bit."""
        e = sa.func.instr(sa.func.lower(s), "e")
        got = yield {
            "mantissa": sa.case((e > 0, sa.func.substr(s, 1, e - 1)), else_=s),
            "exponent": sa.case((e > 0, sa.func.substr(s, e + 1)), else_="0"),
        }
        mantissa, exponent = got["mantissa"], got["exponent"]
        got = yield {"m": _unsigned(mantissa), "x": _unsigned(exponent)}
        m, x = got["m"], got["x"]
        points = sa.func.length(m) - sa.func.length(sa.func.replace(m, ".", ""))
        exponents = [x.op("GLOB")("[0-9]" * n) for n in range(1, v.EXPONENT_DIGITS + 1)]
        point = sa.func.instr(m, ".")
        got = yield {
            "grammar": sa.and_(
                sa.func.length(s) <= v.NUMBER_MAX_LENGTH,
                m.op("GLOB")("*[0-9]*"),
                sa.not_(m.op("GLOB")("*[^0-9.]*")),
                points <= 1,
                sa.or_(*exponents),
            ),
            "decimals": sa.case((point > 0, sa.func.length(m) - point), else_=0),
            "digits": sa.func.ltrim(sa.func.replace(m, ".", ""), "0"),
        }
        grammar, decimals, digits = got["grammar"], got["decimals"], got["digits"]
        got = yield {
            "core": sa.func.rtrim(digits, "0"),
            "zeros": sa.func.length(digits) - sa.func.length(sa.func.rtrim(digits, "0")),
        }
        core = got["core"]
        sign = sa.case((sa.func.substr(mantissa, 1, 1) == "-", -1.0), else_=1.0)
        got = yield {
            "scale": sa.cast(exponent, sa.Integer()) - decimals + got["zeros"],
            "exact": sign * sa.cast(sa.func.nullif(core, ""), sa.Integer()),
        }
        scale, exact = got["scale"], got["exact"]
        # Clinger's fast path: digits and a power of ten that are exact doubles give the
        # correctly rounded value in one operation; a power beyond 10^22 first moves into
        # the digits while they stay below 10^15
        spare = 15 - sa.func.length(core)
        fast = sa.case(
            (core == "", sign * 0.0),
            (scale.between(0, 22), exact * sa.func.power(10.0, scale)),
            (scale.between(-22, -1), exact / sa.func.power(10.0, -scale)),
            else_=exact * sa.func.power(10.0, scale - 22) * 1e22,
        )
        quick = sa.and_(spare >= 0, scale.between(-22, 22 + spare))
        exactly = sa.case((quick, fast), else_=sa.cast(s, sa.Double()))
        got = yield {"x": sa.case((grammar, exactly))}
        return sa.case((self.d.is_finite(got["x"]), got["x"]))

    def datetime_parts(self, s: Col) -> Generator[Lets, Lets, DatetimeParts]:
        """The pattern checked by position: a date, then `T` or a space and HH:MM, then
        optionally :SS and a fraction; an offset (Z, ±HH, ±HHMM, ±HH:MM) at the end."""
        n = sa.func.length(s)
        ends = [
            (1, sa.func.substr(s, -1) == "Z"),
            (6, sa.func.substr(s, -6).op("GLOB")("[+-][0-9][0-9]:[0-9][0-9]")),
            (5, sa.func.substr(s, -5).op("GLOB")("[+-][0-9][0-9][0-9][0-9]")),
            (3, sa.func.substr(s, -3).op("GLOB")("[+-][0-9][0-9]")),
        ]
        got = yield {"tail": sa.case(*((sa.and_(n >= 16 + k, end), k) for k, end in ends), else_=0)}
        tail = got["tail"]
        got = yield {
            "body": sa.func.substr(s, 1, n - tail),
            "offset": sa.func.substr(s, n - tail + 1),
        }
        body, offset = got["body"], got["offset"]
        digits = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
        size = sa.func.length(body)
        fraction = sa.func.substr(body, 21)
        matched = sa.or_(
            sa.and_(size == 10, tail == 0, body.op("GLOB")(digits)),
            sa.and_(
                body.op("GLOB")(f"{digits}[T ][0-9][0-9]:[0-9][0-9]*"),
                sa.or_(
                    size == 16,
                    sa.and_(size == 19, sa.func.substr(body, 17).op("GLOB")(":[0-9][0-9]")),
                    sa.and_(
                        size.between(21, 20 + v.FRACTION_DIGITS),
                        sa.func.substr(body, 17, 4).op("GLOB")(":[0-9][0-9]."),
                        sa.not_(fraction.op("GLOB")("*[^0-9]*")),
                    ),
                ),
            ),
        )

        def number(start: int, length: int, of: Col = body) -> Col:
            return sa.cast(sa.func.nullif(sa.func.substr(of, start, length), ""), sa.Integer())

        return DatetimeParts(
            matched, number(1, 4), number(6, 2), number(9, 2),
            number(12, 2), number(15, 2), number(18, 2),
            sa.case((size > 20, sa.cast(_micro(fraction), sa.Integer()))),
            sa.func.substr(offset, 1, 1) == "-",
            sa.case((tail > 1, number(2, 2, offset))),
            sa.case((tail > 3, sa.cast(sa.func.substr(offset, -2), sa.Integer()))),
        )  # fmt: skip

    def instant(self, kind: str, p: Lets) -> Col:
        parts = ("year", "month", "day", "hour", "minute", "second")
        local = sa.func.printf("%04d-%02d-%02d %02d:%02d:%02d", *(p[k] for k in parts))
        utc = sa.func.datetime(local, sa.func.printf("%+d minutes", -p["offset"]))
        kept = (
            utc.op("||")(sa.func.printf(".%06d", p["micro"]))
            if kind == "datetime"
            else sa.func.substr(utc, 1, 10)
        )
        return sa.case((utc >= "0001-01-01", kept))

    def text_list(self, s: Col) -> Col:
        unescaped = sa.func.replace(s, "\\\\", "")  # an escaped backslash escapes nothing
        value: Col = sa.literal_column("je.value")
        other = sa.or_(sa.literal_column("je.type") != "text", sa.not_(Utf8(value)))
        json_list = sa.and_(
            sa.func.json_valid(s),
            sa.func.json_type(s) == "array",
            sa.func.instr(unescaped, "\\u0000") == 0,
            sa.not_(sa.exists(_json_items(s).where(other))),  # half a surrogate pair: not UTF-8
        )
        split = (
            sa.literal("[")
            .op("||")(sa.func.replace(sa.func.json_quote(s), v.LIST_SEPARATOR, '","'))
            .op("||")("]")
        )
        return sa.case(
            (sa.func.substr(s, 1, 1) == "[", sa.case((json_list, self._items(s)))),
            else_=self._items(split),
        )

    def _items(self, json_text: Col) -> Col:
        """The items of a JSON array of strings, trimmed, empty ones dropped, as JSON."""
        item = sa.func.trim(sa.literal_column("je.value"), _text(v.WHITESPACE))
        kept = _json_items(json_text, sa.func.json_group_array(item)).where(item != "")
        return kept.scalar_subquery()


class PostgreSQLReader(Reader):
    """PostgreSQL: POSIX regular expressions, NUMERIC for an exact reading of numbers
    (a double's cast raises on overflow and underflow), arrays, json and jsonb."""

    def trimmed(self, raw: Col) -> Col:
        text = sa.cast(raw, sa.Text())
        return sa.func.nullif(sa.func.btrim(text, _text(v.WHITESPACE)), "")

    def decimal_double(self, x: Col) -> Col:
        """The nearest double of a NUMERIC; NULL where it rounds to infinity (and NaN),
        0 where it rounds to 0 (PostgreSQL raises on both)."""
        size = sa.func.abs(x)
        return sa.case(
            (size >= sa.literal_column(v.OVERFLOW_AT), None),
            (size <= sa.literal_column(v.UNDERFLOW_AT), 0.0),
            else_=sa.cast(x, sa.Double()),
        )

    def from_list(self, xs: Col) -> Col:
        complete = sa.and_(xs.is_not(None), sa.func.array_position(xs, None).is_(None))
        return sa.case((complete, self._items(sa.func.unnest(xs))))

    def _items(self, elements: Any) -> Col:
        """The text of a set of elements (unnest, json_array_elements_text) in order,
        trimmed, empty ones dropped, as an array."""
        each = elements.table_valued("e", with_ordinality="n").render_derived(name="items")
        item = sa.func.btrim(each.c.e, _text(v.WHITESPACE))
        return ArrayOf(sa.select(item).where(item != "").order_by(each.c.n).scalar_subquery())

    def text_number(self, s: Col) -> Value:
        ok = sa.and_(sa.func.length(s) <= v.NUMBER_MAX_LENGTH, s.op("~")(_text(v.NUMBER_PATTERN)))
        got = yield {"n": sa.case((ok, sa.cast(s, sa.Numeric())))}
        return self.decimal_double(got["n"])

    def datetime_parts(self, s: Col) -> Generator[Lets, Lets, DatetimeParts]:
        array = postgresql.ARRAY(sa.Text())
        got = yield {"m": sa.func.regexp_match(s, _text(v.DATETIME_PATTERN), type_=array)}
        m = got["m"]

        def part(i: int) -> Col:
            return sa.cast(m[i], sa.Integer())

        return DatetimeParts(
            m.is_not(None), part(1), part(2), part(3), part(4), part(5), part(6),
            sa.cast(_micro(m[7]), sa.BigInteger()), m[9] == "-", part(10), part(11),
        )  # fmt: skip

    def instant(self, kind: str, p: Lets) -> Col:
        second: Col = sa.cast(p["second"], sa.Double())
        local = sa.func.make_timestamp(
            p["year"], p["month"], p["day"], p["hour"], p["minute"], second
        )
        shift = p["micro"] - sa.cast(p["offset"], sa.BigInteger()) * 60_000_000
        utc = local + shift * sa.literal_column("INTERVAL '1 microsecond'")
        highest: Col = sa.literal_column(f"TIMESTAMP '{_HIGHEST}'")
        within = utc.between(self.d.literal(_LOWEST), highest)
        kept = sa.func.timezone("UTC", utc) if kind == "datetime" else sa.cast(utc, sa.Date())
        return sa.case((within, kept))

    def text_list(self, s: Col) -> Col:
        control = "\\x01-\\x1f"  # PostgreSQL text never holds NUL
        json_list = s.op("~")(_text(v.json_list_pattern(control)))
        elements = sa.func.json_array_elements_text(sa.cast(s, postgresql.JSON()))
        split = "[" + v.WHITESPACE + "]*" + v.LIST_SEPARATOR + "[" + v.WHITESPACE + "]*"
        parts = sa.func.regexp_split_to_array(s, _text(split))
        return sa.case(
            (sa.func.left(s, 1) == "[", sa.case((json_list, self._items(elements)))),
            else_=sa.func.array_remove(parts, ""),
        )

    def json(self, kind: str, raw: Col) -> Step:
        """A json or jsonb value by its JSON type, as the driver decodes it: text by the
        grammar, an integer as an integer, another number as a double, booleans, arrays
        of strings as lists."""
        j: Col = sa.cast(raw, postgresql.JSON())
        text: Col = j.op("#>>")(sa.literal_column("'{}'"))
        got = yield {"j": j, "t": sa.func.json_typeof(j), "text": text, "s": self.trimmed(text)}
        j, t, text, s = got["j"], got["t"], got["text"], got["s"]
        value = yield from self.from_text(kind, s)
        whens: list[tuple[Col, Col]] = [(t == "string", value)]
        if kind in ("number", "integer", "bool"):
            got = yield {"n": sa.case((t == "number", sa.cast(text, sa.Numeric())))}
            n = got["n"]
            number = sa.case(
                (text.op("~")("^-?[0-9]+$"), self.from_decimal(kind, n)),
                else_=self.from_double(kind, self.decimal_double(n)),
            )
            whens.append((t == "number", number))
        if kind == "bool":
            whens.append((t == "boolean", sa.cast(text, sa.Boolean())))
        if kind == "list":
            each = sa.func.json_array_elements(j).table_valued("e").render_derived(name="je")
            other: sa.Select[Any] = sa.select(sa.literal_column("1")).select_from(each)
            other = other.where(sa.func.json_typeof(each.c.e) != "string")
            items = self._items(sa.func.json_array_elements_text(j))
            whens.append((sa.and_(t == "array", sa.not_(sa.exists(other))), items))
        present = sa.case((t == "string", s.is_not(None)), else_=t != "null")
        return Reading(sa.case(*whens, else_=self.null(kind)), present)


def _instant(raw: Col) -> Col:
    """A value read by SQLite's datetime() and moved by no time: `YYYY-MM-DD HH:MM:SS` of a
    real day and time of day (datetime() alone echoes the day it parsed: 2023-02-30)."""
    return sa.func.datetime(raw, "+0 days")


def deferred(steps: Value) -> Col:
    """A value computed in steps as one scalar subquery, each step's expressions in a
    one-row derived table nested in the one before (which its expressions read): computed
    only for the rows an enclosing CASE or coalesce reaches it on, where a layer of the
    query computes its columns for every row."""
    try:
        lets = next(steps)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    return _nested(steps, lets, 1)


def _nested(steps: Value, lets: Lets, depth: int) -> Col:
    """Step `depth` of a deferred value: its expressions, and the steps after it."""
    alias = f"tw_step{depth}"
    names: Lets = {
        key: sa.literal_column(f"{alias}.x{k}", type_=expr.type)
        for k, (key, expr) in enumerate(lets.items())
    }
    try:
        wanted = steps.send(names)
    except StopIteration as stop:
        body: Col = stop.value
    else:
        body = _nested(steps, wanted, depth + 1)
    return Deferred(sa.literal_column(alias), body, *lets.values())


class Deferred(FunctionElement[Any]):
    """`(SELECT body FROM (SELECT e0 AS x0, ...) AS alias)`: a step of a deferred value
    (`deferred`), its body reading the step's expressions (and any enclosing step's)."""

    inherit_cache = True
    name = "deferred"

    def __init__(self, alias: Col, body: Col, *lets: Col) -> None:
        super().__init__(alias, body, *lets)
        self.type = body.type


@compiles(Deferred)
def _compile_deferred(element: Deferred, compiler: Any, **kw: Any) -> str:
    alias, body, *lets = list(element.clauses)
    values = ", ".join(f"{compiler.process(e, **kw)} AS x{k}" for k, e in enumerate(lets))
    name = compiler.process(alias, **kw)
    return f"(SELECT {compiler.process(body, **kw)} FROM (SELECT {values}) AS {name})"


def _unsigned(text: Col) -> Col:
    """Text without one leading sign."""
    return sa.case(
        (sa.func.substr(text, 1, 1).in_(["+", "-"]), sa.func.substr(text, 2)), else_=text
    )


def _json_items(json_text: Col, *columns: Col) -> sa.Select[Any]:
    """A SELECT over the elements of a JSON array (SQLite's json_each, as `je`)."""
    each = sa.func.json_each(json_text).table_valued("value", "type").alias("je")
    return sa.select(*(columns or (sa.literal_column("1"),))).select_from(each)


def _lambda(body: str) -> Col:
    """A DuckDB lambda of one argument `x`."""
    return sa.literal_column(f"lambda x: {body}")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _names(names: list[str]) -> str:
    """A DuckDB list of names, for regexp_extract's groups as a struct."""
    return "[" + ", ".join(_quoted(n) for n in names) + "]"


class TryCast(FunctionElement[Any]):
    """DuckDB's TRY_CAST(x AS type): NULL instead of an error for a value of another type."""

    inherit_cache = False
    name = "try_cast"

    def __init__(self, value: Col, target: str) -> None:
        super().__init__(value)
        self.target = target
        types: dict[str, sa.types.TypeEngine[Any]] = {
            "DOUBLE": sa.Double(),
            "DATE": sa.Date(),
            "TIMESTAMPTZ": sa.DateTime(timezone=True),
            "BIGINT": sa.BigInteger(),
            "HUGEINT": sa.Numeric(),
        }
        self.type = types.get(target, sa.String())


@compiles(TryCast)
def _compile_try_cast(element: TryCast, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"TRY_CAST({compiler.process(value, **kw)} AS {element.target})"


class ArrayOf(FunctionElement[Any]):
    """PostgreSQL's ARRAY(subquery): the rows of a one-column subquery as an array."""

    inherit_cache = True
    name = "array_of"
    type = postgresql.ARRAY(sa.Text())


@compiles(ArrayOf)
def _compile_array_of(element: ArrayOf, compiler: Any, **kw: Any) -> str:
    (query,) = list(element.clauses)
    return "ARRAY" + compiler.process(query, **kw)


class Utf8(FunctionElement[bool]):
    """Whether SQLite text is valid UTF-8 (as Python's strict decoder reads it): a
    recursive walk over its bytes, only for text with bytes outside printable ASCII
    (true for NULL, as the caller reads text only)."""

    type = sa.Boolean()
    inherit_cache = True
    name = "utf8"


@compiles(Utf8)
def _compile_utf8(element: Utf8, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    x = compiler.process(value, **kw)
    byte = "substr(h.v, w.pos * 2 - 1, 2)"
    walk = (
        f"WITH RECURSIVE h(v) AS (SELECT hex({x})), w(pos, need, lo, hi) AS ("
        f"SELECT 1, 0, '80', 'BF' UNION ALL SELECT w.pos + 1, "
        f"CASE WHEN w.need = 0 THEN CASE WHEN {byte} <= '7F' THEN 0 "
        f"WHEN {byte} BETWEEN 'C2' AND 'DF' THEN 1 WHEN {byte} BETWEEN 'E0' AND 'EF' THEN 2 "
        f"WHEN {byte} BETWEEN 'F0' AND 'F4' THEN 3 ELSE -1 END "
        f"WHEN {byte} BETWEEN w.lo AND w.hi THEN w.need - 1 ELSE -1 END, "
        f"CASE WHEN w.need = 0 THEN CASE {byte} WHEN 'E0' THEN 'A0' WHEN 'F0' THEN '90' "
        f"ELSE '80' END ELSE '80' END, "
        f"CASE WHEN w.need = 0 THEN CASE {byte} WHEN 'ED' THEN '9F' WHEN 'F4' THEN '8F' "
        f"ELSE 'BF' END ELSE 'BF' END "
        f"FROM w, h WHERE w.need >= 0 AND w.pos * 2 <= length(h.v)) "
        f"SELECT need = 0 FROM w ORDER BY pos DESC LIMIT 1"
    )
    # a CASE, not `NOT ... OR (walk)`: SQLite computes both sides of an OR, and walked
    # every text value (half of validating the sample CRM's facts)
    return f"(CASE WHEN {x} GLOB '*[^ -~]*' THEN ({walk}) ELSE 1 END)"
