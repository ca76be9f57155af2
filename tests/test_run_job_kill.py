"""A real run in a separate process, killed with SIGKILL halfway, then resumed and rerun:
every client ends in the log exactly once, nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from tierwise.adapters import open_source
from tierwise.adapters.db import connect
from tierwise.adapters.job import run_job
from tierwise.adapters.log import DECISIONS, RUNS
from tierwise.runtime.engine import Engine

from .conftest import AS_OF, CLIENTS, make_crm

CLIENT_COUNT = 600
PAGE = 50
CHILD = """\
import datetime as dt, sys, time
from tierwise.adapters import open_source
from tierwise.adapters.job import run_job
from tierwise import Engine

pack, crm, mapping, log, run_id, delay = sys.argv[1:]
source = open_source(crm, mapping)
summary = run_job(Engine.from_path(pack), source, log, as_of=dt.date(2026, 6, 30),
                  run_id=run_id or None, page_size=50, progress=lambda s: time.sleep(float(delay)))
print(summary.run_id, summary.clients, summary.skipped)
"""


def _job(
    script: Path, pack: Path, crm: str, mapping: Path, run_id: str, delay: float
) -> subprocess.Popen[str]:
    argv = [sys.executable, str(script), str(pack), crm, str(mapping), crm, run_id, str(delay)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged(engine: sa.Engine, run_id: str) -> tuple[int, int, int]:
    """Rows, distinct (client, decision) pairs and distinct clients of a run."""
    with engine.connect() as conn:
        where = DECISIONS.c.run_id == run_id
        rows = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
        pairs = (
            sa.select(DECISIONS.c.client_id, DECISIONS.c.decision)
            .where(where)
            .distinct()
            .subquery()
        )
        distinct = conn.execute(sa.select(sa.func.count()).select_from(pairs)).scalar_one()
        clients = conn.execute(
            sa.select(sa.func.count(DECISIONS.c.client_id.distinct())).where(where)
        ).scalar_one()
    return rows, distinct, clients


def test_a_killed_run_resumed_and_rerun_logs_every_client_once(
    crm_url: str, pack_dir: Path, mapping_file: Path, tmp_path: Path
) -> None:
    make_crm(crm_url, CLIENT_COUNT)
    script = tmp_path / "job.py"
    script.write_text(CHILD)
    db = connect(crm_url)
    child = _job(script, pack_dir, crm_url, mapping_file, "killed", 0.05)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            time.sleep(0.05)
            assert child.poll() is None, child.communicate()
            if (
                sa.inspect(db).has_table("tierwise_decisions")
                and _logged(db, "killed")[2] >= 4 * PAGE
            ):
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    rows, distinct, clients = _logged(db, "killed")
    assert 4 * PAGE <= clients < CLIENT_COUNT, "the kill should land mid-run"
    assert rows == distinct == 2 * clients and clients % PAGE == 0, "pages are written whole"
    with db.connect() as conn:
        assert (
            conn.execute(sa.select(RUNS.c.status).where(RUNS.c.id == "killed")).scalar()
            == "running"
        )

    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    resumed = run_job(engine, source, crm_url, as_of=AS_OF, run_id="killed", page_size=PAGE)
    assert (resumed.clients, resumed.skipped) == (CLIENT_COUNT, clients)
    assert _logged(db, "killed") == (2 * CLIENT_COUNT, 2 * CLIENT_COUNT, CLIENT_COUNT)

    new_id = run_job(engine, source, crm_url, as_of=AS_OF, page_size=PAGE).run_id
    source.close()
    assert _logged(db, new_id) == (2 * CLIENT_COUNT, 2 * CLIENT_COUNT, CLIENT_COUNT)
    with db.connect() as conn:
        statuses = dict(conn.execute(sa.select(RUNS.c.id, RUNS.c.status)).all())
        unwritten = conn.execute(
            sa.select(sa.func.count()).where(CLIENTS.c.pricing_tier.is_(None))
        ).scalar()
    assert statuses == {"killed": "finished", new_id: "finished"} and unwritten == 0
    db.dispose()
