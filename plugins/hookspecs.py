"""The hook contracts between tierwise and its plugins (project name `tierwise`).

Built-in features register through these same hooks (see manager.BUILTINS), as pytest
and datasette do, so a third-party plugin can do anything a built-in one can.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from tierwise.functions import Function
    from tierwise.outcome import DecisionResult, Outcome

hookspec = pluggy.HookspecMarker("tierwise")


@hookspec
def tierwise_functions() -> list[Function]:  # type: ignore[empty-body]
    """Functions that rule expressions may call; each plugin returns a list of them."""


@hookspec
def tierwise_enrich_facts(
    facts: Mapping[str, Any], as_of: dt.date, profile: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Extra facts for one client, computed before validation and matching.

    `profile` holds the per-run statistics of the whole client base (e.g. RFM cut points).
    Return a mapping of new facts (merged over the client's own), or None.
    """


@hookspec
def tierwise_adapters() -> Mapping[str, Any]:  # type: ignore[empty-body]
    """Adapters by URL scheme (`csv`, `jsonl`, `sqlite`, `postgresql`, ...): scheme -> factory."""


@hookspec
def tierwise_decision_made(outcome: Outcome, run_id: str | None) -> None:
    """Called once per client outcome, after it is stored."""


@hookspec
def tierwise_decision_changed(
    client_id: str,
    decision: str,
    before: DecisionResult | None,
    after: DecisionResult,
    run_id: str | None,
) -> None:
    """Called when a client's decision differs from the last logged one (tier up, new action)."""


@hookspec
def tierwise_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """Extra `tierwise` sub-commands (click commands); built-in ones come through here too."""
