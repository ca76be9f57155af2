"""SQLite's plain readings (a number's digits, a date or datetime as SQLite or ISO spells
it, read in one layer) give exactly what the one reading of values gives: every value the
validated-inputs query reads from text is compared with `values.read` of that text, the
sign of a zero, the microseconds and the day included, for spellings on the edge of each
plain reading and for spellings drawn near them."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.batch import BatchEngine
from tierwise.batch.inputs import SourceColumn
from tierwise.lang.types import FactType
from tierwise.lang.values import ReadError, read

INPUTS = {"x": "number", "i": "integer", "d": "date", "t": "datetime"}
NUMBERS = [  # the last two: their digits over a power of ten is not the nearest double
    "5", "-5", "0", "-0", "00", "-00.00", "0.", "5.", "-5.", ".5", "-.5", "+5", "+1.5", "007",
    "-007.50", "-12.50", "0.1", "0.7", "2.675", "1.005", "123456789012345", "-12345678901234",
    "1.2345678901234", "1234567890123456", "-123456789012345", "12345678901.2345",
    "9999999999.99999", "1e5", "1E5", "-1.5e-1", "--5", "5-", "5-3", "1.5.", "..5", "-", ".",
    " 12 ", "12\t", "\u00a012", "\u0661\u0662", "\uff11\uff12", "1,5", "0x10", "inf",
    "nan", "", "9" * 15, "2.9815061622519961", "47577104.656341483",
]  # fmt: skip
INTEGERS = [
    "7", "-7", "+7", "007", "00", "0", "-0", "7.", "7.0", "-0.0", "1e3", "12 ",
    "9007199254740992", "-9007199254740992", "9007199254740993", "-9007199254740993",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "\u0667", "7a",
]  # fmt: skip
DATES = [
    "2024-01-05", "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2021-02-30",
    "2024-04-31", "2024-01-32", "2024-00-10", "2024-13-01", "0000-01-01", "0001-01-01",
    "9999-12-31", "10000-01-01", "-001-01-01", "2024-1-05", "2024-01-5", "2024/01/05",
    "2024_01_05", "2024-01-0a", "\u0662\u0660\u0662\u0664-01-05", "20240105", "2460314.5",
    "1704412800",
    "2024-01-05 10:00:00", "2024-01-05T10:00:00", "2024-01-05T10:00:00Z",
    "2024-01-05 10:00:00Z", "2024-01-05t10:00:00", "2024-01-05T10:00:00z",
    "2024-01-05 24:00:00", "2024-01-05T24:00:00Z", "2023-02-29 10:00:00",
    "2023-02-29T10:00:00Z", "0000-12-31T23:00:00Z", "0000-01-01 00:00:00",
    "0001-01-01 00:00:00", "9999-12-31 23:59:59", "9999-12-31T23:59:59Z",
    "2024-01-05 10:00", "2024-01-05 10:00:00.000", "2024-01-05 10:00:60",
    "2024-01-05 10:60:00", "2024-01-05T10:00:00+01:00", " 2024-01-05 ", "2024-01-05\n",
]  # fmt: skip


@pytest.fixture(scope="module")
def query(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, FactType]]:
    """The validated-inputs query of a pack of one fact per kind over a table `clients`."""
    root = tmp_path_factory.mktemp("plain")
    decision = {
        "decision": "probe",
        "hit_policy": "first",
        "inputs": INPUTS,
        "rules": [{"id": "any", "when": "exists(x)", "then": {"hit": True}}],
        "default": {"hit": False},
    }
    (root / "probe.yaml").write_text(json.dumps(decision))
    batch = BatchEngine(Engine.from_path(root).pack)
    compiler = batch.compiler("sqlite")
    source = sa.table("clients", sa.column("id"), *(sa.column(name) for name in INPUTS))
    columns = {name: SourceColumn(name, "dynamic") for name in INPUTS}
    return compiler.sql_text(compiler.validated(source, columns, "id")), dict(batch.pack.inputs)


def _expected(value: Any, t: FactType) -> tuple[str, Any]:
    """The one reading of a value, as the SQLite query holds it: ("value", v) or ("error",)."""
    try:
        got = read(value, t)
    except ReadError:
        return ("error", None)
    if isinstance(got, dt.datetime):
        return ("value", got.replace(tzinfo=None).isoformat(" ", "microseconds"))
    if isinstance(got, dt.date):
        return ("value", got.isoformat())
    if isinstance(got, float):
        return ("value", (got, math.copysign(1.0, got)))
    return ("value", got)


def _read(row_value: Any, error: str | None, name: str) -> tuple[str, Any]:
    if error is not None and error.startswith(f"{name}: should be a"):
        return ("error", None)
    if isinstance(row_value, float):
        return ("value", (row_value, math.copysign(1.0, row_value)))
    return ("value", row_value)


def _disagreements(query: tuple[str, dict[str, FactType]], cells: dict[str, list[Any]]) -> Any:
    """Each cell put in its fact's column of a SQLite table and read by the query: the
    (fact, cell, expected, read) of every one that reads otherwise than `values.read`."""
    sql, types = query
    rows = [
        (f"{name}{k}", name, cell)
        for name, values in cells.items()
        for k, cell in enumerate(values)
    ]
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.execute(f"CREATE TABLE clients (id TEXT PRIMARY KEY, {', '.join(INPUTS)})")
        for cid, name, cell in rows:
            conn.execute(f"INSERT INTO clients (id, {name}) VALUES (?, ?)", (cid, cell))
        got = {r[0]: r for r in conn.execute(sql)}
    out = []
    names = ["id", *(f"i_{n}" for n in types), "err"]
    for cid, name, cell in rows:
        row = dict(zip(names, got[cid], strict=True))
        expected = _expected(cell, types[name])
        read_back = _read(row[f"i_{name}"], row["err"], name)
        if expected != read_back:
            out.append((name, cell, expected, read_back))
    return out


def test_plain_spellings_and_their_edges_read_as_the_grammar_reads_them(
    query: tuple[str, dict[str, FactType]],
) -> None:
    cells = {"x": NUMBERS, "i": INTEGERS + NUMBERS, "d": DATES, "t": DATES}
    assert _disagreements(query, cells) == []


def test_values_of_every_storage_class_still_read_by_their_type(
    query: tuple[str, dict[str, FactType]],
) -> None:
    cells = {
        "x": [5, -0.0, 12.5, 2**63 - 1, 5e-324, float("inf")],
        "i": [5, 5.0, 5.5, 2**53 + 1, -(2**63), 1e20],
        "d": [20240105, 2460314.5, b"2024-01-05"],
        "t": [1700000000, 1.5, b"2024-01-05 10:00:00"],
    }
    assert _disagreements(query, cells) == []


def _number_texts() -> st.SearchStrategy[str]:
    """Text near the plain number: digits, a point and a minus in any order, at most 15
    significant digits (beyond, SQLite converts text itself: README)."""
    shaped = st.from_regex(r"\A[-+]?[0-9]{0,7}(\.[0-9]{0,7})?\Z")
    scrambled = st.text(alphabet="0123456789-.+e ", max_size=9)
    return st.one_of(shaped, scrambled).filter(lambda s: sum(c.isdigit() for c in s) <= 15)


def _instant_texts() -> st.SearchStrategy[str]:
    """Text near SQLite's and ISO's spellings of dates and datetimes: parts out of range by
    one (year 0, month 13, Feb 29 of any year, hour 24), every separator and suffix."""
    part = st.integers
    date = st.builds(
        "{:04d}-{:02d}-{:02d}".format,
        st.one_of(part(0, 2), part(1896, 2104), part(9998, 10000)),
        part(0, 13),
        part(0, 32),
    )
    time = st.builds("{:02d}:{:02d}:{:02d}".format, part(0, 25), part(0, 60), part(0, 61))
    suffix = st.sampled_from(["", "Z", "z", "+00:00", ".5", " "])
    timed = st.builds(
        lambda d, sep, t, z: d + sep + t + z, date, st.sampled_from(" Tt"), time, suffix
    )
    scrambled = st.text(alphabet="0123456789-: TZ", min_size=8, max_size=21)
    return st.one_of(date, timed, scrambled)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    numbers=st.lists(_number_texts(), min_size=1, max_size=40),
    instants=st.lists(_instant_texts(), min_size=1, max_size=40),
)
def test_drawn_spellings_read_as_the_grammar_reads_them(
    query: tuple[str, dict[str, FactType]], numbers: list[str], instants: list[str]
) -> None:
    cells = {"x": numbers, "i": numbers, "d": instants, "t": instants}
    assert _disagreements(query, cells) == []
