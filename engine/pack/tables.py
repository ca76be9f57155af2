"""Decision tables: rows of cells (`>= 10000`, `[1..5]`, `"vip","b2b"`, `-`) become rules.

A table is the same decision as a list of rules, written so that a spreadsheet can edit
it. Columns named after an input (or derived fact) are conditions; `id`, `because` and
`priority` are special; every other column is an output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tierwise.errors import ErrorSink, Pos
from tierwise.lang.expr import And, Compare, In, ListLit, Literal, Name, Node, Not
from tierwise.lang.parse import ParseError, parse_expression
from tierwise.lang.types import FactType
from tierwise.pack.schema import IDENT

SPECIAL = ("id", "because", "priority")
_RANGE = re.compile(r"^([\[\(\]])\s*(.+?)\s*\.\.\s*(.+?)\s*([\]\)\[])$")
_OP = re.compile(r"^(==|!=|<=|>=|<|>)\s*")


@dataclass(frozen=True)
class Cell:
    text: str
    value: Any
    pos: Pos


@dataclass(frozen=True)
class TableRow:
    """One row, split into condition cells and output values."""

    id: str
    because: str
    priority: int | None
    conditions: dict[str, Cell]
    outputs: dict[str, Any]
    pos: Pos


def cell_condition(name: str, ftype: FactType, cell: Cell, sink: ErrorSink) -> Node | None:
    """The condition one cell puts on fact `name`; None for `-` or an empty cell (any)."""
    value = cell.value
    if value is None:
        return None
    subject = Name(cell.pos, name)
    if not isinstance(value, str):
        return Compare(cell.pos, "==", subject, Literal(cell.pos, value))
    text = value.strip()
    if text in ("", "-"):
        return None
    lead = len(value) - len(value.lstrip())

    def parse(fragment: str, offset: int) -> Node:
        return parse_expression(
            fragment, lambda o: Pos(cell.pos.file, cell.pos.line, cell.pos.col + lead + offset + o)
        )

    try:
        if text.startswith("not(") and text.endswith(")"):
            inner = Cell(
                text[4:-1], text[4:-1], Pos(cell.pos.file, cell.pos.line, cell.pos.col + lead + 4)
            )
            cond = cell_condition(name, ftype, inner, sink)
            return Not(cell.pos, cond) if cond is not None else None
        m = _OP.match(text)
        if m:
            return Compare(
                cell.pos, m.group(1), subject, _as_value(parse(text[m.end() :], m.end()), ftype)
            )
        m = _RANGE.match(text)
        if m:
            low = _as_value(parse(m.group(2), m.start(2)), ftype)
            high = _as_value(parse(m.group(3), m.start(3)), ftype)
            low_op = ">=" if m.group(1) == "[" else ">"
            high_op = "<=" if m.group(4) == "]" else "<"
            return And(
                cell.pos,
                (
                    Compare(cell.pos, low_op, subject, low),
                    Compare(cell.pos, high_op, subject, high),
                ),
            )
        items = _split_items(text)
        values = [_as_value(parse(item, off), ftype) for item, off in items]
        if len(values) == 1:
            return Compare(cell.pos, "==", subject, values[0])
        return In(cell.pos, subject, ListLit(cell.pos, tuple(values)))
    except ParseError as e:
        sink.add(
            e.pos,
            "expression syntax",
            f"in table cell {text!r}: {e.message}",
            e.hint or 'cells look like: >= 10000, [1..5], "vip","b2b", - (any)',
        )
        return None


def _as_value(node: Node, ftype: FactType) -> Node:
    """A bare word in a string or enum column is that string, as a spreadsheet user means."""
    if isinstance(node, Name) and ftype.kind == "string" and "." not in node.name:
        return Literal(node.pos, node.name)
    return node


def _split_items(text: str) -> list[tuple[str, int]]:
    """Split `"a", "b", c` on commas outside quotes, keeping each item's offset.

    Inside quotes a backslash escapes the next character, as in expressions (`"a\\"b"` is
    a"b); an unclosed quote leaves the rest as one item, for the parser to point at.
    """
    items: list[tuple[str, int]] = []
    start, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quote:
            escaped = ch == "\\"
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            items.append(_item(text, start, i))
            start = i + 1
    items.append(_item(text, start, len(text)))
    return items


def _item(text: str, start: int, end: int) -> tuple[str, int]:
    """The item text[start:end] without surrounding spaces, and its offset."""
    raw = text[start:end]
    return raw.strip(), start + len(raw) - len(raw.lstrip())


def row_id(cell: Cell | None, number: int, sink: ErrorSink) -> str:
    """A table row's rule id: its `id` cell, a word as every rule id is (ids are joined with
    `;` and `, ` in outcomes and SQL); `row_<number>` for a row without one."""
    if cell is None or not cell.text:
        return f"row_{number}"
    if re.fullmatch(IDENT, cell.text) is None:
        sink.add(
            cell.pos,
            "wrong value type",
            f"rule id {cell.text!r} is not a word",
            "a rule id has letters, digits and _ and does not start with a digit: gold_2",
        )
    return cell.text


def output_value(text: str) -> Any:
    """An output cell from CSV: number, true/false, empty as null, quoted or bare string."""
    t = text.strip()
    if t == "" or t == "-":
        return None
    if t in ("true", "false"):
        return t == "true"
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t
