"""Outcomes rebuilt from the batch path's result rows, so that batch runs are logged, compared
and explained like per-client runs.

A row holds each decision's status, winning rule ids and outputs; the outputs of a rule
are in the pack, so a row gives back the same DecisionResult as the durable path, with an
explanation per winning rule (its `because` and condition; the fact values are not in the
row: `BatchEngine.explain` rebuilds them for one client on demand).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tierwise.batch.compiler import OutputColumns, output_columns
from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome, new_outcome
from tierwise.pack.ir import Decision, Pack, Rule
from tierwise.policy import output_of


class OutcomeRows:
    """Turns result rows of one pack into Outcomes."""

    def __init__(self, pack: Pack, id_column: str = "client_id") -> None:
        self.pack = pack
        self.columns: OutputColumns = output_columns(pack, id_column)
        self._readers = [_DecisionReader(d, self.columns.decisions[d.name]) for d in pack.decisions]

    def outcome(self, row: Mapping[str, Any], as_of: dt.date) -> Outcome:
        """The row's Outcome; a row without a client id is decided with no id, as
        `Engine.decide` does (sources that need an id check `unnamed` first)."""
        cid = row.get(self.columns.id)
        cid = None if cid is None else str(cid)
        errors = row.get(self.columns.errors)
        if errors:
            return new_outcome(cid, self.pack.hash, as_of, {}, _fact_errors(errors))
        results = {r.name: r.result(row) for r in self._readers}
        return new_outcome(cid, self.pack.hash, as_of, results, [])

    def unnamed(self, row: Mapping[str, Any]) -> bool:
        """Whether the row has no client id."""
        return row.get(self.columns.id) in (None, "")

    def unnamed_error(self, where: str, as_of: dt.date) -> Outcome:
        """The Outcome of a row without a client id: an error labelled with its place in
        the source, as the per-client path's file and database sources label it."""
        message = f"{where}: no {self.columns.id}"
        return new_outcome(where, self.pack.hash, as_of, {}, [FactError(ID_FACT, message)])

    def from_parquet(
        self, path: Path, as_of: dt.date, label: Callable[[int], str] | None
    ) -> Iterator[Outcome]:
        """Outcomes from a batch result file (rows in the input's order), a page at a time;
        with `label`, a row without an id is an error named by its place in the input."""
        import pyarrow.parquet as pq

        number = 0
        for part in pq.ParquetFile(path).iter_batches(batch_size=PAGE):
            for row in part.to_pylist():
                number += 1
                if label is not None and self.unnamed(row):
                    yield self.unnamed_error(label(number), as_of)
                else:
                    yield self.outcome(row, as_of)


class _DecisionReader:
    """One decision's columns of a result row, back as its DecisionResult; the winning
    rules of each distinct rule-id text are looked up in the pack once."""

    def __init__(self, decision: Decision, cols: Mapping[str, str]) -> None:
        self.decision = decision
        self.name = decision.name
        self.status = cols["status"]
        self.rule = cols["rule"]
        self.error = cols.get("error", "")
        self.aggregate = (
            None
            if decision.aggregate is None  # else the query aggregated it
            else (decision.aggregate.output_name, cols[f"field:{decision.aggregate.output_name}"])
        )
        self._winners: dict[str, tuple[list[str], list[Rule]]] = {}

    def result(self, row: Mapping[str, Any]) -> DecisionResult:
        """This decision's result in `row`."""
        decision = self.decision
        status = row.get(self.status) or "no_decision"
        if status == "default":
            return DecisionResult(self.name, "default", dict(decision.default or {}))
        if status == "error":
            message = row.get(self.error) or "the decision failed"
            ids = _rule_ids(row.get(self.rule))
            return DecisionResult(self.name, "error", None, ids, [], str(message))
        if status != "decided":
            return DecisionResult(self.name, "no_decision")
        ids, rules = self._rules(row.get(self.rule))
        explanations = [Explanation(r.id, r.because, r.text) for r in rules]
        output: Any
        if self.aggregate is not None:
            name, column = self.aggregate
            output = {name: row.get(column)}
        else:
            output = output_of(decision, rules)
        return DecisionResult(self.name, "decided", output, list(ids), explanations)

    def _rules(self, value: Any) -> tuple[list[str], list[Rule]]:
        """The rule ids of a rule column's value and their rules (shared: copy, never keep)."""
        found = self._winners.get(value) if isinstance(value, str) else None
        if found is None:
            ids = _rule_ids(value)
            found = (ids, [self.decision.rule(i) for i in ids])
            if isinstance(value, str):
                if len(self._winners) >= WINNERS:
                    self._winners.clear()
                self._winners[value] = found
        return found


PAGE = 10_000
"""Result rows turned into dicts at a time."""
WINNERS = 4096
"""Distinct rule-id texts a decision keeps the winning rules of (rule combinations)."""
ID_FACT = "client_id"
"""The fact name that an error about a missing client id is filed under (as the sources do)."""


def row_label(path: Path) -> Callable[[int], str]:
    """The label of the n-th data row of a table file, as the per-client sources write it:
    the CSV line (after the header), the JSON line, the Parquet row."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return lambda n: f"{path} row {n + 1}"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return lambda n: f"{path} line {n}"
    return lambda n: f"{path} row {n}"


def _rule_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(";") if v]
    return [str(v) for v in value]


def _fact_errors(text: str) -> list[FactError]:
    """`fact: message; fact: message` (the errors column) back into FactErrors."""
    errors = []
    for part in text.split("; "):
        fact, _, message = part.partition(": ")
        errors.append(FactError(fact, message or part) if message else FactError("*", part))
    return errors
