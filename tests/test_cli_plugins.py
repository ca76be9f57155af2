"""The command line with a third-party plugin installed for real: its commands are listed
and run through the hook, an unexpected error is one line (no traceback), and Ctrl-C
exits with 130; in a run, Ctrl-C says what was saved and the printed command resumes it."""

from __future__ import annotations

import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .cli_process import TIERWISE, environment, tierwise, write_clients, write_pack

PLUGIN = '''\
"""Commands for the tests: one fails as a bug would, one waits to be interrupted."""
import time

import click

from tierwise.plugins import hookimpl


@click.command()
def boom() -> None:
    """Fail the way a bug would."""
    raise RuntimeError("boom at the third step")


@click.command()
def nap() -> None:
    """Wait until interrupted."""
    click.echo("napping", err=True)
    time.sleep(120)


@hookimpl
def tierwise_cli_commands():
    return [boom, nap]
'''

SLOW = '''\
"""A reaction hook that takes 20 ms per client, so a run can be interrupted midway."""
import time

from tierwise.plugins import hookimpl


@hookimpl
def tierwise_decision_made(outcome, run_id):
    time.sleep(0.02)
'''

SETUP = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "tierwise-cli-test-plugin"
version = "1.0"

[project.entry-points.tierwise]
commands = "tierwise_cli_test_plugin"
slow = "tierwise_cli_test_plugin.slow"

[tool.setuptools]
packages = ["tierwise_cli_test_plugin"]
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The plugin pip-installed into a folder of its own; the environment that sees it."""
    root = tmp_path_factory.mktemp("cli-plugin")
    package = root / "src" / "tierwise_cli_test_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (package / "slow.py").write_text(SLOW)
    (root / "src" / "pyproject.toml").write_text(SETUP)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-input", "--disable-pip-version-check", "--target", str(target), str(root / "src")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return {"PYTHONPATH": str(target), "TIERWISE_PLUGINS": "commands"}


def test_a_plugin_command_is_listed_and_runs(plugin: dict[str, str], tmp_path: Path) -> None:
    help_ = tierwise("--help", cwd=tmp_path, env=plugin)
    assert help_.code == 0
    assert re.search(r"^  boom +Fail the way a bug would\.$", help_.out, re.M)
    assert re.search(r"^  check +Check rule files", help_.out, re.M)
    assert tierwise("nap", "-h", cwd=tmp_path, env=plugin).out.startswith("Usage: tierwise nap")
    excluded = tierwise("boom", cwd=tmp_path, env={**plugin, "TIERWISE_PLUGINS": ""})
    assert excluded.code == 2 and "No such command 'boom'" in excluded.err


def test_an_unexpected_error_is_one_message_not_a_traceback(
    plugin: dict[str, str], tmp_path: Path
) -> None:
    done = tierwise("boom", cwd=tmp_path, env=plugin)
    assert done.code == 1
    assert "Traceback" not in done.err
    assert "unexpected error: RuntimeError: boom at the third step" in done.err
    assert "TIERWISE_TRACEBACK=1 shows where it happened" in done.err
    shown = tierwise("boom", cwd=tmp_path, env={**plugin, "TIERWISE_TRACEBACK": "1"})
    assert shown.code == 1 and "Traceback" in shown.err and 'raise RuntimeError("boom' in shown.err


def interrupt_when(process: subprocess.Popen[str], ready: object, timeout: float = 60) -> None:
    """Send Ctrl-C (SIGINT) to `process` once `ready()` is true."""
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        assert process.poll() is None, "the process ended before it could be interrupted"
        assert time.monotonic() < deadline, "the process never got ready"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)


def test_ctrl_c_exits_with_130(plugin: dict[str, str], tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(TIERWISE), "nap"], cwd=tmp_path, env=environment(plugin), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    assert process.stderr.readline() == "napping\n"
    interrupt_when(process, lambda: True)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == "interrupted"


def saved(db: Path) -> int:
    """Clients the log at `db` holds (0 before its tables exist)."""
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM tierwise_decisions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_in_a_run_says_what_was_saved_and_how_to_resume(
    plugin: dict[str, str], tmp_path: Path
) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=300, bad=0)
    argv = ["run", "--source", "csv:clients.csv", "--out", "sqlite:///log.db",
            "--as-of", "2026-01-01", "--page-size", "20"]  # fmt: skip
    slow = dict(plugin, TIERWISE_PLUGINS="slow")
    process = subprocess.Popen(
        [str(TIERWISE), *argv], cwd=tmp_path, env=environment(slow), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    interrupt_when(process, lambda: saved(tmp_path / "log.db") >= 40)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert out == "" and "Traceback" not in err
    run_id = re.search(r"^run (\S+) starts$", err, re.M).group(1)  # type: ignore[union-attr]
    count = re.search(rf"interrupted: run {run_id} has (\d+) client\(s\) saved", err)
    assert count is not None and 40 <= int(count.group(1)) < 300
    resume = re.findall(r"resume it with: (.*)$", err, re.M)
    assert len(resume) == 2 and resume[0] == resume[1]
    again = tierwise(*shlex.split(resume[1])[1:], cwd=tmp_path)
    assert again.code == 0, again.err
    assert f"run {run_id} resumes ({count.group(1)} client(s) saved before)" in again.err
    assert "clients: 300  errors: 0" in again.out
    with sqlite3.connect(tmp_path / "log.db") as conn:
        rows = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT client_id) FROM tierwise_decisions WHERE run_id = ?",
            (run_id,),
        ).fetchone()
    assert rows == (300, 300)
