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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import BaseResolver

from tierwise.errors import ErrorSink, Pos
from tierwise.lang.parse import Locator

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
    """PyYAML's pure-Python composer: the fallback without libyaml, and the wording of errors."""


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
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        sink.add(Pos(name, 1, 1), "file error", f"cannot read file: {e}")
        return None
    doc = Document(name, None, source)
    try:
        root = _compose(source)
        doc.data = None if root is None else _Walk(doc).value(root, ())
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


class _Walk:
    """Turns a composed node tree into plain Python, recording positions and styles by path."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.open: set[int] = set()  # collections being walked: an alias back into one loops

    def value(self, node: Node, path: Path_) -> Any:
        """The plain value of the node at path: a scalar, or a walked mapping or sequence."""
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if id(node) in self.open:
            raise ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
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
        for k, (key, value) in _entries(node).items():
            sub = (*path, k)
            doc.keys[sub] = _pos(doc.path, key)
            doc.values[sub] = _pos(doc.path, value)
            doc.styles[sub] = _style(value)
            out[k if isinstance(k, str) else str(k)] = self.value(value, sub)
        return out


def _entries(
    node: MappingNode, within: frozenset[int] = frozenset()
) -> dict[str | int, tuple[Node, Node]]:
    """A mapping's keys (as path elements) and nodes; merged keys (<<) yield to its own.

    Two equal keys written in the mapping itself are an error, as they were with ruamel.
    """
    merged: dict[str | int, tuple[Node, Node]] = {}
    own: dict[Any, tuple[Node, Node]] = {}
    for key, value in node.value:
        if key.tag == _MERGE:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                if id(source) in within | {id(node)}:
                    raise ConstructorError(
                        None,
                        None,
                        "a merge refers to a mapping that contains it",
                        source.start_mark,
                    )
                if not isinstance(source, MappingNode):
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "expected a mapping or list of mappings for merging, but found "
                        + source.id,
                        source.start_mark,
                    )
                for k, pair in _entries(source, within | {id(node)}).items():
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
        k = plain if isinstance(plain, str | int) and not isinstance(plain, bool) else str(plain)
        merged[k] = pair
    return merged


def _shown(node: Node) -> Any:
    """A value as a duplicate-key message shows it."""
    return _Walk(Document("", None, "")).value(node, ())


def _scalar(node: ScalarNode) -> Any:
    """A scalar's Python value by its tag; a value its tag cannot read is an error there."""
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
