"""The decision log: SQLModel tables for runs, decisions and client errors, in the CRM's
database or a separate one, written idempotently one page per transaction.

Tables: `tierwise_runs`, `tierwise_decisions` (primary key run_id + client_id +
decision), `tierwise_client_errors` (run_id + client_id + seq), and
`tierwise_writeback_pending` (target + page): pages whose CRM write-back has not been
confirmed yet. A page is written by deleting that page's clients from the run and
inserting their rows again, in one transaction, so a page written twice (a resumed or
repeated run) leaves each client exactly once (`PageInserts.write_page`, on rows built by
its `decision_row` and by `error_rows`). Rows go in through `bulk.BulkInsert`: bound as SQLAlchemy
binds them, without its per-row machinery; COPY on PostgreSQL.

Write-back shares that guarantee: where the CRM lives in the log's database, the page's
write-back runs inside the page's transaction; elsewhere the page is recorded as pending
in that transaction and cleared once the CRM has it, so a run that dies (or whose
write-back fails) in between leaves a pending page that the next start completes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import JSON, Column, Field, SQLModel

from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome, new_outcome
from tierwise.runtime.facts import is_text, jsonable, printable

from .base import ID_KEY, AdapterError
from .bulk import BulkInsert
from .db import connect, reason, safe_url, same_database
from .log_schema import prepare

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


class PendingWritebackRow(SQLModel, table=True):
    """A page logged in a run whose write-back to `target` is not confirmed yet."""

    __tablename__ = "tierwise_writeback_pending"

    target: str = Field(primary_key=True, max_length=512)
    page: str = Field(primary_key=True, max_length=32)
    run_id: str = Field(max_length=64)
    client_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: dt.datetime


TABLES = (
    Run.__table__,  # type: ignore[attr-defined]
    DecisionRow.__table__,  # type: ignore[attr-defined]
    ClientErrorRow.__table__,  # type: ignore[attr-defined]
    PendingWritebackRow.__table__,  # type: ignore[attr-defined]
)
DECISIONS: sa.Table = DecisionRow.__table__  # type: ignore[attr-defined]
ERRORS: sa.Table = ClientErrorRow.__table__  # type: ignore[attr-defined]
RUNS: sa.Table = Run.__table__  # type: ignore[attr-defined]
PENDING: sa.Table = PendingWritebackRow.__table__  # type: ignore[attr-defined]


def _dumps(value: Any, option: int = 0) -> str:
    """JSON text of a value; one that orjson refuses (an integer beyond 64 bits, text that
    is not valid Unicode) is written with those parts as `jsonable` makes them."""
    try:
        return orjson.dumps(value, option=option, default=str).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(_encodable(value), option=option, default=str).decode()


def _encodable(value: Any) -> Any:
    """A value with every part orjson refuses made `jsonable` (mapping keys as text)."""
    if isinstance(value, Mapping):
        return {printable(str(k)): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return jsonable(value)


def canonical(output: Any) -> str | None:
    """An output as canonical JSON text (sorted keys), or None for no output."""
    if output is None:
        return None
    return _dumps(output, orjson.OPT_SORT_KEYS)


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
class Pending:
    """A page's write-back to `target` that the log holds as pending until it is confirmed."""

    target: str
    page: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class PendingPage:
    """A pending write-back as the log keeps it: which run logged the page, which clients."""

    mark: Pending
    run_id: str
    client_ids: list[str]


@dataclass(frozen=True, slots=True)
class RunState:
    """An open run: its id, what it decides against, whether it resumes an earlier start,
    and the profile stored when it started (a resume decides with that one)."""

    id: str
    pack_hash: str
    as_of: dt.date
    previous_run_id: str | None
    resumed: bool
    profile: dict[str, Any] = field(default_factory=dict)


def new_run_id(now: dt.datetime | None = None) -> str:
    """A fresh run id: the start time, then random hex (`20261128T191049-b1705d5d`)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


DECISION_COLUMNS = (
    "run_id", "client_id", "decision", "status", "output", "rules", "explanation", "error",
    "pack_hash", "as_of", "changed", "previous_status", "previous_output",
)  # fmt: skip
"""The order of a decision row's values (`PageInserts.decision_row`)."""
ERROR_COLUMNS = (
    "run_id", "client_id", "seq", "kind", "fact", "message", "value", "pack_hash", "as_of",
)  # fmt: skip
"""The order of an error row's values (`error_rows`)."""
_CHANGED = DECISION_COLUMNS.index("changed")


class PageInserts:
    """The inserts of a page's decision and error rows on one database (bulk.py), and the
    decision rows bound for it: the JSON of rule lists and explanations that repeat from
    client to client is serialized once, by the columns' own bind processors."""

    def __init__(self, dialect: sa.Dialect) -> None:
        prebound = ("rules", "explanation", "as_of", "changed")
        self.decisions = BulkInsert(DECISIONS, DECISION_COLUMNS, dialect, prebound)
        self.errors = BulkInsert(ERRORS, ERROR_COLUMNS, dialect)
        bind = self.decisions.statement.processor
        self._rules = bind("rules")
        self._explanation = bind("explanation")
        self._day = bind("as_of")
        self._flags = (bind("changed")(False), bind("changed")(True))
        self._rule_lists: dict[tuple[str, ...], Any] = {}
        self._explanations: dict[tuple[tuple[str, str, str], ...], Any] = {}
        self._days: dict[dt.date, Any] = {}

    def write_page(
        self,
        conn: sa.Connection,
        run_id: str,
        client_ids: Sequence[str],
        decisions: Sequence[tuple[Any, ...]],
        errors: Sequence[tuple[Any, ...]],
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
        self.decisions.execute(conn, decisions)
        self.errors.execute(conn, errors)

    def decision_row(
        self,
        run: RunState,
        client_id: str,
        result: DecisionResult,
        previous: Mapping[str, Any] | None = None,
    ) -> tuple[Any, ...]:
        """The log row of one decision result (DECISION_COLUMNS), compared with the client's
        `previous` row in the run before (status and output), if it had one."""
        output = canonical(result.output)
        changed = run.previous_run_id is not None and (
            previous is None or previous["output"] != output
        )
        return (
            run.id,
            client_id,
            result.decision,
            result.status,
            output,
            self._bound_rules(result.rules),
            self._bound_explanations(result.explanations),
            None if result.error is None else printable(result.error),
            run.pack_hash,
            self._bound_day(run.as_of),
            self._flags[changed],
            None if previous is None else previous["status"],
            None if previous is None else previous["output"],
        )

    def _bound_rules(self, rules: list[str]) -> Any:
        """The rules column of a rule-id list, bound once per distinct list."""
        key = tuple(rules)
        found = self._rule_lists.get(key)
        if found is None:
            found = _remember(self._rule_lists, key, self._rules(list(key)))
        return found

    def _bound_explanations(self, explanations: list[Explanation]) -> Any:
        """The explanation column: bound once per distinct list of explanations without fact
        values (the batch path's), every time for explanations with values."""
        if any(map(_FACTS, explanations)):
            return self._explanation([_explanation(e) for e in explanations])
        key = tuple(map(_WITHOUT_FACTS, explanations))
        found = self._explanations.get(key)
        if found is None:
            value = [_explanation(e) for e in explanations]
            found = _remember(self._explanations, key, self._explanation(value))
        return found

    def _bound_day(self, day: dt.date) -> Any:
        """The as_of column of a day, bound once per day."""
        found = self._days.get(day)
        return found if found is not None else _remember(self._days, day, self._day(day))


def _remember(memo: dict[Any, Any], key: Any, bound: Any) -> Any:
    """Keep a bound value for reuse; a memo that met MEMO_SIZE values starts over."""
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = bound
    return bound


_FACTS = attrgetter("facts")
_WITHOUT_FACTS = attrgetter("rule", "because", "condition")
MEMO_SIZE = 4096
"""Bound values a log keeps for reuse, per column (rule combinations, explanations, days)."""


def _explanation(e: Explanation) -> dict[str, Any]:
    facts = orjson.loads(_dumps(e.facts)) if e.facts else {}
    return {"rule": e.rule, "because": e.because, "condition": e.condition, "facts": facts}


def _confirm(conn: sa.Connection, marks: Sequence[Pending]) -> None:
    """Clear pages whose write-back is done from the pending list, on `conn`."""
    for mark in marks:
        conn.execute(
            sa.delete(PENDING).where(PENDING.c.target == mark.target, PENDING.c.page == mark.page)
        )


def _loggable(outcome: Outcome) -> Outcome:
    """The outcome, or, when its client id is not text a log can store (undecodable bytes
    a source let through, a NUL), that client's error under the id with those escaped."""
    cid = str(outcome.client_id)
    shown = printable(cid)
    if shown == cid:
        return outcome
    why = "is not valid UTF-8 text" if not is_text(cid) else "holds a NUL character"
    error = FactError(ID_KEY, f"client id '{shown}' {why}", shown)
    return new_outcome(shown, outcome.pack_hash, outcome.as_of, {}, [error])


def error_rows(
    run: RunState, client_id: str, errors: Iterable[FactError], kind: str, start: int = 0
) -> list[tuple[Any, ...]]:
    """Log rows of one client's errors (ERROR_COLUMNS), numbered from `start`."""
    return [
        (
            run.id,
            client_id,
            start + i,
            kind,
            printable(e.fact),
            printable(e.message),
            canonical(e.value),
            run.pack_hash,
            run.as_of,
        )
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
    """The decision log at a database URL (created when missing, upgraded when an older
    tierwise wrote it: see log_schema)."""

    def __init__(self, url: str | sa.Engine, *, create: bool = True) -> None:
        """Open the log at `url`, creating it or upgrading its schema (log_schema);
        `create=False` refuses a database that holds no log instead of creating one."""
        self.engine = (
            connect(url, json_serializer=_dumps, json_deserializer=orjson.loads)
            if isinstance(url, str)
            else url
        )
        self.url = safe_url(self.engine.url)
        with self._failing("creating or upgrading the tables"):
            prepare(self.engine, self.url, create=create)
        self.inserts = PageInserts(self.engine.dialect)

    @contextlib.contextmanager
    def _failing(self, action: str) -> Iterator[None]:
        """A database failure while doing `action` as an error naming the log, never a
        driver traceback (a server that stopped, a full disk, a lost connection)."""
        try:
            yield
        except DBAPIError as e:
            raise AdapterError(
                f"{action} in the decision log {self.url} failed: {reason(e)}"
            ) from None

    def shares(self, engine: sa.Engine) -> bool:
        """Whether `engine` reaches the log's own database (one transaction can write both)."""
        return same_database(self.engine, engine)

    def start_run(
        self,
        *,
        pack_hash: str,
        as_of: dt.date,
        source: str,
        run_id: str | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> RunState:
        """Open a new run, or resume `run_id` if it exists (same pack and as_of required).
        Two starts of one new run id at once: the one that loses is a clear error."""
        try:
            return self._start(pack_hash, as_of, source, run_id, profile)
        except DBAPIError as e:
            with self._failing("starting the run"):
                if run_id is not None and self._exists(run_id):
                    raise AdapterError(
                        f"run {run_id} was started by another process at the same moment; "
                        f"let that one go on, or resume the run later with --run-id {run_id}"
                    ) from None
            raise AdapterError(
                f"starting the run in the decision log {self.url} failed: {reason(e)}"
            ) from None

    def _exists(self, run_id: str) -> bool:
        """Whether the log holds a run with this id (committed by anyone)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(RUNS.c.id).where(RUNS.c.id == run_id)).first()
        return found is not None

    def _start(
        self,
        pack_hash: str,
        as_of: dt.date,
        source: str,
        run_id: str | None,
        profile: Mapping[str, Any] | None,
    ) -> RunState:
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
                    return RunState(
                        run_id,
                        pack_hash,
                        as_of,
                        existing["previous_run_id"],
                        True,
                        dict(existing["profile"] or {}),
                    )
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
        return RunState(run_id, pack_hash, as_of, previous, False, dict(profile or {}))

    def done_clients(self, run: RunState, client_ids: Sequence[str]) -> set[str]:
        """Which of these clients already have their outcome in the run (for resuming)."""
        with self._failing("reading the clients already logged"), self.engine.connect() as conn:
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
        with self._failing("reading the previous run"), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns).where(
                    c.run_id == run.previous_run_id, c.client_id.in_(client_ids)
                )
            ).mappings()
            return {(r["client_id"], r["decision"]): dict(r) for r in rows}

    def write_outcomes(
        self,
        run: RunState,
        outcomes: Sequence[Outcome],
        *,
        within: Callable[[sa.Connection], None] | None = None,
        pending: Pending | None = None,
        confirmed: Sequence[Pending] = (),
    ) -> list[Change]:
        """Write one page of outcomes in one transaction and return their changes since
        the previous run. A client id given twice keeps its last outcome, as it does
        across pages. `within(conn)` runs inside that transaction (a write-back into this
        database); `pending` records the page as written back nowhere yet, in it too, and
        `confirmed` clears earlier pages written back since (no commit of their own)."""
        unnamed = next((o for o in outcomes if o.client_id is None), None)
        if unnamed is not None:
            raise ValueError(
                "an outcome without a client id cannot be logged (its decisions would be "
                f"lost): give each client an id (decided as of {unnamed.as_of})"
            )
        latest = {o.client_id: _loggable(o) for o in outcomes}
        page = list(latest.values())
        ids = [str(o.client_id) for o in page]
        decisions, errors, changes = self._page_rows(run, page)
        with self._failing("writing a page"), self.engine.begin() as conn:
            self.inserts.write_page(conn, run.id, ids, decisions, errors)
            if pending is not None:
                conn.execute(
                    sa.insert(PENDING).values(
                        target=pending.target,
                        page=pending.page,
                        run_id=run.id,
                        client_ids=ids,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
            if within is not None:
                within(conn)
            _confirm(conn, confirmed)
        return changes

    def _page_rows(
        self, run: RunState, outcomes: list[Outcome]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Change]]:
        """The decision and error rows of a page, each compared with the previous run."""
        before = self.previous(run, [str(o.client_id) for o in outcomes])
        decisions: list[tuple[Any, ...]] = []
        errors: list[tuple[Any, ...]] = []
        changes: list[Change] = []
        for outcome in outcomes:
            cid = str(outcome.client_id)
            if outcome.errors:
                errors += error_rows(run, cid, outcome.errors, CLIENT)
            for result in outcome.decisions.values():
                row = self.inserts.decision_row(
                    run, cid, result, before.get((cid, result.decision))
                )
                if row[_CHANGED]:
                    changes.append(Change(cid, result.decision, None, result))
                decisions.append(row)
        if any(before.get((c.client_id, c.decision)) for c in changes):
            full = self.previous(run, sorted({c.client_id for c in changes}), full=True)
            changes = [
                replace(
                    c,
                    before=result_of(full[k]) if (k := (c.client_id, c.decision)) in full else None,
                )
                for c in changes
            ]
        return decisions, errors, changes

    def pending_pages(self, target: str) -> list[PendingPage]:
        """The pages whose write-back to `target` is not confirmed, oldest first."""
        with self._failing("reading the pending write-backs"), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(PENDING)
                .where(PENDING.c.target == target)
                .order_by(PENDING.c.created_at, PENDING.c.page)
            ).mappings()
            return [
                PendingPage(Pending(r["target"], r["page"]), r["run_id"], list(r["client_ids"]))
                for r in rows
            ]

    def logged_outcomes(self, run_id: str, client_ids: Sequence[str]) -> list[Outcome]:
        """These clients' outcomes as run `run_id` logged them (a client logged with errors
        gets them as one error), to write a page back again."""
        decided: dict[str, dict[str, DecisionResult]] = {}
        failed: set[str] = set()
        with self._failing("reading a logged page"), self.engine.connect() as conn:
            run = conn.execute(
                sa.select(RUNS.c.pack_hash, RUNS.c.as_of).where(RUNS.c.id == run_id)
            ).one()
            for start in range(0, len(client_ids), 500):
                chunk = list(client_ids[start : start + 500])
                rows = conn.execute(
                    sa.select(DECISIONS).where(
                        DECISIONS.c.run_id == run_id, DECISIONS.c.client_id.in_(chunk)
                    )
                ).mappings()
                for row in rows:
                    decided.setdefault(row["client_id"], {})[row["decision"]] = result_of(dict(row))
                failed.update(
                    conn.execute(
                        sa.select(ERRORS.c.client_id).where(
                            ERRORS.c.run_id == run_id,
                            ERRORS.c.kind == CLIENT,
                            ERRORS.c.client_id.in_(chunk),
                        )
                    ).scalars()
                )
        logged_error = [FactError("*", f"logged with errors in run {run_id}")]
        return [
            new_outcome(
                cid, run.pack_hash, run.as_of, decided.get(cid, {}),
                logged_error if cid in failed else [],
            )
            for cid in client_ids
        ]  # fmt: skip

    def written_back(self, mark: Pending) -> None:
        """Confirm a page's write-back: it is no longer pending."""
        with self._failing("confirming a write-back"), self.engine.begin() as conn:
            _confirm(conn, [mark])

    def add_hook_errors(self, run: RunState, errors: Mapping[str, list[FactError]]) -> None:
        """Log reaction-hook failures (kind `hook`) against their clients."""
        if not errors:
            return
        with self._failing("logging hook errors"), self.engine.begin() as conn:
            for cid, errs in errors.items():
                start = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(ERRORS.c.seq) + 1, 0)).where(
                        ERRORS.c.run_id == run.id, ERRORS.c.client_id == cid
                    )
                ).scalar_one()
                self.inserts.errors.execute(conn, error_rows(run, cid, errs, HOOK, start))

    def finish_run(
        self, run: RunState, status: str = "finished", confirmed: Sequence[Pending] = ()
    ) -> dict[str, Any]:
        """Close the run with statistics computed from the log itself (right after a resume
        too), clearing the pending pages `confirmed` as written back in the same commit."""
        with self._failing("finishing the run"), self.engine.begin() as conn:
            _confirm(conn, confirmed)
            stats = self._stats(conn, run.id)
            conn.execute(
                sa.update(RUNS)
                .where(RUNS.c.id == run.id)
                .values(
                    status=status,
                    finished_at=dt.datetime.now(dt.UTC),
                    **{k: v for k, v in stats.items() if k in RUNS.c},
                )
            )
        return stats

    def mark(self, run: RunState, status: str) -> None:
        """Set a run's status without statistics (a run that failed or was interrupted)."""
        with self._failing(f"marking the run {status}"), self.engine.begin() as conn:
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
        fired: dict[str, int] = {}
        for decision, status, output, n in grouped:
            label = output_label(status, output)
            per = counts.setdefault(decision, {})
            per[label] = per.get(label, 0) + n
            fired[decision] = fired.get(decision, 0) + (n if status == "decided" else 0)
        return {
            "clients": clients,
            "errors": errors,
            "changes": changes,
            "counts": counts,
            "decided": fired,
        }

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
