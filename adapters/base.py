"""The reader interface every adapter implements, and the record types it yields.

A Source streams clients as plain fact dicts (key `client_id` plus one key per fact);
a row that cannot be read becomes a UnreadableClient, which is that client's error, never an
exception that stops the run. Hosted-CRM connectors implement the same two methods.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from tierwise.errors import TierwiseError
from tierwise.lang.types import FactType
from tierwise.outcome import FactError, Outcome
from tierwise.pack.ir import Pack
from tierwise.runtime.facts import UnreadableClient, coerce_text, is_text, jsonable
from tierwise.runtime.records import no_id, not_text, not_text_id

if TYPE_CHECKING:
    import sqlalchemy as sa

ID_KEY = "client_id"
"""The key that carries the client's id in every record a Source yields."""


class AdapterError(TierwiseError):
    """A source or a destination that cannot be used: names what is wrong and where."""


Record: TypeAlias = dict[str, Any] | UnreadableClient


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


def without_id(where: str, column: str) -> UnreadableClient:
    """A record with no client id: an error labelled with its place in the source."""
    return UnreadableClient(where, (no_id(where, column),))


def row_id(raw: Any, where: str, column: str) -> str | UnreadableClient:
    """A row's id as text; a row whose id is missing, is not valid text (undecodable bytes)
    or is not a scalar (a JSON object, list or boolean) is an error labelled by its place."""
    if raw is None or raw == "":
        return without_id(where, column)
    if isinstance(raw, str):
        if is_text(raw):
            return raw
        return UnreadableClient(where, (not_text_id(where, column, raw),))
    if not isinstance(raw, bool | dict | list):
        return str(raw)
    kind = "boolean" if isinstance(raw, bool) else "object" if isinstance(raw, dict) else "list"
    message = f"{where}: {column}: an id should be text or a number, not a JSON {kind}"
    return UnreadableClient(where, (FactError(ID_KEY, message, jsonable(raw)),))


def plain(value: Any) -> Any:
    """A database number in Python's own types, as every back end gives it: a Decimal (from
    PostgreSQL's numeric, `avg()` or `sum()` of bigint) as an int when it is written without
    decimals, else a float; SQLite returns these as int and float already."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and int(value.as_tuple().exponent) >= 0:
            return int(value)
        return float(value)
    return value


def coerce_value(value: Any, t: FactType) -> Any:
    """A value from a file or a database turned into the declared type; ValueError if it
    cannot be. Text goes through `coerce_text`; database numbers and dates are normalised."""
    if value is None:
        return None
    if isinstance(value, str):
        if t.kind == "string":
            return value if value.strip() else None  # an empty cell is a missing value
        return coerce_text(value, t)
    if isinstance(value, decimal.Decimal):
        if t.kind == "integer" and value.is_finite() and value == value.to_integral_value():
            return int(value)
        if t.kind == "bool" and value in (0, 1):
            return bool(value)
        return float(value)
    if t.kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if t.kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if t.kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if t.kind == "bool" and type(value) is int and value in (0, 1):
        return bool(value)  # SQLite and some CRMs store booleans as 0/1
    return value


def coerce_record(
    raw: Mapping[str, Any], types: Mapping[str, FactType], client_id: str, where: str
) -> Record:
    """Coerce every declared fact of one row (other columns pass through for enrichment
    hooks, database numbers made plain); any failure makes the row a UnreadableClient, and
    so does text that is not valid UTF-8 in any column (sources read undecodable bytes with
    `surrogateescape`, so that they reach this check instead of stopping the read).

    `where` names the row for the message (`clients.csv row 17`, `table clients id 42`).
    """
    facts: dict[str, Any] = {ID_KEY: client_id}
    errors: list[FactError] = []
    for name, value in raw.items():
        if name == ID_KEY:
            continue
        if type(value) is str and not is_text(value):
            errors.append(not_text(where, name, value))
            continue
        t = types.get(name)
        if t is None:
            facts[name] = plain(value)
            continue
        try:
            facts[name] = coerce_value(value, t)
        except ValueError as e:
            errors.append(
                FactError(fact=name, message=f"{where}: {name}: {e}", value=jsonable(value))
            )
    if errors:
        return UnreadableClient(client_id, tuple(errors))
    return facts
