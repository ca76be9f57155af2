"""The built-in adapters (files and SQL databases), registered through the same
`tierwise_adapters` hook as a third-party CRM connector would be. Factories import their
modules on first use, so commands that read no source stay quick to start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .manager import hookimpl


def open_csv(url: str, mapping: str | Path | None = None) -> Any:
    """`csv:path`: a CSV file with a header row."""
    from tierwise.adapters.files import open_csv

    return open_csv(url, mapping)


def open_jsonl(url: str, mapping: str | Path | None = None) -> Any:
    """`jsonl:path` or `jsonl:-` (stdin): one JSON object per line."""
    from tierwise.adapters.files import open_jsonl

    return open_jsonl(url, mapping)


def open_sql(url: str, mapping: str | Path | None = None) -> Any:
    """`sqlite:///file.db`, `postgresql://user:pw@host/db`: a CRM database."""
    from tierwise.adapters.sql import open_sql

    return open_sql(url, mapping)


@hookimpl
def tierwise_adapters() -> Mapping[str, Callable[..., Any]]:
    return {
        "csv": open_csv,
        "jsonl": open_jsonl,
        "sqlite": open_sql,
        "postgresql": open_sql,
        "postgres": open_sql,
    }
