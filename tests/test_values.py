"""The one reading of values (tierwise.lang.values), case by case as the README's table
states it: which text is a number, an integer, a boolean, a date, a datetime, a list, a
string; how typed values (database, Arrow, JSON) are read; what is missing."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any

import pytest
from pydantic import StringConstraints, TypeAdapter

from tierwise.lang.types import FactType
from tierwise.lang.values import WHITESPACE, ReadError, read

UTC = dt.UTC
ERROR = object()
"""Expected: a ReadError."""

TEXT_CASES: list[tuple[str, str, Any]] = [
    # numbers: ASCII digits, a sign, a point, an exponent of at most 3 digits
    ("number", "5", 5.0), ("number", " 12.5\t", 12.5), ("number", "1e3", 1000.0),
    ("number", "1E+03", 1000.0), ("number", "+5", 5.0), ("number", ".5", 0.5),
    ("number", "5.", 5.0), ("number", "-0", 0.0), ("number", "1e-400", 0.0),
    ("number", "\u00a012\u3000", 12.0),
    ("number", "1,200", ERROR), ("number", "1 200", ERROR), ("number", "١٢", ERROR),
    ("number", "１２", ERROR), ("number", "inf", ERROR), ("number", "NaN", ERROR),
    ("number", "Infinity", ERROR), ("number", "0x10", ERROR), ("number", "1_000", ERROR),
    ("number", "1e400", ERROR), ("number", "1e0005", ERROR), ("number", "n/a", ERROR),
    ("number", "1e", ERROR), ("number", ".", ERROR), ("number", "1.2.3", ERROR),
    ("number", "1" * 101, ERROR), ("number", "1" * 100, float("1" * 100)),
    ("number", "1.7976931348623158e308", 1.7976931348623157e308),
    ("number", "1.7976931348623159e308", ERROR),
    ("number", "", None), ("number", "  ", None),
    # integers: a number that is whole and within ±2^53
    ("integer", "5", 5), ("integer", "5.0", 5), ("integer", "1e3", 1000), ("integer", "-0", 0),
    ("integer", "5.5", ERROR), ("integer", "1e20", ERROR), ("integer", "9007199254740992", 2**53),
    ("integer", "9007199254740994", ERROR), ("integer", "0x1", ERROR),
    # booleans: the words, ASCII letters in any case
    ("bool", "true", True), ("bool", "TRUE", True), ("bool", "Yes", True), ("bool", "y", True),
    ("bool", "1", True), ("bool", "t", True), ("bool", "false", False), ("bool", "NO", False),
    ("bool", "n", False), ("bool", "0", False), ("bool", "F", False),
    ("bool", "on", ERROR), ("bool", "1.0", ERROR), ("bool", "ＹＥＳ", ERROR), ("bool", "2", ERROR),
    # dates: YYYY-MM-DD, a real day; or a datetime, whose date in UTC it is
    ("date", "2024-01-05", dt.date(2024, 1, 5)), ("date", "2024-02-29", dt.date(2024, 2, 29)),
    ("date", "2024-01-05T23:30:00-02:00", dt.date(2024, 1, 6)),
    ("date", "2024-01-05T00:30+01:00", dt.date(2024, 1, 4)),
    ("date", "2024-01-05 10:00", dt.date(2024, 1, 5)),
    ("date", "2024-1-5", ERROR), ("date", "20240105", ERROR), ("date", "2024-W01-1", ERROR),
    ("date", "2024-005", ERROR), ("date", "2023-02-29", ERROR), ("date", "2024-02-30", ERROR),
    ("date", "0000-01-01", ERROR), ("date", "31/12/2023", ERROR), ("date", "2024-01-05Z", ERROR),
    ("date", "2024-01-05T24:00", ERROR), ("date", "0001-01-01T00:30+01:00", ERROR),
    ("date", "9999-12-31T23:30-01:00", ERROR), ("date", "２０２４-01-05", ERROR),
    # datetimes: a date, `T` or a space, HH:MM[:SS[.ffffff]], an optional offset; naive is UTC
    ("datetime", "2024-01-05", dt.datetime(2024, 1, 5, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00", dt.datetime(2024, 1, 5, 10, tzinfo=UTC)),
    ("datetime", "2024-01-05 10:00:30.5", dt.datetime(2024, 1, 5, 10, 0, 30, 500000, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00+05:30", dt.datetime(2024, 1, 5, 4, 30, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00+0530", dt.datetime(2024, 1, 5, 4, 30, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00-05", dt.datetime(2024, 1, 5, 15, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00Z", dt.datetime(2024, 1, 5, 10, tzinfo=UTC)),
    ("datetime", "2024-01-05T10:00:00.1234567", ERROR), ("datetime", "2024-01-05T10:00:60", ERROR),
    ("datetime", "2024-01-05T10:60", ERROR), ("datetime", "2024-01-05T24:00", ERROR),
    ("datetime", "2024-01-05T10:00+24:00", ERROR), ("datetime", "2024-01-05t10:00", ERROR),
    ("datetime", "2024-01-05T10", ERROR), ("datetime", "2024-01-05T10:00 +01:00", ERROR),
    # lists: `;`-separated, or a JSON array of strings; items trimmed, empty ones dropped
    ("list", "gold;silver", ["gold", "silver"]), ("list", " gold ; silver ", ["gold", "silver"]),
    ("list", "gold;;silver;", ["gold", "silver"]), ("list", ";", []),
    ("list", '["gold", " silver "]', ["gold", "silver"]), ("list", '["a;b"]', ["a;b"]),
    ("list", '["caf\\u00e9", ""]', ["café"]), ("list", "[]", []),
    ("list", '[1, "a"]', ERROR), ("list", '["a",]', ERROR), ("list", "['a']", ERROR),
    ("list", '["\\ud800"]', ERROR), ("list", '["\\u0000"]', ERROR), ("list", "[gold]", ERROR),
    # strings: trimmed; empty is missing
    ("string", " gold\t", "gold"), ("string", "\u00a0gold\u3000", "gold"), ("string", "", None),
    ("string", "\x1cgold", "\x1cgold"),  # a separator, not Unicode whitespace: kept
]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "expected"), TEXT_CASES)
def test_text_is_read_by_the_grammar(kind: str, text: str, expected: Any) -> None:
    t = FactType(kind)  # type: ignore[arg-type]
    if expected is ERROR:
        with pytest.raises(ReadError):
            read(text, t)
    else:
        assert read(text, t) == expected


TYPED_CASES: list[tuple[str, Any, Any]] = [
    ("number", 5, 5.0), ("number", decimal.Decimal("10.50"), 10.5),
    ("number", decimal.Decimal("1e400"), ERROR), ("number", decimal.Decimal("NaN"), ERROR),
    ("number", float("inf"), ERROR), ("number", True, ERROR), ("number", 10**400, ERROR),
    ("integer", 5.0, 5), ("integer", decimal.Decimal("7.00"), 7), ("integer", 5.5, ERROR),
    ("integer", 2**53 + 1, ERROR), ("integer", 1e20, ERROR), ("integer", True, ERROR),
    ("bool", 1, True), ("bool", 0, False), ("bool", decimal.Decimal("1.00"), True),
    ("bool", 2, ERROR), ("bool", 1.0, ERROR),
    ("date", dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
     dt.date(2024, 1, 6)),
    ("date", dt.datetime(2024, 1, 5, 10), dt.date(2024, 1, 5)), ("date", 1700000000, ERROR),
    ("datetime", dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, tzinfo=UTC)),
    ("datetime", dt.datetime(2024, 1, 5, 10), dt.datetime(2024, 1, 5, 10, tzinfo=UTC)),
    ("list", [" a ", "", "b"], ["a", "b"]), ("list", ["a", None], ERROR), ("list", [1], ERROR),
    ("string", 5, ERROR), ("string", b"gold", ERROR), ("list", "a;b", ["a", "b"]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "value", "expected"), TYPED_CASES)
def test_typed_values_are_read_by_their_type(kind: str, value: Any, expected: Any) -> None:
    t = FactType(kind)  # type: ignore[arg-type]
    if expected is ERROR:
        with pytest.raises(ReadError):
            read(value, t)
    else:
        assert read(value, t) == expected


def test_whitespace_is_what_pydantic_and_sql_trim_strip() -> None:
    """The Unicode White_Space characters: pydantic's strip_whitespace removes exactly
    these (Python's str.strip() also removes the separators U+001C-U+001F)."""
    strip = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    stripped = {
        chr(c)
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and strip.validate_python(f"a{chr(c)}") == "a"
    }
    assert stripped == set(WHITESPACE)


def test_the_api_reads_date_text_by_the_same_grammar(tmp_path: Any) -> None:
    from tierwise import Engine

    (tmp_path / "d.yaml").write_text(
        "decision: d\nhit_policy: first\ninputs: {day: date}\n"
        "rules:\n  - {id: r, when: day == 2024-01-06, then: {x: 1}}\n"
    )
    engine = Engine.from_path(tmp_path)
    moved = engine.decide({"day": "2024-01-05T23:30:00-02:00"}, as_of=dt.date(2026, 1, 1))
    assert moved.decisions["d"].rules == ["r"]
    (error,) = engine.decide({"day": "20240106"}, as_of=dt.date(2026, 1, 1)).errors
    assert error.fact == "day" and "write YYYY-MM-DD" in error.message
