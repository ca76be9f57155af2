"""What a source holds, looked at before any mapping exists: its tables (one for a CSV,
JSONL or Parquet file), their columns with a sample of values, primary keys, and the
columns that refer to another table's rows (foreign keys, or `client_id`-like names), so
that per-client aggregates over an orders or tickets table can be proposed."""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from tierwise.lang.types import FactType
from tierwise.lang.values import ReadError, read

from .base import AdapterError

SAMPLE_ROWS = 1000
"""Rows read from each table to judge its columns' values."""
LEVELS = 12
"""A text column with at most this many distinct values is a set of levels (a status, a
kind): a database is asked for all of them, so a rare one (`open`) is not missed."""


@dataclass(frozen=True)
class ColumnShape:
    """One column: its name and the non-null values sampled from it."""

    name: str
    values: tuple[Any, ...]
    nulls: int = 0
    all_levels: frozenset[str] | None = None
    """Every distinct value of the whole column, where the source was asked (databases)."""
    _shares: dict[FactType, float | None] = field(default_factory=dict, compare=False, repr=False)

    def readable(self, ftype: FactType) -> float | None:
        """The share of sampled values that read as `ftype` and lie in its domain (enum,
        range); None when the sample has no value. Computed once per type."""
        if ftype not in self._shares:
            self._shares[ftype] = self._share(ftype)
        return self._shares[ftype]

    def _share(self, ftype: FactType) -> float | None:
        if not self.values:
            return None
        good = 0
        for value in self.values:
            try:
                fact = read(value, ftype)
            except ReadError:
                continue
            if fact is None or _in_domain(fact, ftype):
                good += 1
        return good / len(self.values)

    @property
    def distinct(self) -> set[str]:
        """The distinct sampled values, as text."""
        return {str(v) for v in self.values}

    @property
    def levels(self) -> set[str] | None:
        """The column's values when it is a set of levels (text, at most LEVELS of them):
        every one of the whole column where known, else those sampled; None otherwise."""
        if not self.values or not all(isinstance(v, str) for v in self.values):
            return None
        found = set(self.all_levels) if self.all_levels is not None else self.distinct
        return found if len(found) <= LEVELS else None

    @property
    def unique(self) -> bool:
        """Whether every sampled row has its own value (and none is null)."""
        return bool(self.values) and not self.nulls and len(self.distinct) == len(self.values)


def _in_domain(fact: Any, ftype: FactType) -> bool:
    """Whether a value read as `ftype` lies in its declared enum or range."""
    if ftype.enum is not None:
        return fact in ftype.enum
    if isinstance(fact, int | float) and not isinstance(fact, bool):
        low_ok = ftype.minimum is None or fact >= ftype.minimum
        return low_ok and (ftype.maximum is None or fact <= ftype.maximum)
    return True


@dataclass(frozen=True)
class TableShape:
    """One table: its columns, its primary key, and the columns that refer to another
    table (column -> the table it refers to)."""

    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: str | None = None
    references: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> ColumnShape:
        """The column called `name`."""
        return next(c for c in self.columns if c.name == name)

    @property
    def rows(self) -> int:
        """Rows sampled."""
        return max((len(c.values) + c.nulls for c in self.columns), default=0)


@dataclass(frozen=True)
class SourceShape:
    """A source as `tierwise map` sees it: its URL, kind (file or database) and tables."""

    url: str
    kind: str
    tables: tuple[TableShape, ...]

    def table(self, name: str) -> TableShape:
        """The table called `name`."""
        return next(t for t in self.tables if t.name == name)


def _columns(rows: list[dict[str, Any]], names: list[str]) -> tuple[ColumnShape, ...]:
    """Column shapes from sampled rows (empty text counts as null, as sources read it)."""
    out = []
    for name in names:
        values = [row.get(name) for row in rows]
        present = tuple(
            v for v in values if v is not None and not (isinstance(v, str) and not v.strip())
        )
        out.append(ColumnShape(name, present, len(values) - len(present)))
    return tuple(out)


def _file_path(url: str) -> Path:
    """The file a `csv:`, `jsonl:` or `parquet:` URL names; an error if there is none."""
    rest = url.split(":", 1)[1]
    path = Path(rest[2:] if rest.startswith("//") else rest)
    if not path.is_file():
        raise AdapterError(f"{url}: no such file: {path}")
    return path


def _csv_shape(url: str) -> SourceShape:
    """A CSV file's header and first rows."""
    path = _file_path(url)
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f)
            rows = [dict(r) for r in itertools.islice(reader, SAMPLE_ROWS)]
            names = list(reader.fieldnames or [])
    except csv.Error as e:
        raise AdapterError(f"{path}: not a CSV file: {e}") from None
    return SourceShape(url, "file", (TableShape(path.stem, _columns(rows, names)),))


def _jsonl_shape(url: str) -> SourceShape:
    """A JSON-lines file's first objects, their keys as columns."""
    path = _file_path(url)
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = {}
    with path.open("rb") as f:
        for line in itertools.islice(f, SAMPLE_ROWS):
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a broken line is that client's error when the run reads it
            if isinstance(row, dict):
                rows.append(row)
                names.update(dict.fromkeys(row))
    return SourceShape(url, "file", (TableShape(path.stem, _columns(rows, list(names))),))


def _parquet_shape(url: str) -> SourceShape:
    """A Parquet file's schema and first rows, values as their types give them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _file_path(url)
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise AdapterError(f"{path}: not a Parquet file: {e}") from None
    names = list(file.schema_arrow.names)
    batch = next(file.iter_batches(batch_size=SAMPLE_ROWS), None)
    rows = batch.to_pylist() if batch is not None else []
    return SourceShape(url, "file", (TableShape(path.stem, _columns(rows, names)),))


def _sql_shape(url: str) -> SourceShape:
    """A database's tables: columns, first rows, primary keys and foreign keys."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    from .db import connect, reason, safe_url
    from .sql import check_sqlite_file

    check_sqlite_file(url)
    engine = connect(url, undecodable=True)
    shown = safe_url(url)
    try:
        inspector = sa.inspect(engine)
        tables = []
        with engine.connect() as conn:
            for name in sorted(inspector.get_table_names()):
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                rows = conn.execute(sa.select(table).limit(SAMPLE_ROWS)).mappings().all()
                keys = [str(c.name) for c in table.primary_key.columns]
                refs = {
                    str(fk["constrained_columns"][0]): str(fk["referred_table"])
                    for fk in inspector.get_foreign_keys(name)
                    if len(fk["constrained_columns"]) == 1
                }
                sampled = _columns([dict(r) for r in rows], [str(c.name) for c in table.columns])
                shape = TableShape(
                    str(name),
                    tuple(_with_levels(conn, table, c) for c in sampled),
                    keys[0] if len(keys) == 1 else None,
                    refs,
                )
                tables.append(shape)
    except DBAPIError as e:
        raise AdapterError(f"{shown}: cannot read the database: {reason(e)}") from None
    finally:
        engine.dispose()
    if not tables:
        raise AdapterError(f"{shown}: the database has no tables")
    return SourceShape(shown, "database", tuple(tables))


def _with_levels(conn: Any, table: Any, column: ColumnShape) -> ColumnShape:
    """A sampled text column of few values, with every distinct value of the whole column."""
    import sqlalchemy as sa

    if column.levels is None:
        return column
    query = sa.select(table.c[column.name]).distinct().limit(LEVELS + 1)
    found = frozenset(str(v) for (v,) in conn.execute(query) if v is not None)
    return replace(column, all_levels=found)


def source_shape(url: str) -> SourceShape:
    """Look at the source at `url` (the URLs `tierwise run --source` takes)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""
    readers = {"csv": _csv_shape, "jsonl": _jsonl_shape, "parquet": _parquet_shape}
    if scheme in readers:
        return readers[scheme](url)
    if scheme in ("sqlite", "postgresql", "postgres"):
        return _sql_shape(url)
    raise AdapterError(
        f"{url}: cannot look into this kind of source (give csv:, jsonl:, parquet:, "
        "sqlite:/// or postgresql://)"
    )
