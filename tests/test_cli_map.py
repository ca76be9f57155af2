"""`tierwise map SOURCE` as a user meets it: on a CRM export (CSV, and the same export as
JSON lines and Parquet) and on a CRM database (SQLite, PostgreSQL), it writes a commented
mapping that the mapping loader reads unchanged and that a run then decides with (real
decisions, the same on both paths); on the sample CRM it proposes what its hand-written
mapping says; and what it cannot find is listed with the rules that need it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierwise.adapters.db import connect
from tierwise.adapters.mapping import load_mapping
from tierwise.adapters.sample_crm import SAMPLE_END, generate
from tierwise.adapters.vocabulary import sense, window_days, words

from .cli_process import RULES, tierwise, write_pack

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "examples" / "own-data" / "crm_export.csv"
SAMPLE_MAPPING = ROOT / "adapters" / "sample_mapping.yaml"
AS_OF = "2026-11-30"
EXPECTED_RENAMES = {
    "signup_date": "signup_date",
    "last_purchase_at": "last_order_date",
    "orders_total": "order_count",
    "revenue_total": "total_spend",
    "open_complaints": "open_tickets",
    "nps_last": "nps",
}
"""What the example export's columns feed (the issue's own examples among them)."""


def _map(tmp_path: Path, source: str, *extra: str) -> Path:
    out = tmp_path / "mapping.yaml"
    done = tierwise("map", source, "--out", str(out), *extra, cwd=tmp_path)
    assert done.code == 0, done.err
    assert "next: tierwise run --source" in done.err
    return out


def _run(tmp_path: Path, source: str, mapping: Path, *extra: str) -> dict[str, object]:
    """A run's JSON summary."""
    log = tmp_path / f"decisions-{len(list(tmp_path.glob('decisions-*')))}.db"
    done = tierwise(
        "run", "--source", source, "--mapping", str(mapping), "--out", str(log),
        "--as-of", AS_OF, "--json", *extra, cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 0, done.err
    summary: dict[str, object] = json.loads(done.out)
    return summary


def _outcomes(summary: dict[str, object]) -> dict[str, dict[str, int]]:
    """Per decision: output label -> clients, from a run summary."""
    decisions = summary["counts"]
    assert isinstance(decisions, dict)
    return {d: dict(v) for d, v in decisions.items()}


def _actions(summary: dict[str, object]) -> dict[str, int]:
    """Support action -> the clients who get it (a client may get several)."""
    found: dict[str, int] = {}
    for label, n in _outcomes(summary)["support_action"].items():
        for part in label.split(" | "):
            action = part.split()[0].removeprefix("action=")
            found[action] = found.get(action, 0) + n
    return found


def test_a_csv_export_gets_a_commented_mapping_that_loads_and_decides(tmp_path: Path) -> None:
    shutil.copy(EXPORT, tmp_path / "crm_export.csv")
    out = _map(tmp_path, "csv:crm_export.csv")
    mapping = load_mapping(out)
    assert mapping.model.clients.id == "customer_id"
    assert mapping.model.facts == EXPECTED_RENAMES
    text = out.read_text()
    assert "# sure: named like the fact" in text  # each entry says how sure and why
    assert "first_purchase_at (date): 11 rule(s) cannot fire without it" in text
    assert "# Columns no fact reads: email" in text
    summary = _run(tmp_path, "csv:crm_export.csv", out)
    assert summary["clients"] == 20 and summary["errors"] == 1  # C-1018's nps is 'n/a'
    actions = _actions(summary)
    assert actions["welcome_call"] == 2  # signed up in November
    assert actions["complaint_follow_up"] == 7
    # no value without a first purchase date or revenue in a window: never an attractive
    # detractor on a guess (a client with orders and no first purchase is no prospect)
    assert "detractor_call" not in actions
    durable = _run(tmp_path, "csv:crm_export.csv", out, "--engine", "durable")
    assert _outcomes(durable) == _outcomes(summary)  # one answer on both paths


def test_the_same_export_as_json_lines_and_parquet_maps_alike(tmp_path: Path) -> None:
    table = pacsv.read_csv(
        EXPORT, convert_options=pacsv.ConvertOptions(strings_can_be_null=False, null_values=[])
    )
    pq.write_table(table, tmp_path / "export.parquet")
    with (tmp_path / "export.jsonl").open("w") as f:
        for row in table.to_pylist():
            f.write(json.dumps({k: str(v) if v is not None else None for k, v in row.items()}))
            f.write("\n")
    csv_summary = None
    for source in ("parquet:export.parquet", "jsonl:export.jsonl"):
        out = _map(tmp_path, source, "--force")
        mapping = load_mapping(out)
        assert mapping.model.clients.id == "customer_id", source
        assert mapping.model.facts == EXPECTED_RENAMES, source
        summary = _run(tmp_path, source, out)
        assert summary["clients"] == 20, source
        if csv_summary is not None:
            assert _outcomes(summary) == csv_summary
        csv_summary = _outcomes(summary)
        assert _actions(summary)["welcome_call"] == 2


def _sample_entries(path: Path, facts: set[str]) -> dict[str, object]:
    """A mapping's entries for `facts`: columns and aggregates as plain data."""
    model = load_mapping(path).model
    found: dict[str, object] = {f: c for f, c in model.facts.items() if f in facts}
    found |= {f: a.model_dump() for f, a in model.aggregates.items() if f in facts}
    return found


@pytest.fixture(scope="module")
def sample_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("crm") / "crm.db", clients=1500, seed=5)


def _pack_inputs() -> set[str]:
    from tierwise.pack.build import load_pack
    from tierwise.plugins.manager import function_registry

    return set(load_pack(RULES, function_registry()).inputs)


def test_on_the_sample_crm_it_proposes_what_its_mapping_says(
    sample_crm: Path, tmp_path: Path
) -> None:
    out = _map(tmp_path, f"sqlite:///{sample_crm}")
    inputs = _pack_inputs()
    assert _sample_entries(out, inputs) == _sample_entries(SAMPLE_MAPPING, inputs)
    text = out.read_text()
    assert "# sure: counts the rows of support_tickets; filtered by kind = 'complaint'" in text
    assert "Not found" not in text  # every input of the shipped packs has a source
    summary = _run(tmp_path, f"sqlite:///{sample_crm}", out, "--as-of", str(SAMPLE_END))
    tiers = _outcomes(summary)["pricing_tier"]
    assert len(tiers) > 2  # real tiers, not only the default


def _copy_to(url: str, sqlite_file: Path) -> None:
    """The sample CRM's tables and rows (dates as text, as SQLite has them) in `url`."""
    source = connect(f"sqlite:///{sqlite_file}")
    meta = sa.MetaData()
    meta.reflect(source)
    target = connect(url)
    meta.create_all(target)
    with source.connect() as read, target.begin() as write:
        for table in meta.sorted_tables:
            rows = [dict(r) for r in read.execute(sa.select(table)).mappings()]
            if rows:
                write.execute(sa.insert(table), rows)
    source.dispose()
    target.dispose()


def test_on_postgresql_it_proposes_what_it_does_on_sqlite(postgres_db: str, tmp_path: Path) -> None:
    sample_crm = generate(tmp_path / "clean.db", clients=1500, seed=5, dirty_share=0.0)
    _copy_to(postgres_db, sample_crm)  # PostgreSQL's typed columns take no dirty values
    (tmp_path / "pg").mkdir()
    on_pg = _map(tmp_path / "pg", postgres_db)
    on_sqlite = _map(tmp_path, f"sqlite:///{sample_crm}")
    inputs = _pack_inputs()
    assert _sample_entries(on_pg, inputs) == _sample_entries(on_sqlite, inputs)
    password = sa.engine.make_url(postgres_db).password
    assert password and str(password) not in on_pg.read_text()  # shown as ***
    summary = _run(tmp_path, postgres_db, on_pg, "--as-of", str(SAMPLE_END))
    assert summary["clients"] == 1500
    assert len(_outcomes(summary)["pricing_tier"]) > 2


def test_a_fact_whose_column_holds_other_values_is_not_proposed(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text(
        "client_id,nps,channel\nc1,great,email\nc2,poor,sms\nc3,fine,phone\n"
    )
    out = _map(tmp_path, "csv:clients.csv")
    model = load_mapping(out).model
    assert "nps_last" not in model.facts  # words, not scores from 0 to 10
    assert model.facts["preferred_channel"] == "channel"  # its values are the fact's
    assert "nps_last (integer): 2 rule(s) cannot fire without it" in out.read_text()


def test_a_custom_pack_and_stdout(tmp_path: Path) -> None:
    rules = write_pack(tmp_path)
    (tmp_path / "clients.csv").write_text("Kundennummer,CLV_EUR,Segment\nk1,12000,business\n")
    done = tierwise("map", "csv:clients.csv", "--rules", str(rules), cwd=tmp_path)
    assert done.code == 0, done.err
    assert "clients:\n  # named like an id" not in done.out  # Kundennummer is not id-like
    assert "segment: Segment" in done.out and "clv: CLV_EUR" in done.out
    assert "no id column found" in done.err


def test_what_cannot_be_mapped_is_a_message_never_a_traceback(
    sample_crm: Path, tmp_path: Path
) -> None:
    done = tierwise("map", "csv:missing.csv", cwd=tmp_path)
    assert done.code == 1 and "no such file: missing.csv" in done.err
    assert "Traceback" not in done.err
    done = tierwise("map", f"sqlite:///{sample_crm}", "--table", "clientz", cwd=tmp_path)
    assert done.code == 1 and "has no table 'clientz' (tables: clients, orders" in done.err
    done = tierwise("map", "ftp://crm", cwd=tmp_path)
    assert done.code == 1 and "cannot look into this kind of source" in done.err
    (tmp_path / "mapping.yaml").write_text("# mine, edited\n")
    shutil.copy(EXPORT, tmp_path / "e.csv")
    done = tierwise("map", "csv:e.csv", "--out", "mapping.yaml", cwd=tmp_path)
    assert done.code == 2 and "mapping.yaml exists: give --force" in done.err
    assert (tmp_path / "mapping.yaml").read_text() == "# mine, edited\n"  # nothing lost
    with sqlite3.connect(tmp_path / "empty.db"):
        pass
    done = tierwise("map", "sqlite:///empty.db", cwd=tmp_path)
    assert done.code == 1 and "the database has no tables" in done.err


def test_names_are_read_as_a_crm_writes_them() -> None:
    assert words("lastOrderDate") == words("last_order_date") == ["last", "order", "date"]
    assert words("Total Spend (EUR)") == ["total", "spend", "eur"]
    assert words("sign_up_date") == ["signup", "date"]
    assert window_days("12m") == 365 and window_days("90d") == 90 and window_days("2y") == 730
    assert sense("revenue_last_24_months").window == 730
    assert sense("total_spend").concepts == sense("revenue_total").concepts == {"revenue"}
    assert sense("first_purchase_at").function == "first" and sense("nps").function is None


def test_parquet_mapping_errors_name_the_mapping_place(tmp_path: Path) -> None:
    pq.write_table(pa.table({"customer": ["a"], "spend": [1.0]}), tmp_path / "c.parquet")
    (tmp_path / "m.yaml").write_text("clients: {id: customer}\nfacts:\n  revenue_total: spent\n")
    done = tierwise(
        "run", "--source", "parquet:c.parquet", "--mapping", "m.yaml", "--out", "d.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 1
    assert "m.yaml:3:18: c.parquet has no column 'spent' (columns: customer, spend)" in done.err


def test_a_rare_status_beyond_the_sampled_rows_still_filters(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE clients (id INTEGER PRIMARY KEY, signup_date TEXT)")
        db.execute(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, client_id INTEGER, kind TEXT, "
            "status TEXT, opened_at TEXT)"
        )
        db.executemany("INSERT INTO clients VALUES (?, '2024-01-01')", [(i,) for i in range(50)])
        rows = [(i, i % 50, "complaint", "closed" if i < 1500 else "open", "2025-06-01")
                for i in range(1520)]  # fmt: skip
        db.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?)", rows)
    out = _map(tmp_path, "sqlite:///crm.db")
    spec = load_mapping(out).model.aggregates["open_complaints"]
    assert (spec.table, spec.function) == ("tickets", "count")
    assert spec.where == {"kind": "complaint", "status": "open"}  # 'open' is in no sampled row
