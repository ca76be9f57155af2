"""The `tierwise` command line. Every sub-command comes from a plugin through the
`tierwise_cli_commands` hook, the built-in ones included (see tierwise.plugins)."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="tierwise")
def main() -> None:
    """tierwise: decide how to treat each client, from rule files you can read."""


def _register() -> None:
    from tierwise.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    for commands in pm.hook.tierwise_cli_commands():
        for command in commands:
            main.add_command(command)


_register()
