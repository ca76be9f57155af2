"""Settings as a project uses them: [tool.tierwise] in pyproject.toml, then tierwise.toml,
then TIERWISE_* variables, all under the flags; `tierwise config` says what is in force
and where it came from; a broken setting is a usage error naming its place."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .cli_process import tierwise, write_clients, write_pack


def config(folder: Path, env: dict[str, str] | None = None) -> dict[str, dict[str, str | None]]:
    done = tierwise("config", "--json", cwd=folder, env=env)
    assert done.code == 0, done.err
    return {
        name: {"value": s["value"], "origin": s["origin"]}
        for name, s in json.loads(done.out).items()
    }


def test_files_then_environment_then_flags(tmp_path: Path) -> None:
    write_pack(tmp_path / "a")
    write_pack(tmp_path / "b")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "crm"\n\n[tool.tierwise]\nrules = "a/rules"\nlog = "py.db"\n'
    )
    (tmp_path / "tierwise.toml").write_text('log = "own.db"\nas_of = 2026-03-01\n')
    assert config(tmp_path) == {
        "source": {"value": None, "origin": None},
        "mapping": {"value": None, "origin": None},
        "rules": {"value": "a/rules", "origin": "pyproject.toml [tool.tierwise]"},
        "log": {"value": "own.db", "origin": "tierwise.toml"},
        "as_of": {"value": "2026-03-01", "origin": "tierwise.toml"},
    }
    env = {"TIERWISE_RULES": "b/rules", "TIERWISE_AS_OF": ""}
    assert config(tmp_path, env)["rules"] == {"value": "b/rules", "origin": "TIERWISE_RULES"}
    assert config(tmp_path, env)["as_of"]["origin"] == "tierwise.toml"
    text = tierwise("config", cwd=tmp_path, env=env).out
    assert re.search(r"^rules +b/rules +from TIERWISE_RULES$", text, re.M)
    assert re.search(r"^source +\(not set\) +where the clients are", text, re.M)

    assert tierwise("check", cwd=tmp_path).out.startswith("a/rules: 1 decision(s)")
    assert tierwise("check", cwd=tmp_path, env=env).out.startswith("b/rules: 1 decision(s)")
    flag = tierwise("check", "a/rules", cwd=tmp_path, env=env)
    assert flag.out.startswith("a/rules: 1 decision(s)")


def test_a_project_runs_and_reads_its_log_without_flags(tmp_path: Path) -> None:
    write_pack(tmp_path)
    write_clients(tmp_path / "clients.csv", good=4, bad=1)
    (tmp_path / "tierwise.toml").write_text(
        'source = "csv:clients.csv"\nlog = "sqlite:///decisions.db"\nas_of = "2026-01-01"\n'
    )
    done = tierwise("run", cwd=tmp_path)
    assert done.code == 0, done.err
    assert "clients: 5  errors: 1" in done.out and "as of 2026-01-01" in done.out
    assert (tmp_path / "decisions.db").is_file()
    why = tierwise("why", "c1", "--json", cwd=tmp_path)
    assert why.code == 0, why.err
    assert json.loads(why.out)["decisions"]["tier"]["output"] == {"tier": "standard"}
    errors = tierwise("errors", cwd=tmp_path)
    assert "1 of 5 client(s) ended in errors" in errors.out
    explain = tierwise("explain", "--json", '{"clv": 20000, "segment": "business"}', cwd=tmp_path)
    assert json.loads(explain.out)["as_of"] == "2026-01-01"
    diff = tierwise("diff", "rules", "rules", cwd=tmp_path)
    assert diff.code == 0, diff.err
    assert "rules -> rules: 4 clients, as of 2026-01-01 (1 unreadable rows skipped)" in diff.out


def test_broken_settings_are_usage_errors_that_name_their_place(tmp_path: Path) -> None:
    own = tmp_path / "tierwise.toml"
    own.write_text('rules = "rules"\nsourse = "csv:x.csv"\n')
    done = tierwise("check", cwd=tmp_path)
    assert done.code == 2
    assert "tierwise.toml:2: unknown setting 'sourse' (did you mean 'source'?" in done.err
    own.write_text('rules = "rules\n')
    done = tierwise("config", cwd=tmp_path)
    assert done.code == 2 and "tierwise.toml: not valid TOML" in done.err
    own.write_text('as_of = "2026-13-01"\n')
    assert (
        "tierwise.toml:1: as_of '2026-13-01' is not a date" in tierwise("config", cwd=tmp_path).err
    )
    own.write_text('rules = "no/such/rules"\n')
    done = tierwise("check", cwd=tmp_path)
    assert done.code == 2
    assert "Path 'no/such/rules' does not exist (the rules setting, from tierwise.toml)" in done.err
    own.unlink()
    done = tierwise("test", cwd=tmp_path, env={"TIERWISE_AS_OF": "soon"})
    assert done.code == 2 and "TIERWISE_AS_OF: as_of 'soon' is not a date" in done.err
    assert "Traceback" not in done.err
    done = tierwise("diff", "a", "b", cwd=tmp_path)
    assert done.code == 2 and "Missing option '--source'" in done.err
    assert "set source in tierwise.toml or TIERWISE_SOURCE" in done.err


def test_the_version_does_not_read_settings(tmp_path: Path) -> None:
    (tmp_path / "tierwise.toml").write_text("not toml at all [")
    assert tierwise("--version", cwd=tmp_path).code == 0
