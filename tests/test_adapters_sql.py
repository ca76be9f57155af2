"""SQL sources on SQLite and a real PostgreSQL: facts and SQL aggregates from a mapping
file, paging, write-back, and errors that name the table, column or database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tierwise.adapters import AdapterError, UnreadableClient, open_source
from tierwise.adapters.sql import SqlSource
from tierwise.runtime.engine import Engine

from .conftest import AS_OF, MAPPING, expected_facts, make_crm

FACTS = (
    "clv",
    "lifecycle_stage",
    "revenue_12m",
    "purchases_per_year",
    "open_complaints",
    "satisfaction",
)


def test_facts_and_aggregates_come_from_the_database(
    crm_url: str, mapping_file: Path, pack_dir: Path
) -> None:
    make_crm(crm_url, 40)
    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    records = list(source.clients(AS_OF, engine.pack.inputs))
    source.close()
    expected = expected_facts(40)
    assert [r["client_id"] for r in records] == [str(i) for i in range(1, 41)]
    for record in records:
        assert {k: record[k] for k in FACTS} == expected[record["client_id"]], record["client_id"]
    assert any(r["satisfaction"] is None for r in records)
    assert all(type(r["purchases_per_year"]) is int and type(r["clv"]) is float for r in records)


def test_aggregates_are_one_sql_query_with_group_by(
    mapping_file: Path, pack_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 3)
    source = open_source(url, mapping_file)
    assert isinstance(source, SqlSource)
    sql = str(source.query(AS_OF, Engine.from_path(pack_dir).pack.inputs))
    source.close()
    assert sql.count("GROUP BY") == 3 and sql.count("LEFT OUTER JOIN") == 3
    assert "ORDER BY surveys_satisfaction.answered_at DESC" in sql and "LIMIT" in sql


def test_the_window_follows_as_of(mapping_file: Path, pack_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 9)
    inputs = Engine.from_path(pack_dir).pack.inputs
    source = open_source(url, mapping_file)
    later = {
        r["client_id"]: r for r in source.clients(AS_OF.replace(year=2026, month=7, day=5), inputs)
    }
    now = {r["client_id"]: r for r in source.clients(AS_OF, inputs)}
    source.close()
    # the 99,999 order dated two days after AS_OF counts only for the later as_of
    assert later["8"]["revenue_12m"] - now["8"]["revenue_12m"] == pytest.approx(99999)


def test_a_bad_value_in_the_database_is_that_clients_error(
    tmp_path: Path, mapping_file: Path, pack_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 3)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE clients SET stage = 'unknown-stage' WHERE id = 2"))
        conn.execute(sa.text("UPDATE clients SET clv_eur = 'lots' WHERE id = 3"))
    engine.dispose()
    source = open_source(url, mapping_file)
    records = list(source.clients(AS_OF, Engine.from_path(pack_dir).pack.inputs))
    source.close()
    assert isinstance(records[2], UnreadableClient) and records[2].client_id == "3"
    assert "clients id=3: clv: 'lots' is not a number" in records[2].errors[0].message
    # an enum value outside the declared domain is the validator's to report, by name
    outcome = Engine.from_path(pack_dir).decide(records[1], AS_OF)
    assert outcome.errors and outcome.errors[0].fact == "lifecycle_stage"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("table: orders, key", "table: order, key"),
         "crm-mapping.yaml:6:24: table 'order' does not exist in sqlite:///"),
        (("column: amount", "column: total"),
         "crm-mapping.yaml:6:71: table 'orders' has no column 'total' (columns: id, client_id,"),
        (("clv: clv_eur", "clv: lifetime_value"),
         "crm-mapping.yaml:3:8: table 'clients' has no column 'lifetime_value'"),
        (("{status: paid}}\n  purchases", "{state: paid}}\n  purchases"),
         "crm-mapping.yaml:7:61: table 'orders' has no column 'state'"),
        (("function: latest", "function: median"),
         "crm-mapping.yaml:12:60: aggregates.satisfaction.function: Input should be"),
        (("pricing_tier.tier", "pricing_tier_tier"),
         "crm-mapping.yaml:15:27: 'pricing_tier_tier' should be decision.field"),
    ],
)  # fmt: skip
def test_a_mapping_that_names_something_missing_says_what_and_where(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 1)
    mapping = tmp_path / "crm-mapping.yaml"
    assert change[0] in MAPPING
    mapping.write_text(MAPPING.replace(*change))
    with pytest.raises(AdapterError) as caught:
        open_source(url, mapping)
    assert message in str(caught.value)


def test_writeback_targets_are_checked_against_the_pack(tmp_path: Path, pack_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(url, 1)
    mapping = tmp_path / "crm-mapping.yaml"
    mapping.write_text(MAPPING.replace("pricing_tier.discount_pct", "pricing_tier.discount"))
    source = open_source(url, mapping)
    assert source.writeback is not None
    expected = "crm-mapping.yaml:15:60: decision 'pricing_tier' has no output 'discount' "
    with pytest.raises(AdapterError, match=re.escape(expected + "(outputs: tier, discount_pct)")):
        source.writeback.check(Engine.from_path(pack_dir).pack)
    source.close()


def test_a_missing_sqlite_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"no such database file: .*nowhere\.db"):
        open_source(f"sqlite:///{tmp_path / 'nowhere.db'}")


def test_a_wrong_password_is_named_without_the_password(postgres_url: str) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_url).set(password="not-the-password")
    with pytest.raises(AdapterError) as caught:
        open_source(url.render_as_string(hide_password=False))
    text = str(caught.value)
    assert text.startswith("cannot connect to postgresql://postgres:***@127.0.0.1:")
    assert "password authentication failed" in text and "not-the-password" not in text
    assert "Traceback" not in text and "\n" not in text


def test_an_unreachable_server_is_named() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    expected = re.escape(f"cannot connect to postgresql://u:***@127.0.0.1:{port}/crm: ")
    with pytest.raises(AdapterError, match=expected + "(.*)(refused|failed)"):
        open_source(f"postgresql://u:secret@127.0.0.1:{port}/crm")


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(
        AdapterError, match=r"unknown source kind hubspot: \(known: csv:, jsonl:, postgres"
    ):
        open_source("hubspot:portal-1")


def test_default_mapping_reads_columns_named_like_facts(tmp_path: Path, pack_dir: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'plain.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE clients (client_id TEXT PRIMARY KEY, clv REAL, "
                "purchases_per_year INTEGER, notes TEXT)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO clients VALUES ('a', 12000, 7, 'x'), ('b', NULL, '3', 'y')")
        )
    engine.dispose()
    source = open_source(url)
    records = list(source.clients(AS_OF, Engine.from_path(pack_dir).pack.inputs))
    source.close()
    assert records == [
        {"client_id": "a", "clv": 12000.0, "purchases_per_year": 7},
        {"client_id": "b", "clv": None, "purchases_per_year": 3},
    ]


def test_postgresql_clients_come_through_a_server_side_cursor(
    postgres_db: str, mapping_file: Path, pack_dir: Path
) -> None:
    import sqlalchemy as sa

    from tierwise.adapters.db import connect

    make_crm(postgres_db, 2500)
    source = open_source(postgres_db, mapping_file)
    clients = source.clients(AS_OF, Engine.from_path(pack_dir).pack.inputs)
    first = next(clients)
    monitor = connect(postgres_db)
    with monitor.connect() as conn:
        statements = conn.execute(
            sa.text("SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        ).scalars()
        fetching = [q for q in statements if q.startswith("FETCH FORWARD")]
    monitor.dispose()
    assert first["client_id"] == "1" and len(fetching) == 1, "a named cursor fetches in pages"
    assert sum(1 for _ in clients) == 2499
    source.close()


def test_aggregates_over_the_clients_table_itself(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from tierwise.lang.types import INTEGER, NUMBER

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE clients (id INTEGER PRIMARY KEY, referred_by INTEGER, "
                "clv REAL, signup_date DATE)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO clients VALUES (1, NULL, 10, '2020-01-01'), "
                "(2, 1, 20, '2021-01-01'), (3, 1, 30, '2022-01-01'), (4, 2, 40, '2027-01-01')"
            )
        )
    engine.dispose()
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "aggregates:\n"
        "  referrals: {table: clients, key: referred_by, function: count, date: signup_date}\n"
        "  latest_referral_clv: {table: clients, key: referred_by, function: latest,\n"
        "                        column: clv, date: signup_date}\n"
    )
    source = open_source(url, mapping)
    types = {"referrals": INTEGER, "latest_referral_clv": NUMBER, "clv": NUMBER}
    records = list(source.clients(AS_OF, types))
    source.close()
    # client 4 signed up after as_of: it counts for no one yet
    got = [(r["client_id"], r["clv"], r["referrals"], r["latest_referral_clv"]) for r in records]
    assert got == [
        ("1", 10.0, 2, 30.0),
        ("2", 20.0, 0, None),
        ("3", 30.0, 0, None),
        ("4", 40.0, 0, None),
    ]
