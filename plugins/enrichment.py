"""Enrichment plugins on the per-client paths: facts that only a plugin can bring (an
outside service's), added to each client before validation. The SQL path cannot call a
plugin: the choice of path (tierwise.paths, fed by manager.enrichments) refuses it for a
pack that reads what a plugin gives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pluggy

from tierwise.runtime.facts import UnreadableClient

from .manager import safe_call


class PluginEnrichment:
    """The enrichment hooks of one plugin manager, called safely for one client at a time."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.hook = pm.hook.tierwise_enrich_facts

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


def enrichment(pm: pluggy.PluginManager) -> PluginEnrichment | None:
    """The manager's enrichment, or None when no plugin enriches facts."""
    return PluginEnrichment(pm) if pm.hook.tierwise_enrich_facts.get_hookimpls() else None
