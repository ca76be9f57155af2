"""The decision log's schema version, so a log survives upgrades of tierwise.

Every log records its alembic revision in the table `tierwise_log_version` (the migrations
are in tierwise/adapters/log_migrations). Opening a log creates a missing one at the newest
revision, upgrades one written by an older tierwise (a log from before versioning is the
first revision), and refuses one written by a newer tierwise with both versions named.
Schema work runs in one transaction under a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
advisory lock), so two processes opening an old log at once upgrade it once, and a crash
midway leaves it as it was. A log already at the newest revision costs two small queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .base import AdapterError

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "tierwise_log_version"
FIRST = "0001"
"""The schema of logs written before versioning."""
HEAD = "0002"
"""The newest revision (tests/test_log_schema.py holds it to the migrations' head)."""
LOCATION = Path(__file__).with_name("log_migrations")
RUNS_TABLE = "tierwise_runs"
LOCK_KEY = 0x7469657277697365
"""PostgreSQL advisory lock key for schema work ("tierwise" in ASCII)."""

UNVERSIONED = "(before versioning)"


class SchemaError(AdapterError):
    """A decision log this tierwise cannot use as it is (written by a newer tierwise)."""


class NoLogError(AdapterError):
    """A database that holds no decision log, where one was expected (a reading command)."""


def log_metadata() -> sa.MetaData:
    """The log's tables alone (not every SQLModel table of the process), for the migrations."""
    from .log import TABLES

    metadata = sa.MetaData()
    for table in TABLES:
        table.to_metadata(metadata)
    return metadata


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An alembic configuration for the log's migrations, run on `connection` when given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(LOCATION))
    config.attributes["connection"] = connection
    return config


def prepare(engine: sa.Engine, shown: str, *, create: bool) -> None:
    """Make the log at `engine` one this tierwise can use: create it (unless `create` is
    false: then a database without a log is an error), or upgrade it; `shown` names it."""
    state = revision(engine)
    if state == HEAD:
        return
    if state is None and not create:
        raise NoLogError(f"{shown} holds no decision log (no table {RUNS_TABLE})")
    _refuse_unknown(state, shown)
    with _locked(engine) as conn:
        state = revision(conn)
        if state is None:
            _create(conn)
        elif state != HEAD:
            _refuse_unknown(state, shown)
            _upgrade(conn, state)


def _create(conn: sa.Connection) -> None:
    """A new log: its tables as the newest revision has them, and that revision recorded
    in alembic's version table, as `alembic stamp` would (without loading alembic, a
    fifth of a second of every first run)."""
    log_metadata().create_all(conn)
    version = _version_table()
    version.create(conn)
    conn.execute(version.insert().values(version_num=HEAD))


def _version_table() -> sa.Table:
    """Alembic's version table as alembic itself defines it (`version_table_impl`: one
    string column `version_num`, its primary key named `<table>_pkc`)."""
    return sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )


def _upgrade(conn: sa.Connection, state: str) -> None:
    """A log of an older revision (or from before versioning) migrated to the newest."""
    from alembic import command

    config = alembic_config(conn)
    if state == UNVERSIONED:
        command.stamp(config, FIRST)
    command.upgrade(config, HEAD)


def revision(bind: sa.Engine | sa.Connection) -> str | None:
    """The log's revision: None for a database without a log, UNVERSIONED for a log from
    before versioning."""
    inspector = sa.inspect(bind)
    if inspector.has_table(VERSION_TABLE):
        query = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
        if isinstance(bind, sa.Engine):
            with bind.connect() as conn:
                found = conn.execute(query).scalars().all()
        else:
            found = bind.execute(query).scalars().all()
        if len(found) == 1:
            return str(found[0])
    return UNVERSIONED if inspector.has_table(RUNS_TABLE) else None


def _refuse_unknown(state: str | None, shown: str) -> None:
    """A revision this tierwise does not have was written by a newer one: refuse it."""
    if state in (None, UNVERSIONED):
        return
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory(str(LOCATION)).walk_revisions()}
    if state not in known:
        from importlib.metadata import version

        raise SchemaError(
            f"the decision log {shown} has schema revision {state}, which this tierwise "
            f"({version('tierwise')}, newest revision {HEAD}) does not know: it was written by "
            "a newer tierwise; upgrade tierwise to use it"
        )


@contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that holds the log's schema lock: SQLite's DDL made
    transactional (pysqlite leaves it outside transactions) and the database locked
    for writing; PostgreSQL's advisory lock; elsewhere a plain transaction."""
    if engine.dialect.name == "sqlite":
        schema_engine = _sqlite_for_schema(engine)
        try:
            with schema_engine.begin() as conn:
                yield conn
        finally:
            schema_engine.dispose()
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


def _sqlite_for_schema(engine: sa.Engine) -> sa.Engine:
    """An engine on the same SQLite file whose transactions begin IMMEDIATE and include DDL."""
    schema_engine = sa.create_engine(
        engine.url, poolclass=sa.pool.NullPool, connect_args={"timeout": 30}
    )

    def no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def begin_immediate(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    sa.event.listen(schema_engine, "connect", no_implicit_transactions)
    sa.event.listen(schema_engine, "begin", begin_immediate)
    return schema_engine
