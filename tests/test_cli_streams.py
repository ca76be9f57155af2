"""Streams and exit codes as a user meets them: colour on a terminal only (and never with
NO_COLOR), `-` as stdout, --json documents with the exit code of the text form, and a
database that cannot be used named in a message, never a traceback."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
from pathlib import Path

from .cli_process import TIERWISE, environment, tierwise, write_clients, write_pack

ANSI = "\x1b["


def on_a_terminal(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """What `tierwise ARGS` writes to a terminal (a pseudo-terminal as stdout and stderr)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(TIERWISE), *args], cwd=cwd, env=environment(env),
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "no output for two minutes"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal is closed once the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_none_when_piped_or_with_no_color(tmp_path: Path) -> None:
    rules = write_pack(tmp_path)
    (rules / "tier.yaml").write_text(
        (rules / "tier.yaml").read_text().replace("expect: {tier: gold}", "expect: {tier: x}")
    )
    shown = on_a_terminal(["test", "-v"], tmp_path)
    assert f"{ANSI}31m" in shown and "FAILED" in shown  # red
    piped = tierwise("test", "-v", cwd=tmp_path)
    assert piped.code == 1 and "FAILED" in piped.out and ANSI not in piped.out + piped.err
    plain = on_a_terminal(["test", "-v"], tmp_path, {"NO_COLOR": "1"})
    assert "FAILED" in plain and ANSI not in plain


def test_json_documents_keep_the_exit_codes(tmp_path: Path) -> None:
    write_pack(tmp_path)
    check = tierwise("check", "--json", cwd=tmp_path)
    assert check.code == 0
    data = json.loads(check.out)
    assert data["ok"] is True and data["decisions"] == 1 and data["errors"] == []
    tested = json.loads(tierwise("test", "--json", cwd=tmp_path).out)
    assert (tested["passed"], tested["failed"]) == (1, 0)
    assert tested["cases"][0]["decision"] == "tier" and tested["cases"][0]["line"] == 13

    (tmp_path / "rules" / "bad.yaml").write_text("decision: bad\nhit_policy: firts\nrules: []\n")
    broken = tierwise("check", "--json", cwd=tmp_path)
    assert broken.code == 1 and broken.err == ""
    errors = json.loads(broken.out)["errors"]
    assert [(e["line"], e["col"], e["kind"]) for e in errors] == [
        (1, 11, "missing key"),  # rules: [] is no rule: checked although hit_policy is wrong
        (2, 13, "unknown hit policy"),
    ]
    assert all(e["file"].endswith("bad.yaml") for e in errors)
    assert tierwise("test", "--json", cwd=tmp_path).code == 1


def test_explain_fails_on_invalid_facts_and_reads_stdin(tmp_path: Path) -> None:
    write_pack(tmp_path)
    bad = tierwise("explain", '{"client_id": "7", "clv": "lots"}', cwd=tmp_path)
    assert bad.code == 1
    assert "invalid fact clv: clv should be a number" in bad.out
    good = tierwise("explain", "--json", "@-", input='{"clv": 20000, "segment": "business"}',
                    cwd=tmp_path)  # fmt: skip
    assert good.code == 0, good.err
    assert json.loads(good.out)["decisions"]["tier"]["rules"] == ["gold"]
    missing = tierwise("explain", "@nothere.json", cwd=tmp_path)
    assert missing.code == 2 and "nothere.json: No such file or directory" in missing.err


def test_a_dash_is_stdout_for_file_options(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=6, bad=0)
    done = tierwise("diff", "rules", "rules", "--source", "clients.csv", "--json", "-",
                    cwd=tmp_path)  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["clients"] == 6
    assert "rules -> rules: 6 clients" in done.err
    assert not (tmp_path / "-").exists()
    both = tierwise("diff", "rules", "rules", "--source", "clients.csv", "--json", "-",
                    "--html", "-", cwd=tmp_path)  # fmt: skip
    assert both.code == 2 and "give one a file" in both.err


def test_log_urls_bare_paths_missing_logs_and_dead_servers(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=3, bad=0)
    ran = tierwise("run", "--source", "csv:clients.csv", "--out", "mine.db", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert "--out mine.db: read as sqlite:///mine.db" in ran.err
    assert (tmp_path / "mine.db").is_file()
    assert tierwise("why", "c1", "--log", "mine.db", cwd=tmp_path).out.startswith("client c1")

    missing = tierwise("why", "c1", "--log", "sqlite:///nothere.db", cwd=tmp_path)
    assert missing.code == 1 and "no decision log at sqlite:///nothere.db" in missing.err
    assert not (tmp_path / "nothere.db").exists()
    crm = tierwise("errors", "--log", "clients.csv", cwd=tmp_path)
    assert crm.code == 1 and "Traceback" not in crm.err
    wrong = tierwise("run", "--source", "csv:clients.csv", "--out", "csv:log", cwd=tmp_path)
    assert wrong.code == 2 and "--out csv:log: not a database URL; write sqlite:///" in wrong.err

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://crm:secret@127.0.0.1:{port}/crm"
    dead = tierwise("errors", "--log", url, cwd=tmp_path)
    assert dead.code == 1 and "Traceback" not in dead.err
    assert f"cannot connect to postgresql://crm:***@127.0.0.1:{port}/crm" in dead.err
    assert "secret" not in dead.err and "that the server is running" in dead.err
