"""The plugin manager: built-in plugins first, then every entry point in group `tierwise`."""

from __future__ import annotations

import pluggy

from tierwise.functions import FunctionRegistry

from . import hookspecs

hookimpl = pluggy.HookimplMarker("tierwise")

BUILTINS = (
    "tierwise.plugins.builtin_functions",
    "tierwise.plugins.builtin_cli",
    "tierwise.plugins.crm_functions",
)


def get_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager with the built-in plugins and the installed ones registered."""
    import importlib

    pm = pluggy.PluginManager("tierwise")
    pm.add_hookspecs(hookspecs)
    for name in BUILTINS:
        pm.register(importlib.import_module(name), name=name)
    pm.load_setuptools_entrypoints("tierwise")
    return pm


def function_registry(pm: pluggy.PluginManager | None = None) -> FunctionRegistry:
    """Every function that the loaded plugins provide, checked for duplicate names."""
    pm = pm or get_plugin_manager()
    registry = FunctionRegistry()
    for functions in pm.hook.tierwise_functions():
        for f in functions:
            registry.add(f)
    return registry
