"""The plugin manager: built-in plugins first, then every entry point in group `tierwise`
that the environment variable TIERWISE_PLUGINS allows; safe hook calls for per-client hooks."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, cast

import pluggy
from pluggy import HookCaller

from tierwise.errors import TierwiseError
from tierwise.functions import Function, FunctionRegistry
from tierwise.outcome import FactError
from tierwise.paths import Enrichment

from . import hookspecs

hookimpl = pluggy.HookimplMarker("tierwise")

BUILTINS = (
    "tierwise.plugins.builtin_functions",
    "tierwise.plugins.builtin_cli",
    "tierwise.plugins.builtin_adapters",
    "tierwise.plugins.builtin_commands",
    "tierwise.plugins.builtin_run",
    "tierwise.plugins.builtin_export",
    "tierwise.plugins.builtin_verify",
    "tierwise.plugins.builtin_serve",
    "tierwise.plugins.builtin_facts",
    "tierwise.plugins.builtin_map",
)

ENV = "TIERWISE_PLUGINS"
"""Comma-separated distribution or entry-point names: only these third-party plugins load.
Empty means none; unset means all installed ones. Built-in plugins always load."""

GROUP = "tierwise"


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A plugin: its name, where it comes from, the hooks it implements, and if it is not
    loaded, why (`excluded by TIERWISE_PLUGINS`, or the error that stopped its import)."""

    name: str
    origin: str
    hooks: tuple[str, ...]
    loaded: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin hook that raised for one call: which plugin, which hook, what error."""

    plugin: str
    hook: str
    error: BaseException

    def __str__(self) -> str:
        return f"plugin {self.plugin}: {self.hook} raised {type(self.error).__name__}: {self.error}"

    def as_fact_error(self) -> FactError:
        """The failure as a client error, so it is logged against the client."""
        return FactError(fact=f"plugin:{self.plugin}", message=str(self), value=None)


class PluginLoadError(TierwiseError):
    """An installed plugin that cannot be imported; raised by `require_loaded`."""


class TierwisePluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering where each plugin came from, which were excluded
    and which failed to import."""

    def __init__(self) -> None:
        super().__init__("tierwise")
        self.origins: dict[str, str] = {}
        self.excluded: dict[str, str] = {}
        self.failed: dict[str, tuple[str, str]] = {}

    def require_loaded(self) -> None:
        """Raise if a plugin failed to import: a run without it could decide wrongly."""
        if self.failed:
            raise PluginLoadError(
                "; ".join(
                    f"plugin {name} ({origin}) {why}" for name, (origin, why) in self.failed.items()
                )
                + f"; fix or uninstall it, or leave it out of {ENV}"
            )


def get_plugin_manager(*, builtins: bool = True) -> TierwisePluginManager:
    """A fresh manager: the built-in plugins, then the entry points of group `tierwise`
    that TIERWISE_PLUGINS allows. A plugin that fails to import is reported (a warning,
    `tierwise plugins`) and kept out; `require_loaded` lets a run refuse to go on.
    `builtins=False` loads only the installed plugins (the command line asks them for
    their commands without importing every built-in one)."""
    pm = TierwisePluginManager()
    pm.add_hookspecs(hookspecs)
    for name in BUILTINS if builtins else ():
        pm.register(importlib.import_module(name), name=name)
        pm.origins[name] = "built-in"
    allowed = _allowed()
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        origin = f"{dist} {version}"
        if pm.get_plugin(ep.name) is not None or ep.name in pm.excluded:
            continue
        if allowed is not None and not ({_normal(ep.name), _normal(dist)} & allowed):
            pm.excluded[ep.name] = origin
            continue
        try:
            plugin = ep.load()
        except Exception as e:
            why = f"cannot be loaded: {type(e).__name__}: {e}"
            pm.failed[ep.name] = (origin, why)
            warnings.warn(f"tierwise plugin {ep.name} ({origin}) {why}", stacklevel=2)
            continue
        pm.register(plugin, name=ep.name)
        pm.origins[ep.name] = origin
    return pm


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _allowed() -> set[str] | None:
    value = os.environ.get(ENV)
    if value is None:
        return None
    return {_normal(n) for n in value.split(",") if n.strip()}


def list_plugins(pm: TierwisePluginManager | None = None) -> list[PluginInfo]:
    """Every plugin: the loaded ones with the hooks each implements, then the excluded ones."""
    pm = pm or get_plugin_manager()
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or []))
        infos.append(PluginInfo(name, pm.origins.get(name, "registered in code"), hooks))
    excluded = f"excluded by {ENV}"
    infos += [PluginInfo(name, origin, (), False, excluded) for name, origin in pm.excluded.items()]
    infos += [PluginInfo(name, origin, (), False, why) for name, (origin, why) in pm.failed.items()]
    return infos


def safe_call(hook: HookCaller, **kwargs: Any) -> tuple[list[Any], list[PluginFailure]]:
    """Call every implementation of `hook`, each on its own: one that raises becomes a
    PluginFailure instead of stopping the others. Results exclude None, as pluggy's do."""
    results: list[Any] = []
    failures: list[PluginFailure] = []
    for impl in reversed(hook.get_hookimpls()):
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as e:
            failures.append(PluginFailure(impl.plugin_name, hook.name, e))
            continue
        if result is not None:
            results.append(result)
    return results, failures


def function_registry(pm: pluggy.PluginManager | None = None) -> FunctionRegistry:
    """Every function that the loaded plugins provide, checked for duplicate names (which
    name both plugins)."""
    pm = pm or get_plugin_manager()
    registry = FunctionRegistry()
    for impl in pm.hook.tierwise_functions.get_hookimpls():
        functions = cast("list[Function]", impl.function() or [])
        for f in functions:
            registry.add(
                f
                if f.plugin != "builtin" or impl.plugin_name in BUILTINS
                else replace(f, plugin=impl.plugin_name)
            )
    return registry


def enrichments(pm: pluggy.PluginManager) -> list[Enrichment]:
    """Every plugin that enriches clients' facts, with the facts it says it may add
    (`tierwise_enriched_facts`; None when it does not say), for the choice of path."""
    declared = {
        impl.plugin_name: frozenset(cast("list[str]", impl.function() or []))
        for impl in pm.hook.tierwise_enriched_facts.get_hookimpls()
    }
    return [
        Enrichment(impl.plugin_name, declared.get(impl.plugin_name))
        for impl in pm.hook.tierwise_enrich_facts.get_hookimpls()
    ]
