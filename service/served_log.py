"""Served decisions into the decision log: one run per service start, written in batches by
a thread of its own, off the request path, and flushed when the service stops.

Rows carry the pack hash and day each outcome was decided with; a client decided twice in
one run keeps its latest outcome (the log's key is run, client, decision). An outcome
without a client id is logged under its request key (`request:<idempotency key or id>`).
A write that fails is retried with the same outcomes, so none is lost while the service runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import replace

from tierwise.adapters.base import AdapterError
from tierwise.adapters.log import DecisionLog
from tierwise.outcome import Outcome, new_outcome

log = logging.getLogger("tierwise.service")
RETRY_SECONDS = 1.0


class ServedLog:
    """Queues outcomes and writes them to the decision log in batches, in a thread."""

    def __init__(
        self,
        url: str,
        *,
        pack_hash: str,
        source: str,
        batch: int,
        interval: float,
        on_pending: Callable[[int], None] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.decision_log = DecisionLog(url)
        self.run = self.decision_log.start_run(
            pack_hash=pack_hash, as_of=dt.date.today(), source=source
        )
        self.batch = batch
        self.interval = interval
        self.on_pending = on_pending or (lambda n: None)
        self.on_error = on_error or (lambda: None)
        self._queue: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="tierwise-log", daemon=True)
        self._thread.start()
        log.info("logging served decisions to %s, run %s", self.decision_log.url, self.run.id)

    def add(self, outcome: Outcome, request_key: str) -> None:
        """Queue one outcome (never blocks the request)."""
        if outcome.client_id is None:
            outcome = new_outcome(
                f"request:{request_key}",
                outcome.pack_hash,
                outcome.as_of,
                outcome.decisions,
                outcome.errors,
            )
        with self._lock:
            self._pending += 1
            self.on_pending(self._pending)
        self._queue.put(outcome)

    def _loop(self) -> None:
        """The writer thread: pages of up to `batch` outcomes, every `interval` at the latest."""
        stopping = False
        while not stopping:
            page: list[Outcome] = []
            try:
                item = self._queue.get(timeout=self.interval)
                while True:
                    if item is None:
                        stopping = True
                        break
                    page.append(item)
                    if len(page) >= self.batch:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            if page:
                self._write(page, stopping)

    def _write(self, page: list[Outcome], stopping: bool) -> None:
        """Write a page, grouped by pack and day; retried until it is in (or the service ends)."""
        while True:
            try:
                groups: dict[tuple[str, dt.date], list[Outcome]] = {}
                for outcome in page:
                    groups.setdefault((outcome.pack_hash, outcome.as_of), []).append(outcome)
                for (pack_hash, as_of), outcomes in groups.items():
                    run = replace(self.run, pack_hash=pack_hash, as_of=as_of)
                    self.decision_log.write_outcomes(run, outcomes)
                break
            except AdapterError as e:
                self.on_error()
                log.error("decision log write of %d outcomes failed: %s", len(page), e)
                if stopping:
                    log.error("%d served outcomes were not logged", len(page))
                    break
                threading.Event().wait(RETRY_SECONDS)
        with self._lock:
            self._pending -= len(page)
            self.on_pending(self._pending)

    def close(self) -> None:
        """Write everything queued, then finish the run."""
        self._queue.put(None)
        self._thread.join()
        try:
            self.decision_log.finish_run(self.run)
        except Exception as e:  # the database went away at shutdown: say so, do not crash
            log.error("cannot finish run %s in the decision log: %s", self.run.id, e)
        self.decision_log.close()
