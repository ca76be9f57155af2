"""`tierwise check` lists every error of every file it can read in one run: a YAML syntax
error in one file hides nothing in the others, and one file's six different mistakes (a
wrong setting, a broken expression, an unknown fact, a type error, a duplicate rule id, an
unknown key) all come out at once, each at file:line:col, sorted, with their count."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli_process import tierwise

SIX_MISTAKES = """\
decision: pricing
hit_policy: frist
inputs:
  clv: number
  orders: integer
  segment: {enum: [retail, wholesale]}
rules:
  - id: gold
    when: clv >= 1000 and
    then: {tier: gold}
  - id: silver
    when: revenue > 10
    then: {tier: silver}
  - id: bronze
    when: segment == 5
    then: {tier: bronze}
  - id: gold
    when: orders > 2
    then: {tier: gold}
  - id: tin
    when: clv > 3
    then: {tier: tin}
    colour: red
default: {tier: none}
"""

NOT_YAML = """\
decision: broken
rules:
  - id: a
    when: x > 1
   then: {y: 1}
"""

TYPE_ERRORS = """\
decision: typed
inputs:
  n: number
  d: date
  kind: {type: nubmer}
rules:
  - id: one
    when: n == "a"
    then: {v: 1}
  - id: two
    when: d > 3 and kind > 1
    then: {v: 2}
  - id: 3three
    when: n > 1
    then: {v: 3}
  - id: four
    when: n + d > 0
    then: {v: 4}
default: {v: 0}
"""

TABLE = """\
decision: channel
inputs:
  clv: number
table: {file: channel.csv}
tests:
  - {given: {cvl: 1}, expect: {channel: email}}
"""

TABLE_CSV = """\
id,clv,channel
big,>= lots,phone
small,< 10,sms,extra
mid,[1..5]
"""

EXPECTED = [
    ("broken.yaml", 5, 4, "YAML syntax"),
    ("channel.csv", 2, 8, "unknown fact"),
    ("channel.csv", 3, 1, "CSV syntax"),
    ("channel.csv", 4, 1, "CSV syntax"),
    ("channel.yaml", 6, 14, "unknown fact"),
    ("pricing.yaml", 2, 13, "unknown hit policy"),
    ("pricing.yaml", 9, 26, "expression syntax"),
    ("pricing.yaml", 12, 11, "unknown fact"),
    ("pricing.yaml", 15, 11, "type mismatch"),
    ("pricing.yaml", 17, 5, "duplicate rule id"),
    ("pricing.yaml", 23, 5, "unknown key"),
    ("typed.yaml", 5, 16, "wrong value type"),
    ("typed.yaml", 8, 11, "type mismatch"),
    ("typed.yaml", 11, 11, "type mismatch"),
    ("typed.yaml", 13, 9, "wrong value type"),
    ("typed.yaml", 17, 15, "type mismatch"),
]
"""Every mistake of the pack below: (file, line, col, kind), in the order check sorts them."""


PLACE = re.compile(r"^(rules/[^:]+):(\d+):(\d+): ([^:]+): ")
"""An error line of check's text output: file:line:col: kind: message."""


def write_pack(folder: Path) -> Path:
    """The pack: a file of six mistakes, one that is not YAML, one of type errors, and a
    decision table with a bad cell, two ragged rows and a test naming an unknown fact."""
    rules = folder / "rules"
    rules.mkdir()
    for name, text in {
        "pricing.yaml": SIX_MISTAKES,
        "broken.yaml": NOT_YAML,
        "typed.yaml": TYPE_ERRORS,
        "channel.yaml": TABLE,
        "channel.csv": TABLE_CSV,
    }.items():
        (rules / name).write_text(text)
    return rules


def test_check_lists_every_error_of_every_file_at_once(tmp_path: Path) -> None:
    write_pack(tmp_path)
    done = tierwise("check", "rules", cwd=tmp_path)
    assert done.code == 1
    found = [
        (Path(m[1]).name, int(m[2]), int(m[3]), m[4])
        for m in map(PLACE.match, done.err.splitlines())
        if m is not None
    ]
    assert found == EXPECTED, done.err
    assert done.err.splitlines()[-1] == f"{len(EXPECTED)} error(s) in rules"


def test_check_json_lists_them_all(tmp_path: Path) -> None:
    write_pack(tmp_path)
    done = tierwise("check", "--json", "rules", cwd=tmp_path)
    assert done.code == 1 and done.err == ""
    data = json.loads(done.out)
    assert data["ok"] is False and data["count"] == len(EXPECTED)
    found = [(Path(e["file"]).name, e["line"], e["col"], e["kind"]) for e in data["errors"]]
    assert found == EXPECTED


def test_no_follow_on_errors_from_a_part_left_out(tmp_path: Path) -> None:
    """A broken input declaration, rule or test is reported once: the rules that read the
    input are not also told it is unknown, and a decision whose only rule is broken is
    not also told it has no rules."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "t.yaml").write_text(
        "decision: t\ninputs:\n  clv: {type: nubmer}\nrules:\n"
        "  - id: a\n    when: clv > 1\n    then: {tier: [gold]}\n"
    )
    done = tierwise("check", "--json", "rules", cwd=tmp_path)
    errors = json.loads(done.out)["errors"]
    assert [(e["line"], e["col"], e["kind"]) for e in errors] == [
        (3, 15, "wrong value type"),
        (7, 18, "wrong value type"),
    ]
