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
  true) follows the log write; it only sets values, so repeating it is harmless.
- Enrichment hooks run before a client is decided; if one raises, that client's outcome
  is the error (kind `client`). `decision_made` / `decision_changed` run after the page
  is stored; if one raises, the run goes on and the error is logged against the client
  (kind `hook`). Hooks run at least once per client: a resumed page may repeat them.
- `progress(summary_so_far)` is called after every page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice

import pluggy

from tierwise.outcome import FactError, Outcome
from tierwise.plugins.enrichment import PluginEnrichment, enrichment
from tierwise.plugins.manager import TierwisePluginManager, get_plugin_manager, safe_call
from tierwise.profile import Profile
from tierwise.runtime.engine import Engine

from .base import Record, Source, UnreadableClient
from .log import Change, DecisionLog, RunState


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
    processed = skipped = hook_errors = 0
    try:
        for page in _pages(source.clients(as_of, engine.pack.inputs), page_size):
            if run.resumed:
                done = log.done_clients(run, [_id(r) for r in page])
                skipped += sum(1 for r in page if _id(r) in done)
                page = [r for r in page if _id(r) not in done]
            outcomes = decider.decide(page)
            changes = log.write_outcomes(run, outcomes)
            if target is not None:
                target.write(outcomes)
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
                        wall_seconds=time.perf_counter() - started,
                    )
                )
    except BaseException:
        log.mark(run, "failed")
        raise
    stats = log.finish_run(run)
    return replace(
        summary,
        status="finished",
        skipped=skipped,
        hook_errors=hook_errors,
        wall_seconds=time.perf_counter() - started,
        **stats,
    )


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
    if isinstance(record, UnreadableClient | Outcome):
        return str(record.client_id)
    return str(record["client_id"])


def _pages(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while page := list(islice(iterator, size)):
        yield page
