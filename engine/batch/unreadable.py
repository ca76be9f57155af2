"""The records of a CSV or JSON-lines file that DuckDB cannot read (a ragged row, bytes
that are not UTF-8, a line that is not a JSON object), set apart so that the rest of the
file is still decided in bulk and each of them becomes that client's error, by the rules
the per-client file sources apply (tierwise.runtime.records). Only used when DuckDB fails
on a file: a file it reads whole never pays for this pass."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierwise.outcome import FactError
from tierwise.runtime.facts import is_text
from tierwise.runtime.records import json_record, no_id, not_text, not_text_id, ragged


@dataclass(frozen=True, slots=True)
class Unreadable:
    """One record set apart: its position among the file's records (from 0), its client
    id (or, without a readable one, its place in the file) and its errors."""

    position: int
    client_id: str
    errors: tuple[FactError, ...]


def set_apart(
    src: Path, file_format: str, id_column: str, facts: Mapping[str, str], clean: Path
) -> tuple[list[Unreadable], int]:
    """Copy the readable records of `src` to `clean` (same format); return the others and
    how many were copied. `facts` maps file columns to their facts, for naming errors."""
    records = (
        _csv(src, id_column, facts, clean) if file_format == "csv" else _json(src, id_column, clean)
    )
    found = list(records)
    apart = [r for r in found if r is not None]
    return apart, len(found) - len(apart)


def _csv(
    src: Path, id_column: str, facts: Mapping[str, str], clean: Path
) -> Iterator[Unreadable | None]:
    """CSV rows read as the CSV source reads them; readable ones copied to `clean` (None)."""
    with (
        src.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f,
        clean.open("w", encoding="utf-8", newline="") as out,
    ):
        reader, writer = csv.reader(f), csv.writer(out)
        header = next(reader, [])
        writer.writerow(header)
        at = header.index(id_column) if id_column in header else None
        position = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                where = f"{src} row {reader.line_num}"
                yield Unreadable(position, where, (FactError("*", f"{where}: {e}"),))
                position += 1
                continue
            if not cells:
                continue
            where = f"{src} row {reader.line_num}"
            found = _csv_unreadable(cells, header, at, where, id_column, facts)
            if found is None:
                writer.writerow(cells)
                yield None
            else:
                yield Unreadable(position, *found)
            position += 1


def _csv_unreadable(
    cells: list[str],
    header: list[str],
    at: int | None,
    where: str,
    id_column: str,
    facts: Mapping[str, str],
) -> tuple[str, tuple[FactError, ...]] | None:
    """A row's id and errors when the row cannot be read, as the CSV source gives them."""
    raw_id: Any = cells[at] if at is not None and at < len(cells) else None
    readable_id = isinstance(raw_id, str) and raw_id != "" and is_text(raw_id)
    error = ragged(where, cells, header)
    if error is not None:
        return (raw_id if readable_id else where), (error,)
    bad = [(column, cell) for column, cell in zip(header, cells, strict=True) if not is_text(cell)]
    if not bad:
        return None
    if not raw_id:
        return where, (no_id(where, id_column),)
    if not readable_id:
        return where, (not_text_id(where, id_column, raw_id),)
    return raw_id, tuple(not_text(where, facts.get(column, column), cell) for column, cell in bad)


def _json(src: Path, id_column: str, clean: Path) -> Iterator[Unreadable | None]:
    """JSON lines read as the JSONL source reads them; readable ones copied to `clean` (None)."""
    with src.open("rb") as f, clean.open("wb") as out:
        position = 0
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{src} line {number}"
            record = json_record(line, where, (id_column,))
            if isinstance(record, FactError):
                yield Unreadable(position, where, (record,))
            else:
                out.write(line if line.endswith(b"\n") else line + b"\n")
                yield None
            position += 1
