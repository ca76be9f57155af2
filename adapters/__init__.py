"""tierwise.adapters: where clients' facts come from and where outcomes go.

`open_source(url, mapping=None)` opens a Source by URL scheme (`csv:`, `jsonl:`,
`sqlite:///`, `postgresql://`, or any scheme a plugin adds through `tierwise_adapters`);
`DecisionLog` stores runs and outcomes; `tierwise.adapters.job.run_job` ties them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import pluggy

from .base import ID_KEY, AdapterError, Record, Source, UnreadableClient

if TYPE_CHECKING:
    from .log import DecisionLog


def __getattr__(name: str) -> object:
    """`DecisionLog` imported on first use: the log's database layer (SQLAlchemy, SQLModel)
    is heavy, and the commands that only look at a source or a pack never need it."""
    if name == "DecisionLog":
        from .log import DecisionLog

        return DecisionLog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def adapters(pm: pluggy.PluginManager | None = None) -> dict[str, object]:
    """URL scheme -> source factory, from every plugin (a scheme given twice is an error)."""
    from tierwise.plugins.manager import get_plugin_manager

    pm = pm or get_plugin_manager()
    found: dict[str, tuple[str, object]] = {}
    for impl in reversed(pm.hook.tierwise_adapters.get_hookimpls()):
        provided = cast("dict[str, object]", impl.function() or {})
        for scheme, factory in provided.items():
            if scheme in found and found[scheme][1] is not factory:
                raise AdapterError(
                    f"URL scheme {scheme!r} is registered twice (by {found[scheme][0]} "
                    f"and by {impl.plugin_name})"
                )
            found[scheme] = (impl.plugin_name, factory)
    return {scheme: factory for scheme, (_, factory) in found.items()}


def open_source(
    url: str, mapping: str | Path | None = None, *, pm: pluggy.PluginManager | None = None
) -> Source:
    """Open the source at `url`; `mapping` is the mapping file (YAML) for that source."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""
    known = adapters(pm)
    factory = known.get(scheme)
    if factory is None:
        schemes = ", ".join(sorted(f"{s}:" for s in known))
        raise AdapterError(
            f"{url}: unknown source kind {scheme + ': ' if scheme else ''}(known: {schemes})"
        )
    return factory(url, mapping)  # type: ignore[operator]


__all__ = [
    "ID_KEY",
    "AdapterError",
    "DecisionLog",
    "Record",
    "Source",
    "UnreadableClient",
    "adapters",
    "open_source",
]
