"""tierwise.paths.choose_path, the one choice of path: "auto" takes SQL whenever the pack
compiles for the source's dialect and nothing blocks it (a function without an SQL form, a
plugin's facts), except for sources read client by client; and `tierwise run`,
`decide_table` and `diff` make the same choice, with the same reason, for the same pack
and source."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import tierwise
from tierwise.batch import PushdownError
from tierwise.functions import Function, FunctionRegistry
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Pack
from tierwise.paths import Enrichment, PathError, Source, choose_path, sql_blockers
from tierwise.plugins.cli import main
from tierwise.plugins.manager import function_registry

AS_OF = dt.date(2026, 1, 1)
PLAIN = """\
decision: tier
inputs: {spend: number, freq: integer}
rules:
  - {id: gold, when: spend >= 100 and freq > 2, then: {tier: gold}}
  - {id: silver, when: freq > 1, then: {tier: silver}}
default: {tier: standard}
"""
DOUBLED = PLAIN.replace("spend >= 100", "double(spend) >= 200")
ENRICHED = PLAIN.replace("spend: number", "spend: number, bonus: number").replace(
    "freq > 1", "bonus > 10"
)
CSV = "client_id,spend,freq,bonus\na,150,3,\nb,20,2,50\nc,,0,\n"
TABLE = Source("table", "clients.csv")
STREAM = Source("stream", "jsonl:-")
PARQUET_ONLY = Source("table", "parquet:clients.parquet", per_client=False)
PLUGIN = """\
from tierwise.functions import Function
from tierwise.plugins import hookimpl


@hookimpl
def tierwise_functions():
    return [Function("double", ("number",), "number", lambda x: x * 2, "Twice x.")]


@hookimpl
def tierwise_enrich_facts(facts, as_of, profile):
    return {"bonus": 20.0} if facts.get("bonus") is None else None


@hookimpl
def tierwise_enriched_facts():
    return ["bonus"]
"""


def pack(tmp_path: Path, text: str, functions: FunctionRegistry | None = None) -> Pack:
    (tmp_path / "rules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "rules" / "tier.yaml").write_text(text, encoding="utf-8")
    return load_pack(tmp_path / "rules", functions or function_registry())


def doubling() -> FunctionRegistry:
    double = Function("double", ("number",), "number", lambda x: x * 2, plugin="slow")
    return FunctionRegistry([*function_registry().values(), double])


# -- the rule ------------------------------------------------------------------------------
def test_auto_takes_sql_when_the_pack_compiles_for_the_sources_dialect(tmp_path: Path) -> None:
    p = pack(tmp_path, PLAIN)
    assert choose_path([p], TABLE) == ("sql", "the pack compiles to SQL for duckdb")
    assert choose_path([p], Source("arrow", "the table")).engine == "sql"
    sqlite = Source("database", "sqlite:///crm.db", "sqlite")
    assert choose_path([p], sqlite) == ("sql", "the pack compiles to SQL for sqlite")
    assert choose_path([p, p], TABLE).reason == "the packs compile to SQL for duckdb"
    assert choose_path([p], TABLE, "sql").engine == "sql"


def test_a_source_read_client_by_client_stays_per_client(tmp_path: Path) -> None:
    p = pack(tmp_path, PLAIN)
    assert choose_path([p], STREAM) == ("durable", "jsonl:- is read client by client")
    with pytest.raises(PushdownError, match="SQLite or PostgreSQL databases, not jsonl:-"):
        choose_path([p], STREAM, "sql")


def test_durable_asked_for_is_durable_where_the_source_allows_it(tmp_path: Path) -> None:
    p = pack(tmp_path, PLAIN)
    assert choose_path([p], TABLE, "durable") == ("durable", "the durable path was asked for")
    with pytest.raises(PathError, match=r"only the SQL path reads parquet:clients\.parquet"):
        choose_path([p], PARQUET_ONLY, "durable")
    with pytest.raises(PathError, match="auto, durable or sql, not 'fast'"):
        choose_path([p], TABLE, "fast")  # type: ignore[arg-type]


def test_a_function_without_sql_form_blocks_sql_and_says_where(tmp_path: Path) -> None:
    p = pack(tmp_path, DOUBLED, doubling())
    choice = choose_path([p], TABLE)
    assert choice.engine == "durable"
    assert choice.reason.startswith("function double (slow) has no SQL form, used at ")
    assert "tier.yaml:4:" in choice.reason
    with pytest.raises(PushdownError, match="cannot run as SQL: function double"):
        choose_path([p], TABLE, "sql")
    with pytest.raises(PushdownError, match=r"only the SQL path reads parquet:.*function double"):
        choose_path([p], PARQUET_ONLY)
    plain = pack(tmp_path / "other", PLAIN)
    assert choose_path([plain, p], TABLE).engine == "durable"  # one path for a diff's sides


def test_a_plugin_that_gives_facts_the_pack_reads_blocks_sql(tmp_path: Path) -> None:
    p = pack(tmp_path, ENRICHED)
    scores = Enrichment("scores", frozenset({"bonus", "churn"}))
    choice = choose_path([p], TABLE, enrichments=[scores])
    assert choice == (
        "durable",
        "plugin scores gives facts the pack reads (bonus), and only the durable path runs it",
    )
    with pytest.raises(PushdownError, match="plugin scores gives facts the pack reads"):
        choose_path([p], TABLE, "sql", [scores])
    other = Enrichment("weather", frozenset({"rain"}))
    assert choose_path([p], TABLE, enrichments=[other]).engine == "sql"
    unsaid = Enrichment("mystery", None)
    assert "plugin mystery adds facts to each client without saying which" in " ".join(
        sql_blockers([p], "duckdb", [unsaid])
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with clients.csv and an installed third-party plugin, as the command line
    and decide_table find it: its `double()` has no SQL form, and it gives `bonus`."""
    (tmp_path / "clients.csv").write_text(CSV)
    info = tmp_path / "slow-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tierwise]\nslow = slow_plugin\n")
    (tmp_path / "slow_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TIERWISE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_choice(*args: str) -> tuple[int, str]:
    """`tierwise run` on the rules in ./rules: its exit code and its `engine:` line."""
    common = ["--rules", "rules", "--as-of", "2026-01-01", "--out", "sqlite:///log.db"]
    result = CliRunner().invoke(main, ["run", *common, *args])
    lines = [line for line in result.stderr.splitlines() if line.startswith("engine: ")]
    return result.exit_code, lines[0] if lines else result.output


def diff_engines() -> dict[str, str]:
    result = CliRunner().invoke(
        main, ["diff", "rules", "rules", "--source", "clients.csv", "--json", "diff.json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(Path("diff.json").read_text())["engines"]


@pytest.mark.parametrize(
    ("text", "engine", "reason"),
    [
        (PLAIN, "sql", "the pack compiles to SQL for duckdb"),
        (DOUBLED, "durable", "function double (slow) has no SQL form, used at rules/tier.yaml:4:"),
    ],
)
def test_run_decide_table_and_diff_make_the_same_choice(
    workdir: Path, text: str, engine: str, reason: str
) -> None:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "tier.yaml").write_text(text)
    code, line = run_choice("--source", "csv:clients.csv")
    assert code == 0 and line.startswith(f"engine: {engine} ({reason}"), line
    outcomes = tierwise.decide_table("rules", "clients.csv", AS_OF, functions=function_registry())
    assert outcomes.engine == engine and outcomes.reason.startswith(reason)
    assert f"engine: {engine} ({outcomes.reason})" == line
    tiers = [o.decisions["tier"].output for o in outcomes]
    assert tiers == [{"tier": "gold"}, {"tier": "silver"}, {"tier": "standard"}]
    assert diff_engines() == {"old": engine, "new": engine}
    with sqlite3.connect(workdir / "log.db") as conn:
        logged = dict(conn.execute("SELECT client_id, output FROM tierwise_decisions"))
    assert [json.loads(logged[c]) for c in "abc"] == tiers


def test_run_keeps_a_pack_that_reads_a_plugins_facts_per_client(workdir: Path) -> None:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "tier.yaml").write_text(ENRICHED)
    code, line = run_choice("--source", "csv:clients.csv")
    reason = "plugin slow gives facts the pack reads (bonus), and only the durable path runs it"
    assert code == 0 and line == f"engine: durable ({reason})"
    with sqlite3.connect(workdir / "log.db") as conn:
        logged = dict(conn.execute("SELECT client_id, output FROM tierwise_decisions"))
    assert json.loads(logged["c"]) == {"tier": "silver"}  # bonus 20, from the plugin
    code, output = run_choice("--source", "csv:clients.csv", "--engine", "sql")
    assert code == 1 and f"this pack cannot run as SQL: {reason}" in output


@pytest.mark.parametrize(
    ("source", "line", "clients"),
    [
        ("sqlite:///crm.db", "engine: sql (the pack compiles to SQL for sqlite)", 1),
        ("csv:clients.csv", "engine: sql (the pack compiles to SQL for duckdb)", 3),
        ("jsonl:-", "engine: durable (jsonl:- is read client by client)", None),
    ],
)
def test_run_chooses_by_the_source(
    workdir: Path, source: str, line: str, clients: int | None
) -> None:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "tier.yaml").write_text(PLAIN)
    (workdir / "m.yaml").write_text(
        "clients: {table: clients, id: client_id}\nfacts: {spend: spend, freq: freq}\n"
    )
    with sqlite3.connect(workdir / "crm.db") as conn:
        conn.execute("CREATE TABLE clients (client_id TEXT, spend REAL, freq INTEGER)")
        conn.execute("INSERT INTO clients VALUES ('a', 150, 3)")
    common = ["--rules", "rules", "--as-of", "2026-01-01", "--out", "sqlite:///log.db"]
    result = CliRunner().invoke(
        main,
        ["run", *common, "--source", source, "--mapping", "m.yaml"],
        input='{"client_id": "a", "spend": 150, "freq": 3}\n',
    )
    assert result.exit_code == 0 and line in result.stderr, result.output
    if clients is not None:
        assert f"clients: {clients} " in result.stdout


def test_run_reads_parquet_on_the_sql_path_only(workdir: Path) -> None:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "tier.yaml").write_text(PLAIN)
    (workdir / "clients.parquet").write_bytes(b"")
    code, output = run_choice("--source", "parquet:clients.parquet", "--engine", "durable")
    assert code == 1 and "only the SQL path reads parquet:clients.parquet" in output
