"""Pydantic models of the rule language, as written in YAML; validation errors get file:line:col.

Stage two of the pipeline: `load` gives plain data and positions, this module checks the
shape (keys, value types, hit policies) and turns every pydantic error into a RuleError.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierwise.errors import ErrorSink
from tierwise.pack.load import Document

HitPolicy = Literal["first", "unique", "priority", "any", "collect"]
TypeName = Literal["number", "integer", "string", "bool", "date", "datetime", "list"]
OutputValue = bool | int | float | str | None
IDENT = r"^[A-Za-z_][A-Za-z_0-9]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=True)


class InputSpec(_Strict):
    """A declared input fact: its type, and optionally its domain (enum, range) and unit."""

    type: TypeName | None = None
    enum: list[str] | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    description: str | None = None


class RuleModel(_Strict):
    id: str = Field(pattern=IDENT)
    when: str | bool = True
    then: dict[str, OutputValue]
    because: str = ""
    priority: int | None = None


class TableModel(_Strict):
    """A decision table: rows inline, or a CSV file beside the YAML file."""

    file: str | None = None
    rows: list[dict[str, OutputValue]] | None = None


class TestModel(_Strict):
    name: str | None = None
    given: dict[str, Any]
    expect: dict[str, Any] | list[dict[str, Any]] | None = None
    rule: str | list[str] | None = None
    as_of: dt.date | None = None


class DecisionFile(_Strict):
    decision: str = Field(pattern=IDENT)
    description: str = ""
    hit_policy: HitPolicy = "first"
    aggregate: str | None = None
    priority_order: dict[str, list[OutputValue]] | None = None
    inputs: dict[str, InputSpec | TypeName] = Field(default_factory=dict)
    derive: dict[str, str] = Field(default_factory=dict)
    rules: list[RuleModel] = Field(default_factory=list)
    table: TableModel | None = None
    default: dict[str, OutputValue] | None = None
    tests: list[TestModel] = Field(default_factory=list)


_HINTS = {
    "priority": "priority is a whole number; rules with a higher priority are tried first",
    "then": "outputs are plain values: then: {tier: gold, discount_pct: 8}",
    "default": "the default gives plain values: default: {tier: standard}",
    "when": "a condition, quoted if it contains ': ', e.g. when: clv >= 1000",
    "because": "because is a sentence for humans, in quotes if it contains ': '",
    "rules": "rules is a list of mappings, each with id, when and then",
    "tests": "each test is a mapping with given and expect",
    "hit_policy": "hit_policy is one of: first, unique, priority, any, collect",
    "id": "rule ids are names: letters, digits and _, not starting with a digit",
    "decision": "decision names are letters, digits and _, not starting with a digit",
    "inputs": "an input is a type name (number, integer, string, bool, date, datetime, list) "
    "or a mapping such as {type: number, min: 0} or {enum: [a, b]}",
}


def validate_document(doc: Document, sink: ErrorSink) -> DecisionFile | None:
    """Validate one file's data; every problem found goes to sink with its position."""
    if not isinstance(doc.data, dict):
        sink.add(
            doc.pos(()),
            "wrong value type",
            "a rule file is a mapping with a 'decision:' key",
            "start the file with: decision: my_decision",
        )
        return None
    try:
        return DecisionFile.model_validate(doc.data)
    except ValidationError as e:
        errors = [(_clean_loc(err["loc"], doc.data), err) for err in e.errors()]
        locs = {loc for loc, _ in errors}
        # the most specific errors only: a union branch failing at 'inputs.x' says less
        # than the other branch's unknown key at 'inputs.x.unti'
        errors = [
            (loc, err)
            for loc, err in errors
            if not any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)
        ]
        seen: set[tuple[Any, ...]] = set()
        # of two union branches failing at one place, name the values allowed, not the model
        for loc, err in sorted(errors, key=lambda x: x[1]["type"] in ("model_type", "dict_type")):
            if loc in seen:
                continue
            seen.add(loc)
            _report(doc, sink, loc, err)
        if all(err["type"] == "extra_forbidden" for _, err in errors):
            return _without_unknown_keys(doc.data, [loc for loc, _ in errors])
        return None


def _without_unknown_keys(data: dict[str, Any], locs: list[tuple[Any, ...]]) -> DecisionFile | None:
    """The file validated without its (reported) unknown keys, so that later stages can
    report the file's other errors in the same run; None if that still fails."""
    trimmed = copy.deepcopy(data)
    for loc in locs:
        parent: Any = trimmed
        for part in loc[:-1]:
            parent = parent[part] if isinstance(parent, dict | list) else None
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    try:
        return DecisionFile.model_validate(trimmed)
    except (ValidationError, LookupError):
        return None


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union-branch labels (`InputSpec`, `str`) from an error location; a
    key that the file has is never one, whatever it looks like (`hit_po[licy`)."""
    kept: list[Any] = []
    for part in loc:
        if isinstance(data, dict | list) and _has(data, part):
            data = data[part]
        elif isinstance(part, str) and _is_branch_label(part):
            continue
        else:
            data = None
        kept.append(part)
    return tuple(kept)


def _has(data: dict[str, Any] | list[Any], part: Any) -> bool:
    """Whether a key or an index is in the file's data."""
    if isinstance(data, dict):
        return part in data
    return isinstance(part, int) and 0 <= part < len(data)


def _is_branch_label(part: str) -> bool:
    return part in {"InputSpec", "str", "int", "float", "bool", "list[dict[str,any]]"} or (
        "[" in part or part.startswith("literal[") or part.startswith("dict[")
    )


def _report(doc: Document, sink: ErrorSink, loc: tuple[Any, ...], err: Any) -> None:
    field_name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    where = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        sink.add(
            doc.key_pos(loc),
            "unknown key",
            f"unknown key {loc[-1]!r} in {'.'.join(str(p) for p in loc[:-1]) or 'the file'}",
            f"allowed keys here: {', '.join(allowed)}" if allowed else "",
        )
    elif err["type"] == "missing":
        sink.add(
            doc.pos(loc[:-1]), "missing key", f"{where} is required", _HINTS.get(field_name, "")
        )
    elif field_name == "hit_policy":
        sink.add(
            doc.pos(loc),
            "unknown hit policy",
            f"unknown hit policy {err.get('input')!r}",
            _HINTS["hit_policy"],
        )
    else:
        sink.add(
            doc.pos(loc),
            "wrong value type",
            f"{where}: {err['msg']} (got {err.get('input')!r})",
            _HINTS.get(field_name, "") or _HINTS.get(str(loc[0]), ""),
        )


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = DecisionFile
    parts = [p for p in loc[:-1] if isinstance(p, str)]
    mapping: dict[str, type[BaseModel]] = {
        "rules": RuleModel,
        "tests": TestModel,
        "table": TableModel,
        "inputs": InputSpec,
    }
    for part in parts:
        model = mapping.get(part, model)
    return list(model.model_fields)
