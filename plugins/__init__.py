"""tierwise.plugins: hook specifications, the plugin manager and the built-in plugins."""

from .manager import get_plugin_manager, hookimpl

__all__ = ["get_plugin_manager", "hookimpl"]
