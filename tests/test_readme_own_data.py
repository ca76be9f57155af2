"""The README's "Your own data" section, run as written: its commands are taken from the
README itself (so the doc and this test cannot drift) and run by a shell in a fresh folder
holding only the example CRM export; what the section says comes out does (a mapping that
loads and holds the entries it shows, real decisions, the one client error, the impact)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tierwise.adapters.mapping import load_mapping

from .cli_process import environment

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "examples" / "own-data" / "crm_export.csv"


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Your own data\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no section 'Your own data'"
    return match.group(1)


def _blocks(section: str, language: str) -> list[str]:
    """The fenced blocks of one language, their indentation (inside a list) removed."""
    found = re.findall(rf"^( *)```{language}\n(.*?)^\1```", section, re.S | re.M)
    return ["\n".join(line[len(indent) :] for line in body.splitlines()) for indent, body in found]


def test_the_own_data_commands_run_as_written(tmp_path: Path) -> None:
    section = _section()
    script = _blocks(section, "sh")[0]
    assert script.count("tierwise ") >= 6  # facts, map, run, errors, why, diff
    shutil.copy(EXPORT, tmp_path / "crm_export.csv")
    bin_dir = str(Path(sys.executable).parent)
    env = environment({"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout

    assert "From the client record" in out and "From satisfaction surveys" in out  # facts
    mapping = tmp_path / "mapping.yaml"
    model = load_mapping(mapping).model
    assert model.clients.id == "customer_id" and model.facts["revenue_total"] == "total_spend"
    written = mapping.read_text().splitlines()
    for line in _blocks(section, "yaml")[0].splitlines():
        assert line in written, f"the README shows a mapping line that map does not write: {line}"

    with sqlite3.connect(tmp_path / "decisions.db") as db:
        decided = dict(
            db.execute(
                "SELECT decision, count(*) FROM tierwise_decisions WHERE status = 'decided' "
                "GROUP BY decision"
            ).fetchall()
        )
        welcome = db.execute(
            "SELECT count(*) FROM tierwise_decisions WHERE output LIKE '%welcome_call%'"
        ).fetchone()[0]
    assert decided["support_action"] == 9  # real decisions: 7 complaint follow-ups, 2 welcomes
    assert welcome == 2  # the two November sign-ups, as the README says
    assert "1 of 20 client(s) ended in errors" in out and "e.g. C-1018" in out  # errors
    assert "rule complaint_follow_up" in out  # why C-1005
    assert "support_action (changed): 1 clients change" in out  # diff
    report = (tmp_path / "impact.html").read_text()
    assert "welcome_call" in report
    assert (tmp_path / "clients.parquet").exists() and (tmp_path / "clients.profile.json").exists()
