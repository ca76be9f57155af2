"""One BatchEngine shared by threads: every call builds its query in its own per-query state,
so threads deciding with different as_of dates never see each other's date or columns."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from tierwise.batch import BatchEngine

RECENCY = """\
decision: recency
hit_policy: first
inputs:
  last_purchase: date
  clv: number
derive:
  days: days_since(last_purchase)
rules:
  - {id: recent, when: days <= 30 and clv > 100, then: {band: recent, days: 1}}
  - {id: month, when: days <= 60, then: {band: month, days: 2}}
  - {id: old, when: days > 60, then: {band: old, days: 3}}
"""
FOLLOW_UP = """\
decision: follow_up
hit_policy: collect
inputs:
  clv: number
rules:
  - {id: call, when: recency.band == "recent", then: {action: call}}
  - id: mail
    when: recency.band in ["month", "old"] and clv > 50
    then: {action: mail}
  - {id: gift, when: clv > 500, then: {action: gift}}
"""
DATES = (dt.date(2026, 3, 1), dt.date(2026, 5, 15))
THREADS, ROUNDS = 4, 50


def _clients(n: int = 200) -> pa.Table:
    base = dt.date(2026, 1, 1)
    return pa.table(
        {
            "client_id": [str(i) for i in range(n)],
            "last_purchase": [base + dt.timedelta(days=i % 140) for i in range(n)],
            "clv": [float(i * 7 % 900) for i in range(n)],
        }
    )


def test_threads_sharing_one_engine_get_their_own_as_of(tmp_path: Path) -> None:
    (tmp_path / "recency.yaml").write_text(RECENCY)
    (tmp_path / "follow_up.yaml").write_text(FOLLOW_UP)
    batch = BatchEngine.from_path(tmp_path)
    table = _clients()
    expected = {day: batch.decide_arrow(table, day) for day in DATES}
    assert expected[DATES[0]] != expected[DATES[1]]  # the date changes the answers
    failures: list[str] = []
    start = threading.Barrier(THREADS)

    def work(k: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            day = DATES[(k + r) % 2]
            try:
                got: Any = batch.decide_arrow(table, day)
            except Exception as e:  # recorded: the test reports every thread's failure
                failures.append(f"thread {k} round {r}: {type(e).__name__}: {e}")
                continue
            if got != expected[day]:
                failures.append(f"thread {k} round {r}: wrong table for as_of {day}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_building_a_query_leaves_the_compiler_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "recency.yaml").write_text(RECENCY)
    (tmp_path / "follow_up.yaml").write_text(FOLLOW_UP)
    batch = BatchEngine.from_path(tmp_path)
    columns = {"last_purchase": "DATE", "clv": "DOUBLE", "client_id": "VARCHAR"}
    for dialect in ("duckdb", "sqlite", "postgresql"):
        compiler = batch.compiler(dialect)
        before = dict(vars(compiler))
        first = batch.sql(dialect, "clients", columns, DATES[0])
        assert vars(compiler) == before  # nothing of the call stayed on the shared compiler
        assert batch.sql(dialect, "clients", columns, DATES[1]) != first
        assert batch.sql(dialect, "clients", columns, DATES[0]) == first
