"""What the commands write: colour only on a terminal and only without NO_COLOR, JSON
documents on stdout, `-` as stdout for every file an option names, and rule-pack errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import orjson

from tierwise.errors import RuleError

STYLES: dict[str, dict[str, Any]] = {
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow", "bold": True},
    "ok": {"fg": "green", "bold": True},
    "heading": {"bold": True},
    "place": {"bold": True},
    "hint": {"fg": "cyan"},
}


def colour(err: bool = False) -> bool:
    """True when the stream is a terminal and NO_COLOR is unset or empty (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stderr if err else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, role: str, err: bool = False) -> str:
    """`text` in the colour of `role` (STYLES) when the stream it goes to shows colour."""
    return click.style(text, **STYLES[role]) if colour(err) else text


def say(text: str = "", err: bool = False) -> None:
    """A line of text on stdout (or stderr)."""
    click.echo(text, err=err)


def write_json(data: Any) -> None:
    """One JSON document on stdout (indented; dates and other values as text)."""
    dumped = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    click.echo(dumped.decode())


def write_file(target: Path, content: str, what: str) -> None:
    """Write `content` to the file an option names, or to stdout when it is `-`; a file
    written is reported on stderr, so stdout keeps only what was asked for."""
    if str(target) == "-":
        click.echo(content)
        return
    target.write_text(content, encoding="utf-8")
    say(f"{what}: {target}", err=True)


def show_rule_error(error: RuleError) -> None:
    """One rule-pack error on stderr, its place in bold and its hint in colour."""
    place = str(error.pos)
    head, _, hint = str(error).partition("\n")
    line = paint(place, "place", err=True) + head[len(place) :]
    say(line + (paint("\n" + hint, "hint", err=True) if hint else ""), err=True)


def rule_error_data(error: RuleError) -> dict[str, Any]:
    """A rule-pack error as JSON data."""
    pos = error.pos
    return {
        "file": pos.file,
        "line": pos.line,
        "col": pos.col,
        "kind": error.kind,
        "message": error.message,
        "hint": error.hint,
    }
