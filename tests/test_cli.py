"""The rule author's commands through click: check, test, decide, explain."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tierwise.plugins.cli import main

PACK = """\
decision: tier
hit_policy: first
inputs:
  clv: number
  segment: {enum: [consumer, business]}
rules:
  - id: gold
    when: clv >= 10000 and segment == "business"
    then: {tier: gold}
    because: Valuable business client
default: {tier: standard}
tests:
  - given: {clv: 20000, segment: business}
    expect: {tier: gold}
    rule: gold
  - given: {clv: 20000, segment: consumer}
    expect: {tier: standard}
    rule: default
"""


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    (tmp_path / "tier.yaml").write_text(PACK)
    return tmp_path


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_check_clean_pack(pack: Path) -> None:
    code, out, _ = invoke("check", str(pack))
    assert code == 0
    assert "1 decision(s), 1 rule(s), no errors" in out


def test_check_lists_every_error_with_position_and_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "decision: bad\ninputs: {clv: number}\nrules:\n"
        "  - id: a\n    when: clvv > 5\n    then: {x: 1}\n"
        "  - id: a\n    when: clv = 5\n    then: {x: 2}\n"
    )
    code, _, err = invoke("check", str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'bad.yaml'}:5:11: unknown fact: unknown fact 'clvv'" in err
    assert f"{tmp_path / 'bad.yaml'}:8:15: expression syntax" in err
    assert "duplicate rule id" in err
    assert "3 error(s)" in err


def test_test_command_passes_and_reports_failures(pack: Path) -> None:
    code, out, _ = invoke("test", str(pack))
    assert (code, out.strip().splitlines()[-1]) == (0, "2 passed, 0 failed")
    broken = PACK.replace("expect: {tier: gold}", "expect: {tier: platinum}")
    (pack / "tier.yaml").write_text(broken)
    code, out, _ = invoke("test", str(pack))
    assert code == 1
    assert "tier: expected 'platinum', got 'gold'" in out
    assert "1 passed, 1 failed" in out


def test_decide_reads_json_lines_and_never_stops_for_one_bad_client(pack: Path) -> None:
    lines = "\n".join(
        [
            '{"client_id": "a", "clv": 12000, "segment": "business"}',
            "{not json",
            '{"client_id": "c", "clv": "lots"}',
            '{"client_id": "d", "clv": 5}',
        ]
    )
    code, out, _ = invoke("decide", "--rules", str(pack), "--as-of", "2026-01-01", input=lines)
    assert code == 0
    outcomes = [orjson.loads(line) for line in out.splitlines()]
    assert [o["client_id"] for o in outcomes] == ["a", None, "c", "d"]
    assert outcomes[0]["decisions"]["tier"]["output"] == {"tier": "gold"}
    assert "line 2 is not valid JSON" in outcomes[1]["errors"][0]["message"]
    assert outcomes[2]["errors"][0]["fact"] == "clv"
    assert outcomes[3]["decisions"]["tier"]["status"] == "default"


def test_explain_shows_rule_reason_and_values(pack: Path) -> None:
    code, out, _ = invoke("explain", "--rules", str(pack), '{"clv": 12400, "segment": "business"}')
    assert code == 0
    assert "tier: tier=gold" in out
    assert "because Valuable business client" in out
    assert "with clv = 12,400, segment = business" in out


def test_broken_pack_stops_every_command_with_errors(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("decision: x\nhit_policy: firts\nrules: []\n")
    code, _, err = invoke("decide", "--rules", str(tmp_path), input="{}")
    assert code == 1
    assert "unknown hit policy 'firts'" in err
