"""The rule author's pytest path: `pytest rules/` after the install the README gives
collects the tests written in the rule files, the same cases `tierwise test` runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .cli_process import RULES, environment, tierwise

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_names_the_extra_that_brings_pytest() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(req.startswith("pytest") for req in extras["pytest"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install '.[pytest]'" in readme
    assert "python -m pytest rules/" in readme


def test_pytest_in_a_fresh_folder_runs_the_rule_files_tests(tmp_path: Path) -> None:
    shutil.copytree(RULES, tmp_path / "rules", ignore=shutil.ignore_patterns("__pycache__"))
    expected = json.loads(tierwise("test", "--json", cwd=tmp_path).out)["passed"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "rules/", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"^{expected} passed", done.stdout, re.M), done.stdout
    assert expected > 10
