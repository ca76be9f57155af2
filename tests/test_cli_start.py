"""A fast start: `--version` and `--help` import no command module, no database layer
and no solver; the built-in table that makes that possible matches the commands the hook
gives; `-h` is help everywhere. (Wall times are measured by bench/cli_bench.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from tierwise.plugins.cli import BUILTINS, hooked_commands, main

from .cli_process import tierwise

HEAVY = ("sqlalchemy", "sqlmodel", "duckdb", "z3", "pyarrow", "tierwise.adapters")


def imported(err: str) -> set[str]:
    """The modules a process imported, from its PYTHONPROFILEIMPORTTIME report."""
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", err, re.M)}


def test_version_and_help_import_no_command_and_no_heavy_module(tmp_path: Path) -> None:
    for args in (["--version"], ["--help"]):
        done = tierwise(*args, cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert done.code == 0
        modules = imported(done.err)
        assert "tierwise.plugins.cli" in modules
        loaded = {m for m in modules if m.startswith("tierwise.plugins.builtin")}
        assert loaded == set(), args
        assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}, args
    assert tierwise("--version", cwd=tmp_path).out.startswith("tierwise, version ")


def test_the_builtin_table_matches_the_commands_of_the_hook() -> None:
    commands = hooked_commands()
    assert set(BUILTINS) == set(commands), (
        "add each built-in command to tierwise.plugins.cli.BUILTINS"
    )
    for name, builtin in BUILTINS.items():
        command = builtin.load()
        assert command is commands[name]
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert builtin.help == first, name


def test_help_lists_every_command_with_its_help_line(tmp_path: Path) -> None:
    done = tierwise("-h", cwd=tmp_path)
    assert done.code == 0
    listed = re.findall(r"^  ([a-z]+)  +(\S.*)$", done.out, re.M)
    assert [name for name, _ in listed] == sorted(BUILTINS)
    for name, line in listed:
        assert BUILTINS[name].help.startswith(line.removesuffix("...")), name
    assert "Exit codes: 0 success" in done.out


def test_minus_h_is_help_for_every_command() -> None:
    runner = CliRunner()
    for name in BUILTINS:
        result = runner.invoke(main, [name, "-h"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: main {name} ")
        assert "-h, --help" in result.output


def test_a_usage_error_exits_with_2_and_says_how_to_get_help(tmp_path: Path) -> None:
    done = tierwise("check", "--no-such-flag", cwd=tmp_path)
    assert done.code == 2
    assert "Error: No such option '--no-such-flag'." in done.err
    assert "Try 'tierwise check --help' for help." in done.err


def test_an_unknown_command_suggests_a_close_one(tmp_path: Path) -> None:
    done = tierwise("chek", cwd=tmp_path)
    assert done.code == 2
    assert "Error: No such command 'chek'. Did you mean 'check'?" in done.err
