"""The reader interface every adapter implements, and the record types it yields.

A Source streams clients as plain fact dicts (key `client_id` plus one key per fact);
a row that cannot be read becomes a UnreadableClient, which is that client's error, never an
exception that stops the run. Hosted-CRM connectors implement the same two methods.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from tierwise.errors import TierwiseError
from tierwise.lang.types import FactType
from tierwise.outcome import FactError, Outcome
from tierwise.pack.ir import Pack
from tierwise.runtime.facts import UnreadableClient, coerce_text

ID_KEY = "client_id"
"""The key that carries the client's id in every record a Source yields."""


class AdapterError(TierwiseError):
    """A source or a destination that cannot be used: names what is wrong and where."""


Record: TypeAlias = dict[str, Any] | UnreadableClient


@runtime_checkable
class Writeback(Protocol):
    """Where chosen outputs go back into the CRM (columns, or a hosted CRM's fields).

    `write` must be idempotent (it sets values), since a resumed page writes again."""

    def check(self, pack: Pack) -> None:
        """Raise AdapterError if a target names no decision or output of the pack."""
        ...

    def write(self, outcomes: Sequence[Outcome]) -> None:
        """Write one page of outcomes, in one transaction or batch where the CRM has them."""
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
    return UnreadableClient(where, (FactError(ID_KEY, f"{where}: no {column}"),))


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
        if t.kind == "integer" and value == value.to_integral_value():
            return int(value)
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
    hooks); any failure makes the row a UnreadableClient.

    `where` names the row for the message (`clients.csv row 17`, `table clients id 42`).
    """
    facts: dict[str, Any] = {ID_KEY: client_id}
    errors: list[FactError] = []
    for name, value in raw.items():
        if name == ID_KEY:
            continue
        t = types.get(name)
        if t is None:
            facts[name] = value
            continue
        try:
            facts[name] = coerce_value(value, t)
        except ValueError as e:
            errors.append(
                FactError(fact=name, message=f"{where}: {name}: {e}", value=_plain(value))
            )
    if errors:
        return UnreadableClient(client_id, tuple(errors))
    return facts


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
