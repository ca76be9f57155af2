"""Enrichment plugins on the per-client paths: facts that only a plugin can bring (an
outside service's), added to each client before validation, and which paths must refuse.

A plugin implements `tierwise_enrich_facts` and says which facts it gives through
`tierwise_enriched_facts`; the SQL path cannot call a plugin, so it refuses a pack that
reads any of those facts (or any fact at all, when a plugin does not say which it gives).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pluggy

from tierwise.pack.ir import Pack
from tierwise.runtime.facts import UnreadableClient

from .manager import safe_call


class PluginEnrichment:
    """The enrichment hooks of one plugin manager, called safely for one client at a time."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.hook = pm.hook.tierwise_enrich_facts
        self.plugins = tuple(impl.plugin_name for impl in self.hook.get_hookimpls())
        declared, _ = safe_call(pm.hook.tierwise_enriched_facts)
        by_plugin = {impl.plugin_name for impl in pm.hook.tierwise_enriched_facts.get_hookimpls()}
        self.undeclared = tuple(p for p in self.plugins if p not in by_plugin)
        self.provides = frozenset(name for names in declared for name in names)

    def enrich(
        self, record: Mapping[str, Any], as_of: dt.date, profile: Mapping[str, Any]
    ) -> dict[str, Any] | UnreadableClient:
        """The client's facts with the plugins' facts merged over them; a plugin that raises
        makes the client an error naming the plugin."""
        extra, failures = safe_call(self.hook, facts=record, as_of=as_of, profile=profile)
        if failures:
            cid = record.get("client_id")
            return UnreadableClient(
                None if cid is None else str(cid), tuple(f.as_fact_error() for f in failures)
            )
        merged = dict(record)
        for more in extra:
            merged.update(more)
        return merged

    def all(
        self, records: Iterable[Any], as_of: dt.date, profile: Mapping[str, Any]
    ) -> Iterator[Any]:
        """`records` enriched one at a time; unreadable ones pass through."""
        for record in records:
            yield record if not isinstance(record, Mapping) else self.enrich(record, as_of, profile)

    def sql_blocker(self, pack: Pack) -> str | None:
        """Why the SQL path cannot decide `pack` with these plugins loaded, or None."""
        if self.undeclared:
            return (
                f"plugin(s) {', '.join(self.undeclared)} enrich facts without saying which "
                "(tierwise_enriched_facts), and the SQL path cannot call them: use "
                "--engine durable"
            )
        reads = set(pack.inputs)
        wanted = sorted(self.provides & reads)
        if wanted:
            return (
                f"plugin(s) {', '.join(self.plugins)} give {', '.join(wanted)}, which the SQL "
                "path cannot compute: use --engine durable"
            )
        return None


def enrichment(pm: pluggy.PluginManager) -> PluginEnrichment | None:
    """The manager's enrichment, or None when no plugin enriches facts."""
    return PluginEnrichment(pm) if pm.hook.tierwise_enrich_facts.get_hookimpls() else None
