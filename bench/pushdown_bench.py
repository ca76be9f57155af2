"""Issue 10: a CRM's clients decided inside its own database, beside the durable path.

The sample CRM (`tierwise.adapters.sample_crm.generate`: clients, orders, tickets, surveys,
2% dirty) at each size, with its shipped mapping and the shipped rule packs, decided:
(a) by push-down into the SQLite file (what `tierwise run --engine sql` does: the mapping's
query with the rules compiled on top, streamed into the run job), (b) the same inside
PostgreSQL (a copy of the CRM in typed columns), (c) by the durable path (what
`tierwise run --engine durable` does: a profiling pass, then `run_job` client by client).
Every run logs into a new SQLite decision log and writes the mapping's columns back, so
the paths differ only in where the rules run. The paths take turns for `--rounds` rounds;
the tables show the median. `query only` rows time a run's decision query alone, over the
profile step's table of every client's facts in the same session (every row fetched,
nothing logged). `CPU s` is the bench process's own CPU time (the median): it
holds SQLite and the durable path, not PostgreSQL's server, and on a shared machine it
says what a run costs better than the wall clock does.

    python -m bench.pushdown_bench [--sizes 10000,100000] [--rounds 3] [--postgres-url URL]

Without `--postgres-url` a throwaway PostgreSQL server is started from Debian's binaries
(/usr/lib/postgresql/*/bin) on a free port of 127.0.0.1, and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tierwise import Engine
from tierwise.adapters.decided import PushdownDecidedSource
from tierwise.adapters.job import run_job
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.adapters.sql import open_sql
from tierwise.batch import BatchEngine
from tierwise.plugins.builtin_run import profile_pass
from tierwise.plugins.manager import get_plugin_manager

from .table import load, markdown

RULES = Path(__file__).resolve().parent.parent / "rules"
MAPPING = Path(str(files("tierwise.adapters") / "sample_mapping.yaml"))
PATHS = ("sqlite", "postgresql", "durable")
LABELS = {
    "sqlite": "push-down into SQLite (run job)",
    "postgresql": "push-down into PostgreSQL (run job)",
    "durable": "durable path (profile + run job)",
    "sqlite-query": "push-down into SQLite (query only)",
    "postgresql-query": "push-down into PostgreSQL (query only)",
}
PG_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "TEXT": "TEXT"}
DATE_COLUMNS = {"signup_date", "ordered_at", "opened_at", "closed_at", "answered_at"}


@dataclass
class Crm:
    """One size's sample CRM: the SQLite file, and its PostgreSQL copy (None: not measured)."""

    clients: int
    sqlite_url: str
    postgres_url: str | None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="clients per CRM, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per path; median shown")
    parser.add_argument("--postgres-url", help="a server to use instead of a throwaway one")
    parser.add_argument("--paths", default=",".join(PATHS), help="sqlite,postgresql,durable")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths {', '.join(sorted(unknown))}; use {', '.join(PATHS)}")
    print(f"before the run: {load()}\n")
    with tempfile.TemporaryDirectory(prefix="tierwise-pushdown-") as tmp:
        server = _postgres(args.postgres_url, Path(tmp)) if "postgresql" in paths else None
        with server or contextlib.nullcontext() as url:
            for size in sizes:
                crm = _crm(size, args.seed, Path(tmp), url)
                print(_table(crm, paths, args.rounds, Path(tmp)))
                print()
    print(f"after the run: {load()}")


def _table(crm: Crm, paths: list[str], rounds: int, tmp: Path) -> str:
    """One size: every path's median over the rounds, and its ratio to the durable path."""
    engine = Engine.from_path(RULES)
    batch = BatchEngine(engine.pack)
    runs = _runs(crm, paths, engine, batch, tmp)
    times: dict[str, list[float]] = {key: [] for key in runs}
    cpu: dict[str, list[float]] = {key: [] for key in runs}
    errors: dict[str, int] = {}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))  # alternate: noise hits alike
        for key in order:
            started = time.process_time()
            seconds, errors[key] = runs[key](r)
            cpu[key].append(time.process_time() - started)
            times[key].append(seconds)
    durable = statistics.median(times["durable"]) if "durable" in times else None
    rows = []
    for key, measured in times.items():
        median = statistics.median(measured)
        ratio = f"{durable / median:.2f}" if durable else "-"
        rows.append(
            [
                f"{crm.clients:,}",
                LABELS[key],
                f"{crm.clients / median:,.0f}",
                f"{median:.2f}",
                f"{min(measured):.2f}-{max(measured):.2f}",
                f"{statistics.median(cpu[key]):.2f}",
                ratio,
                f"{errors[key]:,}",
            ]
        )
    headers = [
        "clients", "path", "clients/s", "seconds", "range", "CPU s", "x durable", "client errors"
    ]  # fmt: skip
    title = (
        f"#### sample CRM, {crm.clients:,} clients, shipped packs, as of {SAMPLE_END}; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; median of {rounds}; {load()}"
    )
    return title + "\n\n" + markdown(headers, rows, right={0, 2, 3, 4, 5, 6, 7})


Run = Callable[[int], tuple[float, int]]


def _runs(
    crm: Crm, paths: list[str], engine: Engine, batch: BatchEngine, tmp: Path
) -> dict[str, Run]:
    """The timed runs of one CRM, by key; each returns (seconds, clients with errors)."""
    pm = get_plugin_manager()
    urls = {"sqlite": crm.sqlite_url, "postgresql": crm.postgres_url}

    def log(key: str, r: int) -> str:
        path = tmp / f"log-{crm.clients}-{key}-{r}.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"

    def pushdown(key: str) -> Run:
        def run(r: int) -> tuple[float, int]:
            source = PushdownDecidedSource(batch, open_sql(urls[key] or "", MAPPING))
            start = time.perf_counter()
            profile = source.profile(SAMPLE_END)  # as run does: the statistics in the database
            summary = run_job(engine, source, log(key, r), as_of=SAMPLE_END, profile=profile, pm=pm)
            seconds = time.perf_counter() - start
            source.close()
            return seconds, summary.errors

        return run

    def query(key: str) -> Run:
        def run(r: int) -> tuple[float, int]:
            source = open_sql(urls[key] or "", MAPPING)
            query = source.query(SAMPLE_END, engine.pack.inputs)
            with batch.pushdown_session(source.engine, query) as session:
                profile = session.profile(SAMPLE_END)  # untimed: what a run does first
                start = time.perf_counter()
                rows = session.rows(SAMPLE_END, batch.statistics(profile))
                failed = sum(1 for row in rows if row["errors"] is not None)
                seconds = time.perf_counter() - start
            source.close()
            return seconds, failed

        return run

    def durable(r: int) -> tuple[float, int]:
        source = open_sql(crm.sqlite_url, MAPPING)
        start = time.perf_counter()
        profile = profile_pass(engine, source, SAMPLE_END, pm)
        summary = run_job(
            engine, source, log("durable", r), as_of=SAMPLE_END, profile=profile, pm=pm
        )
        seconds = time.perf_counter() - start
        source.close()
        return seconds, summary.errors

    runs: dict[str, Run] = {}
    for key in paths:
        if key == "durable":
            runs[key] = durable
        elif urls[key] is not None:
            runs[key] = pushdown(key)
            runs[f"{key}-query"] = query(key)
    return runs


def _crm(size: int, seed: int, tmp: Path, postgres_url: str | None) -> Crm:
    """The sample CRM of `size` clients as a SQLite file, and copied into PostgreSQL."""
    path = generate(tmp / f"crm-{size}.db", clients=size, seed=seed)
    copy = None
    if postgres_url is not None:
        copy = _database(postgres_url, f"tierwise_bench_{size}")
        _copy_to_postgres(path, copy)
    return Crm(size, f"sqlite:///{path}", copy)


def _database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the server (replacing one of that name)."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _copy_to_postgres(path: Path, url: str) -> None:
    """The SQLite CRM's tables and indexes in PostgreSQL, with typed columns: dates as DATE,
    numbers as DOUBLE PRECISION. A dirty value such a column cannot hold (text in a number
    or date column, 2021-02-30) is copied as NULL, so the copy has fewer invalid facts."""
    source = sqlite3.connect(path)
    target = sa.create_engine(url)
    try:
        tables = [r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        with target.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cursor = raw.cursor()
            for table in tables:
                columns = source.execute(f"PRAGMA table_info({table})").fetchall()
                cursor.execute(
                    f"CREATE TABLE {table} ({', '.join(_pg_column(c) for c in columns)})"
                )
                kinds = [_pg_kind(c) for c in columns]
                rows = source.execute(f"SELECT * FROM {table}")
                while batch := rows.fetchmany(10_000):
                    cursor.copy_expert(f"COPY {table} FROM STDIN", _tsv(batch, kinds))
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            ):
                cursor.execute(sql)
            cursor.execute("ANALYZE")
    finally:
        source.close()
        target.dispose()


def _pg_column(info: tuple[Any, ...]) -> str:
    _, name, declared, _, _, primary = info
    kind = "DATE" if name in DATE_COLUMNS else PG_TYPES[declared]
    return f"{name} {kind}{' PRIMARY KEY' if primary else ''}"


def _pg_kind(info: tuple[Any, ...]) -> str:
    return "date" if info[1] in DATE_COLUMNS else PG_TYPES[info[2]]


def _tsv(rows: list[tuple[Any, ...]], kinds: list[str]) -> Any:
    """Rows as COPY text, each value checked against its column's type (else NULL)."""
    import io

    lines = ["\t".join(_cell(v, k) for v, k in zip(row, kinds, strict=True)) for row in rows]
    return io.StringIO("\n".join(lines) + "\n")


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "\\N"
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            return "\\N"
    if kind != "TEXT" and not isinstance(value, int | float):
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


@contextlib.contextmanager
def _postgres(url: str | None, tmp: Path) -> Iterator[str]:
    """`url`, or a throwaway server (as tests/conftest.py starts one) for the whole bench."""
    if url is not None:
        yield url
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("no PostgreSQL binaries: pass --postgres-url or --paths sqlite,durable")
    bin_dir = Path(found[-1]).parent
    root = tmp / "pg"
    root.mkdir()
    data = root / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(tmp, "postgres")
    port = _free_port()
    run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--no-sync"],
        **run,
    )  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
         "-l", str(root / "log"), "-w", "start"],
        **run,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
