"""tierwise: decide how to treat each client from rule files analysts can read."""

from typing import TYPE_CHECKING, Any

from tierwise.errors import Pos, RuleError, RulePackError, TierwiseError
from tierwise.functions import Function, FunctionRegistry
from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome
from tierwise.runtime.engine import Engine

if TYPE_CHECKING:
    from tierwise.batch.table import decide_table

__all__ = [
    "DecisionResult",
    "Engine",
    "Explanation",
    "FactError",
    "Function",
    "FunctionRegistry",
    "Outcome",
    "Pos",
    "RuleError",
    "RulePackError",
    "TierwiseError",
    "decide_table",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`decide_table` loads the batch path (SQLAlchemy, DuckDB) on first use, so that
    `import tierwise` for the per-client path does not pay for it (it doubles import time)."""
    if name == "decide_table":
        from tierwise.batch.table import decide_table

        return decide_table
    raise AttributeError(f"module 'tierwise' has no attribute {name!r}")
