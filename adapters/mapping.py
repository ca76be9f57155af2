"""The mapping file (YAML): how CRM tables and columns become facts, and where decisions
are written back. Every value keeps its file:line:col, so a mapping that names a missing
table or column gets an error pointing at the line that names it.

```yaml
clients: {table: clients, id: id}      # the clients table and its key column
facts:                                  # fact -> column of the clients table
  clv: clv_eur                          # (columns named like a declared fact need no entry)
aggregates:                             # fact -> an SQL aggregate over a related table
  revenue_12m: {table: orders, key: client_id, function: sum, column: amount,
                date: ordered_at, window_days: 365, where: {status: paid}}
  satisfaction: {table: surveys, key: client_id, function: latest, column: score,
                 date: answered_at}
writeback:                              # CRM column -> decision.output_field
  columns: {pricing_tier: pricing_tier.tier}
```
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierwise.errors import ErrorSink, Pos, RulePackError
from tierwise.pack.load import Document, load_yaml

from .base import AdapterError

AggregateFunction = Literal["count", "sum", "min", "max", "avg", "latest"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientsTable(_Strict):
    """The table with one row per client, and its key column."""

    table: str = "clients"
    id: str | None = None


class AggregateSpec(_Strict):
    """One fact computed by the database over rows of a related table.

    count/sum default to 0 for a client with no rows (a sum whose rows all have a null
    value is null: unknown costs are not zero costs); min/max/avg/latest to null.
    `window_days` keeps rows whose `date` lies in (as_of - window_days, as_of]; rows dated
    after `as_of` never count, so a rerun for the same `as_of` gives the same facts.
    """

    table: str
    key: str = "client_id"
    function: AggregateFunction
    column: str | None = None
    date: str | None = None
    window_days: int | None = Field(default=None, gt=0)
    where: dict[str, Any] = Field(default_factory=dict)


class WritebackSpec(_Strict):
    """CRM columns that receive a decision's output field (`pricing_tier.tier`)."""

    table: str | None = None
    key: str | None = None
    columns: dict[str, str]


class MappingModel(_Strict):
    clients: ClientsTable = Field(default_factory=ClientsTable)
    facts: dict[str, str] = Field(default_factory=dict)
    aggregates: dict[str, AggregateSpec] = Field(default_factory=dict)
    writeback: WritebackSpec | None = None


class Mapping:
    """A loaded mapping file: the validated model plus the positions of its values."""

    def __init__(self, model: MappingModel, doc: Document | None = None) -> None:
        self.model = model
        self.doc = doc

    @property
    def name(self) -> str:
        return self.doc.path if self.doc is not None else "(default mapping)"

    def where(self, *path: str | int) -> str:
        """file:line:col of a value, for error messages."""
        if self.doc is None:
            return self.name
        return str(self.doc.pos(path))

    def error(
        self, path: tuple[str | int, ...], message: str, *, key: bool = False
    ) -> AdapterError:
        """An error at the value at `path` (or at its key, when the key is what is wrong)."""
        if key and self.doc is not None:
            return AdapterError(f"{self.doc.key_pos(path)}: {message}")
        return AdapterError(f"{self.where(*path)}: {message}")

    def check_facts(self, declared: Iterable[str]) -> None:
        """Every fact that `facts:` renames a file column to must be one the pack declares:
        a misspelt fact would be read as missing for every client. (A file's other columns
        reach enrichment plugins under their own names, so a rename is for declared facts.)"""
        known = list(declared)
        for fact in self.model.facts:
            if fact not in known:
                close = difflib.get_close_matches(fact, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.error(
                    ("facts", fact), f"the rule pack declares no fact {fact!r}{hint}", key=True
                )


def load_mapping(path: str | Path | None) -> Mapping:
    """Read and check a mapping file; None gives the default (table `clients`, facts by
    column name). Raises AdapterError naming file:line:col."""
    if path is None:
        return Mapping(MappingModel())
    sink = ErrorSink()
    doc = load_yaml(Path(path), sink)
    if doc is None:
        raise AdapterError(str(RulePackError(sink.errors)).replace("rule pack", "mapping file"))
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise AdapterError(f"{doc.path}:1:1: a mapping file must be a YAML mapping")
    try:
        model = MappingModel.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            lines.append(f"{doc.pos(loc)}: {'.'.join(map(str, loc))}: {err['msg']}")
        raise AdapterError("invalid mapping file:\n" + "\n".join(lines)) from None
    mapping = Mapping(model, doc)
    for fact, spec in model.aggregates.items():
        if spec.function != "count" and spec.column is None:
            raise mapping.error(("aggregates", fact), f"{spec.function} needs a `column`")
        if (spec.function == "latest" or spec.window_days) and spec.date is None:
            raise mapping.error(("aggregates", fact), "`latest` and `window_days` need a `date`")
    if model.writeback is not None:
        for column, target in model.writeback.columns.items():
            if target.count(".") != 1:
                raise mapping.error(
                    ("writeback", "columns", column),
                    f"{target!r} should be decision.field (e.g. pricing_tier.tier)",
                )
    return mapping


__all__ = ["AggregateSpec", "Mapping", "Pos", "load_mapping"]
