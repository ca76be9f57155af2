"""Validate one client's facts against the types a pack declares (pydantic, compiled once).

Numbers, integers and booleans are strict (a string "5" is an error that names the fact,
never silently a number); dates and datetimes also accept ISO text, since JSON has no
date type. Adapters that read text (CSV) coerce with `coerce_text` first.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, Strict, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from tierwise.lang.types import FactType
from tierwise.outcome import FactError

MAX_SAFE_INTEGER = 2**53
"""Integers beyond this cannot be compared exactly as doubles (as durable and SQL engines do)."""
TEXT = StringConstraints(max_length=2**62)
"""Makes pydantic-core read a string as UTF-8, so a lone surrogate ("\\ud800", which durable
and every JSON encoder reject) is that fact's error (`string_unicode`) instead of a crash."""


def _annotation(t: FactType) -> Any:
    """The pydantic type of one declared input; every input may be null (missing)."""
    bounds: dict[str, Any] = {}
    if t.minimum is not None:
        bounds["ge"] = t.minimum
    if t.maximum is not None:
        bounds["le"] = t.maximum
    if t.enum is not None:
        return Literal[tuple(t.enum)] | None
    match t.kind:
        case "number":
            return Annotated[float, Strict(), Field(allow_inf_nan=False, **bounds)] | None
        case "integer":
            low = bounds.get("ge", -MAX_SAFE_INTEGER)
            high = bounds.get("le", MAX_SAFE_INTEGER)
            return Annotated[int, Strict(), Field(ge=low, le=high)] | None
        case "string":
            return Annotated[str, Strict(), TEXT] | None
        case "bool":
            return Annotated[bool, Strict()] | None
        case "date":
            return dt.date | None
        case "datetime":
            return dt.datetime | None
        case "list":
            return list[Annotated[str, Strict(), TEXT]] | None
    raise ValueError(f"unknown type {t.kind}")


class FactValidator:
    """Checks and normalises a client's facts; unknown keys are ignored, missing ones are null.

    One pydantic TypeAdapter per pack, built once: validating in pydantic-core measured
    faster than a hand-written Python pre-check (1.25 against 1.98 us for 9 facts).
    """

    def __init__(self, inputs: Mapping[str, FactType]) -> None:
        self.inputs = dict(inputs)
        fields = {name: _annotation(t) for name, t in inputs.items()}
        schema = TypedDict("Facts", fields, total=False)  # type: ignore[misc,operator]
        schema.__pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[attr-defined]
        self._adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(schema)
        self._datetimes = [n for n, t in inputs.items() if t.kind == "datetime"]

    def validate(self, facts: Mapping[str, Any]) -> tuple[dict[str, Any], list[FactError]]:
        try:
            clean = self._adapter.validate_python(facts)
        except ValidationError as e:
            errors = []
            for err in e.errors():
                name = str(err["loc"][0]) if err["loc"] else "?"
                message = _message(name, err, self.inputs.get(name))
                errors.append(FactError(name, message, jsonable(facts.get(name))))
            return {}, errors
        for name in self._datetimes:
            value = clean.get(name)
            if value is not None and value.tzinfo is None:
                clean[name] = value.replace(tzinfo=dt.UTC)
        return clean, []


@dataclass(frozen=True, slots=True)
class UnreadableClient:
    """A client whose record could not be read (a broken JSON line, a CSV or database row
    with a value that cannot be coerced): its id, or a row label, and why.

    Sources yield it in the client's place; the engine turns it into that client's outcome
    with these errors, so one bad record never stops a run and is never silently skipped.
    """

    client_id: str | None
    errors: tuple[FactError, ...]


def _message(name: str, err: Any, t: FactType | None) -> str:
    expected = str(t) if t is not None else "a value"
    if err["type"] in ("literal_error",) and t is not None and t.enum:
        return f"{name} must be one of {', '.join(t.enum)}"
    if err["type"] == "string_unicode":
        shown = printable(err["input"])
        return f"{name} should be {_article(expected)}: '{shown}' is not valid Unicode text"
    return f"{name} should be {_article(expected)}: {err['msg']}"


def _article(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text


def jsonable(value: Any) -> Any:
    """A value as every JSON encoder can write it, for errors and the log: an integer beyond
    64 bits, NaN or infinity as text, text that is not valid Unicode with its bad parts
    escaped (`caf\\xe9`), anything else as its repr."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if is_text(value) else printable(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return printable(repr(value))


def is_text(value: str) -> bool:
    """Whether a string is valid Unicode text (no lone surrogates, which UTF-8 cannot hold)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(value: str) -> str:
    """A string with its lone surrogates escaped: undecodable bytes read with
    `surrogateescape` as `\\xe9`, other surrogates as `\\ud800`."""
    if is_text(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def coerce_text(text: str | None, t: FactType) -> Any:
    """Text from a CSV cell or a database string column, turned into the declared type.

    Empty text is null. Raises ValueError with a message that names the expected type.
    """
    if text is None:
        return None
    s = text.strip()
    if s == "":
        return None
    try:
        match t.kind:
            case "number":
                return float(s)
            case "integer":
                f = float(s)
                if not f.is_integer():
                    raise ValueError
                return int(f)
            case "bool":
                low = s.lower()
                if low in ("true", "yes", "1", "t", "y"):
                    return True
                if low in ("false", "no", "0", "f", "n"):
                    return False
                raise ValueError
            case "date":
                return dt.date.fromisoformat(s[:10])
            case "datetime":
                return dt.datetime.fromisoformat(s)
            case "list":
                return [item.strip() for item in s.split(";") if item.strip()]
    except ValueError:
        raise ValueError(f"{text!r} is not {_article(t.kind)}") from None
    return s
