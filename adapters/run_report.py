"""A run read back from the decision log for people: which run an id (or none) means, how
many clients it has saved, and its client errors grouped by fact and message with counts
and example clients (`tierwise errors`, and what `tierwise run` says on an interrupt)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from .base import AdapterError
from .log import CLIENT, DECISIONS, ERRORS, RUNS, DecisionLog


def find_run(log: DecisionLog, run_id: str | None) -> dict[str, Any]:
    """The run `run_id`, or the newest run when it is None; AdapterError when there is none."""
    with log.engine.connect() as conn:
        query = sa.select(RUNS)
        if run_id is None:
            query = query.order_by(RUNS.c.started_at.desc()).limit(1)
        else:
            query = query.where(RUNS.c.id == run_id)
        row = conn.execute(query).mappings().first()
    if row is None:
        if run_id is None:
            raise AdapterError(f"the decision log {log.url} has no runs yet")
        raise AdapterError(f"no run {run_id!r} in the decision log {log.url}")
    return dict(row)


def run_exists(log: DecisionLog, run_id: str) -> bool:
    """Whether the log has a run with this id (a resume needs one)."""
    with log.engine.connect() as conn:
        return conn.execute(sa.select(RUNS.c.id).where(RUNS.c.id == run_id)).first() is not None


def saved_clients(log: DecisionLog, run_id: str) -> int:
    """Clients whose outcome the run has stored (decisions, or client errors)."""
    decided = sa.select(DECISIONS.c.client_id).where(DECISIONS.c.run_id == run_id)
    failed = sa.select(ERRORS.c.client_id).where(ERRORS.c.run_id == run_id, ERRORS.c.kind == CLIENT)
    everyone = sa.union(decided, failed).subquery()
    with log.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(everyone)).scalar_one())


def failed_clients(log: DecisionLog, run_id: str) -> int:
    """Clients whose outcome in the run is errors (kind `client`)."""
    query = sa.select(sa.func.count(sa.distinct(ERRORS.c.client_id))).where(
        ERRORS.c.run_id == run_id, ERRORS.c.kind == CLIENT
    )
    with log.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


DECISION = "decision"
"""Group kind of a decision that failed for a client (its facts were valid)."""


@dataclass
class ErrorGroup:
    """Clients with the same error: kind (`client`: invalid facts; `hook`: a reaction hook;
    `decision`: one decision failed), fact (the decision's name for `decision`), the message
    without what is each client's own (see `error_shape`), how many clients, a few of them."""

    kind: str
    fact: str
    message: str
    clients: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The group as JSON data."""
        return {
            "kind": self.kind,
            "fact": self.fact,
            "message": self.message,
            "clients": self.clients,
            "examples": self.examples,
        }


def error_groups(log: DecisionLog, run_id: str, examples: int = 3) -> list[ErrorGroup]:
    """The run's errors grouped by kind, fact and message shape, largest group first; each
    client counts once per group, and the first `examples` clients (by id) are kept."""
    groups: dict[tuple[str, str, str], ErrorGroup] = {}
    seen: set[tuple[str, str, str]] = set()
    current: str | None = None
    for client_id, kind, fact, message, value in _error_rows(log, run_id):
        if client_id != current:
            current, seen = client_id, set()
        key = (kind, fact, error_shape(fact, message, value, client_id))
        if key in seen:
            continue
        seen.add(key)
        group = groups.setdefault(key, ErrorGroup(*key))
        group.clients += 1
        if len(group.examples) < examples:
            group.examples.append({"client_id": client_id, "value": value, "message": message})
    return sorted(groups.values(), key=lambda g: (-g.clients, g.kind, g.fact, g.message))


Row = tuple[str, str, str, str, Any]


def _error_rows(log: DecisionLog, run_id: str) -> Iterator[Row]:
    """The run's client and hook errors client by client, then its failed decisions,
    streamed as (client_id, kind, fact, message, value)."""
    e, d = ERRORS.c, DECISIONS.c
    errors = (
        sa.select(e.client_id, e.kind, e.fact, e.message, e.value)
        .where(e.run_id == run_id)
        .order_by(e.client_id, e.seq)
    )
    failed = (
        sa.select(d.client_id, d.decision, d.error)
        .where(d.run_id == run_id, d.status == "error")
        .order_by(d.client_id, d.decision)
    )
    with log.engine.connect() as conn:
        streamed = conn.execution_options(yield_per=5000)
        for client_id, kind, fact, message, value in streamed.execute(errors):
            yield client_id, kind, fact, message, orjson.loads(value) if value else None
        for client_id, decision, error in streamed.execute(failed):
            yield client_id, DECISION, decision, error or "", None


_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b")


def error_shape(fact: str, message: str, value: Any, client_id: str) -> str:
    """What an error message says once the parts that name one client are taken out: a
    leading place that ends with the client's id (`clients id=166: `), the `fact: ` the
    message repeats after a place, the quoted text value and dates; so one mistake is one
    group."""
    head, sep, rest = message.partition(": ")
    names_client = head == client_id or head.endswith((f"={client_id}", f" {client_id}"))
    if sep and client_id and names_client:
        message = rest
    marker = f"{fact}: "
    at = message.find(marker)
    if at == 0 or (at > 0 and message[:at].endswith(": ")):
        message = message[at + len(marker) :]
    if isinstance(value, str) and value:
        message = message.replace(repr(value), "<value>")
    return _DATE.sub("<date>", message)
