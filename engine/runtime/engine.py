"""The Python API: `Engine.from_path("rules/").decide(facts)`.

An Engine holds one loaded pack, compiled once; it is immutable and can be shared between
threads. A reload builds a new Engine, so a pack is always swapped whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tierwise.functions import FunctionRegistry
from tierwise.lang.types import LIST, FactType
from tierwise.outcome import DecisionResult, FactError, Outcome, new_outcome
from tierwise.pack.build import load_pack
from tierwise.pack.ir import Decision, Pack
from tierwise.profile import Profile, checked
from tierwise.runtime.compile import CompiledDecision, Hoisted, compile_decision
from tierwise.runtime.evaluate import AS_OF_KEY, EvaluationError, Evaluator, compile_expr
from tierwise.runtime.explain import RuleExplainer
from tierwise.runtime.facts import DomainCheck, FactValidator, UnreadableClient, domain_check
from tierwise.runtime.match import Match, Matcher, MatchError
from tierwise.runtime.memo import MEMO_LIMIT, REVIEW, Key, Memos
from tierwise.runtime.profile import profile_base
from tierwise.runtime.resolve import Resolved, resolve
from tierwise.stdlib import standard_functions


class Engine:
    """Decides every decision of a pack for one client or for many.

    A pack whose facts files declare statistics of the whole base needs the run's profile
    to decide: `engine.profile(clients, as_of)` computes it in one pass, or a stored one is
    given (`Profile.from_json`); deciding such a pack without one raises ProfileError."""

    def __init__(self, pack: Pack, *, id_field: str = "client_id") -> None:
        self.pack = pack
        self.id_field = id_field
        self.validator = FactValidator(pack.inputs)
        self._last_profile: tuple[Profile, dict[str, Any]] | None = None
        self._shared: list[tuple[str, Evaluator, bool, DomainCheck | None]] = [
            (d.name, compile_expr(d.expr, pack.functions), d.needs_profile, domain_check(d.type))
            for d in pack.derived
        ]
        """The facts every decision shares, in evaluation order: how each is computed,
        whether it needs the profile, and the check of its declared domain."""
        self._pins = FactValidator({d.name: d.type for d in pack.derived})
        types = _field_types(pack)
        temporal = frozenset(n for n, t in types.items() if t.kind in ("date", "datetime"))
        self.compiled: list[CompiledDecision] = [
            compile_decision(d, pack.functions, types) for d in pack.decisions
        ]
        self.matcher = Matcher(self.compiled, pack.hash)
        self.explainers = {
            d.name: {r.id: RuleExplainer(r, pack.functions, temporal) for r in d.rules}
            for d in pack.decisions
        }
        read = set().union(*(d.depends_on for d in pack.decisions))
        self._steps: list[Step] = [
            (
                c.decision,
                c.computed,
                key,
                self.explainers[c.decision.name],
                publisher(c.decision) if c.decision.name in read else None,
                {},
            )
            for c, key in zip(self.compiled, self.matcher.keys, strict=True)
        ]
        """Per decision: what to compute, its class key, its explainers, its publisher, and
        its results by set of matching rules (immutable, so shared by every thread)."""

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        functions: FunctionRegistry | None = None,
        id_field: str = "client_id",
    ) -> Engine:
        """Load a rule file or a folder of them; raises RulePackError listing every problem.
        `functions` defaults to the standard functions; a plugin's functions come with
        `functions=tierwise.plugins.function_registry()`."""
        return cls(load_pack(path, functions or standard_functions()), id_field=id_field)

    @property
    def decisions(self) -> list[str]:
        return self.pack.names

    def decide(
        self,
        facts: Mapping[str, Any] | UnreadableClient,
        as_of: dt.date | None = None,
        client_id: str | None = None,
        *,
        profile: Profile | None = None,
    ) -> Outcome:
        """Decide every decision for one client. Never raises for bad facts: they become errors."""
        thread = self.matcher.for_thread()
        stats = self._statistics(profile)
        return self._decide(facts, as_of or dt.date.today(), client_id, thread, stats)

    def decide_many(
        self,
        clients: Iterable[Mapping[str, Any] | UnreadableClient],
        as_of: dt.date | None = None,
        *,
        profile: Profile | None = None,
    ) -> Iterator[Outcome]:
        """Decide each client in turn: one outcome per client, in order, never raising for one."""
        as_of = as_of or dt.date.today()
        stats = self._statistics(profile)
        thread = self.matcher.for_thread()
        decide = self._decide
        for facts in clients:
            yield decide(facts, as_of, None, thread, stats)

    def decide_pinned(
        self,
        facts: Mapping[str, Any],
        as_of: dt.date,
        profile: Profile,
        pinned: Mapping[str, Any],
    ) -> Outcome:
        """Decide one client with some derived facts given instead of computed (a rule
        test's `given` may pin them); a pinned value of the wrong type is a fact error."""
        clean, errors = self._pins.validate(pinned)
        if errors:
            return new_outcome(None, self.pack.hash, as_of, {}, errors)
        stats = self._statistics(profile)
        return self._decide(facts, as_of, None, self.matcher.for_thread(), stats, clean)

    def profile(
        self, clients: Iterable[Mapping[str, Any] | UnreadableClient], as_of: dt.date
    ) -> Profile:
        """The pack's statistics of `clients` (a pass per layer of statistics, see
        tierwise.runtime.profile), as the decisions will read them: each client's inputs
        validated and its facts derived first; a client whose facts cannot be read or
        derived is counted as skipped."""
        return profile_base(
            self.pack,
            clients,
            as_of,
            lambda record, stats: (
                self._facts(record, as_of, stats, None) if isinstance(record, Mapping) else None
            ),
        )

    def derive(
        self, facts: Mapping[str, Any], as_of: dt.date, *, profile: Profile | None = None
    ) -> tuple[dict[str, Any], list[FactError]]:
        """One client's facts as every decision sees them: validated inputs and derived
        facts (no decision is made); or the errors that make it an invalid client."""
        stats = self._statistics(profile)
        working, errors = self.working(facts, as_of, profile)
        for name in (AS_OF_KEY, *stats):
            working.pop(name, None)
        return working, errors

    def working(
        self, facts: Mapping[str, Any], as_of: dt.date, profile: Profile | None = None
    ) -> tuple[dict[str, Any], list[FactError]]:
        """The facts evaluation reads for one client (validated inputs, the profile's
        statistics, the derived facts, the date), or the errors that make it invalid."""
        stats = self._statistics(profile)
        working, errors = self.validator.validate(facts)
        if errors:
            return {}, errors
        working[AS_OF_KEY] = as_of
        working.update(stats)
        return working, self._derive(working, stats, None)

    def _statistics(self, profile: Profile | None) -> dict[str, Any]:
        """The profile's values for evaluation; ProfileError when the pack needs one.
        The last profile's are kept: a service decides every request with one profile, so
        it is checked once, and its cut points stay the same tuples (see stdlib.crm)."""
        last = self._last_profile
        if last is not None and last[0] is profile:
            return last[1]
        fitting = checked(self.pack, profile)
        stats = {} if fitting is None else fitting.working_values(self.pack)
        if profile is not None:
            self._last_profile = (profile, stats)
        return stats

    def _facts(
        self,
        facts: Mapping[str, Any],
        as_of: dt.date,
        stats: Mapping[str, Any] | None,
        pinned: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Validated and derived facts for the profile step (stats None: only the derived
        facts that need no profile), or None when the client is invalid."""
        working, errors = self.validator.validate(facts)
        if errors:
            return None
        working[AS_OF_KEY] = as_of
        if stats:
            working.update(stats)
        return None if self._derive(working, stats, pinned) else working

    def _derive(
        self,
        working: dict[str, Any],
        stats: Mapping[str, Any] | None,
        pinned: Mapping[str, Any] | None,
    ) -> list[FactError]:
        """Computes the shared derived facts into `working` (a pinned one is taken as
        given; with `stats` None, those that need the profile are skipped); a function
        that fails makes that fact the client's error."""
        errors: list[FactError] = []
        for name, evaluate, needs_profile, check in self._shared:
            if pinned is not None and name in pinned:
                working[name] = pinned[name]
            elif needs_profile and stats is None:
                continue
            else:
                try:
                    value = working[name] = evaluate(working)
                except EvaluationError as e:
                    working[name] = None
                    errors.append(FactError(name, f"{name} cannot be derived: {e}"))
                    continue
                if check is not None and value is not None and (problem := check(value)):
                    errors.append(FactError(name, f"{name} = {value!r} {problem}", value))
        return errors

    def _decide(
        self,
        facts: Mapping[str, Any] | UnreadableClient,
        as_of: dt.date,
        client_id: str | None,
        thread: tuple[list[Match], Memos],
        stats: dict[str, Any],
        pinned: Mapping[str, Any] | None = None,
    ) -> Outcome:
        if type(facts) is not dict and not isinstance(facts, Mapping):
            return self._unreadable(facts, as_of, client_id)
        cid = client_id if client_id is not None else facts.get(self.id_field)
        if cid is not None and type(cid) is not str:
            cid = str(cid)
        working, errors = self.validator.validate(facts)
        if errors:
            return new_outcome(cid, self.pack.hash, as_of, {}, errors)
        working[AS_OF_KEY] = as_of
        if self._shared:
            if stats:
                working.update(stats)
            errors = self._derive(working, stats, pinned)
            if errors:
                return new_outcome(cid, self.pack.hash, as_of, {}, errors)
        results: dict[str, DecisionResult] = {}
        matches, memos = thread
        # three lists built from self.compiled, so of one length (strict costs 0.4 us a client)
        for (decision, computed, key, explainers, publish, by_hits), match, memo in zip(
            self._steps, matches, memos.tables, strict=False
        ):
            try:
                for value in computed:
                    working[value.name] = value.evaluate(working)
                k: Any = None
                resolved = None
                if memo is not None:
                    try:
                        k = key(working)
                        resolved = memo.get(k)
                    except TypeError:  # a value that cannot be part of a key: ask durable
                        k = None
                if resolved is None:
                    hits = tuple(match(working))
                    resolved = by_hits.get(hits)
                    if resolved is None:
                        resolved = by_hits[hits] = resolve(decision, hits, explainers)
                    if k is not None and memo is not None:
                        if len(memo) >= MEMO_LIMIT:
                            memo.clear()
                        memo[k] = resolved
                result = resolved.result(working)
            except (EvaluationError, MatchError) as e:
                result = DecisionResult(decision.name, "error", error=str(e))
            if publish is not None:
                publish(working, result)
            results[decision.name] = result
        memos.seen += 1
        if memos.seen == REVIEW:
            memos.review()
        return new_outcome(cid, self.pack.hash, as_of, results, [])

    def _unreadable(self, record: Any, as_of: dt.date, client_id: str | None) -> Outcome:
        if isinstance(record, UnreadableClient):
            client_id = client_id if client_id is not None else record.client_id
            return new_outcome(client_id, self.pack.hash, as_of, {}, list(record.errors))
        message = f"client facts must be a mapping, got {type(record).__name__}"
        return new_outcome(client_id, self.pack.hash, as_of, {}, [FactError("*", message)])


Step = tuple[
    Decision,
    list[Hoisted],
    Key,
    dict[str, RuleExplainer],
    Callable[[dict[str, Any], DecisionResult], None] | None,
    dict[tuple[int, ...], Resolved],
]


def _field_types(pack: Pack) -> dict[str, FactType]:
    types = dict(pack.inputs)
    types.update({d.name: d.type for d in pack.derived})
    types.update({s.name: s.type for s in pack.profile})
    for d in pack.decisions:
        types.update({dv.name: dv.type for dv in d.derived})
        for k, t in d.output_types.items():
            types[f"{d.name}.{k}"] = (
                LIST if d.hit_policy == "collect" and d.aggregate is None else t
            )
    return types


def publisher(decision: Decision) -> Any:
    """Copies a decision's output into the working facts, for decisions that read it."""
    name = decision.name
    if decision.aggregate is not None:
        key = f"{name}.{decision.aggregate.output_name}"
        field = decision.aggregate.output_name

        def publish_aggregate(working: dict[str, Any], result: DecisionResult) -> None:
            working[key] = result.output.get(field) if isinstance(result.output, dict) else None

        return publish_aggregate
    keys = [(f"{name}.{k}", k) for k in decision.output_types]
    if decision.hit_policy == "collect":

        def publish_list(working: dict[str, Any], result: DecisionResult) -> None:
            outputs = (
                result.output
                if isinstance(result.output, list)
                else [result.output]
                if isinstance(result.output, dict)
                else []
            )
            decided = result.status in ("decided", "default")
            for key, k in keys:
                working[key] = (
                    [o.get(k) for o in outputs if o.get(k) is not None] if decided else None
                )

        return publish_list

    def publish(working: dict[str, Any], result: DecisionResult) -> None:
        output = result.output if isinstance(result.output, dict) else {}
        for key, k in keys:
            working[key] = output.get(k)

    return publish
