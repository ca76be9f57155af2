"""decide_table: Outcomes for a whole table of clients, by the path the pack allows."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from tierwise.batch.engine import FILE_FORMATS, BatchEngine, BatchError
from tierwise.batch.rows import PAGE, OutcomeRows, row_label
from tierwise.functions import FunctionRegistry
from tierwise.outcome import Outcome
from tierwise.pack.build import load_pack
from tierwise.paths import Source, choose_path
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine
from tierwise.runtime.files import Rows
from tierwise.runtime.records import Record, read_record
from tierwise.stdlib import standard_functions

log = logging.getLogger("tierwise.batch")


class TableOutcomes:
    """What `decide_table` returns: one Outcome per row, in order, which path decided them
    (`engine`: "sql" or "durable") and why (`reason`), and the profile they were decided
    with (`profile`: None for a pack that reads no base statistics)."""

    def __init__(
        self,
        engine: str,
        reason: str,
        outcomes: Iterator[Outcome],
        scratch: tempfile.TemporaryDirectory[str] | None = None,
        profile: Profile | None = None,
    ) -> None:
        self.engine = engine
        self.reason = reason
        self.profile = profile
        self._outcomes = outcomes
        self._scratch = scratch

    def __iter__(self) -> TableOutcomes:
        return self

    def __next__(self) -> Outcome:
        try:
            return next(self._outcomes)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Stop early: removes the batch path's temporary result file."""
        close = getattr(self._outcomes, "close", None)
        if close is not None:
            close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def decide_table(
    rules: str | Path | Engine | BatchEngine,
    source: str | Path | Any,
    as_of: dt.date | None = None,
    *,
    engine: Literal["auto", "durable", "sql"] = "auto",
    functions: FunctionRegistry | None = None,
    id_field: str = "client_id",
    profile: Profile | None = None,
) -> TableOutcomes:
    """Decide every client of a table: a Parquet, CSV or JSONL file, a pyarrow Table or a
    pandas DataFrame. The path is tierwise.paths.choose_path's: "auto" takes the batch path
    (one SQL query in DuckDB) when the pack compiles to SQL, else the per-client durable
    path; the result's `engine` and `reason` say which and why (also logged). Either way
    the same Outcomes, one per row, in order (batch explanations carry no fact values:
    `BatchEngine.explain` rebuilds them). A pack that reads base statistics decides with
    `profile`, else with the table's own, computed on the same path (`.profile`)."""
    if engine not in ("auto", "durable", "sql"):
        raise BatchError(f"decide_table: engine must be auto, durable or sql, not {engine!r}")
    day = as_of or dt.date.today()
    table = _table_source(source)
    if isinstance(rules, Engine | BatchEngine):
        pack, id_field = rules.pack, rules.id_field
    else:
        pack = load_pack(rules, functions or standard_functions())
    where = Source("table", str(table)) if isinstance(table, Path) else Source("arrow", "the table")
    choice = choose_path([pack], where, engine)
    log.info("decide_table: %s path (%s)", choice.engine, choice.reason)
    if choice.engine == "durable":
        durable = rules if isinstance(rules, Engine) else Engine(pack, id_field=id_field)
        if profile is None and pack.profile:
            profile = durable.profile(_records(durable, table, day), day)
        outcomes = _durable_outcomes(durable, table, day, profile)
        return TableOutcomes(choice.engine, choice.reason, outcomes, profile=profile)
    batch = rules if isinstance(rules, BatchEngine) else BatchEngine(pack, id_field=id_field)
    rows = OutcomeRows(pack, id_field)
    if isinstance(table, Path):
        if profile is None and pack.profile:
            profile = batch.profile_file(table, day)
        scratch = tempfile.TemporaryDirectory(prefix="tierwise-table-")
        decided = Path(scratch.name) / "decided.parquet"
        try:
            batch.decide_file(table, decided, day, profile=profile)
        except BaseException:
            scratch.cleanup()
            raise
        # CSV and JSONL rows without an id are errors on the durable path (the file sources'
        # rule); Parquet rows are decided with no id, as Engine.decide does
        label = row_label(table) if FILE_FORMATS[table.suffix.lower()] != "parquet" else None
        outcomes = rows.from_parquet(decided, day, label)
        return TableOutcomes(choice.engine, choice.reason, outcomes, scratch, profile)
    if profile is None and pack.profile:
        profile = batch.profile_arrow(table, day)
    result = batch.decide_arrow(table, day, profile=profile)
    outcomes = _arrow_outcomes(rows, result, day)
    return TableOutcomes(choice.engine, choice.reason, outcomes, profile=profile)


def _table_source(source: Any) -> Any:
    """A file path (checked: it exists, of a known type), or an Arrow table (from pandas)."""
    import pyarrow as pa

    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix.lower() not in FILE_FORMATS:
            raise BatchError(
                f"{path}: unknown file type {path.suffix!r}; use .parquet, .csv or .jsonl"
            )
        if not path.is_file():
            raise BatchError(f"{path}: no such file")
        return path
    if isinstance(source, pa.Table):
        return source
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(source, pandas.DataFrame):
        return pa.Table.from_pandas(source, preserve_index=False)
    raise BatchError(
        "decide_table: a table is a .parquet, .csv or .jsonl path, a pyarrow Table or a "
        f"pandas DataFrame, not {type(source).__name__}"
    )


def _arrow_outcomes(rows: OutcomeRows, result: Any, as_of: dt.date) -> Iterator[Outcome]:
    """Outcomes from a batch result table, a page of rows turned into dicts at a time."""
    for part in result.to_batches(max_chunksize=PAGE):
        for row in part.to_pylist():
            yield rows.outcome(row, as_of)


def _durable_outcomes(
    engine: Engine, table: Any, as_of: dt.date, profile: Profile | None
) -> Iterator[Outcome]:
    """The per-client path over the same table, every value read as the file sources and
    the batch path read it (tierwise.lang.values): Parquet and Arrow values by their type,
    CSV and JSONL cells as `tierwise run` reads them."""
    return engine.decide_many(_records(engine, table, as_of), as_of, profile=profile)


def _records(engine: Engine, table: Any, as_of: dt.date) -> Iterator[Record]:
    """The table's rows as client records (or unreadable clients), streamed from files."""
    types, id_field = engine.pack.inputs, engine.id_field
    if isinstance(table, Path) and FILE_FORMATS[table.suffix.lower()] != "parquet":
        rows = Rows(str(table))
        if FILE_FORMATS[table.suffix.lower()] == "csv":
            yield from rows.csv(str(table), types, lambda header: id_field)
        else:
            yield from rows.jsonl(str(table), types, id_field)
        return
    if isinstance(table, Path):
        import pyarrow.parquet as pq

        parts = pq.ParquetFile(table).iter_batches(batch_size=PAGE)
    else:
        parts = table.to_batches(max_chunksize=PAGE)
    label = row_label(table) if isinstance(table, Path) else (lambda n: f"row {n}")
    number = 0
    for part in parts:
        for row in part.to_pylist():
            number += 1
            cid = row.get(id_field)
            yield read_record(row, types, None if cid is None else str(cid), label(number))
