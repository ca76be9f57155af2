"""Read rule files (YAML and CSV decision tables) into plain data, keeping file:line:col.

Stage one of the pipeline. ruamel.yaml is used because it records the line and column
of every key and value; that index is what lets every later error name its place.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from .errors import ErrorSink, Pos
from .parse import Locator

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed rule file: plain data plus the position of every key and value in it."""

    path: str
    data: Any
    source: str
    keys: dict[Path_, Pos] = field(default_factory=dict)
    values: dict[Path_, Pos] = field(default_factory=dict)
    styles: dict[Path_, str] = field(default_factory=dict)

    def pos(self, path: Path_) -> Pos:
        """The best position for a path: its value, else its key, else its nearest parent."""
        for end in range(len(path), -1, -1):
            sub = path[:end]
            if sub in self.values:
                return self.values[sub]
            if sub in self.keys:
                return self.keys[sub]
        return Pos(self.path, 1, 1)

    def key_pos(self, path: Path_) -> Pos:
        return self.keys.get(path) or self.pos(path)

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    def locator(self, path: Path_, text: str) -> Locator:
        """Map offsets in the string at `path` to file positions, through quotes and folds."""
        start = self.pos(path)
        style = self.styles.get(path, "plain")
        if style in ("plain", "single", "double") and "\n" not in text:
            shift = 0 if style == "plain" else 1
            row = self.lines[start.line - 1] if start.line <= len(self.lines) else ""
            begin = start.col - 1 + shift
            if row[begin : begin + len(text)] == text:  # no escapes such as \" or ''
                return lambda offset: Pos(self.path, start.line, start.col + shift + offset)
        return _aligned_locator(self.path, self.source, start, text)


def _aligned_locator(path: str, source: str, start: Pos, text: str) -> Locator:
    """Align a scalar's text with its source characters (block and multi-line scalars)."""
    lines = source.splitlines()
    places: list[Pos] = []
    line, col = start.line - 1, start.col - 1
    for ch in text:
        while line < len(lines):
            row = lines[line]
            if col >= len(row):
                line, col = line + 1, 0
                continue
            if row[col] == ch:
                places.append(Pos(path, line + 1, col + 1))
                col += 1
                break
            if ch.isspace():
                places.append(Pos(path, line + 1, col + 1))
                break
            col += 1
        else:
            places.append(start)
    return lambda offset: (
        places[offset] if offset < len(places) else (places[-1] if places else start)
    )


def load_yaml(path: Path, sink: ErrorSink) -> Document | None:
    """Parse one YAML rule file; a syntax error goes to sink and gives None."""
    name = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        sink.add(Pos(name, 1, 1), "file error", f"cannot read file: {e}")
        return None
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    try:
        raw = yaml.load(source)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = e.problem or e.context or "invalid YAML"
        sink.add(
            Pos(name, line, col),
            "YAML syntax",
            str(problem),
            "check indentation, and quote values that contain ': ' or start with '>', '-' or '['",
        )
        return None
    doc = Document(name, None, source)
    doc.data = _plain(raw, (), doc)
    return doc


def _plain(node: Any, path: Path_, doc: Document) -> Any:
    """Convert ruamel's round-trip nodes to plain Python, recording positions by path."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            k = str(key) if not isinstance(key, str | int) or isinstance(key, bool) else key
            kline, kcol = node.lc.key(key)
            vline, vcol = node.lc.value(key)
            doc.keys[(*path, k)] = Pos(doc.path, kline + 1, kcol + 1)
            doc.values[(*path, k)] = Pos(doc.path, vline + 1, vcol + 1)
            doc.styles[(*path, k)] = _style(value)
            out[str(k) if not isinstance(k, str) else k] = _plain(value, (*path, k), doc)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, col = node.lc.item(i)
            doc.values[(*path, i)] = Pos(doc.path, line + 1, col + 1)
            doc.styles[(*path, i)] = _style(value)
            items.append(_plain(value, (*path, i), doc))
        return items
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime | dt.date) or node is None:
        return node
    return node


def _style(value: Any) -> str:
    if isinstance(value, DoubleQuotedScalarString):
        return "double"
    if isinstance(value, SingleQuotedScalarString):
        return "single"
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return "block"
    return "plain"


@dataclass(frozen=True)
class CsvTable:
    """A decision table read from CSV: header names and rows of (cell text, position)."""

    path: str
    header: list[tuple[str, Pos]]
    rows: list[list[tuple[str, Pos]]]


def load_csv(path: Path, sink: ErrorSink, origin: Pos) -> CsvTable | None:
    """Read a CSV decision table; every cell keeps its own line and column."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        sink.add(
            origin,
            "file error",
            f"cannot read decision table {name}: {e}",
            "the table's file name is relative to the folder of the rule file",
        )
        return None
    records: list[list[tuple[str, Pos]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cells = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration) as e:
            sink.add(Pos(name, line_no, 1), "CSV syntax", str(e), "check quotes in this row")
            continue
        records.append(
            [
                (cell.strip(), Pos(name, line_no, col))
                for cell, col in zip(cells, _cell_columns(line), strict=False)
            ]
        )
    if not records:
        sink.add(
            Pos(name, 1, 1), "CSV syntax", "empty decision table", "the first row names the columns"
        )
        return None
    return CsvTable(name, records[0], records[1:])


def _cell_columns(line: str) -> Iterator[int]:
    """1-based start column of every comma-separated cell, respecting quotes."""
    yield 1
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            yield i + 2
