"""An example third-party tierwise plugin: a rule function, and an outbox of decision
changes for account managers (one JSON line per change)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pluggy

from tierwise.functions import Function
from tierwise.outcome import DecisionResult

hookimpl = pluggy.HookimplMarker("tierwise")

OUTBOX = "TIERWISE_EXAMPLE_OUTBOX"
"""Environment variable: the file that receives one JSON line per changed decision."""


def loyalty_points(revenue: float) -> int:
    """Loyalty points for a revenue: one point per full 10 EUR."""
    return int(revenue // 10)


@hookimpl
def tierwise_functions() -> list[Function]:
    return [
        Function(
            "loyalty_points",
            ("number",),
            "integer",
            loyalty_points,
            loyalty_points.__doc__ or "",
            plugin="tierwise-example-plugin",
        )
    ]


@hookimpl
def tierwise_decision_changed(
    client_id: str,
    decision: str,
    before: DecisionResult | None,
    after: DecisionResult,
    run_id: str | None,
) -> None:
    outbox = os.environ.get(OUTBOX)
    if not outbox:
        return
    change = {
        "run_id": run_id,
        "client_id": client_id,
        "decision": decision,
        "before": before.output if before is not None else None,
        "after": after.output,
        "rules": after.rules,
    }
    with Path(outbox).open("a", encoding="utf-8") as f:
        f.write(json.dumps(change, sort_keys=True) + "\n")
