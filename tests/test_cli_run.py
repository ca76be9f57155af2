"""`tierwise run` and `tierwise errors` as a user meets them: the run id and the resume
command at the start, an unknown --run-id refused, exit codes for a run whose clients
failed, a --json summary, and a run's errors grouped with counts and example clients."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from pathlib import Path

import pytest

from tierwise.lang.values import HINTS

from .cli_process import tierwise, write_clients, write_pack

AS_OF = "2026-01-01"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh folder with a pack in ./rules and 8 good and 2 bad clients in clients.csv."""
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=8, bad=2)
    return tmp_path


def run(project: Path, *args: str) -> tuple[int, str, str]:
    done = tierwise(
        "run", "--source", "csv:clients.csv", "--out", "log.db", "--as-of", AS_OF, *args,
        cwd=project,
    )  # fmt: skip
    return done.code, done.out, done.err


def logged(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as conn:
        decided = conn.execute(
            "SELECT COUNT(DISTINCT client_id) FROM tierwise_decisions WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        failed = conn.execute(
            "SELECT COUNT(DISTINCT client_id) FROM tierwise_client_errors WHERE run_id = ?",
            (run_id,),
        ).fetchone()[0]
    return int(decided + failed)


def test_a_run_says_its_id_and_how_to_resume_it_when_it_starts(project: Path) -> None:
    code, out, err = run(project)
    assert code == 0, err
    assert "--out log.db: read as sqlite:///log.db" in err
    run_id = re.search(r"^run (\S+) starts$", err, re.M).group(1)  # type: ignore[union-attr]
    resume = re.search(r"resume it with: (.*)$", err, re.M).group(1)  # type: ignore[union-attr]
    assert shlex.split(resume) == [
        "tierwise", "run", "--source", "csv:clients.csv", "--rules", "rules",
        "--out", "sqlite:///log.db", "--as-of", AS_OF, "--run-id", run_id,
    ]  # fmt: skip
    assert f"run {run_id}: finished" in out and "clients: 10  errors: 2" in out
    assert f"see its client errors: tierwise errors --log sqlite:///log.db {run_id}" in out
    again = tierwise(*shlex.split(resume)[1:], cwd=project)
    assert again.code == 0, again.err
    assert f"run {run_id} resumes (10 client(s) saved before)" in again.err
    assert logged(project / "log.db", run_id) == 10


def test_an_unknown_run_id_is_an_error_unless_a_new_run_is_asked_for(project: Path) -> None:
    code, _, err = run(project)
    first = re.search(r"^run (\S+) starts$", err, re.M).group(1)  # type: ignore[union-attr]
    code, out, err = run(project, "--run-id", "nope")
    assert code == 2 and out == ""
    assert "no run 'nope' in sqlite:///log.db to resume" in err
    assert f"(newest: {first} (finished))" in err and "add --new-run" in err
    with sqlite3.connect(project / "log.db") as conn:
        assert conn.execute("SELECT id FROM tierwise_runs").fetchall() == [(first,)]
    code, out, err = run(project, "--run-id", "nope", "--new-run")
    assert code == 0 and "run nope starts" in err and "run nope: finished" in out
    code, _, err = run(project, "--run-id", "nope", "--new-run")
    assert code == 2 and "run nope already exists" in err and "leave out --new-run" in err


def test_a_run_where_every_client_failed_is_never_a_success(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=0, bad=3)
    code, out, err = run(tmp_path)
    assert code == 3
    assert "clients: 3  errors: 3" in out
    assert "3 of 3 clients (100.0%) ended in errors" in err
    assert "Traceback" not in err


def test_max_error_rate_sets_how_many_failed_clients_fail_the_run(project: Path) -> None:
    code, _, err = run(project, "--max-error-rate", "10%")
    assert code == 3
    assert "2 of 10 clients (20.0%) ended in errors, more than --max-error-rate 10.00%" in err
    assert run(project, "--max-error-rate", "0.2")[0] == 0
    code, _, err = run(project, "--max-error-rate", "1.5")
    assert code == 2 and "not between 0 and 1" in err


def test_the_run_summary_as_json(project: Path) -> None:
    code, out, err = run(project, "--json", "--max-error-rate", "5%")
    assert code == 3
    summary = json.loads(out)
    assert summary["clients"] == 10 and summary["errors"] == 2
    assert summary["error_rate"] == 0.2 and summary["max_error_rate"] == 0.05
    assert summary["exit_code"] == 3 and summary["status"] == "finished"
    assert summary["counts"]["tier"] == {"tier=standard": 6, "tier=gold": 2}
    assert summary["log"] == "sqlite:///log.db" and summary["as_of"] == AS_OF
    assert f"run {summary['run_id']} starts" in err


def test_errors_lists_a_runs_errors_grouped_with_examples(tmp_path: Path) -> None:
    write_pack(tmp_path)
    rows = ["client_id,clv,segment"]
    rows += [f"c{i},{i},consumer" for i in range(5)]
    rows += [f"x{i},lots{i},business" for i in range(4)]
    rows += ["y1,5,vip", "y2,-3,consumer"]
    (tmp_path / "clients.csv").write_text("\n".join(rows) + "\n")
    code, out, _ = run(tmp_path, "--engine", "durable")  # the file sources' messages
    assert code == 0
    run_id = re.search(r"^run (\S+): finished", out, re.M).group(1)  # type: ignore[union-attr]
    done = tierwise("errors", "--log", "sqlite:///log.db", "--examples", "2", cwd=tmp_path)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0] == (
        f"run {run_id} (finished, as of {AS_OF}): 6 of 11 client(s) ended in errors; 3 group(s):"
    )
    assert lines[1] == f"  4  clv: <value> is not a number{HINTS['number']}"
    assert lines[2] == "     e.g. x0 ('lots0'), x1 ('lots1'), ..."
    assert "  1  segment: segment must be one of consumer, business" in lines
    assert "     e.g. y1 ('vip')" in lines
    assert any(line.startswith("  1  clv: clv should be a number") for line in lines)
    assert (
        lines[-1] == f"one client's outcome: tierwise why x0 --log sqlite:///log.db --run {run_id}"
    )
    as_json = json.loads(tierwise("errors", run_id, "--log", "log.db", "--json", cwd=tmp_path).out)
    assert as_json["clients"] == 11 and as_json["clients_with_errors"] == 6
    first = as_json["groups"][0]
    assert first["kind"] == "client" and first["fact"] == "clv" and first["clients"] == 4
    assert [e["client_id"] for e in first["examples"]] == ["x0", "x1", "x2"]
    assert first["examples"][0]["value"] == "lots0"
    assert "clients.csv row" in first["examples"][0]["message"]
