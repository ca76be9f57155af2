"""Hand-picked corners of the rule language, each checked on the durable path and in SQL
(DuckDB and SQLite): the SQL query must match exactly the rules the durable path matches."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tierwise import Engine
from tierwise.batch import BatchEngine
from tierwise.batch.compiler import PushdownError, SqlCompiler
from tierwise.lang.values import read

AS_OF = dt.date(2024, 3, 1)
INPUTS = {
    "x": "number",
    "i": "integer",
    "j": "integer",
    "s": "string",
    "b": "bool",
    "d": "date",
    "tags": "list",
}
CONDITIONS = [
    "x / 0 > 0 or not (x / 0 > 0)",  # x/0 is null: unknown either way
    "i / j == 2.5",  # true division
    "i % j == -1",  # truncated remainder
    "x % 2 == -1.5",
    "not (x > 1)",  # unknown stays unknown under not
    "not exists(x)",
    "s in []",
    "s not in []",
    "i in [1, 2.0, 3]",
    '"vip" in tags',
    '"vip" not in tags',
    "len(tags) == 0",
    "d >= 2024-01-31 and d < 2024-03-01",
    "days_since(d) == 30",
    "round(x) == 2",
    "round(x) == 3",
    "min(x, i) == x",
    "abs(-x) == x",
    "b",
    "b == false",
    'lower(s) == "vip"',
    "-i < 0",
    "1 / 0 > 0 or 2 > 1",
    "1e20 % 3.0 == 1.0",  # fmod, exact also where the quotient passes 64 bits
    "x * 1e300 * 1e300 > 0 or not (x * 1e300 * 1e300 > 0)",  # overflow is null
    "round(x * 1e19) > 0",  # an integer past 64 bits is a double
    "x * 1e-300 * 1e-300 == 0",  # a product too small for a double is 0 (PostgreSQL raised)
    "x / 1e300 / 1e300 == 0",  # so is such a quotient
]
CLIENTS: list[dict[str, Any]] = [
    {
        "x": 2.5,
        "i": 5,
        "j": 2,
        "s": "VIP",
        "b": True,
        "d": dt.date(2024, 1, 31),
        "tags": ["vip", "b2b"],
    },
    {"x": -3.5, "i": -7, "j": 3, "s": "x", "b": False, "d": dt.date(2024, 3, 1), "tags": []},
    {"x": None, "i": None, "j": 0, "s": None, "b": None, "d": None, "tags": None},
    {"x": 1.5, "i": 2, "j": 0, "s": "", "b": False, "d": dt.date(2023, 12, 31), "tags": ["a"]},
]


FLOAT_REMAINDERS = {"x % 2 == -1.5", "1e20 % 3.0 == 1.0"}
"""PostgreSQL cannot compute these exactly (no fmod): such packs are not pushed down there."""


def _engine(root: Path, conditions: list[str]) -> Engine:
    rules = [{"id": f"r{n}", "when": c, "then": {"n": n}} for n, c in enumerate(conditions)]
    pack = {"decision": "c", "hit_policy": "collect", "inputs": INPUTS, "rules": rules}
    (root / "c.yaml").write_text(json.dumps(pack))
    return Engine.from_path(root)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("semantics"), CONDITIONS)


def _durable(engine: Engine) -> list[list[str]]:
    """The durable path's matches for the clients as every source reads them (an empty
    string is missing)."""
    types = engine.pack.inputs
    read_clients = [{k: read(value, types[k]) for k, value in c.items()} for c in CLIENTS]
    return [engine.decide(c, as_of=AS_OF).decisions["c"].rules for c in read_clients]


def _split(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [r["c__rule"].split(";") if r["c__rule"] else [] for r in rows]


def test_duckdb_matches_the_durable_path(engine: Engine) -> None:
    table = pa.Table.from_pylist([{"client_id": str(n), **c} for n, c in enumerate(CLIENTS)])
    rows = BatchEngine(engine.pack).decide_arrow(table, AS_OF).to_pylist()
    assert _split(rows) == _durable(engine)


def test_sqlite_matches_the_durable_path(engine: Engine, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = sa.create_engine(url)
    with db.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE clients (client_id TEXT, x REAL, i INTEGER, j INTEGER, s TEXT, "
            "b INTEGER, d TEXT, tags TEXT)"
        )
        for n, c in enumerate(CLIENTS):
            values = [str(n), c["x"], c["i"], c["j"], c["s"], c["b"], c["d"] and c["d"].isoformat(),
                      None if c["tags"] is None else json.dumps(c["tags"])]  # fmt: skip
            conn.exec_driver_sql(
                "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tuple(values)
            )
    rows = BatchEngine(engine.pack).decide_sql(url, "clients", AS_OF)
    assert isinstance(rows, list)
    assert _split(sorted(rows, key=lambda r: r["client_id"])) == _durable(engine)


def test_the_durable_path_agrees_with_the_documented_corners(engine: Engine) -> None:
    first, second, nulls, zero = _durable(engine)
    assert "r0" not in nulls and "r0" not in zero  # x/0 is unknown, also under not
    assert "r1" in first and "r2" in second and "r3" in second
    assert "r4" not in nulls and "r6" not in nulls and "r7" not in nulls
    assert "r7" in first and "r6" not in first
    assert "r14" in first  # round(2.5) == 2: ties to even
    assert "r22" in nulls
    assert "r23" in nulls and "r24" not in first and "r25" in first
    assert "r26" in first and "r27" in second and "r26" not in nulls


def test_the_sql_text_is_one_query_per_dialect(engine: Engine) -> None:
    for dialect in ("duckdb", "sqlite"):
        compiler = SqlCompiler(engine.pack, dialect)
        source = sa.table("clients", *(sa.column(n) for n in ["client_id", *INPUTS]))
        from tierwise.batch.compiler import SourceColumn

        text = compiler.sql_text(
            compiler.select(source, {n: SourceColumn(n) for n in INPUTS}, AS_OF)
        )
        assert text.startswith(("SELECT", "WITH")) and "c__status" in text


def test_postgresql_matches_the_durable_path(
    engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.dialects.postgresql import ARRAY

    from tierwise.adapters.db import with_driver

    with pytest.raises(PushdownError, match="no exact remainder of non-integers"):
        BatchEngine(engine.pack).compiler("postgresql")
    engine = _engine(tmp_path, [c for c in CONDITIONS if c not in FLOAT_REMAINDERS])

    db = sa.create_engine(with_driver(postgres_url))
    types = {"number": sa.Double(), "integer": sa.BigInteger(), "string": sa.Text(),
             "bool": sa.Boolean(), "date": sa.Date(), "list": ARRAY(sa.Text())}  # fmt: skip
    table = sa.Table("semantics_clients", sa.MetaData(), sa.Column("client_id", sa.Text()),
                     *(sa.Column(n, types[k]) for n, k in INPUTS.items()))  # fmt: skip
    try:
        with db.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            conn.execute(
                table.insert(), [{"client_id": str(n), **c} for n, c in enumerate(CLIENTS)]
            )
        rows = BatchEngine(engine.pack).decide_sql(db, "semantics_clients", AS_OF)
        assert isinstance(rows, list)
        assert _split(sorted(rows, key=lambda r: r["client_id"])) == _durable(engine)
    finally:
        with db.begin() as conn:
            table.drop(conn, checkfirst=True)
        db.dispose()
