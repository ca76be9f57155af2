"""One record of a source as a client's facts, or why it cannot be: its id, each declared
fact read by the one reading of values (tierwise.lang.values), a CSV row with the wrong
number of cells, text that is not valid UTF-8, a line that is not a JSON object. Every
source (files, databases, decide_table's tables) and the batch path, when DuckDB cannot
read a file whole, apply these rules, so all name the same clients with the same errors."""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import orjson

from tierwise.lang.types import FactType
from tierwise.lang.values import ReadError, is_text, printable, read
from tierwise.outcome import FactError
from tierwise.runtime.facts import UnreadableClient, jsonable

ANY_FACT = "*"
"""The fact an error about a whole record is filed under."""
ID_FACT = "client_id"
"""The fact an error about a record's id is filed under, and the key that carries the
client's id in every record."""
Record: TypeAlias = dict[str, Any] | UnreadableClient
"""A client's facts (key `client_id` plus one key per fact), or why they cannot be read."""


def no_id(where: str, column: str) -> FactError:
    """The error of a record without a client id, filed under `client_id`."""
    return FactError(ID_FACT, f"{where}: no {column}")


def ragged(where: str, cells: Sequence[str], header: Sequence[str]) -> FactError | None:
    """The error of a CSV row whose cells do not match the header, if they do not."""
    if len(cells) == len(header):
        return None
    return FactError(ANY_FACT, f"{where}: {len(cells)} cells, the header has {len(header)}")


def not_text(where: str, name: str, value: str) -> FactError:
    """The error of a value that is not valid UTF-8 text (bytes read with surrogateescape)."""
    shown = printable(value)
    return FactError(name, f"{where}: {name}: '{shown}' is not valid UTF-8 text", shown)


def not_text_id(where: str, column: str, value: str) -> FactError:
    """The error of an id that is not valid UTF-8 text, filed under `client_id`."""
    error = not_text(where, column, value)
    return FactError(ID_FACT, error.message, error.value)


def json_record(line: bytes, where: str, id_keys: Sequence[str]) -> dict[str, Any] | FactError:
    """One JSON line as an object, or the error that says why it is not one."""
    try:
        value = json_line(line, id_keys)
    except orjson.JSONDecodeError as e:
        return FactError(ANY_FACT, f"{where}: bad JSON: {e}")
    if not isinstance(value, dict):
        return FactError(ANY_FACT, f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def json_line(line: bytes, id_keys: Sequence[str]) -> Any:
    """One JSON line parsed (orjson.JSONDecodeError if it is not JSON). A numeric id beyond
    64 bits keeps its exact digits: orjson reads it as a float, which would merge ids."""
    value = orjson.loads(line)
    if isinstance(value, dict):
        for key in id_keys:
            if type(value.get(key)) is float:
                exact = json.loads(line, parse_int=str).get(key)
                value[key] = exact if isinstance(exact, str) else value[key]
    return value


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
    return UnreadableClient(where, (FactError(ID_FACT, message, jsonable(raw)),))


def plain(value: Any) -> Any:
    """A database number in Python's own types, as every back end gives it: a Decimal (from
    PostgreSQL's numeric, `avg()` or `sum()` of bigint) as an int when it is written without
    decimals, else a float; SQLite returns these as int and float already."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and int(value.as_tuple().exponent) >= 0:
            return int(value)
        return float(value)
    return value


def read_record(
    raw: Mapping[str, Any], types: Mapping[str, FactType], client_id: str | None, where: str
) -> Record:
    """Read every declared fact of one row (tierwise.lang.values.read; other columns pass
    through for enrichment hooks, database numbers made plain); any failure makes the row
    an UnreadableClient, and so does text that is not valid UTF-8 in any column (sources
    read undecodable bytes with `surrogateescape`, so that they reach this check instead of
    stopping the read).

    `where` names the row for the message (`clients.csv row 17`, `table clients id 42`).
    """
    facts: dict[str, Any] = {ID_FACT: client_id}
    errors: list[FactError] = []
    for name, value in raw.items():
        if name == ID_FACT:
            continue
        if type(value) is str and not is_text(value):
            errors.append(not_text(where, name, value))
            continue
        t = types.get(name)
        if t is None:
            facts[name] = plain(value)
            continue
        try:
            facts[name] = read(value, t)
        except ReadError as e:
            errors.append(
                FactError(fact=name, message=f"{where}: {name}: {e}", value=jsonable(value))
            )
    if errors:
        return UnreadableClient(client_id, tuple(errors))
    return facts
