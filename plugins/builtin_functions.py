"""The standard functions (tierwise.stdlib), registered through the same hook as any
plugin's functions, so `tierwise plugins` lists them and a registry built from the plugin
manager has them."""

from __future__ import annotations

from tierwise.functions import Function
from tierwise.stdlib import FUNCTIONS

from .manager import hookimpl


@hookimpl
def tierwise_functions() -> list[Function]:
    return list(FUNCTIONS)
