"""Regression tests of hostile sources and faults (issue 11, items 1, 2, 6, 7 and 8; issue
10, item 3): a write-back that fails on a full disk is completed from the log, one bad value
is one client's error on every source and both engines, secrets are never printed, every
failure is an error that names its place, database types are normalised at the adapter,
and a mapping on a CSV or JSONL file is honoured and checked by both engines."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tierwise.adapters import AdapterError, UnreadableClient, open_source
from tierwise.adapters.db import connect
from tierwise.adapters.job import RunSummary, run_job
from tierwise.adapters.log import RUNS, DecisionLog
from tierwise.batch import BatchEngine, BatchError
from tierwise.lang.types import INTEGER, NUMBER, STRING, FactType
from tierwise.plugins.cli import main
from tierwise.runtime.engine import Engine

from .conftest import AS_OF, make_crm
from .test_run_job_kill import crm_behind_log

PAGE = 50
CLIENTS = 400
PACK = """\
decision: tier
hit_policy: first
inputs:
  spend: number
  freq: integer
  segment: string
rules:
  - {id: gold, when: spend >= 10000 and freq > 2, then: {tier: gold}, because: Valuable}
  - {id: vip, when: segment == "vip", then: {tier: vip}, because: Flagged}
default: {tier: standard}
"""
TYPES: dict[str, FactType] = {"spend": NUMBER, "freq": INTEGER, "segment": STRING}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "tier.yaml"
    path.write_text(PACK)
    return path


def _csv_lines(n: int = 12) -> list[bytes]:
    lines = [b"client_id,spend,freq,segment"]
    lines += [
        f"c{i},{i * 2000},{i % 5},{'vip' if i % 4 == 0 else 'std'}".encode() for i in range(n)
    ]
    return lines


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def _run(rules: Path, source: str, out: Path, *options: str, expect: int = 0) -> str:
    """`tierwise run` as a user types it; the output, after checking its exit code (0, or 3
    for a run where every client failed)."""
    code, output = _cli(
        "run", "--source", source, "--rules", str(rules), "--as-of", "2026-01-01",
        "--out", f"sqlite:///{out}", *options,
    )  # fmt: skip
    assert code == expect, output
    return output


def _logged(db: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(client, decision, status, output) of every decision and (client, fact) of every error."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        decisions = set(
            conn.execute("SELECT client_id, decision, status, output FROM tierwise_decisions")
        )
        errors = set(conn.execute("SELECT client_id, fact FROM tierwise_client_errors"))
    return decisions, errors


def _both_engines(rules: Path, source: str, tmp_path: Path, *options: str, expect: int = 0) -> Any:
    """The log of a run by each engine; they must agree, and the durable one is returned."""
    logs = {}
    for engine in ("durable", "sql"):
        out = tmp_path / f"{engine}-{secrets.token_hex(3)}.db"
        _run(rules, source, out, "--engine", engine, *options, expect=expect)
        logs[engine] = _logged(out)
    assert logs["sql"] == logs["durable"]
    return logs["durable"]


# -- 1. a write-back that fails leaves the page pending, and it is completed --------------


@contextlib.contextmanager
def tiny_disk(size: str) -> Iterator[Path]:
    """A tmpfs of `size`, mounted for the test (needs root, as CI runs; else a skip)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    root = Path(tempfile.mkdtemp(prefix="tierwise-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        root.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
        root.rmdir()


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte with one file; removing the file frees it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")
    os.close(fd)
    return filler


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_on_tiny_disk(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """A CRM on a small disk: a SQLite file on it, or a PostgreSQL database whose
    tablespace is on it (the log lives elsewhere); its URL and the disk."""
    if request.param == "sqlite":
        with tiny_disk("2m") as disk:
            yield f"sqlite:///{disk / 'crm.db'}", disk
        return
    server: str = request.getfixturevalue("postgres_url")
    if sa.engine.make_url(server).host not in ("127.0.0.1", "localhost"):
        pytest.skip("the tablespace must be on this machine's disk")
    with tiny_disk("24m") as disk:
        subprocess.run(["chown", "postgres", str(disk)], check=True)
        name = f"tw_disk_{secrets.token_hex(4)}"
        admin = connect(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE TABLESPACE {name} LOCATION '{disk}'"))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TABLESPACE {name}'))
        try:
            yield sa.engine.make_url(server).set(database=name).render_as_string(False), disk
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f"DROP TABLESPACE IF EXISTS {name}"))
            admin.dispose()


def test_a_write_back_that_fails_on_a_full_disk_is_completed_from_the_log(
    crm_on_tiny_disk: tuple[str, Path], pack_dir: Path, mapping_file: Path, tmp_path: Path
) -> None:
    crm_url, disk = crm_on_tiny_disk
    make_crm(crm_url, 600)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = Engine.from_path(pack_dir)
    filled: list[Path] = []

    def fill_after_three_pages(summary: RunSummary) -> None:
        if summary.clients == 3 * PAGE:
            filled.append(fill(disk))

    source = open_source(crm_url, mapping_file)
    with pytest.raises(AdapterError, match=r"write-back into table 'clients' of .* failed: "):
        run_job(
            engine, source, log_url, as_of=AS_OF, run_id="full", page_size=PAGE,
            progress=fill_after_three_pages,
        )  # fmt: skip
    source.close()
    log = DecisionLog(log_url)
    assert log.runs()[0]["status"] == "failed"
    (pending,) = log.pending_pages(source.writeback.target)  # type: ignore[union-attr]
    logged = {cid for cid, (_, want) in crm_behind_log(crm_url, log_url, "full").items() if want}
    assert logged == set(pending.client_ids), "only the failed page is behind the log"

    filled[0].unlink()
    code, output = _cli(
        "run", "--source", crm_url, "--mapping", str(mapping_file), "--rules", str(pack_dir),
        "--out", log_url, "--repair-writeback",
    )  # fmt: skip
    assert code == 0 and f"write-back completed for {PAGE} client(s) in 1 page(s)" in output
    assert all(want is None for _, want in crm_behind_log(crm_url, log_url, "full").values())
    source = open_source(crm_url, mapping_file)
    resumed = run_job(engine, source, log_url, as_of=AS_OF, run_id="full", page_size=PAGE)
    source.close()
    assert resumed.status == "finished" and resumed.clients == 600
    assert crm_behind_log(crm_url, log_url, "full") == {}
    assert log.pending_pages(pending.mark.target) == []
    log.close()


# -- 2. one bad value is one client's error, on every source and both engines -------------


def test_an_integer_beyond_64_bits_is_one_clients_error_and_the_run_resumes(
    rules: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "big.csv"
    csv.write_bytes(b"\n".join([*_csv_lines(4), b"c9,100,1e20,std"]) + b"\n")
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text('{"client_id": "j1", "freq": 100000000000000000000}\n{"client_id": "j2"}\n')
    db = tmp_path / "big.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE clients (id TEXT, spend REAL, freq INTEGER, segment TEXT)")
        conn.execute("INSERT INTO clients VALUES ('s1', 5, 1e20, 'std'), ('s2', 5, 2, 'std')")
        conn.commit()
    for source, failed, shown in (
        (f"csv:{csv}", "c9", '"1e20"'),  # as written
        (f"jsonl:{jsonl}", "j1", "1e+20"),  # as the JSON parser and SQLite give it: a double
        (f"sqlite:///{db}", "s1", "1e+20"),
    ):
        out = tmp_path / f"{failed}.db"
        first = _run(rules, source, out, "--engine", "durable", "--run-id", failed, "--new-run")
        again = _run(rules, source, out, "--engine", "durable", "--run-id", failed)
        assert "finished" in first and "finished" in again
        decisions, errors = _logged(out)
        assert errors == {(failed, "freq")} and failed not in {d[0] for d in decisions}
        with contextlib.closing(sqlite3.connect(out)) as conn:
            (value,) = conn.execute("SELECT value FROM tierwise_client_errors").fetchone()
        assert value == shown


def test_bytes_that_are_not_utf8_in_a_csv_are_that_rows_error_on_both_engines_and_diff(
    rules: Path, tmp_path: Path
) -> None:
    lines = _csv_lines()
    lines[5] = b"c4,8000,1,caf\xe9"
    lines[8] = b"c\xff7,14000,2,std"
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    decisions, errors = _both_engines(rules, f"csv:{path}", tmp_path)
    assert errors == {("c4", "segment"), (f"{path} row 9", "client_id")}
    assert len({d[0] for d in decisions}) == 10
    code, output = _cli(
        "diff", str(rules), str(rules), "--source", str(path), "--as-of", "2026-01-01"
    )
    assert code == 0 and "10 clients" in output and "2 unreadable" in output


def test_bytes_that_are_not_utf8_in_a_sqlite_column_are_that_clients_error(
    rules: Path, tmp_path: Path
) -> None:
    db = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE clients (id TEXT, spend REAL, freq INTEGER, segment TEXT)")
        conn.executemany(
            "INSERT INTO clients VALUES (?, ?, ?, ?)",
            [(f"c{i}", i * 3000, 3, "std") for i in range(9)],
        )
        conn.execute("UPDATE clients SET segment = CAST(X'636166E9' AS TEXT) WHERE id = 'c4'")
        conn.execute("UPDATE clients SET id = CAST(X'6399' AS TEXT) WHERE id = 'c6'")
        conn.commit()
    output = _run(rules, f"sqlite:///{db}", tmp_path / "log.db", "--engine", "durable")
    assert "clients: 9  errors: 2" in output
    _, errors = _logged(tmp_path / "log.db")
    assert errors == {("c4", "segment"), ("clients id=c\\x99", "client_id")}


def test_decide_gives_one_outcome_per_input_line(rules: Path, tmp_path: Path) -> None:
    lines = [f'{{"client_id": "{i}", "spend": {i * 1000}, "freq": 3}}'.encode() for i in range(29)]
    lines[14] = b'{"client_id": "14", "segment": "caf\xe9"}'
    lines[20] = b'{"client_id": 18446744073709551616}'
    lines[21] = b'{"client_id": 18446744073709551617, "freq": 100000000000000000000}'
    path = tmp_path / "clients.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, output = _cli(
        "decide", "--rules", str(rules), "--input", str(path), "--as-of", "2026-01-01"
    )
    assert code == 0
    outcomes = [orjson.loads(line) for line in output.splitlines()]
    assert len(outcomes) == 29
    assert outcomes[14]["client_id"] is None and "line 15 is not valid JSON" in str(outcomes[14])
    assert [o["client_id"] for o in outcomes[20:22]] == [
        "18446744073709551616",
        "18446744073709551617",
    ]
    assert outcomes[21]["errors"][0]["value"] == 1e20  # JSON numbers beyond 64 bits are floats
    assert sum(bool(o["errors"]) for o in outcomes) == 2


def test_a_lone_surrogate_in_a_string_fact_is_that_clients_error_warm_or_cold(
    rules: Path,
) -> None:
    engine = Engine.from_path(rules)
    hostile = {"client_id": "x", "spend": 5.0, "freq": 1, "segment": "a\ud800"}
    cold = engine.decide(hostile, AS_OF)
    warm = list(engine.decide_many([{**hostile, "segment": "std"}] * 5000 + [hostile], AS_OF))[-1]
    for outcome in (cold, warm):
        assert [e.fact for e in outcome.errors] == ["segment"] and outcome.decisions == {}
        assert "is not valid Unicode text" in outcome.errors[0].message
        assert json.loads(outcome.model_dump_json())["errors"][0]["value"] == "a\\ud800"


def test_ragged_rows_and_ids_that_are_not_scalars_are_errors_on_both_engines(
    rules: Path, tmp_path: Path
) -> None:
    lines = _csv_lines()
    lines[3], lines[6] = b"c2,4000,1", b"c5,10000,2,std,extra"
    lines[9] = b",10000,3,std"  # no id after set-apart rows: labelled by its own place
    csv = tmp_path / "ragged.csv"
    csv.write_bytes(b"\n".join(lines) + b"\n")
    _, errors = _both_engines(rules, f"csv:{csv}", tmp_path)
    assert errors == {("c2", "*"), ("c5", "*"), (f"{csv} row 10", "client_id")}
    jsonl = tmp_path / "odd.jsonl"
    jsonl.write_text(
        '{"client_id": "a", "spend": 20000, "freq": 3}\n{"client_id": {"x": 1}}\n'
        '{"client_id": [1]}\n{"client_id": true}\n{broken\n[1, 2]\n{"client_id": "b"}\n'
    )
    durable = tmp_path / "odd.db"
    _run(rules, f"jsonl:{jsonl}", durable, "--engine", "durable")
    decisions, errors = _logged(durable)
    assert {d[0] for d in decisions} == {"a", "b"}
    assert errors == {
        (f"{jsonl} line 2", "client_id"), (f"{jsonl} line 3", "client_id"),
        (f"{jsonl} line 4", "client_id"), (f"{jsonl} line 5", "*"), (f"{jsonl} line 6", "*"),
    }  # fmt: skip
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        jsonl.read_text().replace(
            '{"client_id": {"x": 1}}\n{"client_id": [1]}\n{"client_id": true}\n', ""
        )
    )
    _both_engines(rules, f"jsonl:{broken}", tmp_path)
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_text("{broken\n[1]\n")
    assert _both_engines(rules, f"jsonl:{nothing}", tmp_path, expect=3)[1] == {
        (f"{nothing} line 1", "*"), (f"{nothing} line 2", "*"),
    }  # fmt: skip


def test_json_ids_of_2_to_the_64_and_above_stay_distinct_on_both_engines(
    rules: Path, tmp_path: Path
) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text(
        "".join(f'{{"client_id": {2**64 + i}, "spend": {i}}}\n' for i in range(3))
        + '{"client_id": 12, "spend": 1}\n'
    )
    decisions, _ = _both_engines(rules, f"jsonl:{path}", tmp_path)
    assert {d[0] for d in decisions} == {str(2**64), str(2**64 + 1), str(2**64 + 2), "12"}


# -- 6. secrets are never printed; every failure names its place ----------------------------


def test_run_never_prints_the_database_password(
    postgres_db: str, pack_dir: Path, mapping_file: Path
) -> None:
    make_crm(postgres_db, 20)
    password = sa.engine.make_url(postgres_db).password
    assert password
    result = CliRunner().invoke(
        main,
        ["run", "--source", postgres_db, "--mapping", str(mapping_file), "--rules",
         str(pack_dir), "--out", postgres_db, "--as-of", "2026-06-30"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert password not in result.output and "postgres:***@" in result.output
    assert DecisionLog(postgres_db).runs()[0]["source"].count("***") == 1


def test_a_log_database_that_stops_mid_run_is_a_clear_error_keeping_the_first_cause(
    postgres_db: str, postgres_url: str, pack_dir: Path, mapping_file: Path, tmp_path: Path
) -> None:
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(crm_url, 300)
    name = sa.engine.make_url(postgres_db).database
    admin = connect(postgres_url, isolation_level="AUTOCOMMIT")

    def stop_after_two_pages(summary: RunSummary) -> None:
        if summary.clients == 2 * PAGE:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"),
                    {"name": name},
                )  # fmt: skip

    engine = Engine.from_path(pack_dir)
    source = open_source(crm_url, mapping_file)
    try:
        with pytest.raises(AdapterError) as raised:
            run_job(
                engine, source, postgres_db, as_of=AS_OF, run_id="stopped", page_size=PAGE,
                progress=stop_after_two_pages,
            )  # fmt: skip
        message = str(raised.value)
        assert re.match(
            r"writing a page in the decision log postgresql\S*://postgres:\*\*\*@", message
        )
        assert "could not be marked failed either" in message and "--run-id stopped" in message
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
    resumed = run_job(engine, source, postgres_db, as_of=AS_OF, run_id="stopped", page_size=PAGE)
    source.close()
    assert resumed.status == "finished" and resumed.skipped == 2 * PAGE and resumed.clients == 300


def test_two_starts_of_one_run_id_at_once_give_a_clear_error(crm_url: str) -> None:
    log = DecisionLog(crm_url)
    other = connect(crm_url)
    failure: list[BaseException] = []
    with other.connect() as conn:
        transaction = conn.begin()
        conn.execute(
            sa.insert(RUNS).values(
                id="twice", started_at=dt.datetime.now(dt.UTC), status="running",
                pack_hash="h", as_of=AS_OF, source="s", counts={}, profile={},
            )
        )  # fmt: skip

        def start() -> None:
            try:
                log.start_run(pack_hash="h", as_of=AS_OF, source="s", run_id="twice")
            except AdapterError as e:
                failure.append(e)

        thread = threading.Thread(target=start)
        thread.start()
        thread.join(0.5)
        transaction.commit()
        thread.join(30)
    assert [str(e) for e in failure] == [
        "run twice was started by another process at the same moment; let that one go on, "
        "or resume the run later with --run-id twice"
    ]
    other.dispose()
    log.close()


def test_duckdb_errors_on_the_batch_path_are_errors_naming_the_file(
    rules: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BatchError, match=r"broken\.parquet: .*") as raised:
        BatchEngine.from_path(rules).decide_file(broken, tmp_path / "out.parquet", AS_OF)
    assert str(raised.value).startswith(f"{broken}: Invalid Input Error: No magic bytes")
    code, output = _cli(
        "run", "--source", f"parquet:{broken}", "--rules", str(rules),
        "--out", f"sqlite:///{tmp_path / 'log.db'}",
    )  # fmt: skip
    assert code == 1 and "broken.parquet" in output


# -- 7. database types are normalised at the adapter ----------------------------------------

ACCOUNTS = """\
clients: {table: accounts, id: id}
facts: {tier_code: tier_code, active: active, balance: balance}
aggregates:
  score_avg: {table: scores, key: account_id, function: avg, column: score}
  score_sum: {table: scores, key: account_id, function: sum, column: big}
"""


def test_decimal_char_padding_and_smallint_booleans_read_alike_on_postgresql_and_sqlite(
    postgres_db: str, tmp_path: Path
) -> None:
    meta = sa.MetaData()
    accounts = sa.Table(
        "accounts", meta,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("tier_code", sa.CHAR(8)),
        sa.Column("active", sa.SmallInteger), sa.Column("balance", sa.Numeric(12, 2)),
    )  # fmt: skip
    scores = sa.Table(
        "scores", meta,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("account_id", sa.Integer),
        sa.Column("score", sa.Integer), sa.Column("big", sa.BigInteger),
    )  # fmt: skip
    mapping = tmp_path / "accounts.yaml"
    mapping.write_text(ACCOUNTS)
    types = {
        "tier_code": FactType("string"), "active": FactType("bool"),
        "balance": NUMBER, "score_avg": NUMBER,
    }  # fmt: skip
    records = {}
    for url in (f"sqlite:///{tmp_path / 'crm.db'}", postgres_db):
        engine = connect(url)
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(accounts), [
                {"id": 1, "tier_code": "gold", "active": 1, "balance": 10.5},
                {"id": 2, "tier_code": "std", "active": 0, "balance": 3},
            ])  # fmt: skip
            conn.execute(sa.insert(scores), [
                {"account_id": 1, "score": 4, "big": 7}, {"account_id": 1, "score": 5, "big": 8},
                {"account_id": 2, "score": 3, "big": 1},
            ])  # fmt: skip
        engine.dispose()
        source = open_source(url, mapping)
        rows = list(source.clients(AS_OF, types))
        source.close()
        records[url] = [{k: (type(v).__name__, v) for k, v in r.items()} for r in rows]  # type: ignore[union-attr]
    sqlite_records, postgres_records = records.values()
    assert postgres_records == sqlite_records
    assert postgres_records[0] == {
        "client_id": ("str", "1"), "tier_code": ("str", "gold"), "active": ("bool", True),
        "balance": ("float", 10.5), "score_avg": ("float", 4.5), "score_sum": ("int", 15),
    }  # fmt: skip


# -- issue 10, item 3: a mapping on a CSV or JSONL file, honoured and checked ---------------


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_file_mapping_is_honoured_by_both_engines(rules: Path, tmp_path: Path, kind: str) -> None:
    rows = [{"Kundennummer": f"k{i}", "UMSATZ": i * 3000, "freq": 3, "spend": 0} for i in range(8)]
    path = tmp_path / f"export.{kind}"
    if kind == "csv":
        path.write_text("Kundennummer,UMSATZ,freq,spend\n" + "".join(
            f"{r['Kundennummer']},{r['UMSATZ']},3,0\n" for r in rows
        ))  # fmt: skip
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mapping = tmp_path / "mapping.yaml"
    # `freq: freq` maps a fact to the column of its own name: it stays (gold needs it)
    mapping.write_text("clients: {id: Kundennummer}\nfacts:\n  spend: UMSATZ\n  freq: freq\n")
    decisions, errors = _both_engines(rules, f"{kind}:{path}", tmp_path, "--mapping", str(mapping))
    assert errors == set()
    tiers = {d[0]: json.loads(d[3])["tier"] for d in decisions}
    assert tiers == {f"k{i}": "gold" if i * 3000 >= 10000 else "standard" for i in range(8)}


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ("clients: {id: Kundennr}\n", "mapping.yaml:1:15: {file} has no column 'Kundennr'"),
        ("facts:\n  spend: UMS\n", "mapping.yaml:2:10: {file} has no column 'UMS'"),
        ("facts:\n  spendd: UMSATZ\n", "mapping.yaml:2:3: the rule pack declares no fact 'spendd'; "
         "did you mean 'spend'?"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("engine", ["durable", "sql"])
def test_a_file_mapping_naming_what_is_not_there_is_an_error_at_its_place(
    rules: Path, tmp_path: Path, mapping: str, error: str, engine: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Kundennummer,UMSATZ,freq\nk1,20000,5\n")
    (tmp_path / "mapping.yaml").write_text(mapping)
    code, output = _cli(
        "run", "--source", f"csv:{path}", "--mapping", str(tmp_path / "mapping.yaml"),
        "--rules", str(rules), "--engine", engine, "--out", f"sqlite:///{tmp_path / 'log.db'}",
    )  # fmt: skip
    assert code == 1 and error.format(file=path) in output, output
    assert not (tmp_path / "log.db").exists(), "nothing is decided"


def test_a_csv_without_an_id_column_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "noid.csv"
    path.write_text("name,spend\nAnna,5\n")
    with pytest.raises(AdapterError, match=r"noid\.csv: no client_id or id column"):
        list(open_source(f"csv:{path}").clients(AS_OF, TYPES))


def test_an_undecodable_header_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes(b"client_id,cl\xe9v\nc1,5\n")
    with pytest.raises(AdapterError, match=r"header\.csv: header cell 'cl\\xe9v' is not valid"):
        list(open_source(f"csv:{path}").clients(AS_OF, TYPES))


def test_the_log_stores_what_orjson_refuses_escaped_instead_of_failing(
    tmp_path: Path, rules: Path
) -> None:
    """Error values beyond 64 bits or not valid text, and ids with undecodable bytes from a
    source that let them through, are stored escaped instead of crashing the page."""
    engine = Engine.from_path(rules)
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    run = log.start_run(pack_hash=engine.pack.hash, as_of=AS_OF, source="test")
    outcomes = [
        engine.decide({"freq": 2**70}, AS_OF, client_id="big"),
        engine.decide(UnreadableClient("bad", ()), AS_OF, client_id="c\udcff"),
    ]
    log.write_outcomes(run, outcomes)
    with log.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT client_id, value FROM tierwise_client_errors")).all()
    assert sorted(rows) == [("big", f'"{2**70}"'), ("c\\xff", '"c\\\\xff"')]
    log.close()
