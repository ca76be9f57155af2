"""tierwise.plugins: hook specifications, the plugin manager and the built-in plugins
(the manager's names are loaded on first use, so the command line starts fast)."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import function_registry, get_plugin_manager, hookimpl

__all__ = ["function_registry", "get_plugin_manager", "hookimpl"]


def __getattr__(name: str) -> Any:
    """A name of the plugin manager, imported on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'tierwise.plugins' has no attribute {name!r}")
    return getattr(import_module("tierwise.plugins.manager"), name)
