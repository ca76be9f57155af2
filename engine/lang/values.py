"""The one reading of values: how text (a CSV cell, a database text column, a JSON string)
and typed values (a database column's, an Arrow or JSON value) become a fact of a declared
kind. The grammar is defined here once; the Python readers call `read`, and the SQL readers
of every dialect (tierwise.batch.readers) are built from the same constants and patterns,
so that every path reads every value alike. The README's rule-language section has the table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Sequence
from typing import Any

import orjson

from tierwise.lang.types import FactType

WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Trimmed from both ends of every text value: the Unicode White_Space characters (as
pydantic's strip_whitespace and SQL's trim(s, chars) with this set remove them)."""
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
"""A boolean written as text: one of these words, its ASCII letters in any case."""
LIST_SEPARATOR = ";"
"""Separates the items of a list written as text (unless it is a JSON array)."""
NUMBER_MAX_LENGTH = 100
"""A number is written in at most this many characters (so no database's exact decimal
type overflows while reading one)."""
EXPONENT_DIGITS = 3
MAX_SAFE_INTEGER = 2**53
"""Integers beyond this cannot be compared exactly as doubles (as durable and SQL engines do)."""
OVERFLOW_AT = str(2**1024 - 2**970)
"""A number at or beyond this (exactly, in decimal) rounds to infinity as a double: it is
not a finite number."""
UNDERFLOW_AT = "0." + str(5**1075).rjust(1075, "0")
"""2^-1075 in decimal: a number at or below it in size rounds to 0 as a double (which
PostgreSQL reports as an underflow instead of giving 0)."""
FRACTION_DIGITS = 6
"""Digits of a second's fraction a datetime may have (microseconds, as every engine keeps)."""
MAX_OFFSET_HOURS = 23
YEARS = (1, 9999)
"""The years a date or a datetime (in UTC) may fall in."""

NUMBER_PATTERN = (
    r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1," + f"{EXPONENT_DIGITS}" + "})?$"
)
"""A number in text: decimal ASCII digits, an optional sign, point and exponent (1e3)."""
DATETIME_PATTERN = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1," + f"{FRACTION_DIGITS}" + "}))?)?"
    r"(?:(Z)|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?$"
)
"""A date, or a date and a time of day with an optional UTC offset. Groups: 1 year,
2 month, 3 day, 4 hour, 5 minute, 6 second, 7 fraction, 8 Z, 9 sign, 10 and 11 the
offset's hours and minutes."""
JSON_SPACE = "[ \t\n\r]*"


def json_list_pattern(control: str = "\\x00-\\x1f") -> str:
    """A JSON array of strings (RFC 8259) whose \\u escapes are neither \\u0000 nor half a
    surrogate pair; `control` spells the range of control characters, which a JSON string
    holds only escaped, in the dialect's regular expressions."""
    hex_ = "[0-9a-fA-F]"
    bmp = (
        f"0(?:[1-9a-fA-F]{hex_}{{2}}|0[1-9a-fA-F]{hex_}|00[1-9a-fA-F])"
        f"|[1-9a-cA-Ce-fE-F]{hex_}{{3}}|[dD][0-7]{hex_}{{2}}"
    )
    pair = f"[dD][89abAB]{hex_}{{2}}\\\\u[dD][c-fC-F]{hex_}{{2}}"
    escape = f'\\\\(?:["\\\\/bfnrt]|u(?:{bmp}|{pair}))'
    string = f'"(?:[^"\\\\{control}]|{escape})*"'
    item = f"{JSON_SPACE},{JSON_SPACE}{string}"
    return f"^\\[{JSON_SPACE}(?:{string}(?:{item})*)?{JSON_SPACE}\\]$"


_NUMBER = re.compile(NUMBER_PATTERN)
_DATETIME = re.compile(DATETIME_PATTERN)
_JSON_LIST = re.compile(json_list_pattern())


class ReadError(ValueError):
    """A value that is not one of its declared kind; the message says what it should be."""


def read(value: Any, t: FactType) -> Any:
    """A value from a source read as a fact of type `t` (None: missing); ReadError if it
    is not one. Text is read by the grammar, typed values by their type (the README's table)."""
    if value is None:
        return None
    if type(value) is str:
        return read_text(value, t)
    kind = t.kind
    try:
        if isinstance(value, bool):
            if kind == "bool":
                return value
        elif isinstance(value, int | float | decimal.Decimal):
            return _number_value(value, kind)
        elif isinstance(value, dt.datetime):
            return _datetime_value(value, kind)
        elif isinstance(value, dt.date):
            if kind == "date":
                return value
            if kind == "datetime":
                return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        elif isinstance(value, list | tuple) and kind == "list":
            return _items(value)
    except (OverflowError, ValueError, ArithmeticError):
        pass
    raise ReadError(f"{_shown(value)} is not {_article(kind)}")


def read_text(text: str, t: FactType) -> Any:
    """Text read as a fact of type `t`: trimmed of whitespace, empty text is missing."""
    s = text.strip(WHITESPACE)
    if not s:
        return None
    kind = t.kind
    if kind == "string":
        return s
    try:
        match kind:
            case "number":
                return number(s)
            case "integer":
                return _integer(number(s))
            case "bool":
                return _bool(s)
            case "date":
                return _date(s)
            case "datetime":
                return _datetime(s)
            case "list":
                return _list(s)
    except (ValueError, OverflowError):
        pass
    raise ReadError(f"{_shown(text)} is not {_article(kind)}{HINTS.get(kind, '')}")


HINTS = {
    "number": " (write digits with a point, e.g. 1200.50 or 1.2e3)",
    "integer": " (write whole digits, e.g. 12)",
    "bool": f" (write one of {', '.join(TRUE_WORDS + FALSE_WORDS)})",
    "date": " (write YYYY-MM-DD)",
    "datetime": " (write YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM])",
    "list": f" (write items separated by {LIST_SEPARATOR} or a JSON array of strings)",
}
"""How each kind is written, for the messages of text that is not one."""


def number(s: str) -> float:
    """Trimmed text as a finite double; ValueError if it is not a number."""
    if len(s) > NUMBER_MAX_LENGTH or _NUMBER.fullmatch(s) is None:
        raise ValueError(s)
    x = float(s)
    if math.isinf(x):
        raise ValueError(s)
    return x


def _integer(x: float) -> int:
    """A double as an integer: whole, and within ±2^53."""
    if not x.is_integer() or abs(x) > MAX_SAFE_INTEGER:
        raise ValueError(x)
    return int(x)


def _bool(s: str) -> bool:
    word = s.lower() if s.isascii() else s
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(s)


_DAYS: dict[str, dt.date] = {}
"""Dates already read from their 10-character text: a base's clients share a few thousand
days, and a lookup costs a twentieth of the pattern."""
_DAYS_LIMIT = 1 << 16


def _date(s: str) -> dt.date:
    """A date, or a datetime's date in UTC."""
    if len(s) == 10:
        day = _DAYS.get(s)
        if day is not None:
            return day
        m = _DATETIME.fullmatch(s)
        if m is None:
            raise ValueError(s)
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        if len(_DAYS) >= _DAYS_LIMIT:
            _DAYS.clear()
        _DAYS[s] = day
        return day
    return _datetime(s).date()


def _datetime(s: str) -> dt.datetime:
    """A datetime in UTC (a naive one is UTC; a date alone is its midnight)."""
    m = _DATETIME.fullmatch(s)
    if m is None:
        raise ValueError(s)
    fraction = (m[7] or "").ljust(FRACTION_DIGITS, "0")
    tz = dt.UTC
    if m[9]:
        hours, minutes = int(m[10]), int(m[11] or 0)
        if hours > MAX_OFFSET_HOURS or minutes > 59:
            raise ValueError(s)
        offset = dt.timedelta(hours=hours, minutes=minutes)
        tz = dt.timezone(-offset if m[9] == "-" else offset)
    value = dt.datetime(
        int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0),
        int(fraction), tzinfo=tz,
    )  # fmt: skip
    return value.astimezone(dt.UTC)


def _list(s: str) -> list[str]:
    """Items separated by `;`, or a JSON array of strings; each trimmed, empty ones dropped."""
    if s.startswith("["):
        if _JSON_LIST.fullmatch(s) is None:
            raise ValueError(s)
        return _items(orjson.loads(s))
    return _items(s.split(LIST_SEPARATOR))


def _items(items: Sequence[Any]) -> list[str]:
    """List items: text only (ValueError for another value), trimmed, empty ones dropped."""
    if not all(type(i) is str for i in items):
        raise ValueError(items)
    return [item for item in (i.strip(WHITESPACE) for i in items) if item]


def _number_value(value: int | float | decimal.Decimal, kind: str) -> Any:
    """A database or JSON number read as a number, an integer or (0 and 1) a boolean."""
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        raise ValueError(value)
    if kind == "number":
        x = float(value)
        if math.isinf(x) or math.isnan(x):
            raise ValueError(value)
        return x
    if kind == "integer":
        if isinstance(value, float):
            return _integer(value)
        if value != int(value) or abs(int(value)) > MAX_SAFE_INTEGER:
            raise ValueError(value)
        return int(value)
    if kind == "bool" and not isinstance(value, float) and value in (0, 1):
        return value == 1
    raise ValueError(value)


def _datetime_value(value: dt.datetime, kind: str) -> Any:
    """A database timestamp as a datetime in UTC (a naive one is UTC), or its UTC date."""
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if kind == "datetime":
        return utc
    if kind == "date":
        return utc.date()
    raise ValueError(value)


def is_text(value: str) -> bool:
    """Whether a string is valid Unicode text (no lone surrogates, which UTF-8 cannot hold)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(value: str) -> str:
    """A string as every store of text can hold it: lone surrogates escaped (undecodable
    bytes read with `surrogateescape` as `\\xe9`, other surrogates as `\\ud800`), and NUL
    as `\\x00` (PostgreSQL's text refuses it)."""
    if is_text(value):
        return value.replace("\x00", "\\x00") if "\x00" in value else value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return printable(value.encode("utf-8", "backslashreplace").decode("utf-8"))
    return printable(raw.decode("utf-8", "backslashreplace"))


def _shown(value: Any) -> str:
    """A value as a message shows it: text quoted (bytes that are not UTF-8 escaped),
    anything else with its type."""
    if isinstance(value, str):
        return repr(printable(value))
    return f"{printable(repr(value))} ({type(value).__name__})"


def _article(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text
