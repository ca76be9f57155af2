"""The `tierwise` command line: a click group that knows the built-in commands by name and
help line and imports a command's module only when it runs, so that `--version` and
`--help` start fast; third-party commands come through the `tierwise_cli_commands` hook.

Every command exits with one of `ExitCode`, and no error reaches the user as a traceback.
"""

from __future__ import annotations

import difflib
import errno
import importlib
import os
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from typing import Any

import click

from tierwise.errors import TierwiseError


class ExitCode(IntEnum):
    """What `tierwise` exits with; the README's table lists the same."""

    OK = 0
    """Success."""
    FAILED = 1
    """Rule-file errors, failed rule tests, invalid facts, or a source, log or file that
    could not be used (the message names it)."""
    USAGE = 2
    """A wrong option or argument (click's usage errors), or settings that cannot be read."""
    ERROR_RATE = 3
    """A run finished and logged every client, but more clients failed than
    `--max-error-rate` allows (a run where every client failed is never a success)."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT); what was saved, and how to resume, is printed."""


TRACEBACK_ENV = "TIERWISE_TRACEBACK"
"""Set to 1 to see the traceback of an unexpected error instead of its one-line message."""


@dataclass(frozen=True, slots=True)
class Builtin:
    """A built-in command: where it lives (`module:attribute`) and its help line, which is
    the first line of the command's docstring (a test holds them equal)."""

    target: str
    help: str

    def load(self) -> click.Command:
        """Import the command's module and return the command."""
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


_P = "tierwise.plugins."
BUILTINS: dict[str, Builtin] = {
    "changes": Builtin(
        _P + "builtin_commands:changes_command",
        "List a run's decisions that changed since the previous run (tier up or down, new action).",
    ),
    "check": Builtin(
        _P + "builtin_cli:check",
        "Check rule files: every error at file:line:col, then dead rules, overlaps and gaps.",
    ),
    "config": Builtin(
        _P + "builtin_commands:config_command",
        "Show the settings in force (source, mapping, rules, log, as_of) and where each "
        "comes from.",
    ),
    "decide": Builtin(
        _P + "builtin_cli:decide",
        "Decide for clients given as JSON lines; write one outcome per line as JSON.",
    ),
    "diff": Builtin(
        _P + "builtin_verify:diff",
        "Compare two versions of the rules, and their impact on a client base.",
    ),
    "errors": Builtin(
        _P + "builtin_commands:errors_command",
        "List a run's client errors, grouped by fact and message, with example clients.",
    ),
    "export": Builtin(
        _P + "builtin_export:export_command",
        "Write every client's facts (inputs and derived facts) to a table, as the paths see them.",
    ),
    "facts": Builtin(
        _P + "builtin_facts:facts_command",
        "List what a pack reads: each input with its type, range and unit, where it can come "
        "from, and what is derived from it.",
    ),
    "explain": Builtin(
        _P + "builtin_cli:explain",
        "Explain the decisions for one client: FACTS is JSON, @file.json, or @- (stdin).",
    ),
    "profile": Builtin(
        _P + "builtin_run:profile_command",
        "Compute the statistics of the whole base that the pack's facts read, as a run does.",
    ),
    "map": Builtin(
        _P + "builtin_map:map_command",
        "Propose a mapping file for a source: the column or aggregate that could feed each "
        "fact the pack reads, and what is missing.",
    ),
    "plugins": Builtin(
        _P + "builtin_commands:plugins_command",
        "List loaded plugins, where they come from and which hooks each implements.",
    ),
    "run": Builtin(
        _P + "builtin_run:run",
        "Decide every client of a source and store the outcomes (the main job).",
    ),
    "serve": Builtin(
        _P + "builtin_serve:serve_command",
        "Serve decisions over HTTP, reloading the rules when they change.",
    ),
    "test": Builtin(
        _P + "builtin_cli:test_command",
        "Run the tests written in rule files (`tests:` with given/expect).",
    ),
    "why": Builtin(
        _P + "builtin_run:why",
        "Show one client's stored decisions and why each was made.",
    ),
}
"""The built-in commands by name. A built-in plugin's command missing here still runs (it
is found through the hook), but `--help` would not list it: tests/test_cli_start.py fails."""


@cache
def plugin_commands() -> dict[str, click.Command]:
    """The commands of installed third-party plugins, through the `tierwise_cli_commands`
    hook (the built-in modules are not imported for this)."""
    from tierwise.plugins.manager import get_plugin_manager

    return _by_name(get_plugin_manager(builtins=False))


@cache
def hooked_commands() -> dict[str, click.Command]:
    """Every command that the `tierwise_cli_commands` hook gives, built-in plugins included."""
    from tierwise.plugins.manager import get_plugin_manager

    return _by_name(get_plugin_manager())


def _by_name(pm: Any) -> dict[str, click.Command]:
    """Commands by name; pluggy calls the last registered plugin first, so a built-in
    command wins over a third-party one of the same name, as it always did."""
    found: dict[str, click.Command] = {}
    for commands in pm.hook.tierwise_cli_commands():
        for command in commands:
            if command.name is not None:
                found[command.name] = command
    return found


class TierwiseGroup(click.Group):
    """A group that loads built-in commands lazily and turns every error into a message
    and an exit code (see ExitCode)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*BUILTINS, *plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = BUILTINS.get(cmd_name)
        if builtin is not None:
            return builtin.load()
        return plugin_commands().get(cmd_name) or hooked_commands().get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command named first in `args`; an unknown name's error suggests a close one."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            close = difflib.get_close_matches(args[0] if args else "", self.list_commands(ctx), 1)
            if close and e.message.startswith("No such command"):
                raise click.UsageError(f"{e.message} Did you mean '{close[0]}'?", e.ctx) from None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table for built-in commands (no imports)."""
        plugins = plugin_commands()
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in BUILTINS:
                rows.append((name, _shorten(BUILTINS[name].help, limit)))
            elif not plugins[name].hidden:
                rows.append((name, plugins[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except TierwiseError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            if e.errno == errno.EPIPE:
                raise
            raise click.ClickException(_os_message(e)) from None
        except Exception as e:
            if os.environ.get(TRACEBACK_ENV):
                raise
            raise click.ClickException(_unexpected(e)) from None


def _shorten(text: str, limit: int) -> str:
    """A help line cut at a word to fit, as click cuts a command's own."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0] + "..."


def _os_message(e: OSError) -> str:
    """A file or system error as a one-line message naming the file."""
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


def _unexpected(e: Exception) -> str:
    """An error nothing expected (a driver's own error, a bug): its first line, what to check."""
    orig = getattr(e, "orig", None)
    first = next((line for line in str(orig or e).splitlines() if line.strip()), "")
    if any(cls.__name__ == "DBAPIError" for cls in type(e).__mro__):
        return (
            f"the database reported: {first.strip()}\n"
            "check the database URLs given (--source, --out, --log) and that the server "
            "is reachable and has space"
        )
    return (
        f"unexpected error: {type(e).__name__}: {first.strip()}\n"
        f"this is a bug in tierwise or a plugin; {TRACEBACK_ENV}=1 shows where it happened"
    )


EPILOG = (
    "Exit codes: 0 success; 1 rule-file errors, failed tests or an unusable source, log "
    "or file; 2 usage errors; 3 a run with more client errors than --max-error-rate; "
    "130 interrupted (Ctrl-C)."
)


@click.group(
    cls=TierwiseGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.version_option(package_name="tierwise")
def main() -> None:
    """tierwise: decide how to treat each client, from rule files you can read."""
