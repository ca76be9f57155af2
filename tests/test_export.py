"""`tierwise export` writes every client's facts as the paths see them: for the sample CRM
(read whole, and as a bare purchase log), `run --engine durable` on the source and
`decide`, `decide_table` (both paths) and `diff`'s deciding fed from the exported Parquet,
CSV and JSON-lines tables give every client the same statuses, outputs and winning rules;
the clients with errors are left out of the table, counted and listed, never nulls."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.cli_process import tierwise
from tierwise import Engine, decide_table
from tierwise.adapters.clients import read_clients
from tierwise.adapters.export import TableTarget
from tierwise.adapters.log import DECISIONS, ERRORS
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.impact.impact import CLIENTS as CLIENTS_TABLE
from tierwise.impact.impact import Decided, decide_all, decided, listed
from tierwise.paths import choose_path
from tierwise.profile import Profile

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
MAPPINGS = {
    "full": ROOT / "adapters" / "sample_mapping.yaml",
    "purchase-log": ROOT / "adapters" / "sample_mapping_purchase_log.yaml",
}
AS_OF = SAMPLE_END
CLIENTS = 800
FORMATS = ("parquet", "csv", "jsonl")

Logged = dict[str, dict[str, tuple[str, Any, tuple[str, ...]]]]
"""A run's outcomes: client -> decision -> (status, output, winning rules)."""


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("crm") / "crm.db", clients=CLIENTS, seed=5)


@pytest.fixture(scope="module", params=list(MAPPINGS))
def ran(
    request: pytest.FixtureRequest, crm: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Logged, set[str]]:
    """`run --engine durable` on the sample CRM read through one mapping: its outcomes and
    the clients that ended in errors."""
    name = request.param
    folder = tmp_path_factory.mktemp(f"run-{name}")
    log = f"sqlite:///{folder / 'log.db'}"
    done = tierwise(
        *("run", "--engine", "durable", "--source", f"sqlite:///{crm}"),
        *("--mapping", str(MAPPINGS[name]), "--out", log, "--as-of", AS_OF.isoformat()),
        "--no-writeback",
        cwd=folder,
    )
    assert done.code == 0, done.err
    db = sa.create_engine(log)
    logged: Logged = {}
    with db.connect() as conn:
        for r in conn.execute(sa.select(DECISIONS)):
            output = None if r.output is None else orjson.loads(r.output)
            logged.setdefault(r.client_id, {})[r.decision] = (r.status, output, tuple(r.rules))
        failed = {r.client_id for r in conn.execute(sa.select(ERRORS.c.client_id))}
    db.dispose()
    assert logged and failed, "the sample CRM has good and dirty clients"
    return name, folder, logged, failed


Exported = tuple[Path, Path, set[str]]
"""An exported table, its profile, and the clients its errors file lists."""


@pytest.fixture(scope="module")
def exported(crm: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Exported]:
    """The CRM exported through a mapping to a format, once per module."""
    done: dict[tuple[str, str], Exported] = {}

    def get(mapping: str, fmt: str) -> Exported:
        if (mapping, fmt) not in done:
            folder = tmp_path_factory.mktemp(f"export-{mapping}-{fmt}")
            done[mapping, fmt] = _export(crm, mapping, folder, fmt)
        return done[mapping, fmt]

    return get


def _export(crm: Path, mapping: str, folder: Path, fmt: str) -> Exported:
    """Export the CRM's facts to a table of `fmt`: the table, its profile, the clients
    listed in the errors file."""
    table = folder / f"clients.{fmt}"
    done = tierwise(
        *("export", "--source", f"sqlite:///{crm}", "--mapping", str(MAPPINGS[mapping])),
        *("--as-of", AS_OF.isoformat(), "--to", table.name, "--errors", "errors.jsonl"),
        cwd=folder,
    )
    assert done.code == 0, done.err
    lines = (folder / "errors.jsonl").read_bytes().splitlines()
    failed = {orjson.loads(line)["client_id"] for line in lines}
    assert f"{len(failed):,} client(s) have errors and are not in the table" in done.err
    assert f"exported {CLIENTS - len(failed):,} client(s)" in done.err
    return table, folder / "clients.profile.json", failed


def _outcomes_match(outcomes: Any, logged: Logged) -> int:
    """Assert that each outcome is its client's logged one; how many were compared."""
    count = 0
    for outcome in outcomes:
        assert not outcome.errors, outcome
        expected = logged[outcome.client_id]
        got = {n: (r.status, r.output, tuple(r.rules)) for n, r in outcome.decisions.items()}
        assert got == expected, outcome.client_id
        count += 1
    return count


def _as_decided(pack: Any, logged: Logged) -> dict[str, dict[str, Decided]]:
    """The run's outcomes as the diff compares them (lists of outputs by field)."""
    lists = listed(pack)
    return {
        client: {
            name: decided(status, rules, output, name in lists)
            for name, (status, output, rules) in decisions.items()
        }
        for client, decisions in logged.items()
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_exported_table_decides_as_the_run_did(
    ran: tuple[str, Path, Logged, set[str]], exported: Callable[[str, str], Exported], fmt: str
) -> None:
    mapping, _, logged, run_failed = ran
    table, profile_file, failed = exported(mapping, fmt)
    assert failed == run_failed  # every client: in the table, or listed with its errors
    profile = Profile.from_json(json.loads(profile_file.read_text()))
    engine = Engine.from_path(RULES)
    good = {c: d for c, d in logged.items() if c not in failed}
    for path in ("durable", "sql"):
        outcomes = decide_table(engine, table, AS_OF, engine=path, profile=profile)
        assert _outcomes_match(outcomes, good) == len(good), path
    if fmt == "jsonl":
        done = tierwise(
            *("decide", "--input", table.name, "--as-of", AS_OF.isoformat()),
            *("--profile", profile_file.name),
            cwd=table.parent,
        )
        assert done.code == 0, done.err
        rows = [orjson.loads(line) for line in done.out.splitlines()]
        assert {r["client_id"] for r in rows} == set(good)
        for r in rows:
            got = {
                n: (d["status"], d["output"], tuple(d["rules"])) for n, d in r["decisions"].items()
            }
            assert got == good[r["client_id"]], r["client_id"]
    clients, unreadable = read_clients(str(table), engine.pack.inputs, AS_OF)
    assert unreadable == 0 and len(clients) == len(good)
    expected = _as_decided(engine.pack, good)
    path = choose_path([engine.pack], CLIENTS_TABLE).engine  # as the diff chooses
    for stored in (profile, None):  # diff --profile, and diff profiling the table
        decided = decide_all(engine.pack, clients, AS_OF, path, stored)
        for client, row in zip(clients, decided, strict=True):
            assert row == expected[client["client_id"]], (path, client["client_id"])


def test_diff_reads_the_exported_table_whole(exported: Callable[[str, str], Exported]) -> None:
    table, profile, failed = exported("full", "parquet")
    done = tierwise(
        *("diff", str(RULES), str(RULES), "--source", table.name, "--as-of", AS_OF.isoformat()),
        *("--profile", profile.name, "--json", "-"),
        cwd=table.parent,
    )
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["clients"] == CLIENTS - len(failed) and report["unreadable"] == 0
    assert all(item["changed"] == 0 for item in report["impact"])


def test_types_survive_the_round_trip(exported: Callable[[str, str], Exported]) -> None:
    """Dates stay dates in Parquet, and every format reads back as the facts written."""
    tables = {fmt: exported("full", fmt)[0] for fmt in FORMATS}
    schema = pq.read_schema(tables["parquet"])
    assert str(schema.field("first_purchase_at").type) == "date32[day]"
    assert str(schema.field("orders_total").type) == "int64"
    assert str(schema.field("clv").type) == "double"
    engine = Engine.from_path(RULES)
    read = {
        fmt: {c["client_id"]: c for c in read_clients(str(t), engine.pack.inputs, AS_OF)[0]}
        for fmt, t in tables.items()
    }
    for client, facts in read["parquet"].items():
        for fmt in ("csv", "jsonl"):
            other = read[fmt][client]
            for name in engine.pack.inputs:
                assert other.get(name) == facts.get(name), (fmt, client, name)
    some = next(iter(read["parquet"].values()))
    assert isinstance(some["first_purchase_at"], dt.date | None)


def test_every_client_failing_is_not_a_success(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_id,orders_total\n1,many\n2,lots\n")
    done = tierwise(
        *("export", "--source", "csv:clients.csv", "--as-of", AS_OF.isoformat()),
        *("--to", "facts.jsonl"),
        cwd=tmp_path,
    )
    assert done.code == 3, done.err
    assert "2 client(s) have errors and are not in the table" in done.err
    assert "e.g. 1: orders_total:" in done.err
    assert (tmp_path / "facts.jsonl").read_text() == ""


def test_two_outputs_cannot_share_stdout(tmp_path: Path) -> None:
    done = tierwise("export", "--to", "-", "--errors", "-", cwd=tmp_path)
    assert done.code == 2 and "--to and --errors both ask for stdout" in done.err


def test_a_stored_profile_that_does_not_fit_is_refused_by_diff(
    exported: Callable[[str, str], Exported], tmp_path: Path
) -> None:
    table, profile, _ = exported("full", "parquet")
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("__*"))
    facts = rules / "crm_facts.yaml"
    facts.write_text(facts.read_text().replace("groups: 100", "groups: 50", 1))
    done = tierwise(
        *("diff", str(RULES), str(rules), "--source", str(table), "--profile", str(profile)),
        cwd=tmp_path,
    )
    assert done.code == 1 and "the profile does not fit the NEW rules" in done.err


def test_a_table_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_id,orders_total\n1,3\n")
    done = tierwise(
        *("export", "--source", "csv:clients.csv", "--to", "missing/facts.csv"), cwd=tmp_path
    )
    assert done.code == 1 and "--to missing/facts.csv: cannot write" in done.err
    assert "Traceback" not in done.err


def test_a_failed_export_leaves_no_half_table(tmp_path: Path) -> None:
    target = tmp_path / "facts.jsonl"
    with pytest.raises(KeyboardInterrupt), TableTarget(str(target)) as out:
        out.write(b'{"client_id": "1"}\n')
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with TableTarget(str(target)) as out:
        out.write(b'{"client_id": "1"}\n')
    assert target.read_bytes() == b'{"client_id": "1"}\n' and list(tmp_path.iterdir()) == [target]


def test_a_parquet_source_is_a_table_already(tmp_path: Path) -> None:
    done = tierwise("export", "--source", "parquet:clients.parquet", "--to", "x.csv", cwd=tmp_path)
    assert done.code == 2 and "is a table already" in done.err
