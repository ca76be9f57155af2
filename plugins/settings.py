"""Settings: defaults for the commands' common options, so a project does not repeat flags.

Read from `[tool.tierwise]` in ./pyproject.toml, then ./tierwise.toml (its top level),
then the environment (TIERWISE_SOURCE, TIERWISE_MAPPING, TIERWISE_RULES, TIERWISE_LOG,
TIERWISE_AS_OF); a later one overrides an earlier one, and a flag on the command line
overrides them all. `tierwise config` shows what is in force and where it came from.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierwise.errors import TierwiseError

NAMES = ("source", "mapping", "rules", "log", "as_of")

MEANING = {
    "source": "where the clients are (run, diff); without it run uses the sample CRM",
    "mapping": "how the source's tables and columns become facts (run, diff)",
    "rules": "a rule file or folder (check, test, run, decide, explain); "
    "without it ./rules, else the shipped packs",
    "log": "the decision log's database URL (run --out, why, errors, changes); "
    "without it the sample's tierwise-sample/decisions.db",
    "as_of": "the evaluation date, YYYY-MM-DD (run, decide, explain, diff); without it today",
}

PYPROJECT = "pyproject.toml"
OWN_FILE = "tierwise.toml"


class SettingsError(TierwiseError):
    """A settings file or variable that cannot be used; the message names where it is."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting in force: its value (None: not set) and where it came from."""

    name: str
    value: str | None = None
    origin: str | None = None

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return env_name(self.name)


def env_name(name: str) -> str:
    """TIERWISE_SOURCE for `source`, and so on."""
    return "TIERWISE_" + name.upper()


def load(
    folder: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Setting]:
    """Every setting, each from the last place that sets it (files, then environment).
    An empty environment variable counts as unset."""
    folder = folder or Path.cwd()
    environ = os.environ if environ is None else environ
    found = {name: Setting(name) for name in NAMES}
    for origin, key, value in _from_files(folder):
        found[key] = Setting(key, value, origin)
    for name in NAMES:
        value = environ.get(env_name(name), "").strip()
        if value:
            found[name] = Setting(name, _checked(name, value, env_name(name)), env_name(name))
    return found


def _from_files(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(origin, key, value) from pyproject.toml's [tool.tierwise], then tierwise.toml."""
    for file_name, table_path in ((PYPROJECT, ("tool", "tierwise")), (OWN_FILE, ())):
        path = folder / file_name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{file_name}: not valid TOML: {e}") from None
        for part in table_path:
            data = data.get(part, {}) if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            raise SettingsError(f"{file_name}: [tool.tierwise] must be a table")
        origin = f"{file_name} [tool.tierwise]" if table_path else file_name
        table_at = max(text.find("[tool.tierwise]"), 0) if table_path else 0
        for key, value in data.items():
            place = f"{file_name}:{_line_of(text, key, table_at)}"
            if key not in NAMES:
                close = difflib.get_close_matches(key, NAMES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise SettingsError(
                    f"{place}: unknown setting {key!r} ({hint}known: {', '.join(NAMES)})"
                )
            yield origin, key, _checked(key, _text(key, value, place), place)


def _text(key: str, value: Any, place: str) -> str:
    """A setting's value as text: a string, or for as_of a TOML date."""
    if key == "as_of" and type(value) is dt.date:
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{place}: {key} must be a non-empty string, not {value!r}")
    return value.strip()


def _checked(key: str, value: str, place: str) -> str:
    """The value, after checking what can be checked without a command (as_of's date)."""
    if key == "as_of":
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise SettingsError(f"{place}: as_of {value!r} is not a date (YYYY-MM-DD)") from None
    return value


def _line_of(text: str, key: str, start: int) -> int:
    """The line where `key` is assigned after `start` (1-based), for messages; the line of
    `start` if it is not found."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.M)
    match = pattern.search(text, start)
    return text.count("\n", 0, match.start() if match else start) + 1
