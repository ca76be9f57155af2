"""The run job: stream clients from a source, decide them, log every outcome, write
chosen outputs back, and fire the reaction hooks; the base of `tierwise run`.

    from tierwise.adapters import open_source
    from tierwise.adapters.job import run_job

    source = open_source("sqlite:///crm.db", mapping="crm-mapping.yaml")
    summary = run_job(engine, source, "sqlite:///crm.db", as_of=date(2026, 11, 1))

`run_job(engine, source, log, *, as_of, run_id=None, page_size=1000, writeback=True,
progress=None, profile=None, pm=None) -> RunSummary`
- `profile` is the run's Profile (`engine.profile(...)`), needed when the pack declares
  statistics of the whole base; it is stored with the run, and a resume decides with the
  stored one, so every client of a run sees the same statistics.
- `log` is a database URL or a DecisionLog; `run_id` of an earlier, interrupted run
  resumes it (clients already logged are skipped), a new id or None starts a new run.
- Each page of `page_size` clients is decided, then written in one transaction, so a
  killed run loses at most the page in flight and a resume or rerun logs every client
  exactly once. Write-back (when the source's mapping configures it and `writeback` is
  true) joins that guarantee: into the log's own database it runs inside the page's
  transaction; elsewhere the page is logged as pending and cleared once written back, and
  every start first completes the pending pages of earlier starts (`complete_writeback`,
  also `tierwise run --repair-writeback`), so the CRM never stays behind the log. Writing
  back only sets values, so repeating a page is harmless.
- Enrichment hooks run before a client is decided; if one raises, that client's outcome
  is the error (kind `client`). `decision_made` / `decision_changed` run after the page
  is stored; if one raises, the run goes on and the error is logged against the client
  (kind `hook`). Hooks run at least once per client: a resumed page may repeat them.
- `progress(summary_so_far)` is called after every page.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, cast

import pluggy

from tierwise.errors import TierwiseError
from tierwise.outcome import FactError, Outcome
from tierwise.plugins.enrichment import PluginEnrichment, enrichment
from tierwise.plugins.manager import TierwisePluginManager, get_plugin_manager, safe_call
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import printable

from .base import (
    AdapterError,
    Record,
    Source,
    TransactionalWriteback,
    UnreadableClient,
    Writeback,
)
from .log import Change, DecisionLog, Pending, RunState


@dataclass(frozen=True)
class RunSummary:
    """What a run did: clients in, errors, changes, counts per decision and output label."""

    run_id: str
    status: str
    as_of: dt.date
    pack_hash: str
    source: str
    clients: int = 0
    errors: int = 0
    changes: int = 0
    skipped: int = 0
    hook_errors: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    decided: dict[str, int] = field(default_factory=dict)
    """Clients per decision for whom a rule fired (not the default, no error)."""
    wall_seconds: float = 0.0
    previous_run_id: str | None = None
    resumed: bool = False
    repaired: int = 0
    """Clients of earlier starts whose missing write-back this run completed first."""


@dataclass(frozen=True)
class Repaired:
    """Pending write-backs completed: how many pages and clients, logged by which runs."""

    pages: int
    clients: int
    runs: tuple[str, ...]


def run_job(
    engine: Engine,
    source: Source,
    log: str | DecisionLog,
    *,
    as_of: dt.date,
    run_id: str | None = None,
    page_size: int = 1000,
    writeback: bool = True,
    progress: Callable[[RunSummary], None] | None = None,
    profile: Profile | None = None,
    pm: pluggy.PluginManager | None = None,
) -> RunSummary:
    """Decide every client of `source` and log the outcomes; see the module docstring."""
    started = time.perf_counter()
    pm = pm or get_plugin_manager()
    if isinstance(pm, TierwisePluginManager):
        pm.require_loaded()
    log = log if isinstance(log, DecisionLog) else DecisionLog(log)
    target = getattr(source, "writeback", None) if writeback else None
    if target is not None:
        target.check(engine.pack)
    run = log.start_run(
        pack_hash=engine.pack.hash,
        as_of=as_of,
        source=source.url,
        run_id=run_id,
        profile=profile.to_json() if profile is not None else None,
    )
    if run.resumed and run.profile:
        profile = Profile.from_json(run.profile)
    decide_with = getattr(source, "decide_with", None)
    if decide_with is not None:  # a source decided on the batch path: with the run's profile
        decide_with(profile)
    summary = RunSummary(
        run.id,
        "running",
        as_of,
        engine.pack.hash,
        source.url,
        previous_run_id=run.previous_run_id,
        resumed=run.resumed,
    )
    decider = _Decider(engine, enrichment(pm), as_of, profile)
    store = _Store(log, run, target)
    processed = skipped = hook_errors = repaired = 0
    # The objects alive now (pack, engine, compiled statements, modules) leave the cyclic
    # collector's scans until the pages are done: the full collections that pages of
    # outcomes trigger every page or two then walk the pages in flight instead of the whole
    # process (half a second of a 25,000-client run). Unfrozen, they are collectable again.
    gc.freeze()
    try:
        if target is not None:
            repaired = complete_writeback(log, target).clients
        for page in _pages(source.clients(as_of, engine.pack.inputs), page_size):
            if run.resumed:
                done = log.done_clients(run, [_id(r) for r in page])
                skipped += sum(1 for r in page if _id(r) in done)
                page = [r for r in page if _id(r) not in done]
            outcomes = decider.decide(page)
            changes = store.page(outcomes)
            failures = _react(pm, run, outcomes, changes)
            log.add_hook_errors(run, failures)
            processed += len(outcomes)
            hook_errors += sum(len(v) for v in failures.values())
            if progress is not None:
                progress(
                    replace(
                        summary,
                        clients=processed,
                        skipped=skipped,
                        hook_errors=hook_errors,
                        repaired=repaired,
                        wall_seconds=time.perf_counter() - started,
                    )
                )
    except BaseException as e:
        failure = _marked_failed(log, run, e)
        if failure is e:
            raise
        raise failure from None
    finally:
        gc.unfreeze()
    stats = store.finish()
    return replace(
        summary,
        status="finished",
        skipped=skipped,
        hook_errors=hook_errors,
        repaired=repaired,
        wall_seconds=time.perf_counter() - started,
        **stats,
    )


def complete_writeback(log: DecisionLog, target: Writeback) -> Repaired:
    """Write back every page the log holds as pending for `target` (left by a run that died
    or whose write-back failed), oldest first, from the outcomes the log has for it."""
    pages = log.pending_pages(target.target)
    for page in pages:
        target.write(log.logged_outcomes(page.run_id, page.client_ids))
        log.written_back(page.mark)
    runs = tuple(sorted({p.run_id for p in pages}))
    return Repaired(len(pages), sum(len(p.client_ids) for p in pages), runs)


def repair_writeback(source: Source, log: str | DecisionLog) -> Repaired:
    """Complete the pending write-backs of `source`'s CRM without deciding anything."""
    target = getattr(source, "writeback", None)
    if target is None:
        raise AdapterError(
            f"{source.url}: its mapping configures no write-back, so none is missing"
        )
    return complete_writeback(log if isinstance(log, DecisionLog) else DecisionLog(log), target)


class _Store:
    """How each page is stored: logged, and written back in the same transaction (a CRM in
    the log's database) or logged as pending until written back (elsewhere). A page written
    back is cleared from the pending list by the next page's log transaction (or the run's
    last one), so the bookkeeping costs no commit of its own; a page written back but not
    cleared yet is written again by the next start, which is harmless."""

    def __init__(self, log: DecisionLog, run: RunState, target: Writeback | None) -> None:
        self.log = log
        self.run = run
        self.target = target
        self.shared = isinstance(target, TransactionalWriteback) and log.shares(target.engine)
        self.done: list[Pending] = []

    def page(self, outcomes: list[Outcome]) -> list[Change]:
        """Log one page (and write it back); its changes since the previous run."""
        target = self.target
        if target is None:
            return self.log.write_outcomes(self.run, outcomes)
        if self.shared:
            shared = cast("TransactionalWriteback", target)
            return self.log.write_outcomes(
                self.run, outcomes, within=lambda conn: shared.write_on(conn, outcomes)
            )
        mark, done = Pending(target.target), self.done
        changes = self.log.write_outcomes(self.run, outcomes, pending=mark, confirmed=done)
        self.done = []
        target.write(outcomes)
        self.done = [mark]
        return changes

    def finish(self) -> dict[str, Any]:
        """Close the run, clearing the last page's pending mark in the same commit."""
        return self.log.finish_run(self.run, confirmed=self.done)


def _marked_failed(log: DecisionLog, run: RunState, error: BaseException) -> BaseException:
    """Mark the run failed and give back the error to raise: the first cause, also when
    the log itself cannot be reached any more (a stopped server), with that said."""
    try:
        log.mark(run, "failed")
    except AdapterError as cleanup:
        note = (
            f"the run could not be marked failed either ({cleanup}); it stays 'running' "
            f"until it is resumed with --run-id {run.id}"
        )
        if isinstance(error, TierwiseError):
            return AdapterError(f"{error}\n{note}")
        error.add_note(note)
    return error


class _Decider:
    """Enrichment plugins and the engine, with the run's profile, one page at a time."""

    def __init__(
        self,
        engine: Engine,
        enrich: PluginEnrichment | None,
        as_of: dt.date,
        profile: Profile | None,
    ) -> None:
        self.engine = engine
        self.enrich = enrich
        self.as_of = as_of
        self.profile = profile
        self.values = dict(profile.values) if profile is not None else {}

    def decide(self, page: list[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        decide, as_of, profile = self.engine.decide, self.as_of, self.profile
        for record in page:
            if isinstance(record, Outcome):  # decided already, by the batch path
                outcomes.append(record)
                continue
            if isinstance(record, UnreadableClient):
                outcomes.append(decide(record, as_of, profile=profile))
                continue
            cid = str(record["client_id"])
            facts = (
                record if self.enrich is None else self.enrich.enrich(record, as_of, self.values)
            )
            outcomes.append(decide(facts, as_of, client_id=cid, profile=profile))
        return outcomes


def _react(
    pm: pluggy.PluginManager, run: RunState, outcomes: list[Outcome], changes: list[Change]
) -> dict[str, list[FactError]]:
    """Fire decision_made and decision_changed; collect each client's hook failures."""
    failures: dict[str, list[FactError]] = {}
    made = pm.hook.tierwise_decision_made
    if made.get_hookimpls():
        for outcome in outcomes:
            _, failed = safe_call(made, outcome=outcome, run_id=run.id)
            if failed and outcome.client_id is not None:
                failures.setdefault(outcome.client_id, []).extend(f.as_fact_error() for f in failed)
    changed = pm.hook.tierwise_decision_changed
    if changed.get_hookimpls():
        for change in changes:
            _, failed = safe_call(
                changed,
                client_id=change.client_id,
                decision=change.decision,
                before=change.before,
                after=change.after,
                run_id=run.id,
            )
            if failed:
                failures.setdefault(change.client_id, []).extend(f.as_fact_error() for f in failed)
    return failures


def _id(record: Record | Outcome) -> str:
    """A record's client id as the log keeps it (bad bytes escaped, as `write_outcomes` does)."""
    if isinstance(record, UnreadableClient | Outcome):
        return printable(str(record.client_id))
    return printable(str(record["client_id"]))


def _pages(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while page := list(islice(iterator, size)):
        yield page
