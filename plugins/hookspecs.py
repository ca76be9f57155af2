"""The hook contracts between tierwise and its plugins (project name `tierwise`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from tierwise.functions import Function

hookspec = pluggy.HookspecMarker("tierwise")


@hookspec
def tierwise_functions() -> list[Function]:  # type: ignore[empty-body]
    """Functions that rule expressions may call; each plugin returns a list of them."""


@hookspec
def tierwise_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """Extra `tierwise` sub-commands (click commands); built-in ones come through here too."""
