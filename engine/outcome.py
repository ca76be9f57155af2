"""What tierwise gives back per client: decisions with explanations, or errors. Pydantic,
because outcomes cross every boundary (JSON lines, the decision log, CRM write-back)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["decided", "default", "no_decision", "error"]


class Explanation(BaseModel):
    """Why a rule matched: its `because`, its condition, and the fact values that made it true."""

    model_config = ConfigDict(frozen=True)

    rule: str
    because: str = ""
    condition: str = ""
    facts: dict[str, Any] = Field(default_factory=dict)


class DecisionResult(BaseModel):
    """One decision for one client."""

    decision: str
    status: Status
    output: dict[str, Any] | list[dict[str, Any]] | None = None
    rules: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    error: str | None = None


class FactError(BaseModel):
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
