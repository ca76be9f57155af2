"""The batch path: a pack compiled to one SQL query, run by DuckDB over tables or pushed
down into a CRM's own SQLite or PostgreSQL, and `decide_table`, which picks the path."""

from tierwise.batch.compiler import ERRORS_COLUMN, PushdownError
from tierwise.batch.engine import BatchEngine, BatchError
from tierwise.batch.table import TableOutcomes, decide_table

__all__ = [
    "ERRORS_COLUMN",
    "BatchEngine",
    "BatchError",
    "PushdownError",
    "TableOutcomes",
    "decide_table",
]
