"""The README's tours feed `decide_table`, `decide` and `diff` from `tierwise export`: the
commands and the Python there run as written, in a fresh folder with the shipped packs as
`rules/` in a git repository (the diff compares HEAD~1) and a small sample CRM."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli_process import TIERWISE, environment
from tierwise.adapters.sample_crm import generate

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The README's text from a `### title` heading to the next heading."""
    match = re.search(rf"^### {re.escape(title)}\n(.*?)^##", README, re.S | re.M)
    assert match is not None, f"the README lost its section {title!r}"
    return match.group(1)


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _commands(block: str, *starts: str) -> list[str]:
    """The block's command lines that start with one of `starts`, comments dropped."""
    lines = [line.split("   #")[0].split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith(starts)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A fresh project: the shipped packs as rules/ in a git repository with two commits,
    and a sample CRM of 300 clients where `tierwise run` and `export` look for it."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("__*"))
    generate(tmp_path / "tierwise-sample" / "crm.db", clients=300, seed=3)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "rules"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "rules"], cwd=tmp_path, check=True)
    tier = tmp_path / "rules" / "pricing_tier.yaml"
    tier.write_text(tier.read_text() + "\n")
    subprocess.run([*git, "commit", "-qam", "a change"], cwd=tmp_path, check=True)
    return tmp_path


def _shell(command: str, cwd: Path) -> None:
    """One README command line, run by the shell as a user runs it."""
    env = environment({"PATH": f"{TIERWISE.parent}{os.pathsep}{os.environ['PATH']}"})
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}\n{done.stderr}"


def test_the_embedding_tour_decides_an_exported_table(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _section("Embedding developer")
    shells = [c for b in _blocks(text, "sh") for c in _commands(b, "tierwise export")]
    assert shells == ["tierwise export --to clients.parquet"]
    _shell(shells[0], folder)
    code = next(b for b in _blocks(text, "python") if "decide_table(" in b and "json" in b)
    monkeypatch.chdir(folder)
    scope: dict[str, object] = {"dt": dt}
    exec(compile(code, "README.md", "exec"), scope)  # the README's own example
    last = scope["outcome"]  # the loop went through every client of the table, in order
    ids = pq.read_table(folder / "clients.parquet").column("client_id").to_pylist()
    assert last.client_id == ids[-1] and last.decisions and not last.errors  # type: ignore[attr-defined]
    engine, reason = scope["outcomes"].engine, scope["outcomes"].reason  # type: ignore[attr-defined]
    assert f"# {(engine, reason)!r}" in code


def test_the_rule_author_tour_decides_and_diffs_an_export(folder: Path) -> None:
    text = _section("Rule author")
    block = next(b for b in _blocks(text, "sh") if "tierwise export" in b)
    commands = _commands(block, "tierwise export", "tierwise decide", "tierwise diff")
    assert [c.split()[1] for c in commands] == ["export", "decide", "export", "diff"]
    for command in commands:
        _shell(command, folder)
    exported = (folder / "clients.jsonl").read_text().splitlines()
    decided = (folder / "outcomes.jsonl").read_text().splitlines()
    assert len(decided) == len(exported) > 0
    assert (folder / "clients.profile.json").is_file()
    assert "<html" in (folder / "impact.html").read_text()
