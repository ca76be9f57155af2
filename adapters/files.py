"""File sources: `csv:path` and `jsonl:path` (`jsonl:-` reads stdin), streamed row by row
in constant memory; values are coerced to the pack's declared types, and a row that
cannot be read or coerced becomes that client's error, naming the file and the row.
The id is the `client_id` or `id` column; a mapping file may name another id column
(`clients: {id: Kundennummer}`) and rename columns to facts (`facts: {clv: CLV_EUR}`)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from tierwise.lang.types import FactType
from tierwise.outcome import FactError

from .base import ID_KEY, AdapterError, Record, UnreadableClient, coerce_record, without_id
from .mapping import Mapping as MappingFile
from .mapping import load_mapping

ID_COLUMNS = (ID_KEY, "id")


def _path_of(url: str) -> str:
    rest = url.split(":", 1)[1]
    return rest[2:] if rest.startswith("//") else rest


class _FileSource:
    """Shared parts of the file sources: the path, the id column and fact renames."""

    def __init__(self, url: str, mapping: MappingFile) -> None:
        self.url = url
        self.path = _path_of(url)
        if not self.path:
            raise AdapterError(f"{url}: no file given (write {url.split(':')[0]}:path/to/file)")
        if self.path != "-" and not Path(self.path).is_file():
            raise AdapterError(f"{url}: no such file: {self.path}")
        self.id_column = mapping.model.clients.id
        self.renames = {column: fact for fact, column in mapping.model.facts.items()}
        self.writeback = None

    def _rename(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {self.renames.get(k, k): v for k, v in row.items()}

    def _id(self, row: Mapping[str, Any]) -> Any:
        if self.id_column is not None:
            return row.get(self.id_column)
        return next((row[c] for c in ID_COLUMNS if row.get(c) not in (None, "")), None)

    def _record(self, row: Mapping[str, Any], types: Mapping[str, FactType], where: str) -> Record:
        raw_id = self._id(row)
        if raw_id in (None, ""):
            return without_id(where, self.id_column or " or ".join(ID_COLUMNS))
        return coerce_record(self._rename(row), types, str(raw_id), where)

    def fact_origin(self, fact: str) -> str:
        """Where this file gives a fact from: a renamed column, or the column of its name."""
        column = next((c for c, f in self.renames.items() if f == fact), fact)
        return f"column {column!r} of {self.path} (if it has one: no client had a value)"

    def close(self) -> None:
        """Nothing stays open between calls of `clients`."""


class CsvSource(_FileSource):
    """A CSV file with a header row; one client per row; `;` separates list items."""

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        with _open(self.path, newline="") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise AdapterError(f"{self.path}: unreadable header: {e}") from None
            width = len(header)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    where = f"{self.path} row {reader.line_num}"
                    yield UnreadableClient(where, (FactError(fact="*", message=f"{where}: {e}"),))
                    continue
                where = f"{self.path} row {reader.line_num}"
                if not cells:
                    continue
                if len(cells) != width:
                    message = f"{where}: {len(cells)} cells, the header has {width}"
                    row_id = cells[0] if cells else where
                    yield UnreadableClient(row_id or where, (FactError(fact="*", message=message),))
                    continue
                yield self._record(dict(zip(header, cells, strict=True)), types, where)


class JsonlSource(_FileSource):
    """JSON lines: one JSON object per client per line; dates are ISO strings."""

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        with _open(self.path, binary=True) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{'stdin' if self.path == '-' else self.path} line {number}"
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    yield UnreadableClient(
                        where, (FactError(fact="*", message=f"{where}: bad JSON: {e}"),)
                    )
                    continue
                if not isinstance(row, dict):
                    message = f"{where}: expected a JSON object, got {type(row).__name__}"
                    yield UnreadableClient(where, (FactError(fact="*", message=message),))
                    continue
                yield self._record(row, types, where)


def _open(
    path: str, *, newline: str | None = None, binary: bool = False
) -> contextlib.AbstractContextManager[IO[Any]]:
    """The file, or stdin (left open) for `-`."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer if binary else sys.stdin)
    if binary:
        return open(path, "rb")
    return open(path, encoding="utf-8-sig", newline=newline)


def open_csv(url: str, mapping: str | Path | None = None) -> CsvSource:
    """The `csv:` adapter factory."""
    return CsvSource(url, load_mapping(mapping))


def open_jsonl(url: str, mapping: str | Path | None = None) -> JsonlSource:
    """The `jsonl:` adapter factory."""
    return JsonlSource(url, load_mapping(mapping))
