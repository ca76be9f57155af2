"""The reader interface every adapter implements, and the record types it yields.

A Source streams clients as plain fact dicts (key `client_id` plus one key per fact), each
read by the core's one reading of values (tierwise.runtime.records.read_record); a row
that cannot be read becomes a UnreadableClient, which is that client's error, never an
exception that stops the run. Hosted-CRM connectors implement the same two methods.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tierwise.errors import TierwiseError
from tierwise.lang.types import FactType
from tierwise.outcome import Outcome
from tierwise.pack.ir import Pack
from tierwise.runtime.facts import UnreadableClient
from tierwise.runtime.records import ID_FACT, Record

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "ID_KEY",
    "AdapterError",
    "Record",
    "Source",
    "TransactionalWriteback",
    "UnreadableClient",
    "Writeback",
]
ID_KEY = ID_FACT
"""The key that carries the client's id in every record a Source yields."""


class AdapterError(TierwiseError):
    """A source or a destination that cannot be used: names what is wrong and where."""


@runtime_checkable
class Writeback(Protocol):
    """Where chosen outputs go back into the CRM (columns, or a hosted CRM's fields).

    `write` must be idempotent (it sets values), since a resumed page writes again. The
    decision log records each page as pending for `target` until `write` returns, so a run
    that dies in between (or whose write fails) completes the page when it resumes."""

    target: str
    """Where the outputs go, as the decision log names it (`sqlite:///crm.db table clients`)."""

    def check(self, pack: Pack) -> None:
        """Raise AdapterError if a target names no decision or output of the pack."""
        ...

    def write(self, outcomes: Sequence[Outcome]) -> None:
        """Write one page of outcomes, in one transaction or batch where the CRM has them."""
        ...


@runtime_checkable
class TransactionalWriteback(Writeback, Protocol):
    """A write-back into SQL tables: where its database is the decision log's, the run job
    writes each page back inside the page's own log transaction (`write_on`)."""

    engine: sa.Engine

    def write_on(self, conn: sa.Connection, outcomes: Sequence[Outcome]) -> None:
        """The page's updates on `conn`, inside the caller's transaction."""
        ...


@runtime_checkable
class Source(Protocol):
    """Where clients come from. `clients` streams them in constant memory."""

    url: str
    writeback: Writeback | None
    """Set when the source's mapping configures write-back; None otherwise."""

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        """Every client once, facts coerced to `types` (the pack's declared inputs)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
