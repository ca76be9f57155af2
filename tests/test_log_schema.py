"""A decision log survives upgrades: the migrations build exactly the models' tables (on
SQLite and PostgreSQL, and back down), a log from before versioning is upgraded with its
runs intact, two processes upgrade an old log once, and a log from a newer tierwise is
refused with both versions named (as a user meets it: the installed command)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tierwise.adapters.db import connect
from tierwise.adapters.log import DecisionLog
from tierwise.adapters.log_schema import (
    FIRST,
    HEAD,
    LOCATION,
    VERSION_TABLE,
    SchemaError,
    alembic_config,
    log_metadata,
    revision,
)

from .cli_process import environment, tierwise, write_clients, write_pack

LOG_TABLES = {t.name for t in log_metadata().sorted_tables}


def differences(engine: sa.Engine) -> list[object]:
    """What differs between the database's log tables and the models (empty: the same)."""
    with engine.connect() as conn:
        opts = {"compare_type": True, "version_table": VERSION_TABLE}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, log_metadata()))


def migrate(engine: sa.Engine, how: str, target: str) -> None:
    with engine.begin() as conn:
        getattr(command, how)(alembic_config(conn), target)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("postgres_db"))


def test_head_is_the_newest_revision_and_the_first_is_the_root() -> None:
    script = ScriptDirectory(str(LOCATION))
    assert script.get_current_head() == HEAD
    assert script.get_revision(FIRST).down_revision is None  # type: ignore[union-attr]


def test_migrations_build_the_models_tables_and_undo_them(empty_db: str) -> None:
    engine = connect(empty_db)
    try:
        migrate(engine, "upgrade", "head")
        assert revision(engine) == HEAD
        assert differences(engine) == []
        migrate(engine, "downgrade", "base")
        assert set(sa.inspect(engine).get_table_names()) & LOG_TABLES == set()
        migrate(engine, "upgrade", "head")
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_a_new_log_is_created_at_the_newest_revision(empty_db: str) -> None:
    DecisionLog(empty_db).close()
    engine = connect(empty_db)
    try:
        assert revision(engine) == HEAD and differences(engine) == []
        with engine.connect() as conn:  # alembic reads the version its own way
            opts = {"version_table": VERSION_TABLE}
            assert MigrationContext.configure(conn, opts=opts).get_current_revision() == HEAD
        made = _version_table_shape(engine)
        migrate(engine, "downgrade", "base")  # alembic can walk it down and up again
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        migrate(engine, "upgrade", "head")
        assert _version_table_shape(engine) == made  # the version table alembic makes
        assert differences(engine) == []
    finally:
        engine.dispose()


def _version_table_shape(engine: sa.Engine) -> tuple[object, ...]:
    """The version table's columns (name, type, nullable) and primary key."""
    inspector = sa.inspect(engine)
    columns = [
        (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(VERSION_TABLE)
    ]
    return (columns, inspector.get_pk_constraint(VERSION_TABLE))


def strip_to_first_schema(db: Path) -> None:
    """Make a log what a tierwise from before versioning wrote: its three tables only."""
    with sqlite3.connect(db) as conn:
        conn.execute(f"DROP TABLE {VERSION_TABLE}")
        for table in LOG_TABLES - {"tierwise_runs", "tierwise_decisions", "tierwise_client_errors"}:
            conn.execute(f"DROP TABLE {table}")


def test_a_log_from_before_versioning_is_upgraded_with_its_runs(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=5, bad=1)
    first = tierwise("run", "--source", "csv:clients.csv", "--out", "log.db", cwd=tmp_path)
    assert first.code == 0, first.err
    strip_to_first_schema(tmp_path / "log.db")
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = connect(url)
    assert revision(engine) == "(before versioning)"
    why = tierwise("why", "c3", "--log", "log.db", cwd=tmp_path)
    assert why.code == 0, why.err
    assert why.out.startswith("client c3, run ")
    assert revision(engine) == HEAD and differences(engine) == []
    again = tierwise("run", "--source", "csv:clients.csv", "--out", "log.db", cwd=tmp_path)
    assert again.code == 0 and "clients: 6  errors: 1" in again.out
    engine.dispose()


def test_two_processes_upgrade_an_old_log_once(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    DecisionLog(f"sqlite:///{db}").close()
    strip_to_first_schema(db)
    opening = f"from tierwise.adapters.log import DecisionLog; DecisionLog('sqlite:///{db}')"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", opening], env=environment(), text=True, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    engine = connect(f"sqlite:///{db}")
    assert revision(engine) == HEAD and differences(engine) == []
    engine.dispose()


def test_a_log_from_a_newer_tierwise_is_refused(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=2, bad=0)
    assert tierwise("run", "--source", "csv:clients.csv", "--out", "log.db", cwd=tmp_path).code == 0
    with sqlite3.connect(tmp_path / "log.db") as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    for args in (["errors", "--log", "log.db"], ["run", "--source", "csv:clients.csv",
                                                 "--out", "log.db"]):  # fmt: skip
        done = tierwise(*args, cwd=tmp_path)
        assert done.code == 1 and "Traceback" not in done.err
        assert "has schema revision 0099, which this tierwise (" in done.err
        assert f"newest revision {HEAD}) does not know" in done.err
        assert "upgrade tierwise" in done.err
    with pytest.raises(SchemaError, match="0099"):
        DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    with sqlite3.connect(tmp_path / "log.db") as conn:
        assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [("0099",)]
