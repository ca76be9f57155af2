"""A real run in a separate process, killed with SIGKILL, then resumed and rerun: every
client ends in the log exactly once, nothing lost, nothing duplicated, and the CRM's
write-back columns hold what the log holds for every client, whether the log lives in the
CRM's database (one transaction) or apart from it (pages pending until written back)."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tierwise.adapters import open_source
from tierwise.adapters.db import connect
from tierwise.adapters.job import run_job
from tierwise.adapters.log import DECISIONS, PENDING, RUNS
from tierwise.runtime.engine import Engine

from .conftest import AS_OF, CLIENTS, make_crm

CLIENT_COUNT = 600
PAGE = 50
CHILD = """\
import datetime as dt, sys, time
from tierwise.adapters import open_source
from tierwise.adapters.job import run_job
from tierwise.adapters.sql import SqlWriteback
from tierwise import Engine

pack, crm, mapping, log, run_id, delay, writeback_delay = sys.argv[1:]
if float(writeback_delay):  # widen the moment between a page's log commit and its write-back
    write = SqlWriteback.write
    def slow_write(self, outcomes):
        time.sleep(float(writeback_delay))
        write(self, outcomes)
    SqlWriteback.write = slow_write
source = open_source(crm, mapping)
summary = run_job(Engine.from_path(pack), source, log, as_of=dt.date(2026, 6, 30),
                  run_id=run_id or None, page_size=50, progress=lambda s: time.sleep(float(delay)))
print(summary.run_id, summary.clients, summary.skipped)
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(CHILD)
    return path


@pytest.fixture(params=["shared", "apart"])
def log_url(request: pytest.FixtureRequest, crm_url: str, tmp_path: Path) -> Iterator[str]:
    """The decision log: in the CRM's own database, or in another database of its kind."""
    if request.param == "shared":
        yield crm_url
    elif crm_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'log.db'}"
    else:
        yield from _other_postgres_database(crm_url)


def _other_postgres_database(crm_url: str) -> Iterator[str]:
    name = f"tw_log_{secrets.token_hex(6)}"
    admin = connect(crm_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(crm_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _job(
    script: Path,
    pack: Path,
    crm: str,
    mapping: Path,
    log: str,
    run_id: str,
    delay: float,
    writeback_delay: float = 0.0,
) -> subprocess.Popen[str]:
    argv = [sys.executable, str(script), str(pack), crm, str(mapping), log, run_id]
    argv += [str(delay), str(writeback_delay)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged(engine: sa.Engine, run_id: str) -> tuple[int, int, int]:
    """Rows, distinct (client, decision) pairs and distinct clients of a run."""
    if not sa.inspect(engine).has_table("tierwise_decisions"):
        return 0, 0, 0
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


def _written(crm: sa.Engine) -> int:
    """CRM clients whose write-back columns are set."""
    with crm.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(CLIENTS.c.pricing_tier.is_not(None))
        ).scalar_one()


def crm_behind_log(crm_url: str, log_url: str, run_id: str) -> dict[str, tuple[object, object]]:
    """Every client whose CRM columns differ from the pricing tier the log holds for it in
    `run_id` (client -> (CRM value, logged value)); a client missing from the log counts."""
    crm, log = connect(crm_url), connect(log_url)
    with log.connect() as conn:
        logged = {
            cid: json.loads(output)
            for cid, output in conn.execute(
                sa.select(DECISIONS.c.client_id, DECISIONS.c.output).where(
                    DECISIONS.c.run_id == run_id, DECISIONS.c.decision == "pricing_tier"
                )
            )
        }
    with crm.connect() as conn:
        columns = sa.select(CLIENTS.c.id, CLIENTS.c.pricing_tier, CLIENTS.c.discount_pct)
        crm_values = {str(i): (tier, pct) for i, tier, pct in conn.execute(columns)}
    crm.dispose()
    log.dispose()
    behind = {}
    for cid, value in crm_values.items():
        want = (logged[cid]["tier"], logged[cid]["discount_pct"]) if cid in logged else None
        if value != want:
            behind[cid] = (value, want)
    return behind


def _kill_when(child: subprocess.Popen[str], ready: object, timeout: float = 60) -> None:
    """SIGKILL the child as soon as `ready()` holds (it must still be running then)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(0.02)
            assert child.poll() is None, child.communicate()
            if ready():  # type: ignore[operator]
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


def test_a_killed_run_resumed_and_rerun_logs_every_client_once(
    crm_url: str, pack_dir: Path, mapping_file: Path, script: Path
) -> None:
    make_crm(crm_url, CLIENT_COUNT)
    db = connect(crm_url)
    child = _job(script, pack_dir, crm_url, mapping_file, crm_url, "killed", 0.05)
    _kill_when(child, lambda: _logged(db, "killed")[2] >= 4 * PAGE)
    rows, distinct, clients = _logged(db, "killed")
    assert 4 * PAGE <= clients < CLIENT_COUNT, "the kill should land mid-run"
    assert rows == distinct == 2 * clients and clients % PAGE == 0, "pages are written whole"
    assert _written(db) == clients, "write-back commits with its page's log rows"
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
    assert crm_behind_log(crm_url, crm_url, new_id) == {}
    db.dispose()


def test_a_kill_between_a_pages_log_and_its_write_back_is_completed_on_resume(
    crm_url: str, pack_dir: Path, mapping_file: Path, script: Path, tmp_path: Path
) -> None:
    make_crm(crm_url, CLIENT_COUNT)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    crm, log = connect(crm_url), connect(log_url)
    child = _job(script, pack_dir, crm_url, mapping_file, log_url, "gap", 0.0, 0.5)
    _kill_when(child, lambda: (n := _logged(log, "gap")[2]) >= 3 * PAGE and _written(crm) < n)
    logged = _logged(log, "gap")[2]
    assert _written(crm) == logged - PAGE, "the kill should land after a page's log commit"
    assert len(crm_behind_log(crm_url, log_url, "gap")) == CLIENT_COUNT - logged + PAGE
    with log.connect() as conn:
        pending = conn.execute(sa.select(PENDING.c.run_id, PENDING.c.client_ids)).all()
    assert [run for run, _ in pending] == ["gap"] and len(pending[0][1]) == PAGE

    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    resumed = run_job(engine, source, log_url, as_of=AS_OF, run_id="gap", page_size=PAGE)
    source.close()
    assert (resumed.status, resumed.repaired, resumed.skipped) == ("finished", PAGE, logged)
    assert crm_behind_log(crm_url, log_url, "gap") == {}
    with log.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PENDING)).scalar() == 0
    crm.dispose()
    log.dispose()


def test_random_kills_never_leave_the_crm_behind_the_log(
    crm_url: str, log_url: str, pack_dir: Path, mapping_file: Path, script: Path
) -> None:
    make_crm(crm_url, CLIENT_COUNT)
    rng = random.Random(os.environ.get("TIERWISE_KILL_SEED", secrets.randbits(32)))
    for _ in range(3):
        child = _job(script, pack_dir, crm_url, mapping_file, log_url, "random", 0.02)
        moment = time.monotonic() + rng.uniform(0.5, 3.0)
        try:
            while time.monotonic() < moment and child.poll() is None:
                time.sleep(0.01)
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(30)
        assert child.returncode in (0, -signal.SIGKILL), child.communicate()
    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    final = run_job(engine, source, log_url, as_of=AS_OF, run_id="random", page_size=PAGE)
    source.close()
    assert final.status == "finished" and final.clients == CLIENT_COUNT
    log = connect(log_url)
    assert _logged(log, "random") == (2 * CLIENT_COUNT, 2 * CLIENT_COUNT, CLIENT_COUNT)
    log.dispose()
    assert crm_behind_log(crm_url, log_url, "random") == {}
