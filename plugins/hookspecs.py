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

    `profile` holds the values of the pack's statistics of the whole base for this run
    (statistic name -> value; empty while the profile itself is being computed).
    Return a mapping of new facts (merged over the client's own), or None. If it raises,
    the run logs that client's outcome as the error (fact `plugin:<name>`) and goes on.
    """


@hookspec
def tierwise_enriched_facts() -> list[str]:  # type: ignore[empty-body]
    """The facts this plugin's `tierwise_enrich_facts` gives. Paths that cannot call the
    plugin (the SQL path) refuse a pack that reads any of them, naming the plugin and the
    facts; a plugin that enriches without saying which facts blocks the SQL path for all."""


@hookspec
def tierwise_adapters() -> Mapping[str, Any]:  # type: ignore[empty-body]
    """Adapters by URL scheme (`csv`, `jsonl`, `sqlite`, `postgresql`, ...): scheme -> factory.

    A factory is called as `factory(url, mapping_path_or_None)` and returns a Source
    (tierwise.adapters.base.Source: `.url`, `.clients(as_of, types)`, `.close()`, and
    optionally `.writeback` with `.target` (a name for the log's pending pages),
    `.check(pack)` and an idempotent `.write(outcomes)`).
    """


@hookspec
def tierwise_decision_made(outcome: Outcome, run_id: str | None) -> None:
    """Called once per client outcome, after its page is stored in the decision log.

    If it raises, the run goes on and the error is logged against the client (kind `hook`).
    A resumed page may call it again for the same client: make reactions idempotent.
    """


@hookspec
def tierwise_decision_changed(
    client_id: str,
    decision: str,
    before: DecisionResult | None,
    after: DecisionResult,
    run_id: str | None,
) -> None:
    """Called when a client's decision output differs from the previous run's (tier up or
    down, a new support action); `before` is None for a client new since that run.

    The previous run is the newest finished run of the same source in the same log; the
    first run fires nothing. Errors are handled as for `tierwise_decision_made`.
    """


@hookspec
def tierwise_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """Extra `tierwise` sub-commands (click commands); built-in ones come through here too."""
