"""File sources: `csv:path` and `jsonl:path` (`jsonl:-` reads stdin), streamed row by row
in constant memory by the core's file reading (tierwise.runtime.files): values are read as
the pack's declared types, and a row that cannot be read (bad JSON, a ragged CSV row, bytes
that are not UTF-8, a value that is not of its type) becomes that client's error, naming
the file and the row.

The id is the `client_id` column, else the `id` column (chosen once per file); a mapping
file may name another id column (`clients: {id: Kundennummer}`) and rename columns to
declared facts (`facts: {clv: CLV_EUR}`). Both are checked against the file's columns (a
CSV header, the keys of a JSONL file's objects) and the pack's facts, each error at the
mapping's file:line:col, and `table_columns` hands them to the batch path as plain data."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from tierwise.lang.types import FactType
from tierwise.runtime.facts import printable
from tierwise.runtime.files import ID_COLUMNS, Rows, TableFileError, csv_header, jsonl_keys

from .base import ID_KEY, AdapterError, Record
from .mapping import Mapping as MappingFile
from .mapping import load_mapping


def _path_of(url: str) -> str:
    rest = url.split(":", 1)[1]
    return rest[2:] if rest.startswith("//") else rest


class FileSource(abc.ABC):
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
        self.rows = Rows(self.name, self.renames)
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

    def fact_origin(self, fact: str) -> str:
        """Where this file gives a fact from: a renamed column, or the column of its name."""
        column = next((c for c, f in self.renames.items() if f == fact), fact)
        return f"column {column!r} of {self.path} (if it has one: no client had a value)"

    def close(self) -> None:
        """Nothing stays open between calls of `clients`."""
        return None


class CsvSource(FileSource):
    """A CSV file with a header row (RFC 4180: commas, double quotes); one client per
    row; `;` separates list items. Undecodable bytes are that row's error."""

    def _columns(self) -> Sequence[str]:
        """The header's cells."""
        return _checked(lambda: csv_header(self.path, self.name))

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        def id_column(header: list[str]) -> str:
            return str(self._id_column(header, types))

        yield from _checked_rows(self.rows.csv(self.path, types, id_column))


class JsonlSource(FileSource):
    """JSON lines: one JSON object per client per line; dates are ISO strings."""

    def __init__(self, url: str, mapping: MappingFile) -> None:
        super().__init__(url, mapping)
        self._keys: list[str] | None = None

    def _columns(self) -> Sequence[str]:
        """Every key of the file's objects, read once per source (a run reads the file
        twice: profile, then decisions). Stdin, read once, cannot be looked at first: its
        id column is chosen per line and its mapped columns are not checked."""
        if self._keys is None:
            self._keys = jsonl_keys(self.path)
        return self._keys

    def clients(self, as_of: dt.date, types: Mapping[str, FactType]) -> Iterator[Record]:
        id_column = self._id_column(None if self.path == "-" else self._columns(), types)
        yield from self.rows.jsonl(self.path, types, id_column)


def _checked(read: Callable[[], list[str]]) -> list[str]:
    """A file's header, a header that cannot be read an AdapterError naming the file."""
    try:
        return read()
    except TableFileError as e:
        raise AdapterError(str(e)) from None


def _checked_rows(records: Iterator[Record]) -> Iterator[Record]:
    """A file's records, a header that cannot be read an AdapterError naming the file."""
    try:
        yield from records
    except TableFileError as e:
        raise AdapterError(str(e)) from None


def _listed(columns: Iterable[str]) -> str:
    """The columns for an error message: sorted, at most 20."""
    names = sorted(columns)
    shown = ", ".join(printable(c) for c in names[:20])
    return f"columns: {shown}{', ...' if len(names) > 20 else ''}" if names else "no columns"


def open_csv(url: str, mapping: str | Path | None = None) -> CsvSource:
    """The `csv:` adapter factory."""
    return CsvSource(url, load_mapping(mapping))


def open_jsonl(url: str, mapping: str | Path | None = None) -> JsonlSource:
    """The `jsonl:` adapter factory."""
    return JsonlSource(url, load_mapping(mapping))
