"""The service's request and answer models (pydantic), shared with the engine's `Outcome`.

An answer is an `Outcome` (the same model the engine, the decision log and `tierwise
decide` give) plus the release that decided it and, on request, the trace of every rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tierwise.outcome import Outcome
from tierwise.runtime.trace import RuleTrace


class _Strict(BaseModel):
    """A request model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class DecideRequest(_Strict):
    """One client: its facts (or only its id, to read them from the configured source)."""

    facts: dict[str, Any] | None = Field(
        default=None, description="The client's facts; leave out to read them by client_id."
    )
    as_of: dt.date | None = Field(default=None, description="Decide as of this day (today).")
    client_id: str | None = Field(default=None, max_length=255)
    decisions: list[str] | None = Field(
        default=None, description="Only these decisions in the answer (all when left out)."
    )
    trace: bool = Field(default=False, description="Explain every rule tried, matched or not.")


class BatchItem(BaseModel):
    """One client of a batch call; read leniently, so a bad item is that client's error."""

    facts: dict[str, Any] | None = None
    client_id: str | None = Field(default=None, max_length=255)
    as_of: dt.date | None = None


class BatchRequest(_Strict):
    """Several clients in one call, answered in order, one outcome each."""

    clients: list[Any] = Field(
        description="Each an object like BatchItem: {facts, client_id, as_of}."
    )
    as_of: dt.date | None = None
    decisions: list[str] | None = None
    trace: bool = False


class Decided(Outcome):
    """An Outcome with the release that decided it and, when asked, the trace of every rule."""

    pack_version: int = Field(description="The release's number since the service started.")
    trace: list[RuleTrace] | None = None


class BatchResponse(BaseModel):
    """One Decided per client, in the order they came."""

    pack_hash: str
    pack_version: int
    outcomes: list[Decided]


class InputInfo(BaseModel):
    """A declared input of the pack: its name and type."""

    name: str
    type: str
    unit: str | None = None


class RuleInfo(BaseModel):
    """A rule of the pack and where it is written."""

    id: str
    at: str
    condition: str
    because: str = ""


class DecisionInfo(BaseModel):
    """A decision of the pack: its hit policy, its rules, its outputs and where it is."""

    name: str
    description: str
    hit_policy: str
    at: str
    outputs: dict[str, str]
    rules: list[RuleInfo]


class ReloadError(BaseModel):
    """Why the newest edit of the rules is not serving."""

    at: dt.datetime
    message: str
    problems: list[str]


class PackInfo(BaseModel):
    """What is serving: the release, its decisions, inputs and rules, and the last reload error."""

    hash: str
    version: int
    loaded_at: dt.datetime
    source: str
    profile: bool = Field(description="Whether a whole-base profile was loaded.")
    decisions: list[DecisionInfo]
    inputs: list[InputInfo]
    last_reload_error: ReloadError | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    pack_hash: str | None = None


class Problem(BaseModel):
    """An error as RFC 9457 problem details, with a stable `type` per class of error."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
