"""tierwise.diff and `tierwise diff`: the static rule diff, the impact on clients through the
batch and the durable paths, per-item transitions for collect, git revisions, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tierwise.adapters.clients import read_clients
from tierwise.impact import impact as diff_module
from tierwise.impact.impact import decide_all, diff
from tierwise.impact.static import static_diff
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Pack
from tierwise.pack.revisions import RevisionError, split_spec
from tierwise.plugins.cli import main
from tierwise.plugins.manager import function_registry

AS_OF = dt.date(2026, 1, 1)
PRICING_V1 = """
decision: pricing_tier
hit_policy: first
inputs:
  clv: {type: number, min: 0}
  revenue_12m: {type: number, min: 0}
  purchases_per_year: {type: integer, min: 0}
rules:
  - id: platinum
    when: clv >= 50000
    then: {tier: platinum, discount_pct: 15}
  - id: gold
    when: clv >= 10000 and purchases_per_year >= 6
    then: {tier: gold, discount_pct: 8}
  - id: silver
    when: clv >= 5000
    then: {tier: silver, discount_pct: 3}
default: {tier: standard, discount_pct: 0}
"""
PRICING_V2 = (
    PRICING_V1.replace("clv >= 50000", "clv >= 40000")
    .replace("discount_pct: 8}", "discount_pct: 10}")
    .replace(
        "  - id: silver\n    when: clv >= 5000\n    then: {tier: silver, discount_pct: 3}\n", ""
    )
    .replace(
        "default:",
        "  - id: bronze\n    when: clv >= 1000\n"
        "    then: {tier: bronze, discount_pct: 1}\ndefault:",
    )
)
SUPPORT = """
decision: support
hit_policy: collect
inputs:
  tickets: {type: integer, min: 0}
rules:
  - {id: callback, when: tickets >= 3, then: {action: callback}}
  - {id: survey, when: tickets >= 1, then: {action: survey}}
"""
CLIENTS = [
    # client_id, clv, revenue_12m, purchases, tickets
    ("c1", 45000.0, 1000.0, 7, 0),  # gold -> platinum
    ("c2", 42000.0, 500.0, 2, 1),  # silver -> platinum
    ("c3", 12000.0, 2000.0, 8, 2),  # gold -> gold (discount 8 -> 10)
    ("c4", 6000.0, 100.0, 1, 3),  # silver -> bronze
    ("c5", 500.0, 50.0, 0, 5),  # standard -> standard
    ("c6", 60000.0, 3000.0, 9, 0),  # platinum -> platinum
]


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def pack_of(folder: Path) -> Pack:
    return load_pack(folder, function_registry())


def clients_csv(path: Path) -> Path:
    lines = ["client_id,clv,revenue_12m,purchases_per_year,tickets"]
    lines += [",".join(str(v) for v in row) for row in CLIENTS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def facts() -> list[dict[str, object]]:
    keys = ("client_id", "clv", "revenue_12m", "purchases_per_year", "tickets")
    return [dict(zip(keys, row, strict=True)) for row in CLIENTS]


@pytest.fixture
def packs(tmp_path: Path) -> tuple[Pack, Pack]:
    v1 = write(tmp_path / "v1", pricing=PRICING_V1, support=SUPPORT)
    v2 = write(
        tmp_path / "v2",
        pricing=PRICING_V2,
        support=SUPPORT.replace("tickets >= 3", "tickets >= 2"),
    )
    return pack_of(v1), pack_of(v2)


def test_static_diff_names_added_removed_and_changed_rules(packs: tuple[Pack, Pack]) -> None:
    changes = {c.decision: c for c in static_diff(*packs)}
    pricing = {r.rule: r for r in changes["pricing_tier"].rules}
    assert pricing["platinum"].change == "changed" and pricing["platinum"].parts == ("condition",)
    assert pricing["platinum"].old["when"] == "clv >= 50000"  # type: ignore[index]
    assert pricing["platinum"].new["when"] == "clv >= 40000"  # type: ignore[index]
    assert pricing["gold"].parts == ("outputs",)
    assert pricing["silver"].change == "removed" and pricing["bronze"].change == "added"
    assert changes["support"].status == "changed"
    assert [r.rule for r in changes["support"].rules] == ["callback"]


def test_static_diff_sees_moves_settings_and_whole_decisions(tmp_path: Path) -> None:
    moved = PRICING_V1.replace(
        "  - id: platinum\n    when: clv >= 50000\n    then: {tier: platinum, discount_pct: 15}\n",
        "",
    ).replace(
        "default:",
        "  - id: platinum\n    when: clv >= 50000\n"
        "    then: {tier: platinum, discount_pct: 15}\ndefault:",
    )
    moved = moved.replace(
        "default: {tier: standard, discount_pct: 0}", "default: {tier: basic, discount_pct: 0}"
    )
    old = pack_of(write(tmp_path / "a", pricing=PRICING_V1))
    new = pack_of(write(tmp_path / "b", pricing=moved, support=SUPPORT))
    changes = {c.decision: c for c in static_diff(old, new)}
    assert "platinum" in {r.rule for r in changes["pricing_tier"].rules if r.change == "moved"}
    assert any(s.startswith("default:") for s in changes["pricing_tier"].settings)
    assert changes["support"].status == "added"
    assert {r.change for r in changes["support"].rules} == {"added"}


def test_impact_counts_every_transition_and_the_weighted_change(packs: tuple[Pack, Pack]) -> None:
    result = diff(
        *packs, facts(), old_label="v1", new_label="v2", as_of=AS_OF, weight="revenue_12m"
    )
    pricing = next(i for i in result.impact if i.decision == "pricing_tier")
    cells = {(t.before, t.after): t.count for t in pricing.transitions}
    assert cells == {
        ("gold", "platinum"): 1,
        ("silver", "platinum"): 1,
        ("gold", "gold"): 1,
        ("silver", "bronze"): 1,
        ("standard", "standard"): 1,
        ("platinum", "platinum"): 1,
    }
    assert pricing.changed == 3
    example = next(t for t in pricing.transitions if t.before == "gold" and t.after == "platinum")
    assert example.examples[0]["client_id"] == "c1"
    assert example.examples[0]["rules_before"] == ["gold"]
    assert example.examples[0]["rules_after"] == ["platinum"]
    [discount] = pricing.numeric
    assert (discount.before, discount.after) == (8 + 3 + 8 + 3 + 0 + 15, 15 + 15 + 10 + 1 + 0 + 15)
    assert discount.changed_clients == 4
    assert discount.weighted_before == 8 * 1000 + 3 * 500 + 8 * 2000 + 3 * 100 + 15 * 3000
    assert discount.weighted_after == 15 * 1000 + 15 * 500 + 10 * 2000 + 1 * 100 + 15 * 3000
    assert result.engines == {"old": "sql", "new": "sql"}


def test_collect_decisions_are_compared_item_by_item(packs: tuple[Pack, Pack]) -> None:
    result = diff(*packs, facts(), old_label="v1", new_label="v2", as_of=AS_OF)
    support = next(i for i in result.impact if i.decision == "support")
    cells = {(t.before, t.after): t.count for t in support.transitions}
    # c3 (2 tickets) gains callback; c4 and c5 keep both; c2 keeps survey.
    assert cells[("(none)", "callback")] == 1
    assert cells[("callback", "callback")] == 2
    assert cells[("survey", "survey")] == 4
    assert support.per_item and support.changed == 1


def test_batch_and_durable_paths_agree(packs: tuple[Pack, Pack]) -> None:
    old, _ = packs
    by_sql = decide_all(old, facts(), AS_OF, "sql")
    by_durable = decide_all(old, facts(), AS_OF, "durable")
    for a, b in zip(by_sql, by_durable, strict=True):
        for name in a:
            assert (a[name].status, a[name].rules) == (b[name].status, b[name].rules)
            assert diff_module._label(a[name], "tier" if name == "pricing_tier" else "action") == (
                diff_module._label(b[name], "tier" if name == "pricing_tier" else "action")
            )


def test_sources_csv_jsonl_and_parquet_read_the_same_clients(
    packs: tuple[Pack, Pack], tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = packs[0].inputs
    from_csv, broken = read_clients(str(clients_csv(tmp_path / "c.csv")), types, AS_OF)
    assert broken == 0
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(f) for f in facts()) + "\n", encoding="utf-8")
    from_jsonl, _ = read_clients(str(jsonl), types, AS_OF)
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(facts()), parquet)
    from_parquet, _ = read_clients(str(parquet), types, AS_OF)
    for rows in (from_jsonl, from_parquet):
        assert [{k: r[k] for k in from_csv[0]} for r in rows] == from_csv


def test_revision_specs() -> None:
    assert split_spec("HEAD~1:rules") == ("HEAD~1", "rules")
    assert split_spec("git:HEAD~1", "rules") == ("HEAD~1", "rules")
    assert split_spec("git:main:rules/pricing.yaml") == ("main", "rules/pricing.yaml")
    with pytest.raises(RevisionError, match="no such file"):
        split_spec("no/such/folder")
    with pytest.raises(RevisionError, match="git:REV:path"):
        split_spec("git:HEAD", "git:HEAD~1")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_cli_diff_against_a_git_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    write(repo / "rules", pricing=PRICING_V1, support=SUPPORT)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    write(repo / "rules", pricing=PRICING_V2)
    clients = clients_csv(tmp_path / "clients.csv")
    monkeypatch.chdir(repo)
    out_json, out_html = tmp_path / "d.json", tmp_path / "d.html"
    args = ["diff", "git:HEAD", "rules", "--source", str(clients), "--as-of", "2026-01-01"]
    result = CliRunner().invoke(main, [*args, "--json", str(out_json), "--html", str(out_html)])
    assert result.exit_code == 0, result.output
    assert "pricing_tier (changed): 3 clients change" in result.output
    assert "rule platinum changed (condition)" in result.output
    assert "weighted by revenue_12m" in result.output
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["old"] == "git:HEAD" and data["clients"] == 6
    pricing = next(i for i in data["impact"] if i["decision"] == "pricing_tier")
    assert {"before": "gold", "after": "platinum"} in [
        {"before": t["before"], "after": t["after"]} for t in pricing["transitions"]
    ]
    assert 'class="matrix"' in out_html.read_text(encoding="utf-8")
    same = CliRunner().invoke(main, ["diff", "HEAD:rules", "git:HEAD", "--source", str(clients)])
    assert same.exit_code == 0, same.output
    assert "pricing_tier (same): 0 clients change" in same.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_cli_diff_reports_bad_revisions_and_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    write(repo / "rules", pricing=PRICING_V1)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    clients = clients_csv(tmp_path / "clients.csv")
    monkeypatch.chdir(repo)
    bad = CliRunner().invoke(main, ["diff", "nope:rules", "rules", "--source", str(clients)])
    assert bad.exit_code == 1 and "unknown git revision 'nope'" in bad.output
    weight = CliRunner().invoke(
        main, ["diff", "rules", "rules", "--source", str(clients), "--weight", "x"]
    )
    assert weight.exit_code == 1 and "--weight x: no such input fact" in weight.output


def test_unreadable_rows_are_counted_not_fatal(packs: tuple[Pack, Pack], tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"client_id": ["a", "b"], "clv": ["45000", "lots"]}), parquet)
    clients, broken = read_clients(str(parquet), packs[0].inputs, AS_OF)
    assert broken == 1 and clients == [{"client_id": "a", "clv": 45000.0}]
    csv = tmp_path / "bad.csv"
    csv.write_text("client_id,clv\na,45000\nb,lots\n", encoding="utf-8")
    clients, broken = read_clients(str(csv), packs[0].inputs, AS_OF)
    assert broken == 1 and [c["client_id"] for c in clients] == ["a"]
