"""Reading one client's facts by id from the configured SQL source (the SQL adapter's mapping).

A call that carries only a client id is decided on the facts `tierwise run` would read for
that client: the same query (columns and aggregates as of the decision day), narrowed to
one id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tierwise.adapters.base import Record
from tierwise.adapters.db import reason
from tierwise.adapters.sql import open_sql
from tierwise.lang.types import FactType

from .problems import ProblemError


class FactSource:
    """One SQL source, asked for one client at a time."""

    def __init__(self, url: str, mapping: Path | None) -> None:
        self.source = open_sql(url, mapping)
        self.url = self.source.url
        python_type = _python_type(self.source.id_column)
        self._id_type = python_type if python_type in (int, str) else str

    def facts(self, client_id: str, as_of: dt.date, types: Mapping[str, FactType]) -> Record:
        """The client's facts as of a day; ProblemError when it is unknown or the source fails."""
        try:
            key: Any = self._id_type(client_id)
        except ValueError:
            raise ProblemError(
                "unknown-client", f"no client {client_id!r} in {self.url} (ids are integers)"
            ) from None
        statement = self.source.query(as_of, types).where(self.source.id_column == key)
        try:
            with self.source.engine.connect() as conn:
                row = conn.execute(statement).mappings().first()
        except DBAPIError as e:
            raise ProblemError(
                "fact-source-failed",
                f"reading client {client_id!r} from {self.url} failed: {reason(e)}",
            ) from None
        if row is None:
            raise ProblemError("unknown-client", f"no client {client_id!r} in {self.url}")
        return self.source.record(dict(row), types)

    def close(self) -> None:
        """Close the source's connections."""
        self.source.close()


def _python_type(column: sa.Column[Any]) -> type | None:
    """The Python type of a column, or None when SQLAlchemy has none for it."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return None
