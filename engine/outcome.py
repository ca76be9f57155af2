"""What tierwise gives back per client: decisions with explanations, or errors.

`Outcome` is the pydantic boundary model (JSON lines, the decision log, CRM write-back);
its parts are slotted dataclasses that pydantic validates and serialises as fields of the
Outcome. They are built once per client per decision, so they must be cheap to create.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["decided", "default", "no_decision", "error"]


@dataclass(slots=True)
class Explanation:
    """Why a rule matched: its `because`, its condition, and the fact values that made it true."""

    rule: str
    because: str = ""
    condition: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DecisionResult:
    """One decision for one client: status, output, the winning rule(s) and why."""

    decision: str
    status: Status
    output: dict[str, Any] | list[dict[str, Any]] | None = None
    rules: list[str] = field(default_factory=list)
    explanations: list[Explanation] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class FactError:
    """A fact that was invalid for this client: which one, what was wrong, the value given."""

    fact: str
    message: str
    value: Any = None


class Outcome(BaseModel):
    """Exactly one per client: its decisions, or the errors that stopped them."""

    client_id: str | None = None
    pack_hash: str
    as_of: dt.date
    decisions: dict[str, DecisionResult] = Field(default_factory=dict)
    errors: list[FactError] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every fact was valid and no decision failed."""
        return not self.errors and all(d.status != "error" for d in self.decisions.values())

    def output(self, decision: str) -> Any:
        """Shortcut: one decision's output (None when no decision was made)."""
        return self.decisions[decision].output


_FIELDS = frozenset(Outcome.model_fields)


def new_outcome(
    client_id: str | None,
    pack_hash: str,
    as_of: dt.date,
    decisions: dict[str, DecisionResult],
    errors: list[FactError],
) -> Outcome:
    """An Outcome from parts the engine built itself, without re-validating them.

    The same object `Outcome.model_construct` makes, at a fifth of the cost: this runs
    once per client on the hot path.
    """
    obj = object.__new__(Outcome)
    _set(
        obj,
        "__dict__",
        {
            "client_id": client_id,
            "pack_hash": pack_hash,
            "as_of": as_of,
            "decisions": decisions,
            "errors": errors,
        },
    )
    _set(obj, "__pydantic_fields_set__", _FIELDS)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_set = object.__setattr__
