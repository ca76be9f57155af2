"""Read rule files (YAML and CSV decision tables) into plain data, keeping file:line:col.

Stage one of the pipeline. PyYAML composes the node tree (through libyaml, in C, when it
is installed) and this module walks it: every key and value keeps its line and column,
which is what lets every later error name its place. Scalars are read as YAML 1.2 (as
ruamel.yaml read them before): `no`, `on` and `1:30` stay strings.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import BaseResolver

from tierwise.errors import ErrorSink, Pos
from tierwise.lang.parse import Locator

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""A rule file or a decision table may be at most 10 MB: the largest packs are a few hundred kB."""
MAX_DEPTH = 100
"""A YAML file may nest lists and mappings (and merges with <<) at most 100 levels deep."""
MAX_ALIAS_NODES = 20_000
"""Aliases (*name) may add at most 20,000 values to a file (a test's client used in a
thousand tests): a billion-laughs file would add billions, and their positions, from a few
hundred bytes."""
MAX_STRING = 100_000
"""A string in a rule file or a table cell may have at most 100,000 characters."""
MAX_TABLE_ROWS = 100_000
"""A decision table may have at most 100,000 rows."""


class LimitError(Exception):
    """A rule file passes one of the limits above; it names the limit and where it was passed."""

    def __init__(self, mark: Mark | None, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint


class FileProblem(Exception):
    """A rule file or table that cannot be read: not a regular file, too big, not UTF-8..."""


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


class _Resolver12(BaseResolver):
    """Implicit tags of YAML 1.2's core schema, with ruamel.yaml's underscores in numbers."""


# ruamel.yaml's YAML 1.2 patterns, except that a number needs a digit (`0x_` is text).
for _tag, _pattern, _first in [
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    (
        "float",
        r"""[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\._*[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN)""",
        "-+0123456789.",
    ),
    (
        "int",
        r"""[-+]?(?:0b_*[01][01_]*|0o_*[0-7][0-7_]*|0x_*[0-9a-fA-F][0-9a-fA-F_]*|_*[0-9][0-9_]*)""",
        "-+0123456789",
    ),
    ("merge", r"<<", "<"),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    (
        "timestamp",
        r"""[0-9]{4}-[0-9]{2}-[0-9]{2}
        |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?""",
        "0123456789",
    ),
]:
    _Resolver12.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$", re.X), list(_first)
    )


class _PyLoader(yaml.BaseLoader, _Resolver12):
    """PyYAML's pure-Python composer: the fallback without libyaml, and the wording of errors.

    It composes recursively, so it stops at MAX_DEPTH levels, before Python's stack does
    (libyaml composes in C and stops at 1,000; the walk below holds it to MAX_DEPTH).
    """

    level = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if not self.check_event(MappingStartEvent, SequenceStartEvent):
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        self.level += 1
        try:
            if self.level > MAX_DEPTH:
                raise _too_deep(self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.level -= 1


def _too_deep(mark: Mark | None) -> LimitError:
    return LimitError(
        mark,
        f"a YAML file may nest at most {MAX_DEPTH} levels of lists and mappings",
        "rule files need a few levels; split deeper data into several files",
    )


_CBaseLoader: type | None = getattr(yaml, "CBaseLoader", None)  # None without libyaml
_CLoader = None if _CBaseLoader is None else type("_CLoader", (_CBaseLoader, _Resolver12), {})


def _compose(source: str) -> Node | None:
    """The document's node tree, composed by libyaml when present (in C: many times faster).

    libyaml words its errors tersely ("found undefined alias", without the name), so a
    file it rejects is composed again by PyYAML's Python parser for the message.
    """
    if _CLoader is None:
        return _PyLoader(source).get_single_node()
    try:
        return _CLoader(source).get_single_node()
    except yaml.YAMLError as fast:
        try:
            _PyLoader(source).get_single_node()
        except yaml.YAMLError as slow:
            raise slow from fast
        raise


_TIMESTAMP = re.compile(
    r"""(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})
    (?:(?:[Tt]|[ \t]+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})
    (?:\.(?P<fraction>[0-9]*))?
    (?:[ \t]*(?P<tz>Z|(?P<sign>[-+])(?P<tz_hour>[0-9]{1,2})(?::(?P<tz_minute>[0-9]{2}))?))?)?$""",
    re.X,
)


def _timestamp(text: str) -> dt.date | dt.datetime:
    """A date, or a datetime (aware when it names a zone); microseconds rounded as ruamel did."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError("not a date or a datetime")
    v = match.groupdict()
    day = dt.date(int(v["year"]), int(v["month"]), int(v["day"]))
    if v["hour"] is None:
        return day
    zone: dt.tzinfo | None = None
    if v["sign"]:
        offset = dt.timedelta(hours=int(v["tz_hour"]), minutes=int(v["tz_minute"] or 0))
        zone = dt.timezone(-offset if v["sign"] == "-" else offset)
    elif v["tz"]:
        zone = dt.UTC
    fraction = v["fraction"] or ""
    micro = int(fraction[:6].ljust(6, "0")) + (len(fraction) > 6 and fraction[6] >= "5")
    clock = dt.time(int(v["hour"]), int(v["minute"]), int(v["second"]), tzinfo=zone)
    return dt.datetime.combine(day, clock) + dt.timedelta(microseconds=micro)


def _int(text: str) -> int:
    """A YAML 1.2 integer: decimal (leading zeros allowed: 010 is 10), 0o, 0x or 0b, with _."""
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def _float(text: str) -> float:
    """A YAML 1.2 float, with _ between digits and .inf, -.inf, .nan."""
    digits = text.replace("_", "").lower()
    if digits.endswith(".inf"):
        return -math.inf if digits.startswith("-") else math.inf
    return math.nan if digits == ".nan" else float(digits)


def _bool(text: str) -> bool:
    """A YAML 1.2 bool: only true and false (in three cases); yes, no, on and off are text."""
    if text.lower() not in ("true", "false"):
        raise ValueError("a bool is true or false")
    return text.lower() == "true"


def _null(text: str) -> None:
    """~, null or nothing at all."""
    return None


# Every other tag (str, and tags rule files have no use for) reads a scalar as its text.
_SCALARS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "tag:yaml.org,2002:bool": ("bool", _bool),
    "tag:yaml.org,2002:int": ("integer", _int),
    "tag:yaml.org,2002:float": ("number", _float),
    "tag:yaml.org,2002:null": ("null", _null),
    "tag:yaml.org,2002:timestamp": ("date", _timestamp),
}
_STYLES = {"'": "single", '"': "double", "|": "block", ">": "block"}
_MERGE = "tag:yaml.org,2002:merge"
_HINT = "check indentation, and quote values that contain ': ' or start with '>', '-' or '['"


def load_yaml(path: Path, sink: ErrorSink) -> Document | None:
    """Parse one YAML rule file; a syntax error goes to sink and gives None."""
    name = str(path)
    try:
        source = read_text(path, "a rule file")
    except FileProblem as e:
        sink.add(Pos(name, 1, 1), "file error", str(e))
        return None
    doc = Document(name, None, source)
    try:
        root = _compose(source)
        doc.data = None if root is None else _Walk(doc).value(root, ())
    except LimitError as e:
        line, col = (e.mark.line + 1, e.mark.column + 1) if e.mark else (1, 1)
        sink.add(Pos(name, line, col), "limit", e.message, e.hint)
        return None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        sink.add(
            Pos(name, line, col),
            "YAML syntax",
            str(e.problem or e.context or "invalid YAML"),
            _HINT,
        )
        return None
    except ReaderError as e:
        before = source[: e.position]
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        message = f"unacceptable character #x{e.character:04x}: {e.reason}"
        sink.add(Pos(name, line, col), "YAML syntax", message, _HINT)
        return None
    return doc


def read_text(path: Path, what: str, encoding: str = "utf-8") -> str:
    """A regular file's text, refused before reading when it is no regular file (a FIFO or a
    device would hang or never end) or larger than MAX_FILE_BYTES; raises FileProblem."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise FileProblem(f"cannot read {what}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(f"{what} must be a regular file, not a folder, a FIFO or a device")
        too_big = FileProblem(f"{what} may be at most {MAX_FILE_BYTES // 2**20} MB")
        if info.st_size > MAX_FILE_BYTES:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
            chunks.append(chunk)  # a file that grew meanwhile stops past the limit
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise too_big
    data = b"".join(chunks)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        where = f"{e.reason} at byte {e.start}"
        raise FileProblem(f"cannot read {what}: it is not UTF-8 text ({where})") from e
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as Path.read_text reads lines


class _Walk:
    """Turns a composed node tree into plain Python, recording positions and styles by path.

    A node reached again through an alias is walked again (each use has its own positions),
    so the walk counts those values against MAX_ALIAS_NODES; and it holds nesting (through
    aliases and merges too) to MAX_DEPTH.
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.open: set[int] = set()  # collections being walked: an alias back into one loops
        self.seen: set[int] = set()
        self.repeated = 0
        self.alias: Path_ | None = None  # where the alias being walked again is used
        self.merged: dict[int, dict[str | int, tuple[Node, Node]]] = {}

    def value(self, node: Node, path: Path_) -> Any:
        """The plain value of the node at path: a scalar, or a walked mapping or sequence."""
        if id(node) in self.seen:
            return self.again(node, path)
        self.seen.add(id(node))
        return self.walk(node, path)

    def again(self, node: Node, path: Path_) -> Any:
        """A value reached again through an alias: walked again, counted against the limit."""
        outermost = self.alias is None
        if outermost:
            self.alias = path
        try:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_NODES:
                raise LimitError(
                    self.mark(self.alias or path),
                    f"aliases (*name) may add at most {MAX_ALIAS_NODES:,} values to a file",
                    "an alias repeats its anchor's whole value; aliases of aliases multiply",
                )
            return self.walk(node, path)
        finally:
            if outermost:
                self.alias = None

    def mark(self, path: Path_) -> Mark:
        """Where the value at path is written: its key, else the list it is an item of (an
        alias's own position is gone once composed; its node is the anchor's)."""
        where = self.doc.keys.get(path) or self.doc.pos(path[:-1])
        return Mark(self.doc.path, 0, where.line - 1, where.col - 1, None, None)

    def walk(self, node: Node, path: Path_) -> Any:
        """A scalar's value, or a collection walked (not back into itself, not too deep)."""
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if id(node) in self.open:
            raise ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        if len(self.open) >= MAX_DEPTH:
            raise _too_deep(node.start_mark)
        self.open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            return self.sequence(node, path)
        finally:
            self.open.discard(id(node))

    def sequence(self, node: SequenceNode, path: Path_) -> list[Any]:
        """A list, each item's position and style recorded under (*path, index)."""
        items = []
        doc = self.doc
        for i, item in enumerate(node.value):
            sub = (*path, i)
            doc.values[sub] = _pos(doc.path, item)
            doc.styles[sub] = _style(item)
            items.append(self.value(item, sub))
        return items

    def mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        """A dict with text keys; positions recorded under (*path, key), an int key as int."""
        out: dict[str, Any] = {}
        doc = self.doc
        for k, (key, value) in self.entries(node, ()).items():
            sub = (*path, k)
            doc.keys[sub] = _pos(doc.path, key)
            doc.values[sub] = _pos(doc.path, value)
            doc.styles[sub] = _style(value)
            out[k if isinstance(k, str) else str(k)] = self.value(value, sub)
        return out

    def entries(
        self, node: MappingNode, within: tuple[int, ...]
    ) -> dict[str | int, tuple[Node, Node]]:
        """A mapping's keys (as path elements) and nodes; merged keys (<<) yield to its own.

        Two equal keys written in the mapping itself are an error, as they were with ruamel.
        A mapping merged in many places is read once (a merge bomb repeats one mapping
        exponentially often), and merges of merges count as levels of nesting.
        """
        known = self.merged.get(id(node))
        if known is not None:
            return known
        if len(within) >= MAX_DEPTH:
            raise _too_deep(node.start_mark)
        merged: dict[str | int, tuple[Node, Node]] = {}
        own: dict[Any, tuple[Node, Node]] = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                for k, pair in self.merge(node, value, (*within, id(node))).items():
                    merged.setdefault(k, pair)  # an earlier mapping's key wins
                continue
            if not isinstance(key, ScalarNode):
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "a key must be a single value, not a list or a mapping",
                    key.start_mark,
                )
            plain = _scalar(key)
            if plain in own:
                first = own[plain][1]
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f'found duplicate key "{plain}" with value "{_shown(value)}" '
                    f'(original value: "{_shown(first)}")',
                    key.start_mark,
                )
            own[plain] = (key, value)
        for plain, pair in own.items():
            keep = isinstance(plain, str | int) and not isinstance(plain, bool)
            merged[plain if keep else str(plain)] = pair
        self.merged[id(node)] = merged
        return merged

    def merge(
        self, node: MappingNode, value: Node, within: tuple[int, ...]
    ) -> dict[str | int, tuple[Node, Node]]:
        """The entries that `<<: value` merges into `node`, earlier mappings first."""
        merged: dict[str | int, tuple[Node, Node]] = {}
        sources = value.value if isinstance(value, SequenceNode) else [value]
        for source in sources:
            if id(source) in within:
                raise ConstructorError(
                    None, None, "a merge refers to a mapping that contains it", source.start_mark
                )
            if not isinstance(source, MappingNode):
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "expected a mapping or list of mappings for merging, but found " + source.id,
                    source.start_mark,
                )
            for k, pair in self.entries(source, within).items():
                merged.setdefault(k, pair)
        return merged


def _shown(node: Node) -> str:
    """A value as a duplicate-key message shows it (a long one cut short)."""
    if not isinstance(node, ScalarNode):
        text = str(_Walk(Document("", None, "")).value(node, ()))
        return text if len(text) <= 60 else text[:57] + "..."
    return str(_scalar(node))


def _scalar(node: ScalarNode) -> Any:
    """A scalar's Python value by its tag; a value its tag cannot read is an error there."""
    if len(node.value) > MAX_STRING:
        raise LimitError(
            node.start_mark,
            f"a string may have at most {MAX_STRING:,} characters",
            "rule text is short; put long lists of values in a decision table",
        )
    read = _SCALARS.get(node.tag)
    if read is None:
        return node.value
    try:
        return read[1](node.value)
    except ValueError as e:
        raise ConstructorError(
            None, None, f"{node.value!r} is not a valid {read[0]}: {e}", node.start_mark
        ) from e


def _pos(path: str, node: Node) -> Pos:
    """Where a node starts, 1-based (its anchor or tag if it has one, as ruamel said)."""
    return Pos(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _style(node: Node) -> str:
    """How a value is written: plain, single, double (quoted) or block (| or >)."""
    return _STYLES.get(node.style or "", "plain") if isinstance(node, ScalarNode) else "plain"


@dataclass(frozen=True)
class CsvTable:
    """A decision table read from CSV: header names and rows of (cell text, position)."""

    path: str
    header: list[tuple[str, Pos]]
    rows: list[list[tuple[str, Pos]]]
    text: str
    """The whole file, for the pack's content hash."""


def load_table(
    name: str, rule_file: Path, folder: Path, sink: ErrorSink, origin: Pos
) -> CsvTable | None:
    """The CSV decision table that a rule file names: a regular file inside the pack's
    folder, named relative to the rule file (so a rule file cannot publish any file that
    the process can read as decision outputs)."""
    hint = "name a CSV file in the pack's folder, relative to the rule file: table: {file: t.csv}"
    path = Path(name)
    inside = folder.resolve()
    where = (rule_file.parent / path).resolve()
    if path.is_absolute() or not where.is_relative_to(inside):
        sink.add(
            origin,
            "file error",
            f"decision table {name!r} is outside the pack's folder {inside}",
            hint,
        )
        return None
    return load_csv(where, sink, origin, str(rule_file.parent / path))


def load_csv(path: Path, sink: ErrorSink, origin: Pos, shown: str | None = None) -> CsvTable | None:
    """Read a CSV decision table; every cell keeps its own line and column, in the file
    named `shown` (as the rule file that names it is named; default: `path`)."""
    name = shown or str(path)
    try:
        text = read_text(path, f"decision table {name}", "utf-8-sig")
    except FileProblem as e:
        sink.add(
            origin,
            "file error",
            str(e),
            "the table's file name is relative to the folder of the rule file",
        )
        return None
    records: list[list[tuple[str, Pos]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(records) > MAX_TABLE_ROWS:
            sink.add(
                Pos(name, line_no, 1),
                "limit",
                f"a decision table may have at most {MAX_TABLE_ROWS:,} rows",
                "split the decision, or move what the rows encode into facts",
            )
            return None
        try:
            cells = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration) as e:
            sink.add(Pos(name, line_no, 1), "CSV syntax", str(e), "check quotes in this row")
            continue
        row = [
            (cell.strip(), Pos(name, line_no, col))
            for cell, col in zip(cells, _cell_columns(line), strict=False)
        ]
        for cell, pos in row:
            if len(cell) > MAX_STRING:
                sink.add(pos, "limit", f"a table cell may have at most {MAX_STRING:,} characters")
        records.append(row)
    if not records:
        sink.add(
            Pos(name, 1, 1), "CSV syntax", "empty decision table", "the first row names the columns"
        )
        return None
    return CsvTable(name, records[0], records[1:], text)


def _cell_columns(line: str) -> Iterator[int]:
    """1-based start column of every comma-separated cell, respecting quotes."""
    yield 1
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            yield i + 2
