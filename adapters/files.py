"""File sources: `csv:path` and `jsonl:path` (`jsonl:-` reads stdin), streamed row by row
in constant memory; values are coerced to the pack's declared types, and a row that
cannot be read or coerced (bad JSON, a ragged CSV row, bytes that are not UTF-8) becomes
that client's error, naming the file and the row.

The id is the `client_id` column, else the `id` column (chosen once per file); a mapping
file may name another id column (`clients: {id: Kundennummer}`) and rename columns to
declared facts (`facts: {clv: CLV_EUR}`). Both are checked against the file's columns (a
CSV header, the keys of a JSONL file's objects) and the pack's facts, each error at the
mapping's file:line:col, and `table_columns` hands them to the batch path as plain data."""

from __future__ import annotations

import abc
import contextlib
import csv
import datetime as dt
import io
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from tierwise.lang.types import FactType
from tierwise.outcome import FactError
from tierwise.runtime.facts import is_text, printable
from tierwise.runtime.records import json_record, ragged

from .base import ID_KEY, AdapterError, Record, UnreadableClient, coerce_record, row_id
from .mapping import Mapping as MappingFile
from .mapping import load_mapping

ID_COLUMNS = (ID_KEY, "id")


def _path_of(url: str) -> str:
    rest = url.split(":", 1)[1]
    return rest[2:] if rest.startswith("//") else rest


class _FileSource(abc.ABC):
    """Shared parts of the file sources: the path, the id column and fact renames."""

    def __init__(self, url: str, mapping: MappingFile) -> None:
        self.url = url
        self.path = _path_of(url)
        if not self.path:
            raise AdapterError(f"{url}: no file given (write {url.split(':')[0]}:path/to/file)")
        if self.path != "-" and not Path(self.path).is_file():
            raise AdapterError(f"{url}: no such file: {self.path}")
        self.mapping = mapping
        self.renames = {column: fact for fact, column in mapping.model.facts.items()}
        self.writeback = None

    @property
    def name(self) -> str:
        """The file as messages name it (`stdin` for `-`)."""
        return "stdin" if self.path == "-" else self.path

    def _id_column(
        self, columns: Iterable[str] | None, types: Mapping[str, FactType]
    ) -> str | None:
        """The file's id column, every mapped column checked against the file's `columns`
        and every mapped fact against the pack's `types` (errors at the mapping's place).
        With `columns` None (stdin, which cannot be read twice): the mapped id column, or
        None for `client_id`, else `id`, line by line."""
        self.mapping.check_facts(types)
        if columns is None:
            return self.mapping.model.clients.id
        present = set(columns)
        for fact, column in self.mapping.model.facts.items():
            if column not in present:
                raise self.mapping.error(
                    ("facts", fact), f"{self.name} has no column {column!r} ({_listed(present)})"
                )
        mapped = self.mapping.model.clients.id
        if mapped is not None:
            if mapped not in present:
                raise self.mapping.error(
                    ("clients", "id"), f"{self.name} has no column {mapped!r} ({_listed(present)})"
                )
            return mapped
        found = next((c for c in ID_COLUMNS if c in present), None)
        if found is None and not present:  # no readable record: each is its own error
            return ID_KEY
        if found is None:
            raise AdapterError(
                f"{self.name}: no client_id or id column ({_listed(present)}); name the id "
                "column in a mapping file: clients: {id: ...}"
            )
        return found

    def table_columns(self, types: Mapping[str, FactType]) -> dict[str, str]:
        """For the batch path: the id (as `client_id`) and every renamed fact -> the file
        column that holds it, after the same checks as `clients`."""
        if self.path == "-":
            raise AdapterError(f"{self.url}: the batch path reads files, not stdin")
        id_column = self._id_column(self._columns(), types)
        columns = {fact: column for column, fact in self.renames.items()}
        return {ID_KEY: str(id_column), **columns}

    @abc.abstractmethod
    def _columns(self) -> Sequence[str]:
        """The file's column names."""

    def _record(
        self, row: Mapping[str, Any], id_column: str, types: Mapping[str, FactType], where: str
    ) -> Record:
        """One row as a client record, or that client's error (no id, a bad value)."""
        cid = row_id(row.get(id_column), where, id_column)
        if isinstance(cid, UnreadableClient):
            return cid
        return coerce_record(self._rename(row), types, cid, where)

    def _rename(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Columns renamed to their facts; a column named like a renamed fact gives way."""
        facts = self.mapping.model.facts
        renamed = {k: v for k, v in row.items() if k not in facts and k not in self.renames}
        for column, fact in self.renames.items():
            renamed[fact] = row.get(column)
        return renamed

    def close(self) -> None:
        """Nothing stays open between calls of `clients`."""
        return None


class CsvSource(_FileSource):
    """A CSV file with a header row (RFC 4180: commas, double quotes); one client per
    row; `;` separates list items. Undecodable bytes are that row's error."""

    def _columns(self) -> Sequence[str]:
        """The header's cells."""
        with _text(self.path) as f:
            return self._header(csv.reader(f))

    def _header(self, reader: Any) -> list[str]:
        """The first row; a header that is not valid text stops the file, naming it."""
        try:
            header: list[str] = next(reader, [])
        except csv.Error as e:
            raise AdapterError(f"{self.name}: unreadable header: {e}") from None
        bad = next((c for c in header if not is_text(c)), None)
        if bad is not None:
            raise AdapterError(f"{self.name}: header cell '{printable(bad)}' is not valid UTF-8")
        return header

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        with _text(self.path) as f:
            reader = csv.reader(f)
            header = self._header(reader)
            if not header:
                return
            id_column = str(self._id_column(header, types))
            at = header.index(id_column)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    where = f"{self.name} row {reader.line_num}"
                    yield UnreadableClient(where, (FactError(fact="*", message=f"{where}: {e}"),))
                    continue
                where = f"{self.name} row {reader.line_num}"
                if not cells:
                    continue
                error = ragged(where, cells, header)
                if error is not None:
                    cid = row_id(cells[at] if at < len(cells) else None, where, id_column)
                    yield UnreadableClient(
                        where if isinstance(cid, UnreadableClient) else cid, (error,)
                    )
                    continue
                yield self._record(dict(zip(header, cells, strict=True)), id_column, types, where)


class JsonlSource(_FileSource):
    """JSON lines: one JSON object per client per line; dates are ISO strings."""

    def __init__(self, url: str, mapping: MappingFile) -> None:
        super().__init__(url, mapping)
        self._keys: list[str] | None = None

    def _columns(self) -> Sequence[str]:
        """Every key of the file's objects, read once per source (a run reads the file
        twice: profile, then decisions). Stdin, read once, cannot be looked at first: its
        id column is chosen per line and its mapped columns are not checked."""
        if self._keys is None:
            keys: dict[str, None] = {}
            with _binary(self.path) as f:
                for line in f:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        row = orjson.loads(line)
                        if isinstance(row, dict):
                            keys.update(dict.fromkeys(row))
            self._keys = list(keys)
        return self._keys

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        id_column = self._id_column(None if self.path == "-" else self._columns(), types)
        with _binary(self.path) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{self.name} line {number}"
                row = json_record(line, where, (id_column,) if id_column else ID_COLUMNS)
                if isinstance(row, FactError):
                    yield UnreadableClient(where, (row,))
                    continue
                yield self._record(row, id_column or _row_id_column(row), types, where)


def _row_id_column(row: Mapping[str, Any]) -> str:
    """The id column of one line of stdin: `client_id` when it has a value, else `id`."""
    return ID_KEY if row.get(ID_KEY) not in (None, "") else "id"


def _listed(columns: Iterable[str]) -> str:
    """The columns for an error message: sorted, at most 20."""
    names = sorted(columns)
    shown = ", ".join(printable(c) for c in names[:20])
    return f"columns: {shown}{', ...' if len(names) > 20 else ''}" if names else "no columns"


def _text(path: str) -> contextlib.AbstractContextManager[IO[str]]:
    """The file, or stdin (left open) for `-`, as text with a leading BOM dropped, whose
    undecodable bytes become lone surrogates: each one makes its row an error (in
    `coerce_record`) instead of stopping the read."""
    if path == "-":
        return _stdin_text()
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


@contextlib.contextmanager
def _stdin_text() -> Iterator[IO[str]]:
    """Stdin as `_text` reads files, left open afterwards."""
    stream = io.TextIOWrapper(
        sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    try:
        yield stream
    finally:
        stream.detach()  # stdin stays open


def _binary(path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The file, or stdin (left open) for `-`, as bytes (orjson decodes each line)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(path, "rb")


def open_csv(url: str, mapping: str | Path | None = None) -> CsvSource:
    """The `csv:` adapter factory."""
    return CsvSource(url, load_mapping(mapping))


def open_jsonl(url: str, mapping: str | Path | None = None) -> JsonlSource:
    """The `jsonl:` adapter factory."""
    return JsonlSource(url, load_mapping(mapping))
