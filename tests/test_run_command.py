"""`tierwise run` end to end on a small sample CRM, then `tierwise why` on its log."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tierwise.plugins.cli import main


def test_run_creates_the_sample_decides_everyone_and_explains_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = Path(__file__).resolve().parent.parent / "rules"
    runner = CliRunner()
    result = runner.invoke(main, ["run", "--clients", "300", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tierwise-sample" / "crm.db").exists()
    out = result.stdout
    assert "clients: 300" in out
    for decision in ("pricing_tier", "loyalty_method", "support_action", "value_segment"):
        assert f"\n{decision}" in out
    assert "see one client's explanation: tierwise why 1 --log sqlite:///" in out

    why = runner.invoke(main, ["why", "1"])
    assert why.exit_code == 0, why.output
    assert why.stdout.startswith("client 1, run ")
    assert "pricing_tier: " in why.stdout

    again = runner.invoke(main, ["run", "--rules", str(rules)])
    assert again.exit_code == 0, again.output
    assert "changes since last run: 0" in again.stdout
    missing = runner.invoke(main, ["why", "no-such-client"])
    assert missing.exit_code == 1
    assert "client 'no-such-client' is in no run" in missing.output


def test_run_reports_an_unknown_source_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = Path(__file__).resolve().parent.parent / "rules"
    result = CliRunner().invoke(main, ["run", "--source", "ftp://crm", "--rules", str(rules)])
    assert result.exit_code == 1
    assert "unknown source kind" in result.output
    assert "Traceback" not in result.output
