"""Facts tables: every client's facts as the paths see them (inputs read and validated,
the pack's derived facts computed with the run's profile), written to Parquet, CSV or JSON
lines, so that `decide`, `decide_table` and `diff` can be fed from a CRM. A client whose
facts are invalid is that client's failure, reported apart, never a row of nulls."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from tierwise.adapters.base import ID_KEY, AdapterError
from tierwise.lang.arrow import arrow_type
from tierwise.lang.types import FactType
from tierwise.outcome import FactError
from tierwise.pack.ir import Pack
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import UnreadableClient, jsonable
from tierwise.runtime.records import Record

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""The formats of a facts table, by file suffix."""
PAGE = 1000
"""Clients written at a time (a Parquet row group)."""
EXAMPLES = 3
"""Failed clients kept as examples for the summary."""


def table_format(target: str, given: str | None) -> str:
    """The format of a facts table: `given`, else its file's suffix (stdout: JSON lines)."""
    if given is not None:
        return given
    if target == "-":
        return "jsonl"
    fmt = FORMATS.get(Path(target).suffix.lower())
    if fmt is None:
        raise AdapterError(
            f"{target}: unknown facts table type {Path(target).suffix!r}; "
            "use .parquet, .csv or .jsonl (or give --format)"
        )
    return fmt


def fact_columns(pack: Pack) -> dict[str, FactType]:
    """The table's columns: the client's id, every input, then every derived fact the
    pack's facts files declare (the paths read the inputs and derive the rest again)."""
    columns = {ID_KEY: FactType("string")}
    columns.update(pack.inputs)
    columns.update({d.name: d.type for d in pack.derived})
    return columns


@dataclass(frozen=True)
class ClientFailure:
    """A client left out of the table: its id (or its place in the source) and why."""

    client_id: str | None
    errors: tuple[FactError, ...]

    def to_json(self) -> dict[str, Any]:
        """One line of the errors file."""
        errors = [
            {"fact": e.fact, "message": e.message, "value": jsonable(e.value)} for e in self.errors
        ]
        return {"client_id": self.client_id, "errors": errors}


@dataclass
class Exported:
    """What an export wrote: clients in the table, clients left out, a few examples."""

    written: int = 0
    failed: int = 0
    examples: list[ClientFailure] = field(default_factory=list)


class FactsWriter(Protocol):
    """Writes pages of client rows (column -> value) to one table."""

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write one page of rows."""
        ...

    def close(self) -> None:
        """Finish the table (a Parquet footer); the stream itself stays open."""
        ...


def export_facts(
    engine: Engine,
    records: Iterable[Record],
    as_of: dt.date,
    profile: Profile | None,
    writer: FactsWriter,
    on_failure: Callable[[ClientFailure], None] | None = None,
) -> Exported:
    """Derive each client's facts as every path does and write them a page at a time; a
    client that cannot be read or derived goes to `on_failure` instead of the table."""
    columns = list(fact_columns(engine.pack))
    done = Exported()
    page: list[dict[str, Any]] = []
    for record in records:
        row = _row(engine, record, as_of, profile, columns)
        if isinstance(row, ClientFailure):
            done.failed += 1
            if len(done.examples) < EXAMPLES:
                done.examples.append(row)
            if on_failure is not None:
                on_failure(row)
            continue
        page.append(row)
        if len(page) == PAGE:
            writer.write(page)
            done.written += len(page)
            page = []
    if page:
        writer.write(page)
        done.written += len(page)
    return done


def _row(
    engine: Engine,
    record: Record,
    as_of: dt.date,
    profile: Profile | None,
    columns: list[str],
) -> dict[str, Any] | ClientFailure:
    """One client's row of the table, or why it has none."""
    if isinstance(record, UnreadableClient):
        return ClientFailure(record.client_id, record.errors)
    cid = record.get(ID_KEY)
    cid = None if cid is None else str(cid)
    facts, errors = engine.derive(record, as_of, profile=profile)
    if errors:
        return ClientFailure(cid, tuple(errors))
    facts[ID_KEY] = cid
    return {name: facts.get(name) for name in columns}


class ParquetFacts:
    """A Parquet facts table: each fact in its Arrow type (dates as dates)."""

    def __init__(self, out: IO[bytes], columns: Mapping[str, FactType]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.types = {name: arrow_type(t) for name, t in columns.items()}
        self.schema = pa.schema(list(self.types.items()))
        self.file = pq.ParquetWriter(out, self.schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """One page as a row group."""
        import pyarrow as pa

        arrays = [pa.array([r[n] for r in rows], t) for n, t in self.types.items()]
        self.file.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        """Write the footer."""
        self.file.close()


class CsvFacts:
    """A CSV facts table (RFC 4180), each value written as the one reading of values
    (tierwise.lang.values) reads it back: ISO dates, true/false, lists as JSON arrays,
    numbers with every digit, an empty cell for a missing fact."""

    def __init__(self, out: IO[bytes], columns: Mapping[str, FactType]) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.out = csv.writer(self.text)
        self.names = list(columns)
        self.out.writerow(self.names)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """One page of rows, a line each."""
        self.out.writerows([[_cell(r[n]) for n in self.names] for r in rows])

    def close(self) -> None:
        """Flush the text, leaving the stream open."""
        self.text.flush()
        self.text.detach()


def _cell(value: Any) -> str:
    """A fact's value as CSV text that reads back as the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return str(value)


class JsonlFacts:
    """A JSON-lines facts table: one object per client, dates and datetimes as ISO text."""

    def __init__(self, out: IO[bytes], columns: Mapping[str, FactType]) -> None:
        self.out = out

    def write(self, rows: list[dict[str, Any]]) -> None:
        """One page of rows, a JSON object each."""
        self.out.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    def close(self) -> None:
        """Flush the stream."""
        self.out.flush()


WRITERS: dict[str, Callable[[IO[bytes], Mapping[str, FactType]], FactsWriter]] = {
    "parquet": ParquetFacts,
    "csv": CsvFacts,
    "jsonl": JsonlFacts,
}


class TableTarget:
    """Where a facts table goes: stdout (`-`), or a file written beside its place and
    moved there whole when the export is done, so a failed export leaves no half table."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.partial = None if target == "-" else Path(target + ".partial")

    def __enter__(self) -> IO[bytes]:
        """The stream to write the table to."""
        if self.partial is None:
            return sys.stdout.buffer
        try:
            self.stream: IO[bytes] = open(self.partial, "wb")
        except OSError as e:
            raise AdapterError(f"--to {self.target}: cannot write: {e.strerror}") from None
        return self.stream

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        """Move the finished table into place, or drop the partial one after an error."""
        if self.partial is None:
            sys.stdout.buffer.flush()
            return
        self.stream.close()
        if kind is None:
            os.replace(self.partial, self.target)
        else:
            self.partial.unlink(missing_ok=True)


class FailureLines:
    """The errors file: one JSON line per client left out of the table (its id and each
    fact's error), as `on_failure` of export_facts."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def __call__(self, failure: ClientFailure) -> None:
        """Write one failed client."""
        self.out.write(orjson.dumps(failure.to_json()) + b"\n")
