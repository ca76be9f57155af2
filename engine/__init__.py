"""tierwise: decide how to treat each client from rule files analysts can read.

The public names are loaded on first use (PEP 562), so that `import tierwise`, and the
command line's `--version` and `--help`, pay for nothing they do not use; `decide_table`
loads the batch path (SQLAlchemy, DuckDB) only when called.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierwise.batch.table import decide_table
    from tierwise.errors import Pos, RuleError, RulePackError, TierwiseError
    from tierwise.functions import Function, FunctionRegistry
    from tierwise.outcome import DecisionResult, Explanation, FactError, Outcome
    from tierwise.profile import Profile, ProfileError
    from tierwise.runtime.engine import Engine

_HOMES = {
    "DecisionResult": "tierwise.outcome",
    "Engine": "tierwise.runtime.engine",
    "Explanation": "tierwise.outcome",
    "FactError": "tierwise.outcome",
    "Function": "tierwise.functions",
    "FunctionRegistry": "tierwise.functions",
    "Outcome": "tierwise.outcome",
    "Pos": "tierwise.errors",
    "Profile": "tierwise.profile",
    "ProfileError": "tierwise.profile",
    "RuleError": "tierwise.errors",
    "RulePackError": "tierwise.errors",
    "TierwiseError": "tierwise.errors",
    "decide_table": "tierwise.batch.table",
}
"""Each public name and the module it lives in."""

__all__ = [
    "DecisionResult",
    "Engine",
    "Explanation",
    "FactError",
    "Function",
    "FunctionRegistry",
    "Outcome",
    "Pos",
    "Profile",
    "ProfileError",
    "RuleError",
    "RulePackError",
    "TierwiseError",
    "decide_table",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tierwise' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
