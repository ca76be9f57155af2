"""One reading of values on every path (issue 11 item 4): hostile spellings of every kind
(whitespace, empty text, Unicode digits, every date spelling, offsets near midnight, T24:00,
booleans, list cells, 'n/a' among numbers, huge integers, NaN and infinity, CHAR padding,
smallint booleans, bytes that are not UTF-8...) put into a CSV file, a JSON-lines file,
SQLite columns (text and of every storage class) and PostgreSQL columns (text and typed),
read by the per-client path and by every SQL path: 0 disagreements in statuses, outputs,
winning rules and in which facts are errors, and no SQL path fails the whole run."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tierwise import Engine, decide_table
from tierwise.adapters import open_source
from tierwise.adapters.db import connect
from tierwise.adapters.decided import PushdownDecidedSource
from tierwise.batch import BatchEngine
from tierwise.outcome import Outcome

AS_OF = dt.date(2026, 1, 1)
FACTS = ("n", "m", "i", "s", "e", "b", "d", "t", "l")
RULES: dict[str, str] = {
    "n_pos": "n > 0", "n_zero": "n == 0", "n_neg": "n < 0", "n_5": "n == 5",
    "n_12": "n == 12.5", "n_1000": "n == 1000", "n_half": "n == 0.5", "n_huge": "n > 1e300",
    "n_tiny": "n > 0 and n < 1e-300", "n_least": "n == 5e-324",
    "n_max": "n == 1.7976931348623157e308",
    "n_third": "n == 0.30000000000000004", "n_has": "exists(n)", "n_m1250": "n == -12.5",
    "n_7": "n == 7", "n_tenth": "n == 0.1", "n_2675": "n == 2.675", "n_twelve": "n == 12",
    "n_15": "n == 123456789012345", "n_odd": "n == 2.9815061622519961",
    "n_under": "n * 1e-300 * 1e-300 >= 0", "n_over": "n * 1e300 * 1e300 > 0",
    "m_50": "m == 50", "m_has": "exists(m)",
    "i_5": "i == 5", "i_1000": "i == 1000", "i_0": "i == 0", "i_max": "i == 9007199254740992",
    "i_neg": "i < 0", "i_has": "exists(i)", "i_7": "i == 7", "i_m7": "i == -7",
    "s_gold": 's == "gold"', "s_Gold": 's == "Gold"', "s_low": 'lower(s) == "gold"',
    "s_has": "exists(s)",
    "e_red": 'e == "red"', "e_green": 'e == "green"', "e_has": "exists(e)",
    "b_yes": "b", "b_no": "not b", "b_has": "exists(b)",
    "d_5": "d == 2024-01-05", "d_6": "d == 2024-01-06", "d_4": "d == 2024-01-04",
    "d_leap": "d == 2024-02-29", "d_first": "d == 0001-01-01", "d_last": "d > 9999-12-30",
    "d_has": "exists(d)", "d_mar1": "d == 2023-03-01", "d_mar2": "d == 2021-03-02",
    "t_10": "t == 2024-01-05T10:00", "t_0": "t == 2024-01-05T00:00",
    "t_430": "t == 2024-01-05T04:30", "t_15": "t == 2024-01-05T15:00",
    "t_half": "t == 2024-01-05T10:00:30.5", "t_last": "t == 2024-01-05T23:59:59.999999",
    "t_after": "t > 2024-01-05T10:00", "t_before": "t < 2024-01-05T10:00", "t_has": "exists(t)",
    "t_leap": "t == 2024-02-29T00:00", "t_mar1": "t == 2023-03-01T10:00",
    "t_first": "t == 0001-01-01T00:00", "t_end": "t == 9999-12-31T23:59:59",
    "l_gold": '"gold" in l', "l_silver": '"silver" in l', "l_ab": '"a;b" in l',
    "l_cafe": '"café" in l', "l_0": "len(l) == 0", "l_1": "len(l) == 1", "l_2": "len(l) == 2",
    "l_has": "exists(l)",
}  # fmt: skip
INPUTS = {
    "n": "number", "m": {"type": "number", "min": 0, "max": 100}, "i": "integer",
    "s": "string", "e": {"enum": ["red", "green"]}, "b": "bool", "d": "date",
    "t": "datetime", "l": "list",
}  # fmt: skip
WIDE_OR = " or ".join(f"n == {k}" for k in range(1000))
"""An `or` of 1,000 terms: SQLite's expression depth limit is 1,000."""

TEXT: dict[str, list[str]] = {
    "n": [
        "5", " 12.5\t", "1e3", "1E+03", "+5", ".5", "5.", "-0", "0.30000000000000004",
        "1,200", "1 200", "١٢٣", "１２", "inf", "-inf", "Infinity", "nan", "NaN", "0x10",
        "1_000", "1e400", "-1e400", "1e-400", "5e-324", "2.4703282292062328e-324",
        "2.4703282292062327e-324", "1.7976931348623157e308", "1.7976931348623159e308",
        "1e0005", "n/a", "", "   ", "\u00a012\u3000", "1e", ".", "+-1", "1.2.3", "12abc",
        "1" * 100, "1" * 101, "9007199254740993", "12.5\n", "0.1e-320", "123456789012345678e-5",
        # the edges of SQLite's plain reading of digits (at most 15 characters)
        "-12.50", "007", "-007.50", "00", "-00.00", "0.", "-5.", "-.5", "+1.5", " 12 ", "0.1",
        "2.675", "123456789012345", "1234567890123456", "-12345678901234", "12345678901.2345",
        "2.9815061622519961", "1e5", "--5", "5-", "5-3", "1.5.", "..5", "-",
    ],
    "m": ["50", "50.0", "500", "-1", "abc", " 100 "],
    "i": [
        "5", "5.0", "5.5", "1e3", "1e20", "9007199254740992", "9007199254740993",
        "-9007199254740992", "9007199254740994", " 7 ", "-0", "0x1", "١", "n/a", "", "1e-3",
        "3.0000000000000001", "1000.0000", "-1",
    ],
    "s": ["gold", " gold ", "", "   ", "\u00a0gold\u3000", "gold\t", "Gold", "GOLD", "\u0130",
          "\x1cgold", "g;old", "ǧold", "gold\n"],
    "e": ["red", " red ", "RED", "", "blue", "\u00a0red", "green\t"],
    "b": ["true", "TRUE", "True", "yes", "YES", "y", "Y", "1", "0", "t", "f", "n", "no", "false",
          "on", "off", "ＹＥＳ", "yes ", "1.0", "2", "", "maybe", "tRuE", "\u0130"],
    "d": [
        "2024-01-05", "2024-1-5", "20240105", "2024-W01-1", "2024-005", "2024-01-05T10:00",
        "2024-01-05T23:30:00-02:00", "2024-01-05T00:30+01:00", "2024-01-05 10:00:00",
        "2024-01-05T24:00", "2024-02-30", "2024-02-29", "2023-02-29", "0000-01-01",
        "0001-01-01", "9999-12-31", "9999-12-31T23:30-01:00", "0001-01-01T00:30+01:00",
        "31/12/2023", "2024-01-05Z", "2024-01-05T10:00Z", "2024-01-05t10:00", " 2024-01-05 ",
        "２０２４-01-05", "2024-01-05T10:00:00.1234567", "2024-01-05T10:00:60", "last spring",
        "2024-01-05T10:60", "2024-01-05T10:00+24:00", "2024-01-05T10:00+0530", "2024-13-01",
        "2024-01-05T10:00+05", "2024-01-00", "2024-04-31", "1900-02-29", "2000-02-29",
        # the edges of SQLite's plain reading of dates and datetimes (as SQLite or ISO spell
        # them): SQLite's datetime() alone echoes 2021-02-30 and 24:00:00
        "2021-02-30", "2024-01-32", "2024-00-10", "10000-01-01", "-001-01-01", "2024/01/05",
        "2024-01-0a", "2460314.5", "2024-01-05T10:00:00", "2024-01-05T10:00:00Z",
        "2024-01-05 10:00:00Z", "2024-01-05t10:00:00", "2024-01-05T10:00:00z",
        "2024-01-05 24:00:00", "2023-02-29 10:00:00", "2023-02-29T10:00:00Z",
        "0000-12-31T23:00:00Z", "0000-01-01 00:00:00", "0001-01-01 00:00:00",
        "9999-12-31 23:59:59", "2024-01-05 10:00:00.000",
    ],
    "t": [
        "2024-01-05", "2024-01-05T10:00", "2024-01-05 10:00", "2024-01-05T10:00:30.5",
        "2024-01-05T10:00:00+05:30", "2024-01-05T10:00+0530", "2024-01-05T10:00-05",
        "2024-01-05T10:00Z", "2024-01-05T23:59:59.999999", "2024-01-05T23:59:59.999999+00:00",
        "2024-01-06T00:29:59.999999+00:30", "2024-01-05T10:00:00.1234567", "2024-01-05T24:00",
        "2024-01-05T10:00:60", "2024-01-05T10", "2024-01-05T10:00 +01:00", "2024-01-05t10:00",
        "2024-01-05T10:00+24:00", "0001-01-01T00:00Z", "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:30-01:00", "2024-01-05T10:00:00.000001", "1700000000", "",
        "2024-01-05 10:00:00", "2024-01-05T10:00:00", "2024-01-05T10:00:00Z", "2023-02-29",
        "2024-02-29", "2023-02-29 10:00:00", "2024-01-05 24:00:00", "0000-01-01 00:00:00",
        "0000-12-31T23:59:59Z", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "2460314.5",
        "2024-01-05 10:00:00Z", "2024-01-05T10:00:00z",
    ],
    "l": [
        "gold;silver", " gold ; silver ", "gold;;silver", ";", ";;", "gold", "gold;",
        '["gold","silver"]', '[ "gold" , " silver " ]', "[]", '[""]', '["a;b"]', '[1,"a"]',
        '["a",]', "['a']", '["caf\\u00e9"]', '["\\ud800"]', '["\\ud83d\\ude00","gold"]',
        '["\\u0000"]', '["a\\"b"]', '["a\\\\u0000"]', "[", "[gold]", "GOLD", "café;a;b",
        '["gold"] ', '["gold"\t,"silver"]', '{"a": 1}', "a;b;c",
    ],
}  # fmt: skip
MIXED: list[dict[str, str]] = [
    {"n": "abc", "m": "500"},  # a read error hides the range error, as per client
    {"m": "500", "e": "blue"},
    {"n": "5", "i": "1e20", "b": "maybe"},
    {"d": "last spring", "t": "2024-01-05T24:00", "l": "[1]"},
]
BAD_UTF8 = b"caf\xe9"
SQLITE_OWN_CONVERSION = {"2.4703282292062328e-324"}
"""Text SQLite converts itself (more than 15 significant digits): its conversion can miss
the nearest double by the last bit, as here (0 instead of 5e-324); the README says so."""


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("values")
    probe = {
        "decision": "probe",
        "hit_policy": "collect",
        "inputs": INPUTS,
        "rules": [{"id": k, "when": w, "then": {"hit": k}} for k, w in RULES.items()],
    }
    wide = {
        "decision": "wide",
        "hit_policy": "first",
        "inputs": {"n": "number"},
        "rules": [{"id": "listed", "when": WIDE_OR, "then": {"listed": True}}],
        "default": {"listed": False},
    }
    (root / "probe.yaml").write_text(json.dumps(probe))
    (root / "wide.yaml").write_text(json.dumps(wide))
    return root


@pytest.fixture(scope="module")
def engines(pack: Path) -> tuple[Engine, BatchEngine]:
    engine = Engine.from_path(pack)
    return engine, BatchEngine(engine.pack)


def _rows(skip: set[str] = frozenset()) -> list[tuple[str, dict[str, str]]]:  # type: ignore[assignment]
    """One client per hostile cell (other facts empty), then the mixed ones."""
    rows = [
        (f"{f}{k}", {f: cell})
        for f, cells in TEXT.items()
        for k, cell in enumerate(cells)
        if cell not in skip
    ]
    rows += [(f"mix{k}", cells) for k, cells in enumerate(MIXED)]
    return rows


Norm = tuple[tuple[str, ...], Any]


def _norm(outcomes: Iterable[Outcome]) -> dict[str, Norm]:
    """Per client id: the facts in error, and each decision's status, rules and output."""
    out: dict[str, Norm] = {}
    for o in outcomes:
        assert o.client_id is not None and o.client_id not in out
        facts = tuple(sorted({e.fact for e in o.errors}))
        decisions = {
            name: (r.status, tuple(r.rules), json.dumps(r.output, sort_keys=True))
            for name, r in o.decisions.items()
        }
        out[o.client_id] = (facts, decisions if not facts else None)
    return out


def _same(expected: dict[str, Norm], got: dict[str, Norm], where: str, cells: Any) -> None:
    assert got.keys() == expected.keys(), f"{where}: clients differ"
    differing = [k for k in expected if expected[k] != got[k]]
    shown = "\n".join(
        f"  {k} {cells.get(k)!r}: per client {expected[k]}, {where} {got[k]}"
        for k in differing[:10]
    )
    assert not differing, f"{where}: {len(differing)} clients differ:\n{shown}"


def _durable(engine: Engine, url: str, mapping: Path | None = None) -> dict[str, Norm]:
    source = open_source(url, mapping)
    try:
        return _norm(engine.decide_many(source.clients(AS_OF, engine.pack.inputs), AS_OF))
    finally:
        source.close()


def _pushed(batch: BatchEngine, url: str, mapping: Path | None = None) -> dict[str, Norm]:
    from tierwise.adapters.sql import open_sql

    source = PushdownDecidedSource(batch, open_sql(url, mapping))
    try:
        return _norm(source.clients(AS_OF, batch.pack.inputs))
    finally:
        source.close()


def _database_paths(
    engines: tuple[Engine, BatchEngine], url: str, cells: Any, mapping: Path | None = None
) -> None:
    engine, batch = engines
    expected = _durable(engine, url, mapping)
    _same(expected, _pushed(batch, url, mapping), url.split(":")[0] + " push-down", cells)


# -- files ---------------------------------------------------------------------------------


def test_csv_cells_read_alike_on_every_path(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    engine, batch = engines
    path = tmp_path / "clients.csv"
    rows = _rows()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["client_id", *FACTS])
        writer.writerows([cid, *(cells.get(name, "") for name in FACTS)] for cid, cells in rows)
    with path.open("ab") as f:  # bytes that are not UTF-8, and a ragged row
        f.write(b"utf8-n," + BAD_UTF8 + b",,,,,,,,\r\nutf8-s,,,," + BAD_UTF8 + b",,,,,\r\n")
        f.write(b"ragged,1,2\r\n")
    cells = dict(rows)
    expected = _durable(engine, f"csv:{path}")
    assert expected["ragged"][0] == ("*",) and expected["utf8-s"][0] == ("s",)
    table_durable = decide_table(engine, path, AS_OF, engine="durable")
    _same(expected, _norm(table_durable), "decide_table durable", cells)
    table_sql = decide_table(batch, path, AS_OF, engine="sql")
    assert table_sql.engine == "sql"
    _same(expected, _norm(table_sql), "DuckDB", cells)


JSON_VALUES: dict[str, list[Any]] = {
    "n": [5, 5.5, -0.0, 1e308, "5", " 5 ", "n/a", True, None, [1], {"a": 1}, 2**64 - 1,
          2**64, 10**20, "", "1e400", 0.30000000000000004],
    "m": [50, 500, "50", -1],
    "i": [5, 5.0, 5.5, 2**53, 2**53 + 1, "7", 10**20, True, -0.0, 1e3, "1e3"],
    "s": ["gold", " gold ", "", 5, True, ["gold"], "\u00a0gold", {"a": "b"}],
    "e": ["red", " red ", "blue", 1, "RED"],
    "b": [True, False, 1, 0, 2, 1.0, "yes", "no", "on", None, "0"],
    "d": ["2024-01-05", "2024-1-5", 20240105, "2024-01-05T23:30:00-02:00", True, "2024-02-30"],
    "t": ["2024-01-05T10:00+05:30", 1700000000, "2024-01-05", "2024-01-05T24:00"],
    "l": [["gold", "silver"], [" gold ", ""], ["gold", None], ["gold", 1], "gold;silver",
          '["gold"]', [], {"a": 1}, "", [["gold"]], ["café"]],
}  # fmt: skip


def test_json_lines_read_alike_on_every_path(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    engine, batch = engines
    path = tmp_path / "clients.jsonl"
    cells: dict[str, Any] = {}
    with path.open("w", encoding="utf-8") as f:
        for name, values in JSON_VALUES.items():
            for k, value in enumerate(values):
                cid = f"{name}{k}"
                cells[cid] = {name: value}
                f.write(json.dumps({"client_id": cid, name: value}, ensure_ascii=k % 2 == 0) + "\n")
        f.write('{"client_id": "missing"}\n')
    expected = _durable(engine, f"jsonl:{path}")
    table_durable = decide_table(engine, path, AS_OF, engine="durable")
    _same(expected, _norm(table_durable), "decide_table durable", cells)
    _same(expected, _norm(decide_table(batch, path, AS_OF, engine="sql")), "DuckDB", cells)


def test_parquet_and_arrow_columns_read_alike_on_both_paths(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    """Typed columns of every kind, and text columns read by the grammar."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    engine, batch = engines
    columns = {
        "n": pa.array(["5", " 12.5 ", "n/a", None, "", "1e400"]),
        "m": pa.array([decimal.Decimal("50.00"), decimal.Decimal("500"), None, None, None, None]),
        "i": pa.array([5.0, 5.5, 1e20, None, 7.0, float("nan")]),
        "s": pa.array([" gold ", "", "Gold", None, "gold", "\u00a0gold"]),
        "e": pa.array(["red", " red ", "blue", None, "", "green"]),
        "b": pa.array([1, 0, 2, None, 1, 0], pa.int64()),
        "d": pa.array(
            [
                dt.datetime(2024, 1, 5, 23, 30),
                dt.datetime(2024, 1, 5),
                None,
                None,
                dt.datetime(9999, 12, 31),
                None,
            ],
            pa.timestamp("us", "UTC"),
        ),
        "t": pa.array([dt.date(2024, 1, 5), None, None, None, dt.date(1, 1, 1), None]),
        "l": pa.array([[" gold ", "", "silver"], ["gold", None], [], None, ["café"], ["a;b"]]),
    }
    table = pa.table({"client_id": [f"c{k}" for k in range(6)], **columns})
    path = tmp_path / "clients.parquet"
    pq.write_table(table, path)
    for source in (path, table):
        expected = _norm(decide_table(engine, source, AS_OF, engine="durable"))
        got = _norm(decide_table(batch, source, AS_OF, engine="sql"))
        _same(expected, got, f"DuckDB over {type(source).__name__}", table.to_pylist())


# -- SQLite -------------------------------------------------------------------------------


def test_sqlite_text_columns_read_alike_pushed_down(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    db = tmp_path / "text.db"
    rows = _rows(SQLITE_OWN_CONVERSION)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        columns = ", ".join(f"{name} TEXT" for name in FACTS)
        conn.execute(f"CREATE TABLE clients (id TEXT PRIMARY KEY, {columns})")
        marks = ", ".join("?" for _ in range(len(FACTS) + 1))
        conn.executemany(
            f"INSERT INTO clients VALUES ({marks})",
            [(cid, *(cells.get(name) for name in FACTS)) for cid, cells in rows],
        )
        for name in ("n", "s", "l", "d"):  # text that is not UTF-8
            conn.execute(
                f"INSERT INTO clients (id, {name}) VALUES (?, CAST(? AS TEXT))",
                (f"utf8-{name}", BAD_UTF8),
            )
        conn.commit()
    _database_paths(engines, f"sqlite:///{db}", dict(rows))


SQLITE_VALUES: dict[str, list[Any]] = {
    "n": [5, 12.5, -0.0, float("inf"), float("-inf"), 2**63 - 1, 5e-324, b"\x00", "5", "n/a"],
    "m": [50, 50.0, 500, -1e-300],
    "i": [5, 5.0, 5.5, 2**53, 2**53 + 1, 1e20, -(2**63), 9007199254740992.0, "5", b"5"],
    "s": [5, 1.5, "gold", b"gold", " gold "],
    "e": ["red", 1, b"red"],
    "b": [0, 1, 2, 1.0, 0.0, "yes", b"\x01", -1],
    "d": ["2024-01-05", 20240105, 2024.0, "2024-01-05 23:30:00-02:00", b"2024-01-05"],
    "t": [1700000000, "2024-01-05 10:00:00.5", 1.5, "2024-01-05T10:00:00.000001"],
    "l": ['["gold","silver"]', "gold;silver", 5, b"[]", '["\\ud800"]'],
}  # fmt: skip


def test_sqlite_values_of_every_storage_class_read_alike_pushed_down(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    db = tmp_path / "typed.db"
    cells: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(f"CREATE TABLE clients (id TEXT PRIMARY KEY, {', '.join(FACTS)})")
        for name, values in SQLITE_VALUES.items():
            for k, value in enumerate(values):
                cells[f"{name}{k}"] = value
                conn.execute(
                    f"INSERT INTO clients (id, {name}) VALUES (?, ?)", (f"{name}{k}", value)
                )
        conn.commit()
    _database_paths(engines, f"sqlite:///{db}", cells)


def test_sqlite_push_down_never_fails_on_a_wide_or(
    engines: tuple[Engine, BatchEngine], tmp_path: Path
) -> None:
    """An `or` of 1,000 terms compiles to a balanced tree, within SQLite's depth limit."""
    db = tmp_path / "wide.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE clients (id TEXT PRIMARY KEY, n REAL)")
        conn.executemany("INSERT INTO clients VALUES (?, ?)", [("a", 999), ("b", 1000)])
        conn.commit()
    pushed = _pushed(engines[1], f"sqlite:///{db}")
    assert pushed["a"][1]["wide"][0] == "decided" and pushed["b"][1]["wide"][0] == "default"
    _database_paths(engines, f"sqlite:///{db}", {})


# -- PostgreSQL --------------------------------------------------------------------------


def test_postgresql_text_columns_read_alike_pushed_down(
    engines: tuple[Engine, BatchEngine], postgres_db: str
) -> None:
    rows = _rows()
    meta = sa.MetaData()
    table = sa.Table(
        "clients", meta, sa.Column("id", sa.Text, primary_key=True),
        *(sa.Column(name, sa.Text) for name in FACTS),
    )  # fmt: skip
    db = connect(postgres_db)
    meta.create_all(db)
    with db.begin() as conn:
        conn.execute(
            table.insert(),
            [{"id": cid, **dict.fromkeys(FACTS), **cells} for cid, cells in rows],
        )
    db.dispose()
    _database_paths(engines, postgres_db, dict(rows))


PG_COLUMNS: dict[str, tuple[str, Any, list[Any]]] = {
    # column: (fact, its type, values)
    "n_numeric": ("n", sa.Numeric(), [decimal.Decimal("5"), decimal.Decimal("12.50"),
                                       decimal.Decimal("1e400"), decimal.Decimal("1e-400"),
                                       decimal.Decimal("NaN"), decimal.Decimal("-0.0")]),
    "n_float8": ("n", sa.Double(), [5.0, float("inf"), float("nan"), 5e-324, -0.0, 1e-300]),
    "n_real": ("n", sa.REAL(), [1.1, 12.5, float("inf"), 0.5]),
    "n_bigint": ("n", sa.BigInteger(), [5, 2**63 - 1, -(2**63), 0]),
    "n_char": ("n", sa.CHAR(12), ["5", "12.5", "n/a", " 1e3"]),
    "n_jsonb": ("n", postgresql.JSONB(), [5, 5.5, "5", "n/a", True, [1], {"a": 1}, 10**20,
                                          1e-300, "null"]),
    "i_numeric": ("i", sa.Numeric(), [decimal.Decimal("7"), decimal.Decimal("7.5"),
                                       decimal.Decimal("1e20"), decimal.Decimal("1000.000")]),
    "i_float8": ("i", sa.Double(), [5.0, 5.5, 1e20, 9007199254740992.0, float("nan")]),
    "i_int": ("i", sa.BigInteger(), [5, 2**53, 2**53 + 1, -(2**63)]),
    "i_jsonb": ("i", postgresql.JSONB(), [5, 5.0, "7", 1e3, 2**53 + 1, True]),
    "b_bool": ("b", sa.Boolean(), [True, False]),
    "b_smallint": ("b", sa.SmallInteger(), [0, 1, 2, -1]),
    "b_numeric": ("b", sa.Numeric(), [decimal.Decimal("1.00"), decimal.Decimal("0"),
                                       decimal.Decimal("0.5")]),
    "b_float8": ("b", sa.Double(), [1.0, 0.0]),
    "b_char": ("b", sa.CHAR(5), ["yes", "no", "Y", "maybe"]),
    "b_jsonb": ("b", postgresql.JSONB(), [True, 1, 1.0, "yes", 0]),
    "s_char": ("s", sa.CHAR(10), ["gold", " gold", "Gold", ""]),
    "s_varchar": ("s", sa.String(20), ["gold ", "\u00a0gold", ""]),
    "s_int": ("s", sa.Integer(), [5]),
    "s_uuid": ("s", postgresql.UUID(), ["6ecd8c99-4036-403d-bf84-cf8400f67836"]),
    "s_jsonb": ("s", postgresql.JSONB(), ["gold", " gold ", 5, ["gold"], ""]),
    "e_char": ("e", sa.CHAR(8), ["red", "green", "blue", " red"]),
    "d_date": ("d", sa.Date(), [dt.date(2024, 1, 5), dt.date(1, 1, 1), dt.date(9999, 12, 31)]),
    "d_ts": ("d", sa.DateTime(), [dt.datetime(2024, 1, 5, 23, 30)]),
    "d_tstz": ("d", sa.DateTime(timezone=True), [
        dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ]),
    "d_char": ("d", sa.CHAR(12), ["2024-01-05", "2024-1-5", "last spring"]),
    "t_tstz": ("t", sa.DateTime(timezone=True), [
        dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 5, 15, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2024, 1, 5, 23, 59, 59, 999999, tzinfo=dt.UTC),
    ]),
    "t_ts": ("t", sa.DateTime(), [dt.datetime(2024, 1, 5, 10, 0, 30, 500000)]),
    "t_date": ("t", sa.Date(), [dt.date(2024, 1, 5)]),
    "t_interval": ("t", sa.Interval(), [dt.timedelta(days=1)]),
    "l_text": ("l", postgresql.ARRAY(sa.Text()), [["gold", "silver"], [" gold ", ""],
                                                   ["gold", None], [], ["a;b"]]),
    "l_char": ("l", postgresql.ARRAY(sa.CHAR(6)), [["gold", "silver"]]),
    "l_int": ("l", postgresql.ARRAY(sa.Integer()), [[1, 2]]),
    "l_jsonb": ("l", postgresql.JSONB(), [["gold", "silver"], ["gold", 1], "gold;silver",
                                          '["gold"]', [], ["café", ""]]),
    "l_json": ("l", postgresql.JSON(), [["gold"], {"a": 1}, ["x", None]]),
}  # fmt: skip


def _pg_typed_tables(url: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every typed column as a table of its own: (table, fact, id -> value)."""
    db = connect(url)
    meta = sa.MetaData()
    try:
        for column, (fact, kind, values) in PG_COLUMNS.items():
            table = sa.Table(column, meta, sa.Column("id", sa.Text, primary_key=True),
                             sa.Column(column, kind))  # fmt: skip
            table.create(db)
            rows = {f"{column}-{k}": value for k, value in enumerate(values)}
            with db.begin() as conn:
                conn.execute(table.insert(), [{"id": k, column: v} for k, v in rows.items()])
            yield column, fact, rows
    finally:
        db.dispose()


def test_postgresql_typed_columns_read_alike_pushed_down(
    engines: tuple[Engine, BatchEngine], postgres_db: str, tmp_path: Path
) -> None:
    for column, fact, rows in _pg_typed_tables(postgres_db):
        mapping = tmp_path / f"{column}.yaml"
        mapping.write_text(f"clients: {{table: {column}, id: id}}\nfacts: {{{fact}: {column}}}\n")
        _database_paths(engines, postgres_db, rows, mapping)
