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
from tierwise.lang.types import FactType
from tierwise.outcome import Outcome
from tierwise.pack.build import load_pack
from tierwise.paths import Source, choose_path
from tierwise.runtime.engine import Engine

log = logging.getLogger("tierwise.batch")


class TableOutcomes:
    """What `decide_table` returns: one Outcome per row, in order, and which path decided
    them (`engine`: "sql" or "durable") and why (`reason`)."""

    def __init__(
        self,
        engine: str,
        reason: str,
        outcomes: Iterator[Outcome],
        scratch: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        self.engine = engine
        self.reason = reason
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
) -> TableOutcomes:
    """Decide every client of a table: a Parquet, CSV or JSONL file, a pyarrow Table or a
    pandas DataFrame. The path is tierwise.paths.choose_path's: "auto" takes the batch path
    (one SQL query in DuckDB) when the pack compiles to SQL, else the per-client durable
    path; the result's `engine` and `reason` say which and why (also logged). Either way
    the same Outcomes, one per row, in order (batch explanations carry no fact values:
    `BatchEngine.explain` rebuilds them)."""
    if engine not in ("auto", "durable", "sql"):
        raise BatchError(f"decide_table: engine must be auto, durable or sql, not {engine!r}")
    day = as_of or dt.date.today()
    table = _table_source(source)
    if isinstance(rules, Engine | BatchEngine):
        pack, id_field = rules.pack, rules.id_field
    else:
        if functions is None:
            from tierwise.plugins.manager import function_registry

            functions = function_registry()
        pack = load_pack(rules, functions)
    where = Source("table", str(table)) if isinstance(table, Path) else Source("arrow", "the table")
    choice = choose_path([pack], where, engine)
    log.info("decide_table: %s path (%s)", choice.engine, choice.reason)
    if not isinstance(table, Path):
        table = _whole_floats_as_integers(table, pack.inputs)
    if choice.engine == "durable":
        durable = rules if isinstance(rules, Engine) else Engine(pack, id_field=id_field)
        return TableOutcomes(choice.engine, choice.reason, _durable_outcomes(durable, table, day))
    batch = rules if isinstance(rules, BatchEngine) else BatchEngine(pack, id_field=id_field)
    rows = OutcomeRows(pack, id_field)
    if isinstance(table, Path):
        scratch = tempfile.TemporaryDirectory(prefix="tierwise-table-")
        decided = Path(scratch.name) / "decided.parquet"
        try:
            batch.decide_file(table, decided, day)
        except BaseException:
            scratch.cleanup()
            raise
        # CSV and JSONL rows without an id are errors on the durable path (the file sources'
        # rule); Parquet rows are decided with no id, as Engine.decide does
        label = row_label(table) if FILE_FORMATS[table.suffix.lower()] != "parquet" else None
        return TableOutcomes(
            choice.engine, choice.reason, rows.from_parquet(decided, day, label), scratch
        )
    result = batch.decide_arrow(table, day)
    return TableOutcomes(choice.engine, choice.reason, _arrow_outcomes(rows, result, day))


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


def _whole_floats_as_integers(table: Any, inputs: dict[str, FactType]) -> Any:
    """A float column for an integer fact, as pandas makes of an integer column with missing
    values, becomes integers when every value is whole; else it stays, and each client with
    a fraction gets the usual 'should be an integer' error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, t in inputs.items():
        if t.kind != "integer" or name not in table.column_names:
            continue
        index = table.column_names.index(name)
        column = table.column(index)
        if not pa.types.is_floating(column.type):
            continue
        try:
            whole = pc.cast(column, pa.int64(), safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(index, name, whole)
    return table


def _arrow_outcomes(rows: OutcomeRows, result: Any, as_of: dt.date) -> Iterator[Outcome]:
    """Outcomes from a batch result table, a page of rows turned into dicts at a time."""
    for part in result.to_batches(max_chunksize=PAGE):
        for row in part.to_pylist():
            yield rows.outcome(row, as_of)


def _durable_outcomes(engine: Engine, table: Any, as_of: dt.date) -> Iterator[Outcome]:
    """The per-client path over the same table: Parquet and Arrow rows as they are typed,
    CSV and JSONL cells through the file adapters' coercion (as `tierwise run` reads them)."""
    return engine.decide_many(_records(engine, table, as_of), as_of)


def _records(engine: Engine, table: Any, as_of: dt.date) -> Iterator[Any]:
    """The table's rows as fact dicts (or unreadable clients), streamed from files."""
    if not isinstance(table, Path):
        for part in table.to_batches(max_chunksize=PAGE):
            yield from part.to_pylist()
        return
    kind = FILE_FORMATS[table.suffix.lower()]
    if kind == "parquet":
        import pyarrow.parquet as pq

        for part in pq.ParquetFile(table).iter_batches(batch_size=PAGE):
            yield from part.to_pylist()
        return
    from tierwise.adapters.files import CsvSource, JsonlSource
    from tierwise.adapters.mapping import ClientsTable, Mapping, MappingModel

    mapping = Mapping(MappingModel(clients=ClientsTable(id=engine.id_field)))
    if kind == "csv":
        yield from CsvSource(f"csv:{table}", mapping).clients(as_of, engine.pack.inputs)
    else:
        yield from JsonlSource(f"jsonl:{table}", mapping).clients(as_of, engine.pack.inputs)
