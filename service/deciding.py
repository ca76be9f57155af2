"""Deciding for the service: facts (given, or read by id), enrichment, the engine, the
answer's JSON and the served-decision log, for one client or a batch; HTTP-free."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pluggy
from pydantic import ValidationError

from tierwise.outcome import FactError, Outcome, new_outcome
from tierwise.plugins.manager import safe_call
from tierwise.runtime.facts import UnreadableClient

from .fact_source import FactSource
from .metrics import Metrics
from .models import BatchItem
from .problems import ProblemError
from .releases import Release
from .served_log import ServedLog


class Decider:
    """Turns a client (facts or an id) into its outcome and answer, against one release."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        fact_source: FactSource | None,
        metrics: Metrics,
        served_log: ServedLog | None,
    ) -> None:
        hook = pm.hook.tierwise_enrich_facts
        self.enrich = hook if hook.get_hookimpls() else None
        self.fact_source = fact_source
        self.metrics = metrics
        self.served_log = served_log

    def check_decisions(self, release: Release, decisions: Sequence[str] | None) -> None:
        """404 for a requested decision the serving pack does not have."""
        if not decisions:
            return
        known = release.engine.decisions
        unknown = [d for d in decisions if d not in known]
        if unknown:
            raise ProblemError(
                "unknown-decision",
                f"no decision {', '.join(map(repr, unknown))} in pack {release.hash} "
                f"(decisions: {', '.join(known)})",
            )

    def facts(
        self,
        release: Release,
        facts: Mapping[str, Any] | None,
        client_id: str | None,
        as_of: dt.date,
    ) -> Any:
        """The client's facts: as given, or read from the fact source by id (blocking I/O)."""
        if facts is not None:
            return facts
        if client_id is None:
            raise ProblemError("no-facts", "give the client's facts, or its client_id")
        if self.fact_source is None:
            raise ProblemError(
                "no-facts",
                f"the call carries only the client id {client_id!r} and the service has no "
                "fact source (start it with --source URL)",
            )
        return self.fact_source.facts(client_id, as_of, release.engine.pack.inputs)

    def decide(
        self, release: Release, facts: Any, as_of: dt.date, client_id: str | None
    ) -> tuple[Outcome, Any]:
        """Enrich (as `tierwise run` does, with the release's profile) and decide; the
        outcome and the facts the engine saw. Bad facts are the outcome's errors."""
        engine = release.engine
        if self.enrich is not None and isinstance(facts, Mapping):
            values = dict(release.profile.values) if release.profile is not None else {}
            extra, failures = safe_call(self.enrich, facts=facts, as_of=as_of, profile=values)
            if failures:
                cid = client_id if client_id is not None else _id_of(facts, engine.id_field)
                failed = tuple(f.as_fact_error() for f in failures)
                return engine.decide(
                    UnreadableClient(cid, failed), as_of, profile=release.profile
                ), facts
            if extra:
                facts = dict(facts)
                for more in extra:
                    if more:
                        facts.update(more)
        given = _given_derived(release, facts)
        if given:
            clean = {k: v for k, v in facts.items() if k not in given}
            outcome = engine.decide(clean, as_of, client_id, profile=release.profile)
            refused = [*given.values(), *outcome.errors]
            return new_outcome(outcome.client_id, outcome.pack_hash, as_of, {}, refused), facts
        return engine.decide(facts, as_of, client_id, profile=release.profile), facts

    def answer(
        self,
        release: Release,
        outcome: Outcome,
        facts: Any,
        decisions: Sequence[str] | None,
        trace: bool,
    ) -> dict[str, Any]:
        """The answer's JSON object: the outcome (narrowed to `decisions`), the release,
        and with `trace` every rule tried."""
        chosen = outcome.decisions
        if decisions:
            chosen = {d: chosen[d] for d in decisions if d in chosen}
        traced = None
        if trace and isinstance(facts, Mapping):
            traced = [
                t
                for t in release.tracer.trace(facts, outcome.as_of, outcome, release.profile)
                if not decisions or t.decision in decisions
            ]
        return {
            "client_id": outcome.client_id,
            "pack_hash": outcome.pack_hash,
            "as_of": outcome.as_of,
            "decisions": chosen,
            "errors": outcome.errors,
            "pack_version": release.version,
            "trace": traced if trace else None,
        }

    def record(self, outcome: Outcome, request_key: str) -> None:
        """Count the outcome in the metrics and queue it for the decision log."""
        self.metrics.count_outcome(outcome)
        if self.served_log is not None:
            self.served_log.add(outcome, request_key)

    def decide_batch(
        self,
        release: Release,
        items: Sequence[Any],
        as_of: dt.date | None,
        decisions: Sequence[str] | None,
        trace: bool,
        request_key: str,
    ) -> bytes:
        """Every client of a batch, in order, each its own outcome (a bad item is that
        client's error); the answer's JSON. Runs in a worker thread."""
        outcomes = []
        default_day = as_of or dt.date.today()
        for n, raw in enumerate(items):
            outcome, facts = self._batch_item(release, raw, default_day, n)
            self.record(outcome, f"{request_key}:{n}")
            outcomes.append(self.answer(release, outcome, facts, decisions, trace))
        body = {"pack_hash": release.hash, "pack_version": release.version, "outcomes": outcomes}
        return dumps(body)

    def _batch_item(
        self, release: Release, raw: Any, default_day: dt.date, n: int
    ) -> tuple[Outcome, Any]:
        """One batch item's outcome and the facts it was decided on."""
        engine = release.engine
        try:
            item = BatchItem.model_validate(raw)
        except ValidationError as e:
            cid = raw.get("client_id") if isinstance(raw, dict) else None
            cid = cid if isinstance(cid, str) else None
            errors = [_item_error(n, err) for err in e.errors()]
            return new_outcome(cid, release.hash, default_day, {}, errors), None
        day = item.as_of or default_day
        try:
            facts = self.facts(release, item.facts, item.client_id, day)
        except ProblemError as e:
            error = FactError("client_id" if item.client_id else "facts", e.detail)
            return new_outcome(item.client_id, engine.pack.hash, day, {}, [error]), None
        return self.decide(release, facts, day, item.client_id)


def _given_derived(release: Release, facts: Any) -> dict[str, FactError]:
    """A caller that sends a fact the pack derives (its value would be ignored) is told so:
    one error per such fact, naming where it is derived."""
    if not isinstance(facts, Mapping) or release.derived.isdisjoint(facts):
        return {}
    engine = release.engine
    at = engine.pack.declared_at
    return {
        d.name: FactError(
            d.name,
            f"{d.name} is derived by the pack (at {at.get(d.name, d.pos)}), not given: send "
            "the facts it is computed from",
            facts[d.name],
        )
        for d in engine.pack.derived
        if d.name in facts
    }


def invalid_facts(outcome: Outcome) -> ProblemError:
    """The 422 for a client whose facts are invalid, naming each fact and what was wrong."""
    errors = [{"fact": e.fact, "message": e.message, "value": e.value} for e in outcome.errors]
    names = ", ".join(dict.fromkeys(e.fact for e in outcome.errors))
    return ProblemError("invalid-facts", f"invalid facts: {names}", errors=errors)


def _id_of(facts: Mapping[str, Any], id_field: str) -> str | None:
    """The client id in the facts, as text."""
    value = facts.get(id_field)
    return None if value is None else str(value)


def _item_error(n: int, err: Any) -> FactError:
    """A pydantic error of one batch item as that client's error."""
    where = ".".join(str(x) for x in err["loc"]) or "item"
    return FactError(where, f"clients[{n}].{where}: {err['msg']}", None)


def dumps(value: Any) -> bytes:
    """JSON of an answer (dataclasses, dates and pydantic models included)."""
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    """orjson's fallback: pydantic models as JSON data, anything else as text."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)
