"""Opening SQL databases (SQLAlchemy engines) with errors a user can act on: a bad URL,
a missing driver, an unreachable server or a wrong password names the database (never
its password) and the server's own one-line reason, without a traceback."""

from __future__ import annotations

import os
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from tierwise.batch.connect import SCHEME_ALIASES, with_driver

from .base import AdapterError

__all__ = ["SCHEME_ALIASES", "connect", "reason", "safe_url", "same_database", "with_driver"]


def safe_url(url: str | sa.URL) -> str:
    """The URL as text with its password hidden, for messages, output and the run log
    (`postgresql://crm:***@db/crm`); text that is not a URL keeps all but a password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD.sub(r"\1***@", str(url))


_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")
"""The password part of `scheme://user:password@host`."""


def connect(url: str | sa.Engine, *, undecodable: bool = False, **options: Any) -> sa.Engine:
    """A checked engine for `url` (a connection is opened once to prove it works).

    SQLite files get WAL journaling, so a run can stream clients from a file while it
    writes decisions and write-back columns into the same file; psycopg2 batches the
    write-back UPDATEs instead of sending them one by one. With `undecodable`, SQLite text
    that is not UTF-8 is read with its bad bytes as lone surrogates instead of stopping
    the read (a source's coercion makes it that client's error; it costs a Python call
    per text value, so only sources ask for it).
    """
    if isinstance(url, sa.Engine):
        return url
    shown = safe_url(url)
    scheme = url.partition(":")[0]
    url = with_driver(url)
    if url.startswith("postgresql+psycopg2:"):
        options.setdefault("executemany_mode", "values_plus_batch")
    try:
        engine = sa.create_engine(url, **options)
    except NoSuchModuleError:
        raise AdapterError(f"{shown}: unknown database kind {scheme!r}") from None
    except ArgumentError as e:
        raise AdapterError(f"{shown}: not a database URL: {e}") from None
    except ImportError as e:
        raise AdapterError(f"{shown}: the database driver is not installed ({e})") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if undecodable:
            event.listen(engine, "connect", _undecodable_text)
    try:
        with engine.connect():
            pass
    except DBAPIError as e:
        engine.dispose()
        raise AdapterError(f"cannot connect to {shown}: {reason(e)}") from None
    return engine


def same_database(a: sa.Engine, b: sa.Engine) -> bool:
    """Whether two engines reach one database as one user, so that one transaction on
    either can write the tables of both (the same SQLite file, or server and database)."""
    if a.dialect.name != b.dialect.name:
        return False
    if a.dialect.name == "sqlite":
        file = _sqlite_file(a.url)
        return file is not None and file == _sqlite_file(b.url)
    key = ("host", "port", "database", "username")
    return all(getattr(a.url, k) == getattr(b.url, k) for k in key)


def _sqlite_file(url: sa.URL) -> str | None:
    """The absolute path of a SQLite database file (None for memory and URI databases)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.realpath(database)


def _text(raw: bytes) -> str:
    """SQLite text as str; bytes that are not UTF-8 become lone surrogates, which the
    source's coercion turns into that client's error (the default stops the whole read)."""
    return raw.decode("utf-8", "surrogateescape")


def _undecodable_text(dbapi_connection: Any, _record: Any) -> None:
    """Read a source's SQLite text with `_text`."""
    dbapi_connection.text_factory = _text


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """A busy timeout and WAL journaling on every SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def reason(error: SQLAlchemyError) -> str:
    """The database's own message, first line only."""
    orig = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__
