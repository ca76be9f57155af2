"""Proposing a mapping file for a source nobody has mapped yet: for each input fact of a
pack, the column (or, in a database, the aggregate over a related table) that could feed
it, judged by name (tierwise.adapters.vocabulary), by type and by sampled values, each
with why and how sure; and the facts no part of the source gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tierwise.catalog import FactCatalog, InputFact
from tierwise.lang.types import DATETIME, INTEGER, NUMBER, FactType
from tierwise.runtime.files import ID_COLUMNS

from .base import AdapterError
from .shapes import ColumnShape, SourceShape, TableShape
from .vocabulary import (
    ID_WORDS,
    PAID_WORDS,
    NameSense,
    concept_overlap,
    sense,
    singular,
    words,
)

SURE, LIKELY, GUESS = 0.9, 0.65, 0.35
"""Scores at which a proposal is sure, likely, or a guess; below GUESS nothing is proposed."""
COUNTABLE = frozenset({"order", "ticket", "complaint", "survey", "referral"})
"""Concepts whose rows can be counted (a number of orders); values are not (csat, revenue)."""
MONEY = frozenset({"revenue", "cost"})
CLIENT_KEYS = ("client_id", "customer_id", "account_id", "member_id", "contact_id", "user_id")


@dataclass(frozen=True)
class Proposal:
    """What could feed one fact: a column (`facts:`) or an aggregate (`aggregates:`)."""

    fact: str
    score: float
    reasons: tuple[str, ...]
    column: str | None = None
    aggregate: dict[str, Any] | None = None

    @property
    def confidence(self) -> str:
        """sure, likely, or a guess."""
        return "sure" if self.score >= SURE else "likely" if self.score >= LIKELY else "a guess"


@dataclass(frozen=True)
class MappingProposal:
    """A proposed mapping: the clients table (databases), its id column, a proposal per
    fact found, the facts not found, and the columns nothing reads."""

    source: SourceShape
    clients_table: str | None
    id_column: str | None
    id_reason: str
    proposals: tuple[Proposal, ...]
    missing: tuple[InputFact, ...]
    unused_columns: tuple[str, ...]


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    """How alike two sets of words are (1 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _described(fact: InputFact) -> NameSense:
    """A fact's sense, its description's concepts included."""
    return sense(fact.name, fact.description)


def _type_evidence(column: ColumnShape, ftype: FactType) -> tuple[float | None, str]:
    """The share of sampled values that read as the fact's type (and domain), in words."""
    share = column.readable(ftype)
    if share is None:
        return None, "no value sampled"
    if ftype.enum is not None:
        what = "are among its values"
    else:
        ranged = ftype.minimum is not None or ftype.maximum is not None
        what = f"read as {ftype.kind}" + (" in its range" if ranged else "")
    return share, f"{share:.0%} of {len(column.values)} sampled values {what}"


def column_score(fact: InputFact, column: ColumnShape) -> tuple[float, list[str]]:
    """How well a column could feed a fact (0-1), and why."""
    fs, cs = _described(fact), sense(column.name)
    same_name = words(fact.name) == words(column.name)
    reasons: list[str] = []
    if same_name:
        name = 1.0
        reasons.append("named like the fact")
    else:
        name = _name_score(sense(fact.name), fs, cs)
        if name > 0:
            reasons.append(f"name: {column.name!r} ~ {fact.name!r}")
    share, evidence = _type_evidence(column, fact.type)
    enum_values = (
        fact.type.enum is not None
        and share is not None
        and share >= 0.9
        and len(column.distinct) >= 2
    )
    if enum_values and name < 0.75:
        name = 0.75
        reasons.append(f"its values ({', '.join(sorted(column.distinct)[:5])}) are the fact's")
    if name == 0:
        return 0.0, []
    reasons.append(evidence)
    if share is None:
        return (name * 0.8 if not same_name else name), reasons
    if share < 0.5 and not same_name:
        return 0.0, []
    return (name * share if not same_name else max(name * share, GUESS)), reasons


def _name_score(fact_only: NameSense, fs: NameSense, cs: NameSense) -> float:
    """Name similarity of a fact and a column: shared concepts first (else shared words
    the vocabulary does not know, `clv` in `CLV_EUR`), then how the value is taken (first,
    last, total...), other words, and the window of days."""
    overlap = (
        concept_overlap(fs.concepts, cs.concepts) + concept_overlap(cs.concepts, fs.concepts)
    ) / 2
    other = _jaccard(fact_only.other, cs.other)
    if overlap == 0:
        shared = fact_only.other & cs.other
        if not shared:
            return 0.0
        overlap = 0.7 * other + 0.3 * len(shared) / len(fact_only.other)
        other = 1.0
    if fs.function == cs.function:
        agree = 1.0
    elif fs.function is None or cs.function is None:
        agree = 0.5
    else:
        agree = 0.0
    score = 0.6 * overlap + 0.2 * agree + 0.2 * other
    if fs.window != cs.window:
        score *= 0.5
    if agree == 0.0:
        score *= 0.3
    return score


def _id_column(table: TableShape, database: bool) -> tuple[str | None, str]:
    """The column that names each client, and why it was chosen."""
    if database and table.primary_key is not None:
        return table.primary_key, f"the primary key of {table.name}"
    for name in ID_COLUMNS:
        if name in (c.name for c in table.columns):
            return name, "the id column tierwise looks for first"
    best: tuple[float, str] | None = None
    for column in table.columns:
        found = words(column.name)
        if not set(found) & ID_WORDS:
            continue
        score = 0.9 if "client" in sense(column.name).concepts else 0.6
        if not column.unique:
            continue
        if best is None or score > best[0]:
            best = (score, column.name)
    if best is None:
        return None, "no column looks like a client id (unique, named like an id)"
    return best[1], "named like an id, and every sampled row has its own value"


def _clients_table(shape: SourceShape, chosen: str | None) -> TableShape:
    """The table with one row per client: the one given, else the one other tables refer
    to most, named like clients or customers."""
    if chosen is not None:
        names = [t.name for t in shape.tables]
        if chosen not in names:
            raise AdapterError(f"{shape.url} has no table {chosen!r} (tables: {', '.join(names)})")
        return shape.table(chosen)

    def rank(table: TableShape) -> int:
        """Two points per table that refers to it, three for a name like clients."""
        keys = {f"{singular(w)}_id" for w in words(table.name)} | {"client_id", "customer_id"}
        referred = sum(
            1
            for other in shape.tables
            if other is not table
            and (
                table.name in other.references.values()
                or any(c.name in keys for c in other.columns)
            )
        )
        named = 3 if "client" in sense(table.name).concepts else 0
        return 2 * referred + named

    return max(shape.tables, key=rank)  # the first in name order among equals


def _key(table: TableShape, clients: TableShape) -> str | None:
    """The column of `table` that names the client a row belongs to."""
    for column, target in table.references.items():
        if target == clients.name:
            return column
    keys = [f"{singular(w)}_id" for w in words(clients.name)] + list(CLIENT_KEYS)
    return next((k for k in keys if k in (c.name for c in table.columns)), None)


def _dated(column: ColumnShape) -> bool:
    """Whether a column holds dates (or datetimes)."""
    share = column.readable(DATETIME)
    return share is not None and share >= 0.8


EVENT_WORDS = frozenset(
    {"ordered", "opened", "answered", "created", "placed", "purchased", "submitted", "date"}
)
LATER_WORDS = frozenset({"closed", "updated", "modified", "deleted", "resolved", "shipped"})


def _event_date(table: TableShape) -> str | None:
    """The column that dates a row of a related table (when it happened)."""
    dated = [c for c in table.columns if _dated(c)]
    if not dated:
        return None

    def rank(column: ColumnShape) -> int:
        """Event words (ordered, opened...) up, later ones (closed, updated...) down."""
        found = set(words(column.name))
        return (2 if found & EVENT_WORDS else 0) - (3 if found & LATER_WORDS else 0)

    return max(dated, key=rank).name


def _filters(fact: InputFact, table: TableShape, skip: set[str]) -> tuple[dict[str, str], set[str]]:
    """Columns of few values one of which a word of the fact names (`kind: complaint`,
    `status: open`), and the words they account for."""
    fact_words = set(words(fact.name))
    found: dict[str, str] = {}
    used: set[str] = set()
    for column in table.columns:
        levels = column.levels
        if column.name in skip or levels is None:
            continue
        for value in sorted(levels):
            value_words = set(words(value))
            if value_words and value_words <= fact_words:
                found[column.name] = value
                used |= value_words
                break
    return found, used


def _paid(table: TableShape, skip: set[str]) -> tuple[str, str, list[str]] | None:
    """A status column with a value that marks purchases that count (paid, completed)."""
    for column in table.columns:
        levels = column.levels
        if column.name in skip or levels is None:
            continue
        lowered = {v.lower(): v for v in levels}
        for word in PAID_WORDS:
            if word in lowered:
                others = sorted(v for k, v in lowered.items() if k != word)
                return column.name, lowered[word], others
    return None


Measure = tuple[float, dict[str, Any], list[str]]
"""A candidate aggregate: its score, its keys (function, column) and why."""


def aggregate_proposal(
    fact: InputFact, table: TableShape, key: str, clients: TableShape
) -> Proposal | None:
    """The best aggregate over `table` for `fact`, or None: what is measured (a column's
    sum, latest value..., or a count of rows), then over which rows (dated up to as_of,
    in the fact's window, filtered by the values the fact's name gives)."""
    fs = _described(fact)
    date = _event_date(table)
    skip = {key, table.primary_key or ""}
    filters, filtered = _filters(fact, table, skip)
    best = _measure(fact, fs, table, date, skip, filters)
    if best is None:
        return None
    score, parts, reasons = best
    spec: dict[str, Any] = {"table": table.name, **({"key": key} if key != "client_id" else {})}
    spec.update(parts)
    if date is not None:
        spec["date"] = date
    if fs.window is not None:
        if date is None:
            return None
        spec["window_days"] = fs.window
        reasons.append(f"over the last {fs.window} days (by {date})")
    elif spec["function"] == "latest" and date is None:
        return None
    where = _where(fs, table, skip, filters, reasons)
    if where:
        spec["where"] = where
        score = min(1.0, score + 0.05 * len(filtered))
    reasons.append(f"per client by {table.name}.{key} -> {clients.name}")
    return Proposal(fact.name, score, tuple(reasons), aggregate=spec)


def _measure(
    fact: InputFact,
    fs: NameSense,
    table: TableShape,
    date: str | None,
    skip: set[str],
    filters: dict[str, str],
) -> Measure | None:
    """What to compute over the table's rows: the best column aggregate, or a count of
    rows when the fact counts things the table (or its filters) names."""
    best: Measure | None = None
    for column in table.columns:
        if column.name not in skip:
            candidate = _value_aggregate(fact, fs, table, column, date)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate
    if aggregate_function(fact) == "count":
        named = sense(table.name).concepts | {
            c for v in filters.values() for c in sense(v).concepts
        }
        score = concept_overlap(fs.concepts, frozenset(named)) * 0.85
        if score > 0 and (best is None or score > best[0]):
            best = (score, {"function": "count"}, [f"counts the rows of {table.name}"])
    return best


def _where(
    fs: NameSense, table: TableShape, skip: set[str], filters: dict[str, str], reasons: list[str]
) -> dict[str, str]:
    """The rows that count: the filters the fact's words name, else, for purchases, the
    rows whose status says paid (or completed...); each said in `reasons`."""
    where = dict(filters)
    if filters:
        reasons.append("filtered by " + ", ".join(f"{c} = {v!r}" for c, v in filters.items()))
    elif fs.concepts & (COUNTABLE | MONEY):
        paid = _paid(table, skip)
        if paid is not None:
            status, value, others = paid
            where[status] = value
            rest = f" (it also holds {', '.join(others)})" if others else ""
            reasons.append(f"only rows with {status} {value!r} count{rest}")
    return where


def _value_aggregate(
    fact: InputFact, fs: NameSense, table: TableShape, column: ColumnShape, date: str | None
) -> tuple[float, dict[str, Any], list[str]] | None:
    """An aggregate of one column's values (sum, avg, min, max, latest) for a fact."""
    cs, ts = sense(column.name), sense(table.name)
    kind = fact.type.kind
    if kind in ("date", "datetime"):
        if not _dated(column) or not fs.concepts:
            return None
        overlap = concept_overlap(fs.concepts, ts.concepts | cs.concepts)
        if overlap == 0:
            return None
        function = "min" if fs.function == "first" else "max"
        event = 1.0 if column.name == date else 0.8
        word = "first" if function == "min" else "last"
        return (
            overlap * 0.9 * event,
            {"function": function, "column": column.name},
            [f"the {word} {column.name} of {table.name}"],
        )
    if kind not in ("number", "integer") or concept_overlap(fs.concepts, cs.concepts) == 0:
        return None
    share = column.readable(NUMBER if kind == "number" else INTEGER)
    if share is not None and share < 0.5:
        return None
    overlap = concept_overlap(fs.concepts, ts.concepts | cs.concepts)
    closeness = _jaccard(set(words(fact.name)), set(words(column.name)))
    function = _value_function(fact, fs)
    if function == "latest" and date is None:
        return None
    score = min(1.0, overlap * 0.85 + 0.1 * closeness) * (share if share is not None else 0.8)
    return (
        score,
        {"function": function, "column": column.name},
        [f"{function} of {column.name} (~ {fact.name})"],
    )


VALUE_FUNCTIONS = {"avg": "avg", "min": "min", "max": "max", "last": "latest", "total": "sum"}
"""How a fact's name says to take its value from many rows (tierwise.adapters.vocabulary)."""


def _value_function(fact: InputFact, fs: NameSense) -> str:
    """The aggregate of a column's values that a fact's name asks for: as it says (avg,
    min, last...), else a sum for money and the latest value for anything else."""
    said = VALUE_FUNCTIONS.get(fs.function or "")
    return said or ("sum" if fs.concepts & MONEY or fact.type.unit else "latest")


def aggregate_function(fact: InputFact) -> str | None:
    """The aggregate over a related table that fits a fact by its name and type (count
    of orders, max of a date, sum of amounts...), or None for a fact that a column of the
    client record gives (a signup date, a churn score): judged by its name alone."""
    fs = sense(fact.name)
    kind = fact.type.kind
    related = fs.concepts & (COUNTABLE | MONEY | {"csat", "nps"})
    if kind in ("date", "datetime"):
        return ("min" if fs.function == "first" else "max") if related else None
    if kind not in ("number", "integer") or not (related or fs.function or fs.window):
        return None
    counted = fs.concepts & COUNTABLE and not fs.concepts & (MONEY | {"csat", "nps", "risk"})
    if kind == "integer" and counted and fs.function in (None, "total"):
        return "count"
    return _value_function(fact, fs)


def aggregate_hint(fact: InputFact) -> dict[str, Any] | None:
    """The `aggregates:` entry that could feed a fact, with placeholders for the table
    and columns (for `tierwise facts`); None when a column of the client record would."""
    function = aggregate_function(fact)
    if function is None:
        return None
    hint: dict[str, Any] = {"table": "TABLE", "function": function}
    if function != "count":
        hint["column"] = "COLUMN"
    hint["date"] = "DATE_COLUMN"
    window = sense(fact.name).window
    if window is not None:
        hint["window_days"] = window
    return hint


def propose(shape: SourceShape, facts: FactCatalog, table: str | None = None) -> MappingProposal:
    """A mapping proposal for `shape`, for the inputs of `facts`; `table` names the
    clients table of a database (else it is chosen)."""
    database = shape.kind == "database"
    clients = _clients_table(shape, table) if database else shape.tables[0]
    id_column, id_reason = _id_column(clients, database)
    chosen = _columns_chosen(facts, clients, id_column)
    if database:
        _aggregates_chosen(facts, shape, clients, chosen)
    taken = {p.column for p in chosen.values() if p.column is not None}
    order = [f.name for f in facts.inputs]
    return MappingProposal(
        shape,
        clients.name if database else None,
        id_column,
        id_reason,
        tuple(sorted(chosen.values(), key=lambda p: order.index(p.fact))),
        tuple(f for f in facts.inputs if f.name not in chosen),
        tuple(c.name for c in clients.columns if c.name not in taken and c.name != id_column),
    )


def _columns_chosen(
    facts: FactCatalog, clients: TableShape, id_column: str | None
) -> dict[str, Proposal]:
    """Fact -> the column of the client record that feeds it, best pairs first, each
    column feeding one fact."""
    pairs = []
    for fact in facts.inputs:
        for column in clients.columns:
            if column.name != id_column:
                score, reasons = column_score(fact, column)
                if score >= GUESS:
                    pairs.append(Proposal(fact.name, score, tuple(reasons), column=column.name))
    chosen: dict[str, Proposal] = {}
    taken: set[str | None] = set()
    for p in sorted(pairs, key=lambda p: -p.score):
        if p.fact not in chosen and p.column not in taken:
            chosen[p.fact] = p
            taken.add(p.column)
    return chosen


def _aggregates_chosen(
    facts: FactCatalog, shape: SourceShape, clients: TableShape, chosen: dict[str, Proposal]
) -> None:
    """An aggregate over a related table in place of a fact's column where it fits better."""
    related = [(t, _key(t, clients)) for t in shape.tables if t is not clients]
    for fact in facts.inputs:
        for table, key in related:
            if key is None:
                continue
            agg = aggregate_proposal(fact, table, key, clients)
            current = chosen.get(fact.name)
            if (
                agg is not None
                and agg.score >= GUESS
                and (current is None or agg.score > current.score)
            ):
                chosen[fact.name] = agg
