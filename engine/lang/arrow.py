"""The Arrow type of each kind of fact, for the tables the paths read and write (a diff's
clients, facts tables): dates stay dates and datetimes instants in UTC."""

from __future__ import annotations

from typing import Any

from tierwise.lang.types import FactType


def arrow_type(t: FactType) -> Any:
    """The pyarrow type that holds facts of type `t` (text, enums included, as strings)."""
    import pyarrow as pa

    return {
        "number": pa.float64(),
        "integer": pa.int64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "list": pa.list_(pa.string()),
    }.get(t.kind, pa.string())
