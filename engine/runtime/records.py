"""What makes one record of a table file unreadable, and how that is told: a CSV row with
the wrong number of cells, text that is not valid UTF-8, a line that is not a JSON object.
The file sources (tierwise.adapters.files) and the batch path, when DuckDB cannot read a
file whole, apply the same rules, so both name the same clients with the same errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from tierwise.outcome import FactError
from tierwise.runtime.facts import printable

ANY_FACT = "*"
"""The fact an error about a whole record is filed under."""
ID_FACT = "client_id"
"""The fact an error about a record's id is filed under."""


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
