"""Read a whole table of clients into memory, from a file path or a source URL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tierwise.adapters.base import AdapterError
from tierwise.errors import TierwiseError
from tierwise.lang.types import FactType


def read_clients(
    source: str,
    types: Mapping[str, FactType],
    as_of: dt.date,
    mapping: str | Path | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Clients from a CSV/JSONL/Parquet file or a source URL (`csv:`, `sqlite:///`...),
    coerced to the declared types; returns (clients, number of unreadable rows)."""
    path = Path(source)
    if path.suffix.lower() == ".parquet" and path.is_file():
        return _read_parquet(path, types)
    url = source
    if path.is_file() and path.suffix.lower() in (".csv", ".jsonl", ".ndjson", ".json"):
        url = ("csv:" if path.suffix.lower() == ".csv" else "jsonl:") + source
    from tierwise.adapters import open_source
    from tierwise.runtime.facts import UnreadableClient

    try:
        src = open_source(url, mapping)
    except TierwiseError as e:
        raise AdapterError(f"--source {source}: {e}") from None
    clients, broken = [], 0
    try:
        for record in src.clients(as_of, types):
            if isinstance(record, UnreadableClient):
                broken += 1
            else:
                clients.append(record)
    except TierwiseError as e:  # a mapping that names no column of the file, a dead database
        raise AdapterError(f"--source {source}: {e}") from None
    finally:
        src.close()
    return clients, broken


def _read_parquet(path: Path, types: Mapping[str, FactType]) -> tuple[list[dict[str, Any]], int]:
    import pyarrow.parquet as pq

    from tierwise.lang.values import read

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:
        raise AdapterError(f"{path}: cannot read Parquet: {e}") from None
    clients, broken = [], 0
    for i, row in enumerate(rows, start=1):
        try:
            facts = {k: read(v, types[k]) if k in types else v for k, v in row.items()}
        except ValueError:
            broken += 1
            continue
        facts["client_id"] = str(row.get("client_id", row.get("id", f"row {i}")))
        clients.append(facts)
    return clients, broken


# -- deciding ------------------------------------------------------------------------------
