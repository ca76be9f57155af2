"""Plugins: the example third-party distribution installed for real, its hooks running in
a run, TIERWISE_PLUGINS keeping it out; safe hook calls; `tierwise plugins`."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tierwise.adapters import open_source
from tierwise.adapters.job import run_job
from tierwise.functions import Function
from tierwise.plugins.cli import main
from tierwise.plugins.manager import (
    PluginLoadError,
    function_registry,
    get_plugin_manager,
    hookimpl,
    list_plugins,
    safe_call,
)
from tierwise.runtime.engine import Engine

from .conftest import AS_OF

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tierwise-example-plugin"

RULES = """\
decision: pricing_tier
inputs:
  revenue_12m: number
rules:
  - id: gold
    when: loyalty_points(revenue_12m) >= 500
    then: {tier: gold}
default: {tier: standard}
"""

RUN = """\
import datetime as dt, shutil, sys
from tierwise.adapters import open_source
from tierwise.adapters.job import run_job
from tierwise import Engine
from tierwise.plugins import function_registry

rules, log, csv, *versions = sys.argv[1:]
for version in versions:
    shutil.copy(version, csv)
    engine = Engine.from_path(rules, functions=function_registry())
    source = open_source("csv:" + csv)
    summary = run_job(engine, source, log, as_of=dt.date(2026, 6, 30))
    print(summary.changes)
"""

LOADED = """\
import json, os, sys
from tierwise.plugins.manager import list_plugins

for value in sys.argv[1:]:
    os.environ["TIERWISE_PLUGINS"] = value
    print(json.dumps({p.name: p.loaded for p in list_plugins()}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed into a directory of its own (so the shared
    environment is untouched); processes that should see it get it on PYTHONPATH."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-input", "--disable-pip-version-check", "--target", str(target), str(root / "src")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return target


def _run(installed: Path, argv: list[str], env: Mapping[str, str] | None = None) -> str:
    environ = {**os.environ, "PYTHONPATH": str(installed), **(env or {})}
    environ.pop("TIERWISE_PLUGINS", None) if "TIERWISE_PLUGINS" not in (env or {}) else None
    done = subprocess.run(
        [sys.executable, *argv], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _plugins(installed: Path, env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    out = _run(
        installed, ["-c", "from tierwise.plugins.cli import main; main()", "plugins", "--json"], env
    )
    return {p["name"]: p for p in map(json.loads, out.splitlines())}


def test_the_installed_plugin_is_listed_with_its_hooks(installed: Path) -> None:
    plugins = _plugins(installed)
    assert plugins["example"] == {
        "name": "example",
        "origin": "tierwise-example-plugin 0.1.0",
        "hooks": ["tierwise_decision_changed", "tierwise_functions"],
        "loaded": True,
        "reason": "",
    }
    assert plugins["tierwise.plugins.builtin_adapters"]["hooks"] == ["tierwise_adapters"]


def test_tierwise_plugins_chooses_by_distribution_or_plugin_name(installed: Path) -> None:
    values = [
        "",
        " , ",
        "some-other-plugin",
        "tierwise-example-plugin",
        "Tierwise_Example_Plugin",
        "x,example",
    ]
    out = _run(installed, ["-c", LOADED, *values])
    loaded = [json.loads(line) for line in out.splitlines()]
    assert [x["example"] for x in loaded] == [False, False, False, True, True, True]
    assert all(x["tierwise.plugins.builtin_functions"] for x in loaded)


def test_its_function_and_change_hook_run_in_a_real_run(installed: Path, tmp_path: Path) -> None:
    rules = tmp_path / "pricing.yaml"
    rules.write_text(RULES)
    script = tmp_path / "run.py"
    script.write_text(RUN)
    log = f"sqlite:///{tmp_path / 'log.db'}"
    outbox = tmp_path / "outbox.jsonl"
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text("client_id,revenue_12m\na,4990\nb,5000\nc,100\n")
    second.write_text("client_id,revenue_12m\na,5000\nb,5000\nc,100\n")
    argv = [str(script), str(rules), log, str(tmp_path / "clients.csv"), str(first), str(second)]
    assert _run(installed, argv, {"TIERWISE_EXAMPLE_OUTBOX": str(outbox)}).split() == ["0", "1"]
    (change,) = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert change["client_id"] == "a" and change["before"] == {"tier": "standard"}
    assert change["after"] == {"tier": "gold"} and change["rules"] == ["gold"]


class _Boom:
    @hookimpl
    def tierwise_enrich_facts(self, facts: Any, as_of: Any, profile: Any) -> dict[str, Any]:
        raise KeyError("segment")


class _Fine:
    @hookimpl
    def tierwise_enrich_facts(self, facts: Any, as_of: Any, profile: Any) -> dict[str, Any]:
        return {"vip": True}


def test_safe_call_runs_every_implementation_and_reports_the_one_that_raised() -> None:
    pm = get_plugin_manager()
    pm.register(_Boom(), name="boom")
    pm.register(_Fine(), name="fine")
    results, failures = safe_call(
        pm.hook.tierwise_enrich_facts, facts={"clv": 1.0}, as_of=dt.date(2026, 1, 1), profile={}
    )
    assert {"vip": True} in results
    assert [str(f) for f in failures] == [
        "plugin boom: tierwise_enrich_facts raised KeyError: 'segment'"
    ]
    error = failures[0].as_fact_error()
    assert error.fact == "plugin:boom" and "KeyError" in error.message


class _Duplicate:
    @hookimpl
    def tierwise_functions(self) -> list[Function]:
        return [Function("days_since", ("date",), "integer", lambda d: 0)]


def test_a_function_registered_twice_names_both_plugins() -> None:
    pm = get_plugin_manager()
    pm.register(_Duplicate(), name="crm-connector")
    with pytest.raises(
        ValueError, match=r"'days_since' is registered twice \(by .* and by crm-connector\)"
    ):
        function_registry(pm)


def test_the_plugins_command_lists_builtins_and_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERWISE_PLUGINS", "")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0
    assert (
        "tierwise.plugins.builtin_adapters  (built-in)\n    hooks: tierwise_adapters"
        in result.output
    )
    assert {p.name for p in list_plugins()} >= {"tierwise.plugins.builtin_commands"}


def test_a_plugin_that_cannot_be_imported_is_reported_and_stops_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pack_dir: Path
) -> None:
    info = tmp_path / "crm_sync-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crm-sync\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[tierwise]\ncrm_sync = crm_sync_plugin\n")
    (tmp_path / "crm_sync_plugin.py").write_text("import hubspot_sdk_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TIERWISE_PLUGINS", raising=False)
    with pytest.warns(
        UserWarning, match=r"tierwise plugin crm_sync \(crm-sync 1.2\) cannot be loaded"
    ):
        pm = get_plugin_manager()
    (broken,) = [p for p in list_plugins(pm) if p.name == "crm_sync"]
    assert not broken.loaded
    missing = "No module named 'hubspot_sdk_that_is_not_installed'"
    assert broken.reason == f"cannot be loaded: ModuleNotFoundError: {missing}"
    csv = tmp_path / "clients.csv"
    csv.write_text("client_id,clv\na,1\n")
    with pytest.raises(
        PluginLoadError,
        match=r"plugin crm_sync \(crm-sync 1.2\) cannot be loaded: .*TIERWISE_PLUGINS",
    ):
        log = f"sqlite:///{tmp_path / 'log.db'}"
        engine = Engine.from_path(pack_dir, functions=function_registry(pm))
        run_job(engine, open_source(f"csv:{csv}", pm=pm), log, as_of=AS_OF, pm=pm)
    monkeypatch.setenv("TIERWISE_PLUGINS", "")
    assert "crm_sync" not in {p.name for p in list_plugins(get_plugin_manager()) if p.loaded}
