"""The decision log: SQLModel tables for runs, decisions and client errors, in the CRM's
database or a separate one, written idempotently one page per transaction.

Tables: `tierwise_runs`, `tierwise_decisions` (primary key run_id + client_id +
decision), `tierwise_client_errors` (run_id + client_id + seq). A page is written by
deleting that page's clients from the run and inserting their rows again, in one
transaction, so a page written twice (a resumed or repeated run) leaves each client
exactly once. The batch path reuses `write_page` with rows it builds itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import JSON, Column, Field, SQLModel

from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome

from .base import AdapterError
from .db import connect, reason, safe_url

CLIENT = "client"
"""Error kind: the client's outcome is these errors (bad facts, unreadable row, enrichment)."""
HOOK = "hook"
"""Error kind: a reaction hook failed for this client after its decisions were stored."""


class Run(SQLModel, table=True):
    """One run of a pack over a source; `counts` and `profile` are per-run statistics."""

    __tablename__ = "tierwise_runs"

    id: str = Field(primary_key=True, max_length=64)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = Field(default="running", max_length=16)
    pack_hash: str = Field(max_length=128)
    as_of: dt.date
    source: str
    previous_run_id: str | None = Field(default=None, max_length=64)
    clients: int = 0
    errors: int = 0
    changes: int = 0
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    profile: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class DecisionRow(SQLModel, table=True):
    """One decision for one client in one run; `output` is canonical JSON text, so runs
    compare and group by it in SQL; `changed` says it differs from the previous run."""

    __tablename__ = "tierwise_decisions"

    run_id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(primary_key=True, max_length=255)
    decision: str = Field(primary_key=True, max_length=255)
    status: str = Field(max_length=16)
    output: str | None = None
    rules: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    explanation: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    error: str | None = None
    pack_hash: str = Field(max_length=128)
    as_of: dt.date
    changed: bool = False
    previous_status: str | None = Field(default=None, max_length=16)
    previous_output: str | None = None


class ClientErrorRow(SQLModel, table=True):
    """One error for one client in one run: which fact (or plugin), and why."""

    __tablename__ = "tierwise_client_errors"

    run_id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(primary_key=True, max_length=255)
    seq: int = Field(primary_key=True)
    kind: str = Field(default=CLIENT, max_length=16)
    fact: str
    message: str
    value: str | None = None
    pack_hash: str = Field(max_length=128)
    as_of: dt.date


TABLES = (Run.__table__, DecisionRow.__table__, ClientErrorRow.__table__)  # type: ignore[attr-defined]
DECISIONS: sa.Table = DecisionRow.__table__  # type: ignore[attr-defined]
ERRORS: sa.Table = ClientErrorRow.__table__  # type: ignore[attr-defined]
RUNS: sa.Table = Run.__table__  # type: ignore[attr-defined]


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def canonical(output: Any) -> str | None:
    """An output as canonical JSON text (sorted keys), or None for no output."""
    if output is None:
        return None
    return orjson.dumps(output, option=orjson.OPT_SORT_KEYS, default=str).decode()


def output_label(status: str, output: str | None) -> str:
    """A short human label for counts: `tier=gold discount_pct=8`, or the status."""
    if output is None:
        return status
    value = orjson.loads(output)
    items = value if isinstance(value, list) else [value]
    return " | ".join(" ".join(f"{k}={v}" for k, v in item.items()) for item in items) or "[]"


@dataclass(frozen=True, slots=True)
class Change:
    """A client's decision that differs from the previous run's (`before` None: new)."""

    client_id: str
    decision: str
    before: DecisionResult | None
    after: DecisionResult


@dataclass(frozen=True, slots=True)
class RunState:
    """An open run: its id, what it decides against, and whether it resumes an earlier start."""

    id: str
    pack_hash: str
    as_of: dt.date
    previous_run_id: str | None
    resumed: bool


def new_run_id(now: dt.datetime | None = None) -> str:
    """A fresh run id: the start time, then random hex (`20261128T191049-b1705d5d`)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def write_page(
    conn: sa.Connection,
    run_id: str,
    client_ids: Sequence[str],
    decisions: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]],
) -> None:
    """Replace the rows of `client_ids` in run `run_id` with these rows, on `conn` (the
    caller's transaction). Idempotent: writing one page twice leaves it once."""
    for start in range(0, len(client_ids), 500):
        chunk = list(client_ids[start : start + 500])
        conn.execute(
            sa.delete(DECISIONS).where(
                DECISIONS.c.run_id == run_id, DECISIONS.c.client_id.in_(chunk)
            )
        )
        conn.execute(
            sa.delete(ERRORS).where(ERRORS.c.run_id == run_id, ERRORS.c.client_id.in_(chunk))
        )
    if decisions:
        conn.execute(sa.insert(DECISIONS), list(decisions))
    if errors:
        conn.execute(sa.insert(ERRORS), list(errors))


def decision_row(run: RunState, client_id: str, result: DecisionResult) -> dict[str, Any]:
    """The log row of one decision result (not yet compared with the previous run)."""
    return {
        "run_id": run.id,
        "client_id": client_id,
        "decision": result.decision,
        "status": result.status,
        "output": canonical(result.output),
        "rules": list(result.rules),
        "explanation": [_explanation(e) for e in result.explanations],
        "error": result.error,
        "pack_hash": run.pack_hash,
        "as_of": run.as_of,
        "changed": False,
        "previous_status": None,
        "previous_output": None,
    }


def _explanation(e: Explanation) -> dict[str, Any]:
    facts = orjson.loads(orjson.dumps(e.facts, default=str)) if e.facts else {}
    return {"rule": e.rule, "because": e.because, "condition": e.condition, "facts": facts}


def error_rows(
    run: RunState, client_id: str, errors: Iterable[FactError], kind: str, start: int = 0
) -> list[dict[str, Any]]:
    """Log rows of one client's errors, numbered from `start`."""
    return [
        {
            "run_id": run.id,
            "client_id": client_id,
            "seq": start + i,
            "kind": kind,
            "fact": e.fact,
            "message": e.message,
            "value": canonical(e.value),
            "pack_hash": run.pack_hash,
            "as_of": run.as_of,
        }
        for i, e in enumerate(errors)
    ]


def result_of(row: Mapping[str, Any]) -> DecisionResult:
    """A logged decision row back as a DecisionResult (for `before` in change events)."""
    output = orjson.loads(row["output"]) if row["output"] is not None else None
    return DecisionResult(
        decision=row["decision"],
        status=row["status"],
        output=output,
        rules=list(row["rules"] or []),
        explanations=[Explanation(**e) for e in row["explanation"] or []],
        error=row["error"],
    )


class DecisionLog:
    """The decision log at a database URL (tables are created when missing)."""

    def __init__(self, url: str | sa.Engine) -> None:
        self.engine = (
            connect(url, json_serializer=_json, json_deserializer=orjson.loads)
            if isinstance(url, str)
            else url
        )
        self.url = safe_url(self.engine.url)
        try:
            SQLModel.metadata.create_all(self.engine, tables=list(TABLES))
        except DBAPIError as e:
            raise AdapterError(
                f"cannot create the decision log tables in {self.url}: {reason(e)}"
            ) from None

    def start_run(
        self,
        *,
        pack_hash: str,
        as_of: dt.date,
        source: str,
        run_id: str | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> RunState:
        """Open a new run, or resume `run_id` if it exists (same pack and as_of required)."""
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            if run_id is not None:
                existing = (
                    conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
                )
                if existing is not None:
                    if existing["pack_hash"] != pack_hash or existing["as_of"] != as_of:
                        raise AdapterError(
                            f"run {run_id} was started with pack {existing['pack_hash'][:12]} "
                            f"and as_of {existing['as_of']}; resuming needs the same "
                            f"(got {pack_hash[:12]}, {as_of})"
                        )
                    conn.execute(
                        sa.update(RUNS)
                        .where(RUNS.c.id == run_id)
                        .values(status="running", finished_at=None)
                    )
                    return RunState(run_id, pack_hash, as_of, existing["previous_run_id"], True)
            run_id = run_id or new_run_id(now)
            previous = conn.execute(
                sa.select(RUNS.c.id)
                .where(RUNS.c.status == "finished", RUNS.c.source == source, RUNS.c.id != run_id)
                .order_by(RUNS.c.started_at.desc())
                .limit(1)
            ).scalar()
            conn.execute(
                sa.insert(RUNS).values(
                    id=run_id,
                    started_at=now,
                    status="running",
                    pack_hash=pack_hash,
                    as_of=as_of,
                    source=source,
                    previous_run_id=previous,
                    counts={},
                    profile=dict(profile or {}),
                )
            )
        return RunState(run_id, pack_hash, as_of, previous, False)

    def done_clients(self, run: RunState, client_ids: Sequence[str]) -> set[str]:
        """Which of these clients already have their outcome in the run (for resuming)."""
        with self.engine.connect() as conn:
            decided = sa.select(DECISIONS.c.client_id).where(
                DECISIONS.c.run_id == run.id, DECISIONS.c.client_id.in_(client_ids)
            )
            failed = sa.select(ERRORS.c.client_id).where(
                ERRORS.c.run_id == run.id,
                ERRORS.c.kind == CLIENT,
                ERRORS.c.client_id.in_(client_ids),
            )
            return set(conn.execute(sa.union(decided, failed)).scalars())

    def previous(
        self, run: RunState, client_ids: Sequence[str], *, full: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The previous run's rows for these clients, by (client_id, decision): status and
        output only, or whole rows (rules, explanation) with `full`."""
        if run.previous_run_id is None or not client_ids:
            return {}
        c = DECISIONS.c
        columns = list(DECISIONS.columns) if full else [c.client_id, c.decision, c.status, c.output]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns).where(
                    c.run_id == run.previous_run_id, c.client_id.in_(client_ids)
                )
            ).mappings()
            return {(r["client_id"], r["decision"]): dict(r) for r in rows}

    def write_outcomes(self, run: RunState, outcomes: Sequence[Outcome]) -> list[Change]:
        """Write one page of outcomes in one transaction and return their changes since
        the previous run. A client id given twice keeps its last outcome, as it does
        across pages."""
        unnamed = next((o for o in outcomes if o.client_id is None), None)
        if unnamed is not None:
            raise ValueError(
                "an outcome without a client id cannot be logged (its decisions would be "
                f"lost): give each client an id (decided as of {unnamed.as_of})"
            )
        latest = {o.client_id: o for o in outcomes}
        outcomes = list(latest.values())
        ids = list(latest)
        before = self.previous(run, ids)
        decisions: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        changes: list[Change] = []
        for outcome in outcomes:
            cid = outcome.client_id
            assert cid is not None  # checked above
            if outcome.errors:
                errors += error_rows(run, cid, outcome.errors, CLIENT)
            for result in outcome.decisions.values():
                row = decision_row(run, cid, result)
                old = before.get((cid, result.decision))
                if old is not None:
                    row["previous_status"] = old["status"]
                    row["previous_output"] = old["output"]
                if run.previous_run_id is not None and (
                    old is None or old["output"] != row["output"]
                ):
                    row["changed"] = True
                    changes.append(Change(cid, result.decision, None, result))
                decisions.append(row)
        if any(before.get((c.client_id, c.decision)) for c in changes):
            full = self.previous(run, sorted({c.client_id for c in changes}), full=True)
            changes = [
                replace(
                    c,
                    before=result_of(full[key])
                    if (key := (c.client_id, c.decision)) in full
                    else None,
                )
                for c in changes
            ]
        try:
            with self.engine.begin() as conn:
                write_page(conn, run.id, ids, decisions, errors)
        except DBAPIError as e:
            raise AdapterError(
                f"writing to the decision log {self.url} failed: {reason(e)}"
            ) from None
        return changes

    def add_hook_errors(self, run: RunState, errors: Mapping[str, list[FactError]]) -> None:
        """Log reaction-hook failures (kind `hook`) against their clients."""
        if not errors:
            return
        with self.engine.begin() as conn:
            for cid, errs in errors.items():
                start = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(ERRORS.c.seq) + 1, 0)).where(
                        ERRORS.c.run_id == run.id, ERRORS.c.client_id == cid
                    )
                ).scalar_one()
                conn.execute(sa.insert(ERRORS), error_rows(run, cid, errs, HOOK, start))

    def finish_run(self, run: RunState, status: str = "finished") -> dict[str, Any]:
        """Close the run with statistics computed from the log itself (right after a resume too)."""
        with self.engine.begin() as conn:
            stats = self._stats(conn, run.id)
            conn.execute(
                sa.update(RUNS)
                .where(RUNS.c.id == run.id)
                .values(status=status, finished_at=dt.datetime.now(dt.UTC), **stats)
            )
        return stats

    def mark(self, run: RunState, status: str) -> None:
        """Set a run's status without statistics (a run that failed or was interrupted)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(RUNS).where(RUNS.c.id == run.id).values(status=status))

    def _stats(self, conn: sa.Connection, run_id: str) -> dict[str, Any]:
        in_run = DECISIONS.c.run_id == run_id
        failed = sa.select(ERRORS.c.client_id).where(
            ERRORS.c.run_id == run_id, ERRORS.c.kind == CLIENT
        )
        decided = sa.select(DECISIONS.c.client_id).where(in_run)
        everyone = sa.union(decided, failed).subquery()
        clients = conn.execute(sa.select(sa.func.count()).select_from(everyone)).scalar_one()
        errors = conn.execute(
            sa.select(sa.func.count()).select_from(failed.distinct().subquery())
        ).scalar_one()
        changes = conn.execute(
            sa.select(sa.func.count()).where(in_run, DECISIONS.c.changed.is_(True))
        ).scalar_one()
        counts: dict[str, dict[str, int]] = {}
        grouped = conn.execute(
            sa.select(DECISIONS.c.decision, DECISIONS.c.status, DECISIONS.c.output, sa.func.count())
            .where(in_run)
            .group_by(DECISIONS.c.decision, DECISIONS.c.status, DECISIONS.c.output)
        )
        for decision, status, output, n in grouped:
            label = output_label(status, output)
            per = counts.setdefault(decision, {})
            per[label] = per.get(label, 0) + n
        return {"clients": clients, "errors": errors, "changes": changes, "counts": counts}

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS).order_by(RUNS.c.started_at.desc())).mappings()
            return [dict(r) for r in rows]

    def changes(self, run_id: str | None = None) -> tuple[str, list[dict[str, Any]]]:
        """A run's changed decisions (the newest run when `run_id` is None)."""
        with self.engine.connect() as conn:
            if run_id is None:
                run_id = conn.execute(
                    sa.select(RUNS.c.id).order_by(RUNS.c.started_at.desc()).limit(1)
                ).scalar()
                if run_id is None:
                    raise AdapterError(f"the decision log {self.url} has no runs yet")
            elif conn.execute(sa.select(RUNS.c.id).where(RUNS.c.id == run_id)).first() is None:
                raise AdapterError(f"no run {run_id!r} in the decision log {self.url}")
            rows = conn.execute(
                sa.select(DECISIONS)
                .where(DECISIONS.c.run_id == run_id, DECISIONS.c.changed.is_(True))
                .order_by(DECISIONS.c.client_id, DECISIONS.c.decision)
            ).mappings()
            return run_id, [dict(r) for r in rows]

    def close(self) -> None:
        self.engine.dispose()
