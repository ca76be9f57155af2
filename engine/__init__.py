"""tierwise: decide how to treat each client from rule files analysts can read."""

from .engine import Engine
from .errors import Pos, RuleError, RulePackError, TierwiseError
from .functions import Function, FunctionRegistry
from .outcome import DecisionResult, Explanation, FactError, Outcome

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
]
__version__ = "0.1.0"
