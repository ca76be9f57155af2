"""Sources whose clients arrive decided: a table file decided in bulk by DuckDB, or a CRM
database decided inside the database; the run job logs them like any other source.

Both compute the run's profile on the batch path (`profile`), and decide with the profile
the run job hands them (`decide_with`: the stored one when a run resumes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tierwise.batch.rows import OutcomeRows, row_label
from tierwise.outcome import Outcome
from tierwise.profile import Profile


class BatchDecidedSource:
    """A table file (Parquet, CSV, JSONL) decided in bulk by DuckDB, then yielded client by
    client as Outcomes, so that the run job logs them with its usual guarantees (pages in
    one transaction, resume, change detection, hooks). Enrichment hooks do not run here:
    the batch path evaluates the rules only."""

    def __init__(
        self,
        batch: Any,
        path: str | Path,
        url: str,
        workdir: Path,
        columns: Mapping[str, str] | None = None,
    ) -> None:
        self.batch = batch
        self.path = Path(path)
        self.url = url
        self.workdir = workdir
        self.columns = columns
        """The file source's id column and fact renames (`FileSource.table_columns`)."""
        self.rows = OutcomeRows(batch.pack, batch.id_field)
        self._profile: Profile | None = None

    def profile(self, as_of: dt.date) -> Profile:
        """The run's profile of the file, computed by DuckDB."""
        return self.batch.profile_file(self.path, as_of, columns=self.columns)  # type: ignore[no-any-return]

    def decide_with(self, profile: Profile | None) -> None:
        """The profile the clients are decided with."""
        self._profile = profile

    def fact_origin(self, fact: str) -> str:
        """Where the file gives a fact from (for the warnings of a run)."""
        column = (self.columns or {}).get(fact, fact)
        return f"column {column!r} of {self.path} (if it has one: no client had a value)"

    def clients(self, as_of: dt.date, types: Mapping[str, Any]) -> Iterator[Outcome]:
        decided = self.workdir / "tierwise-batch-result.parquet"
        self.batch.decide_file(
            self.path, decided, as_of, columns=self.columns, profile=self._profile
        )
        try:
            yield from self.rows.from_parquet(decided, as_of, row_label(self.path))
        finally:
            decided.unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing stays open between runs."""


class PushdownDecidedSource:
    """A CRM database's clients decided inside that database: the SQL adapter's query (facts
    and aggregates from the mapping) with the rules compiled on top, then yielded as
    Outcomes for the run job. One push-down session serves the profile step and the
    decisions of a date, so the source is read once per run. CRM write-back from the
    mapping applies as on the durable path; enrichment hooks do not run."""

    def __init__(self, batch: Any, sql_source: Any) -> None:
        self.batch = batch
        self.source = sql_source
        self.url = sql_source.url
        self.writeback = sql_source.writeback
        self.rows = OutcomeRows(batch.pack, batch.id_field)
        self._profile: Profile | None = None
        self._session: Any = None
        self._session_of: tuple[dt.date, dict[str, Any]] | None = None

    def _session_for(self, as_of: dt.date, types: Mapping[str, Any]) -> Any:
        """The push-down session of the mapping's query for `as_of` (a new one for another
        date or other input types)."""
        key = (as_of, dict(types))
        if self._session is None or self._session_of != key:
            self._end_session()
            query = self.source.query(as_of, types)
            self._session = self.batch.pushdown_session(self.source.engine, query)
            self._session_of = key
        return self._session

    def _end_session(self) -> None:
        session, self._session, self._session_of = self._session, None, None
        if session is not None:
            session.close()

    def profile(self, as_of: dt.date) -> Profile:
        """The run's profile of the database's clients, computed inside it."""
        return self._session_for(as_of, self.batch.pack.inputs).profile(as_of)  # type: ignore[no-any-return]

    def decide_with(self, profile: Profile | None) -> None:
        """The profile the clients are decided with."""
        self._profile = profile

    def fact_origin(self, fact: str) -> str:
        """Where the database gives a fact from: the SQL source's mapping."""
        return self.source.fact_origin(fact)  # type: ignore[no-any-return]

    def clients(self, as_of: dt.date, types: Mapping[str, Any]) -> Iterator[Outcome]:
        """Streamed page by page from the database, never all at once; the session ends
        with the last client."""
        session = self._session_for(as_of, types)
        statistics = self.batch.statistics(self._profile)
        try:
            yield from session.rows(as_of, statistics, convert=self._outcomes(as_of))
        finally:
            self._end_session()

    def _outcomes(self, as_of: dt.date) -> Callable[[dict[str, Any]], Outcome]:
        """A decided row's Outcome (made on the fetching thread, in the rows' order): a row
        without a client id is an error, labelled by its place among those."""
        unnamed = 0

        def outcome(row: dict[str, Any]) -> Outcome:
            nonlocal unnamed
            if self.rows.unnamed(row):
                unnamed += 1
                return self.rows.unnamed_error(self.source.unnamed_label(unnamed), as_of)
            return self.rows.outcome(row, as_of)

        return outcome

    def close(self) -> None:
        self._end_session()
        self.source.close()
