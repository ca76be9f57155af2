"""Pydantic models of the rule language, as written in YAML; validation errors get file:line:col.

Stage two of the pipeline: `load` gives plain data and positions, this module checks the
shape (keys, value types, hit policies) and turns every pydantic error into a RuleError.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

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


class DeriveSpec(_Strict):
    """A derived fact written out: its expression, what it means for the reader, and
    optionally the domain it keeps to (an enum for text, a range for numbers), which rules
    are checked against and every client's value is held to."""

    expr: str
    enum: list[str] | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    description: str | None = None


class ProfileSpec(_Strict):
    """A statistic of the whole client base, computed once per run: the cut points of
    `groups` equal groups of a value, the mean of a value, the share of clients for whom
    a condition holds, or the base's repeat-purchase model (`bg_nbd` over each client's
    [repeat purchases, days from first to last purchase, days since the first]); `where`
    limits the clients it is computed over."""

    cut_points: str | None = None
    groups: int | None = Field(default=None, ge=2, le=1000)
    mean: str | None = None
    share: str | None = None
    bg_nbd: str | None = None
    where: str | None = None
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
    profile: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any] | list[dict[str, Any]] | None = None
    rule: str | list[str] | None = None
    as_of: dt.date | None = None


class FactTestModel(_Strict):
    """A test of a facts file: given inputs (and profile values), the derived facts expected."""

    name: str | None = None
    given: dict[str, Any]
    profile: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any]
    as_of: dt.date | None = None


class _File(_Strict):
    """A whole rule file; items of its lists that had errors are reported and left out, and
    `index` gives a kept item's place in the file, so later stages name the right line."""

    _kept: dict[str, list[int]] = PrivateAttr(default_factory=dict)
    _left_out: frozenset[str] = PrivateAttr(default=frozenset())

    def index(self, field: str, i: int) -> int:
        """Where the i-th kept item of the list `field` ("rules", "tests", "table.rows") is
        written in the file."""
        kept = self._kept.get(field)
        return i if kept is None else kept[i]

    def left_out(self, key: str) -> bool:
        """Whether the top-level `key`, or some of its items, were written but left out for
        their reported errors (so that their absence is not reported again)."""
        return key in self._left_out or any(f.split(".")[0] == key for f in self._kept)


class FactsFile(_File):
    """A facts file: inputs, derived facts and base statistics that every decision reads."""

    facts: str = Field(pattern=IDENT)
    description: str = ""
    inputs: dict[str, InputSpec | TypeName] = Field(default_factory=dict)
    profile: dict[str, ProfileSpec] = Field(default_factory=dict)
    derive: dict[str, DeriveSpec | str] = Field(default_factory=dict)
    tests: list[FactTestModel] = Field(default_factory=list)


class DecisionFile(_File):
    decision: str = Field(pattern=IDENT)
    description: str = ""
    hit_policy: HitPolicy = "first"
    aggregate: str | None = None
    priority_order: dict[str, list[OutputValue]] | None = None
    inputs: dict[str, InputSpec | TypeName] = Field(default_factory=dict)
    derive: dict[str, DeriveSpec | str] = Field(default_factory=dict)
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
    "facts": "facts file names are letters, digits and _, not starting with a digit",
    "derive": "a derived fact is an expression, or {expr: ..., unit: ..., description: ...}",
    "profile": "a statistic is {cut_points: fact, groups: 5}, {mean: fact} or "
    "{share: condition}, each with an optional where: condition",
    "groups": "groups is a whole number from 2 to 1000",
}

RuleFile = DecisionFile | FactsFile


def validate_document(doc: Document, sink: ErrorSink) -> RuleFile | None:
    """Validate one file's data (a decision file, or a facts file when it starts with
    `facts:`); every problem found goes to sink with its position."""
    if not isinstance(doc.data, dict):
        sink.add(
            doc.pos(()),
            "wrong value type",
            "a rule file is a mapping with a 'decision:' (or 'facts:') key",
            "start the file with: decision: my_decision",
        )
        return None
    model: type[RuleFile] = (
        FactsFile if "facts" in doc.data and "decision" not in doc.data else DecisionFile
    )
    try:
        return model.model_validate(doc.data)
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
            _report(doc, sink, model, loc, err)
        cuts = {_cut(loc, err["type"]) for loc, err in errors}
        sink.unusable.update(c[1] for c in cuts if c is not None and c[0] in NAMED and len(c) == 2)
        return _salvaged(model, doc.data, cuts)


LISTS = (("rules",), ("tests",), ("table", "rows"))
"""The lists whose items are left out whole when one has an error (rules, tests, rows)."""
NAMED = ("inputs", "derive", "profile")
"""The mappings whose entries are left out whole when one has an error."""
REQUIRED = ("decision", "facts")
"""Keys without which nothing more of a file can be checked."""


def _salvaged(
    model: type[RuleFile], data: dict[str, Any], cuts: set[tuple[Any, ...] | None]
) -> RuleFile | None:
    """The file validated without the parts whose errors were reported (an unknown key; a
    rule, test or table row; an input, derived fact or statistic; an optional setting such
    as hit_policy, which then takes its default), so that later stages report the file's
    other errors in the same run; `cuts` are those parts (None: one the file cannot do
    without, so it is not checked further)."""
    if None in cuts:
        return None
    trimmed = copy.deepcopy(data)
    dropped: dict[tuple[Any, ...], set[int]] = {}
    for cut in cuts:
        assert cut is not None
        if any(len(c) < len(cut) and cut[: len(c)] == c for c in cuts if c is not None):
            continue  # inside a part that is left out whole
        parent = _at(trimmed, cut[:-1])
        if isinstance(parent, dict):
            parent.pop(cut[-1], None)
        elif isinstance(parent, list):
            dropped.setdefault(cut[:-1], set()).add(cut[-1])
    kept: dict[str, list[int]] = {}
    for path, gone in dropped.items():
        items = _at(trimmed, path)
        kept[".".join(path)] = [i for i in range(len(items)) if i not in gone]
        items[:] = [item for i, item in enumerate(items) if i not in gone]
    try:
        result = model.model_validate(trimmed)
    except (ValidationError, LookupError):
        return None
    result._kept = kept
    result._left_out = frozenset(c[0] for c in cuts if c is not None and len(c) == 1)
    return result


def _cut(loc: tuple[Any, ...], kind: str) -> tuple[Any, ...] | None:
    """The part of a file that an error at `loc` leaves out: an unknown key itself; else
    the rule, test, row or named entry it is in; else its top-level key (None for one
    that the file cannot do without)."""
    if not loc:
        return None
    if kind == "extra_forbidden":
        return loc
    for prefix in LISTS:
        if len(loc) > len(prefix) and loc[: len(prefix)] == prefix:
            return loc[: len(prefix) + 1]
    if loc[0] in NAMED and len(loc) >= 2:
        return loc[:2]
    return None if loc[0] in REQUIRED else loc[:1]


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    """The value at `path` in the file's data (None when it is not there)."""
    for part in path:
        if not (isinstance(data, dict | list) and _has(data, part)):
            return None
        data = data[part]
    return data


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
    return part in {
        "InputSpec",
        "DeriveSpec",
        "str",
        "int",
        "float",
        "bool",
        "list[dict[str,any]]",
    } or ("[" in part or part.startswith("literal[") or part.startswith("dict["))


def _report(
    doc: Document, sink: ErrorSink, model: type[BaseModel], loc: tuple[Any, ...], err: Any
) -> None:
    field_name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    where = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
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


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    parts = [p for p in loc[:-1] if isinstance(p, str)]
    facts = model is FactsFile
    mapping: dict[str, type[BaseModel]] = {
        "rules": RuleModel,
        "tests": FactTestModel if facts else TestModel,
        "table": TableModel,
        "inputs": InputSpec,
        "derive": DeriveSpec,
        "profile": ProfileSpec,
    }
    for part in parts:
        model = mapping.get(part, model)
    return list(model.model_fields)
