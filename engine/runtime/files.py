"""Client records from CSV and JSON-lines files, streamed row by row in constant memory:
each row's id and declared facts read by the rules of tierwise.runtime.records (a ragged
CSV row, bytes that are not UTF-8 or a broken JSON line is that client's error, naming the
file and the row). The file sources (tierwise.adapters.files) and decide_table's per-client
path read files through these functions; `-` is stdin."""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import orjson

from tierwise.errors import TierwiseError
from tierwise.lang.types import FactType
from tierwise.lang.values import is_text, printable
from tierwise.outcome import FactError
from tierwise.runtime.facts import UnreadableClient
from tierwise.runtime.records import (
    ANY_FACT,
    ID_FACT,
    Record,
    json_record,
    ragged,
    read_record,
    row_id,
)

ID_COLUMNS = (ID_FACT, "id")
"""The id columns a file may have without a mapping, in order of preference."""


class TableFileError(TierwiseError):
    """A table file that cannot be read at all (its CSV header); names the file."""


class Rows:
    """How the rows of one file become client records: its name in messages, and the
    renames of columns to facts (column -> fact, from a mapping file)."""

    def __init__(self, name: str, renames: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.renames = dict(renames or {})
        self._facts = frozenset(self.renames.values())

    def record(
        self, row: Mapping[str, Any], id_column: str, types: Mapping[str, FactType], where: str
    ) -> Record:
        """One row as a client record, or that client's error (no id, a bad value)."""
        cid = row_id(row.get(id_column), where, id_column)
        if isinstance(cid, UnreadableClient):
            return cid
        return read_record(self.renamed(row), types, cid, where)

    def renamed(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Columns renamed to their facts; a column named like a renamed fact gives way."""
        kept = {k: v for k, v in row.items() if k not in self._facts and k not in self.renames}
        for column, fact in self.renames.items():
            kept[fact] = row.get(column)
        return kept

    def csv(
        self, path: str, types: Mapping[str, FactType], id_column: Callable[[list[str]], str]
    ) -> Iterator[Record]:
        """Every row of a CSV file (RFC 4180: commas, double quotes, a header row) as a
        record; `id_column` chooses the id column from the header."""
        with text_file(path) as f:
            reader = csv.reader(f)
            header = self.header(reader)
            if not header:
                return
            column = id_column(header)
            at = header.index(column) if column in header else len(header)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    where = f"{self.name} row {reader.line_num}"
                    yield UnreadableClient(where, (FactError(ANY_FACT, f"{where}: {e}"),))
                    continue
                where = f"{self.name} row {reader.line_num}"
                if not cells:
                    continue
                error = ragged(where, cells, header)
                if error is not None:
                    cid = row_id(cells[at] if at < len(cells) else None, where, column)
                    yield UnreadableClient(
                        where if isinstance(cid, UnreadableClient) else cid, (error,)
                    )
                    continue
                yield self.record(dict(zip(header, cells, strict=True)), column, types, where)

    def header(self, reader: Any) -> list[str]:
        """The first row; a header that is not valid text stops the file, naming it."""
        try:
            header: list[str] = next(reader, [])
        except csv.Error as e:
            raise TableFileError(f"{self.name}: unreadable header: {e}") from None
        bad = next((c for c in header if not is_text(c)), None)
        if bad is not None:
            raise TableFileError(f"{self.name}: header cell '{printable(bad)}' is not valid UTF-8")
        return header

    def jsonl(
        self, path: str, types: Mapping[str, FactType], id_column: str | None
    ) -> Iterator[Record]:
        """Every JSON line of a file as a record; with `id_column` None, each line's id is
        its `client_id`, else its `id` (stdin, which cannot be looked at first)."""
        with binary_file(path) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{self.name} line {number}"
                row = json_record(line, where, (id_column,) if id_column else ID_COLUMNS)
                if isinstance(row, FactError):
                    yield UnreadableClient(where, (row,))
                    continue
                yield self.record(row, id_column or _line_id_column(row), types, where)


def csv_header(path: str, name: str) -> list[str]:
    """The header cells of a CSV file."""
    with text_file(path) as f:
        return Rows(name).header(csv.reader(f))


def jsonl_keys(path: str) -> list[str]:
    """Every key of the objects of a JSON-lines file, in order of first appearance."""
    keys: dict[str, None] = {}
    with binary_file(path) as f:
        for line in f:
            with contextlib.suppress(orjson.JSONDecodeError):
                row = orjson.loads(line)
                if isinstance(row, dict):
                    keys.update(dict.fromkeys(row))
    return list(keys)


def _line_id_column(row: Mapping[str, Any]) -> str:
    """The id column of one line of stdin: `client_id` when it has a value, else `id`."""
    return ID_FACT if row.get(ID_FACT) not in (None, "") else "id"


def text_file(path: str) -> contextlib.AbstractContextManager[IO[str]]:
    """The file, or stdin (left open) for `-`, as text with a leading BOM dropped, whose
    undecodable bytes become lone surrogates: each one makes its row an error (in
    `read_record`) instead of stopping the read."""
    if path == "-":
        return _stdin_text()
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


@contextlib.contextmanager
def _stdin_text() -> Iterator[IO[str]]:
    """Stdin as `text_file` reads files, left open afterwards."""
    stream = io.TextIOWrapper(
        sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    try:
        yield stream
    finally:
        stream.detach()  # stdin stays open


def binary_file(path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The file, or stdin (left open) for `-`, as bytes (orjson decodes each line)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(path, "rb")
