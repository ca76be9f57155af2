"""The standard functions of the rule language: general ones (days_since, min, round...)
and the client metrics of relationship marketing (lifetime value, recency, RFM bands...).

Each has a Python form, the reference, and an SQL form for the batch path, loaded only
when a pack is compiled to SQL. `standard_functions()` is what `Engine.from_path` uses
when no registry is handed in; plugins add more through the `tierwise_functions` hook.
"""

from __future__ import annotations

from tierwise.functions import Function, FunctionRegistry
from tierwise.stdlib.crm import CRM_FUNCTIONS
from tierwise.stdlib.general import GENERAL_FUNCTIONS

FUNCTIONS: tuple[Function, ...] = (*GENERAL_FUNCTIONS, *CRM_FUNCTIONS)


def standard_functions() -> FunctionRegistry:
    """A registry of the standard functions."""
    return FunctionRegistry(FUNCTIONS)


__all__ = ["FUNCTIONS", "standard_functions"]
