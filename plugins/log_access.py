"""Opening the decision log for a command: a bare file path is a SQLite file, a log that a
reading command names must already exist (reading never creates one), and a database that
cannot be used is a message that names it and says what to check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .console import say

if TYPE_CHECKING:
    from tierwise.adapters.log import DecisionLog

SAMPLE_LOG = "sqlite:///tierwise-sample/decisions.db"
"""The sample run's decision log, the default of the commands that read a log."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CHECK = (
    "check the URL (sqlite:///path/to/decisions.db, postgresql://user@host/database), "
    "that the server is running, and the user's password and rights"
)


def log_url(value: str, option: str) -> str:
    """A decision log URL from what the user gave: a URL as it is, a bare path (`mine.db`)
    as the SQLite file it names (said on stderr), anything else refused with the forms."""
    if "://" in value:
        return value
    if _SCHEME.match(value):
        raise click.UsageError(
            f"{option} {value}: not a database URL; write sqlite:///path/to/decisions.db or "
            "postgresql://user@host/database (a plain file path is read as a SQLite file)"
        )
    url = f"sqlite:///{value}"
    say(f"{option} {value}: read as {url}", err=True)
    return url


def reading_log(value: str | None) -> str:
    """The log a reading command uses: the one given (flag or setting), else the sample's."""
    return log_url(value, "--log") if value else SAMPLE_LOG


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_log(url: str, *, create: bool, option: str) -> DecisionLog:
    """The decision log at `url`. `create=False` (commands that only read) refuses a log
    that does not exist yet instead of creating it, a missing SQLite file included."""
    from sqlalchemy.exc import ArgumentError

    from tierwise.adapters.db import safe_url
    from tierwise.adapters.log import DecisionLog
    from tierwise.adapters.log_schema import NoLogError, SchemaError
    from tierwise.errors import TierwiseError

    try:
        path = sqlite_file(url)
    except ArgumentError:
        raise click.UsageError(f"{option} {safe_url(url)}: not a database URL; {CHECK}") from None
    if not create and path is not None and not path.is_file():
        raise click.ClickException(
            f"no decision log at {url}: the file {path} does not exist (check {option}, "
            "or run `tierwise run` first)"
        )
    try:
        return DecisionLog(url, create=create)
    except (SchemaError, NoLogError) as e:
        raise click.ClickException(f"{e}; check {option}") from None
    except TierwiseError as e:
        raise click.ClickException(f"{e}\n{CHECK}") from None
