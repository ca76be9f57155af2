"""docs/mapping.md is the mapping file's reference: every key the loader accepts (and every
aggregate function) is documented in its section, and each example, one per source kind,
loads with the loader and fits its source (the columns and tables it names exist)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from tierwise.adapters.files import CsvSource, open_parquet_table
from tierwise.adapters.mapping import (
    AggregateFunction,
    AggregateSpec,
    ClientsTable,
    MappingModel,
    WritebackSpec,
    load_mapping,
)
from tierwise.adapters.sample_crm import generate
from tierwise.adapters.sql import open_sql
from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "mapping.md").read_text()
EXAMPLE = re.compile(r"<!-- example: (\w+)(?: (\S+))? -->\n```yaml\n(.*?)```", re.S)
KINDS = {"csv", "jsonl", "parquet", "sqlite", "postgresql"}


def _section(key: str) -> str:
    """The reference section of a top-level key (`### \\`key\\`: ...` to the next heading)."""
    match = re.search(rf"^### `{key}`.*?(?=^##)", DOC, re.S | re.M)
    assert match, f"docs/mapping.md has no section for `{key}`"
    return match.group(0)


def _keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def test_every_key_the_loader_accepts_is_documented() -> None:
    assert _keys(MappingModel) == ["clients", "facts", "aggregates", "writeback"]
    sections = {"clients": ClientsTable, "aggregates": AggregateSpec, "writeback": WritebackSpec}
    for top in _keys(MappingModel):
        text = _section(top)
        for key in _keys(sections[top]) if top in sections else []:
            assert f"| `{key}` |" in text, f"{top}.{key} is not in docs/mapping.md"
    first_cells = [
        row.split("|")[1] for row in _section("aggregates").splitlines() if row.startswith("| `")
    ]
    for function in typing.get_args(AggregateFunction):
        assert any(f"`{function}`" in cell for cell in first_cells), function


def test_there_is_an_example_for_every_source_kind() -> None:
    assert {kind for kind, _, _ in EXAMPLE.findall(DOC)} == KINDS


@pytest.fixture(scope="module")
def inputs() -> dict[str, typing.Any]:
    return load_pack(ROOT / "rules", function_registry()).inputs


@pytest.mark.parametrize("kind,source,text", EXAMPLE.findall(DOC), ids=lambda x: str(x)[:12])
def test_each_example_loads_and_fits_its_source(
    kind: str, source: str, text: str, inputs: dict[str, typing.Any], tmp_path: Path
) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    mapping = load_mapping(path)
    mapping.check_facts(inputs)  # every fact named is one the shipped packs declare
    if kind == "csv":
        CsvSource(f"csv:{ROOT / source}", mapping).table_columns(inputs)
    elif kind == "parquet":
        table = tmp_path / "export.parquet"
        pq.write_table(pacsv.read_csv(ROOT / source), table)
        open_parquet_table(f"parquet:{table}", path).table_columns(inputs)
    elif kind == "sqlite":
        crm = generate(tmp_path / "crm.db", clients=50)
        opened = open_sql(f"sqlite:///{crm}", path)  # tables and columns checked
        assert opened.writeback is not None
        opened.close()
