"""tierwise.plugins: hook specifications, the plugin manager and the built-in plugins."""

from .manager import function_registry, get_plugin_manager, hookimpl

__all__ = ["function_registry", "get_plugin_manager", "hookimpl"]
