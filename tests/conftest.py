"""Shared fixtures: a real PostgreSQL server for the adapter and decision-log tests.

`postgres_url` is the server: TIERWISE_TEST_POSTGRES_URL when set; else a throwaway
cluster started from Debian's binaries (/usr/lib/postgresql/*/bin, installed by
.ci/postgres.sh) on a free port of 127.0.0.1 with a password, stopped at session end;
else the test is skipped with the reason (or fails, when TIERWISE_REQUIRE_POSTGRES is set,
as CI sets it). `postgres_db` is a fresh database per test.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierwise.adapters.db import connect
from tierwise.batch import BatchEngine

from .counting import sqlite_calls

PASSWORD = "tierwise-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    """Run as the unprivileged `postgres` user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL (user with a password), or a skip that says why not."""
    configured = os.environ.get("TIERWISE_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        reason = (
            "no PostgreSQL: set TIERWISE_TEST_POSTGRES_URL or install the server "
            "(.ci/postgres.sh installs Debian's postgresql package)"
        )
        if os.environ.get("TIERWISE_REQUIRE_POSTGRES"):
            pytest.fail(reason + "; TIERWISE_REQUIRE_POSTGRES is set, so this is an error")
        pytest.skip(reason)
    bin_dir = Path(found[-1]).parent
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL unprivileged")
    root = Path(tempfile.mkdtemp(prefix="tierwise-pg-"))
    data, password_file = root / "data", root / "pw"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(password_file, "postgres")
    port = _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                          "--auth-local=trust", "--auth-host=scram-sha-256",
                          f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"]),
            **run,
        )  # fmt: skip
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                          "-l", str(root / "log"), "-w", "start"]),
            **run,
        )  # fmt: skip
    except subprocess.CalledProcessError as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL from {bin_dir}: {e.stderr or e.stdout}")
    try:
        yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    name = f"tw_{secrets.token_hex(6)}"
    admin = connect(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# A small CRM and rule pack shared by the adapter, decision-log and run-job tests.

AS_OF = dt.date(2026, 6, 30)

PRICING = """\
decision: pricing_tier
hit_policy: first
inputs:
  clv: number
  revenue_12m: number
  purchases_per_year: integer
  lifecycle_stage: {enum: [prospect, new, growing, mature, declining, lapsed]}
rules:
  - id: platinum
    when: clv >= 50000 and revenue_12m > 1000
    then: {tier: platinum, discount_pct: 15}
    because: Top lifetime value and real revenue this year
  - id: gold
    when: clv >= 10000 and purchases_per_year >= 6
    then: {tier: gold, discount_pct: 8}
default: {tier: standard, discount_pct: 0}
"""

SUPPORT = """\
decision: support_action
hit_policy: collect
inputs:
  open_complaints: integer
  satisfaction: number
rules:
  - id: recovery
    when: open_complaints >= 2
    then: {action: service_recovery}
  - id: survey
    when: satisfaction < 6
    then: {action: satisfaction_survey}
"""

MAPPING = """\
clients: {table: clients, id: id}
facts:
  clv: clv_eur
  lifecycle_stage: stage
aggregates:
  revenue_12m: {table: orders, key: client_id, function: sum, column: amount,
                date: ordered_at, window_days: 365, where: {status: paid}}
  purchases_per_year: {table: orders, key: client_id, function: count,
                       date: ordered_at, window_days: 365, where: {status: paid}}
  open_complaints: {table: tickets, key: client_id, function: count,
                    where: {kind: complaint, status: open}}
  satisfaction: {table: surveys, key: client_id, function: latest, column: score,
                 date: answered_at}
writeback:
  columns: {pricing_tier: pricing_tier.tier, discount_pct: pricing_tier.discount_pct}
"""

CRM = sa.MetaData()
CLIENTS = sa.Table(
    "clients", CRM,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100)),
    sa.Column("clv_eur", sa.Numeric(12, 2)),
    sa.Column("stage", sa.String(20)),
    sa.Column("pricing_tier", sa.String(20)),
    sa.Column("discount_pct", sa.Integer),
)  # fmt: skip
ORDERS = sa.Table(
    "orders", CRM,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), index=True),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("status", sa.String(10)),
    sa.Column("ordered_at", sa.DateTime),
)  # fmt: skip
TICKETS = sa.Table(
    "tickets", CRM,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), index=True),
    sa.Column("kind", sa.String(20)),
    sa.Column("status", sa.String(10)),
)  # fmt: skip
SURVEYS = sa.Table(
    "surveys", CRM,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), index=True),
    sa.Column("score", sa.Integer),
    sa.Column("answered_at", sa.DateTime),
)  # fmt: skip
STAGES = ("prospect", "new", "growing", "mature", "declining", "lapsed")


def crm_rows(n: int) -> dict[str, list[dict[str, Any]]]:
    """Deterministic CRM rows for n clients: every third one rich, some with complaints,
    orders inside, before and after the 12-month window of AS_OF."""
    rows: dict[str, list[dict[str, Any]]] = {
        "clients": [],
        "orders": [],
        "tickets": [],
        "surveys": [],
    }
    noon = dt.datetime.combine(AS_OF, dt.time(12))
    for i in range(1, n + 1):
        rows["clients"].append(
            {
                "id": i,
                "name": f"client {i}",
                "clv_eur": (i % 7) * 9000,
                "stage": STAGES[i % 6],
                "pricing_tier": None,
                "discount_pct": None,
            }
        )
        for k in range(i % 9):
            rows["orders"].append(
                {
                    "client_id": i,
                    "amount": 100 + 50 * k,
                    "status": "paid" if k % 4 else "refunded",
                    "ordered_at": noon - dt.timedelta(days=40 * k),
                }
            )
        rows["orders"].append(
            {
                "client_id": i,
                "amount": 99999,
                "status": "paid",
                "ordered_at": noon + dt.timedelta(days=2),
            }
        )
        for k in range(i % 4):
            rows["tickets"].append(
                {
                    "client_id": i,
                    "kind": "complaint" if k % 2 == 0 else "question",
                    "status": "open" if k < 3 else "closed",
                }
            )
        if i % 5:
            rows["surveys"].append(
                {"client_id": i, "score": i % 11, "answered_at": noon - dt.timedelta(days=300)}
            )
            rows["surveys"].append(
                {"client_id": i, "score": (i * 3) % 11, "answered_at": noon - dt.timedelta(days=3)}
            )
    return rows  # fmt: skip


def expected_facts(n: int) -> dict[str, dict[str, Any]]:
    """The facts the mapping should give for crm_rows(n), computed here in Python."""
    rows = crm_rows(n)
    lower = dt.datetime.combine(AS_OF + dt.timedelta(days=1 - 365), dt.time())
    upper = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
    facts = {str(c["id"]): {"clv": float(c["clv_eur"]), "lifecycle_stage": c["stage"],
                            "revenue_12m": 0.0, "purchases_per_year": 0,
                            "open_complaints": 0, "satisfaction": None}
             for c in rows["clients"]}  # fmt: skip
    for o in rows["orders"]:
        if o["status"] == "paid" and lower <= o["ordered_at"] < upper:
            f = facts[str(o["client_id"])]
            f["revenue_12m"] += o["amount"]
            f["purchases_per_year"] += 1
    for t in rows["tickets"]:
        if t["kind"] == "complaint" and t["status"] == "open":
            facts[str(t["client_id"])]["open_complaints"] += 1
    latest: dict[str, dt.datetime] = {}
    for s in rows["surveys"]:
        cid = str(s["client_id"])
        if s["answered_at"] < upper and (cid not in latest or s["answered_at"] > latest[cid]):
            latest[cid] = s["answered_at"]
            facts[cid]["satisfaction"] = float(s["score"])
    return facts


def make_crm(url: str, n: int) -> None:
    """Create the CRM tables at `url` and fill them with crm_rows(n)."""
    engine = connect(url)
    CRM.create_all(engine)
    rows = crm_rows(n)
    with engine.begin() as conn:
        for table in (CLIENTS, ORDERS, TICKETS, SURVEYS):
            if rows[table.name]:
                conn.execute(sa.insert(table), rows[table.name])
    engine.dispose()


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A rule pack folder with the pricing tier and support action decisions."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "pricing_tier.yaml").write_text(PRICING)
    (folder / "support_action.yaml").write_text(SUPPORT)
    return folder


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "crm-mapping.yaml"
    path.write_text(MAPPING)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty CRM database: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return str(request.getfixturevalue("postgres_db"))


@pytest.fixture
def counted() -> Iterator[list[Any]]:
    """The calls of `counted(v)` (it returns v) on every SQLite connection the test opens
    (tests/counting.py): how often a query read a value."""
    with sqlite_calls() as calls:
        yield calls


@pytest.fixture
def batch_of(tmp_path: Path) -> Callable[..., BatchEngine]:
    """`batch_of(name=text, ...)`: a BatchEngine of rule files `<name>.yaml` in a new
    folder `rules` of the test's tmp_path."""

    def make(**files: str) -> BatchEngine:
        rules = tmp_path / "rules"
        rules.mkdir()
        for name, text in files.items():
            (rules / f"{name}.yaml").write_text(text)
        return BatchEngine.from_path(rules)

    return make
