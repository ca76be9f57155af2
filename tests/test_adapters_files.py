"""File sources: CSV and JSON lines (also from stdin), coerced to the pack's declared
types, a broken row as that client's error naming file and row, in constant memory."""

from __future__ import annotations

import datetime as dt
import io
import sys
import tracemalloc
from pathlib import Path

import pytest

from tierwise.adapters import AdapterError, UnreadableClient, open_source
from tierwise.lang.types import DATE, INTEGER, LIST, NUMBER, STRING, FactType
from tierwise.lang.values import HINTS, ReadError, read

TYPES: dict[str, FactType] = {
    "clv": NUMBER,
    "purchases_per_year": INTEGER,
    "last_purchase_at": DATE,
    "channels": LIST,
    "segment": STRING,
}
AS_OF = dt.date(2026, 6, 30)


def test_csv_values_are_coerced_to_the_declared_types(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(
        "client_id,clv,purchases_per_year,last_purchase_at,channels,segment,notes\n"
        "c1,12000.5,7,2026-05-01,email; phone,b2b,likes tea\n"
        "c2,,,,,,\n"
    )
    records = list(open_source(f"csv:{path}").clients(AS_OF, TYPES))
    assert records == [
        {"client_id": "c1", "clv": 12000.5, "purchases_per_year": 7,
         "last_purchase_at": dt.date(2026, 5, 1), "channels": ["email", "phone"],
         "segment": "b2b", "notes": "likes tea"},
        {"client_id": "c2", "clv": None, "purchases_per_year": None, "last_purchase_at": None,
         "channels": None, "segment": None, "notes": ""},
    ]  # fmt: skip


def test_a_broken_csv_row_is_that_clients_error(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(
        "client_id,clv,purchases_per_year\nc1,100,2\nc2,lots,2.5\n,5,1\nc4,1,2,3\nc5,7,1\n"
    )
    records = list(open_source(f"csv:{path}").clients(AS_OF, TYPES))
    assert [r["client_id"] if isinstance(r, dict) else r.client_id for r in records] == [
        "c1", "c2", f"{path} row 4", "c4", "c5"
    ]  # fmt: skip
    broken = records[1]
    assert isinstance(broken, UnreadableClient)
    assert [(e.fact, e.message, e.value) for e in broken.errors] == [
        ("clv", f"{path} row 3: clv: 'lots' is not a number{HINTS['number']}", "lots"),
        (
            "purchases_per_year",
            f"{path} row 3: purchases_per_year: '2.5' is not an integer{HINTS['integer']}",
            "2.5",
        ),
    ]
    assert isinstance(records[2], UnreadableClient)
    assert records[2].errors[0].message == f"{path} row 4: no client_id"
    assert isinstance(records[3], UnreadableClient)
    assert records[3].errors[0].message == f"{path} row 5: 4 cells, the header has 3"


def test_a_mapping_renames_file_columns(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Kundennummer,CLV_EUR\nk-1,9000\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("clients: {id: Kundennummer}\nfacts: {clv: CLV_EUR}\n")
    (record,) = open_source(f"csv:{path}", mapping).clients(AS_OF, TYPES)
    assert record == {"client_id": "k-1", "clv": 9000.0, "Kundennummer": "k-1"}


def test_jsonl_lines_and_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "clients.jsonl"
    path.write_text(
        '{"client_id": 1, "clv": 100, "purchases_per_year": 3, "last_purchase_at": "2026-01-02"}\n'
        "\n"
        '{"client_id": "2", "clv": "12.5", "channels": ["web"]}\n'
        "{not json\n"
        "[1, 2]\n"
    )
    records = list(open_source(f"jsonl:{path}").clients(AS_OF, TYPES))
    assert records[:2] == [
        {
            "client_id": "1",
            "clv": 100.0,
            "purchases_per_year": 3,
            "last_purchase_at": dt.date(2026, 1, 2),
        },
        {"client_id": "2", "clv": 12.5, "channels": ["web"]},
    ]
    assert isinstance(records[2], UnreadableClient) and records[2].client_id == f"{path} line 4"
    assert records[2].errors[0].message.startswith(f"{path} line 4: bad JSON:")
    assert isinstance(records[3], UnreadableClient)
    assert records[3].errors[0].message == f"{path} line 5: expected a JSON object, got list"


def test_jsonl_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"id": "a", "clv": 5}\n{"id": "b", "clv": "x"}\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    records = list(open_source("jsonl:-").clients(AS_OF, TYPES))
    assert records[0] == {"client_id": "a", "id": "a", "clv": 5.0}
    assert isinstance(records[1], UnreadableClient)
    expected = f"stdin line 2: clv: 'x' is not a number{HINTS['number']}"
    assert records[1].errors[0].message == expected


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"csv:.*nothing\.csv: no such file: .*nothing\.csv"):
        open_source(f"csv:{tmp_path / 'nothing.csv'}")


def test_files_stream_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("client_id,clv,purchases_per_year,last_purchase_at\n")
        for i in range(10_000):
            f.write(f"c{i},{i * 1.5},{i % 12},2026-0{1 + i % 9}-1{i % 10}\n")
    source = open_source(f"csv:{path}")
    tracemalloc.start()
    count = 0
    for record in source.clients(AS_OF, TYPES):
        count += isinstance(record, dict)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 10_000
    # 10,000 records held at once would take megabytes; streaming holds about one row
    assert peak < 100_000, f"peak {peak} bytes"


def test_database_zero_one_becomes_a_bool() -> None:
    from tierwise.lang.types import BOOL

    assert read(1, BOOL) is True
    assert read(0, BOOL) is False
    with pytest.raises(ReadError, match="2 \\(int\\) is not a bool"):
        read(2, BOOL)


def test_an_empty_text_cell_is_a_missing_value() -> None:
    assert read("", FactType("string", enum=("a", "b"))) is None
    assert read("  ", FactType("string")) is None
    assert read(" a ", FactType("string")) == "a"
