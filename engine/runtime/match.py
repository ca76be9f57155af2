"""Match one client's facts against compiled decisions in durable_rules' C engine.

Stage five of the pipeline. The C extension is driven directly (no Python wrapper, no
action callbacks): first-hit decisions assert one event that the highest-priority rule
consumes; the other policies assert a fact, read every match, and retract it, so no state
grows. durable is not safe for two threads on one session, so each thread gets its own
rulesets, created on first use, and match functions bound to them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import durable_rules_engine as dre

from tierwise.errors import TierwiseError
from tierwise.runtime.compile import (
    MESSAGE_ID,
    Chunk,
    CompiledDecision,
    durable_json,
    literal_json,
)
from tierwise.runtime.memo import Memos, class_key

Match = Callable[[dict[str, Any]], list[int]]
_NOT_HANDLED = 1
"""durable's status for a message that no rule matched: no match, not an error."""
_ruleset_ids = itertools.count()


class MatchError(TierwiseError):
    """durable_rules failed on one client's message; the client gets this as its error."""


class _Layout:
    """A chunk's message layout: which working fact goes into which message field."""

    def __init__(self, chunk: Chunk, compiled: CompiledDecision) -> None:
        self.keys = tuple(f"f{i}" for i in range(len(chunk.fields)))
        self.names = tuple(chunk.fields)
        self.tree = chunk.definition
        self.definition = durable_json(chunk.definition)
        self.rule_index = dict(chunk.rules)
        self.convert = tuple(
            key
            for key, name in zip(self.keys, self.names, strict=True)
            if name.startswith("\0") or _is_temporal(compiled, name)
        )

    def tests(self) -> Iterator[tuple[str, str, Any]]:
        """(operator, field name, literal) for every test of this ruleset's rules."""
        name_of = dict(zip(self.keys, self.names, strict=True))
        for entry in self.tree.values():
            for op, key, value in _walk(entry["all"][0]["m"]):
                if key in name_of:  # not the `id` test of a rule that always holds
                    yield op, name_of[key], value

    def message(self, facts: dict[str, Any]) -> str:
        """The JSON that durable reads: only the fields this ruleset tests, nulls included."""
        msg = dict(zip(self.keys, map(facts.get, self.names), strict=False))
        msg["sid"] = "0"
        msg["id"] = MESSAGE_ID
        for key in self.convert:
            if isinstance(msg[key], dt.date):
                msg[key] = literal_json(msg[key])
        return durable_json(msg)


def _is_temporal(compiled: CompiledDecision, name: str) -> bool:
    t = compiled.field_types.get(name)
    return t is not None and t.kind in ("date", "datetime")


class Matcher:
    """Matches working facts against every compiled decision; safe to share between threads."""

    def __init__(self, compiled: list[CompiledDecision], tag: str) -> None:
        self.modes = [cd.mode for cd in compiled]
        self.tag = tag
        self.layouts = [[_Layout(c, cd) for c in cd.chunks] for cd in compiled]
        self.keys = [
            class_key([test for layout in layouts for test in layout.tests()], cd.field_types)
            for layouts, cd in zip(self.layouts, compiled, strict=True)
        ]
        self._local = threading.local()

    def for_thread(self) -> tuple[list[Match], Memos]:
        """Per decision, a match function bound to this thread's own rulesets; and this
        thread's memos of results by class key (see memo.py)."""
        state = getattr(self._local, "state", None)
        if state is None:
            matches = [
                (_first_hit if mode == "event" else _all_hits)(
                    [(self._create(layout), layout) for layout in layouts]
                )
                for mode, layouts in zip(self.modes, self.layouts, strict=True)
            ]
            state = self._local.state = (matches, Memos(len(matches)))
        return state

    def _create(self, layout: _Layout) -> int:
        return dre.create_ruleset(f"tw_{self.tag}_{next(_ruleset_ids)}", layout.definition)


def _first_hit(chunks: list[tuple[int, _Layout]]) -> Match:
    """Events, in priority order across chunks: the first rule that matches consumes it."""
    assert_event, start, complete = (
        dre.assert_event,
        dre.start_action_for_state,
        dre.complete_and_start_action,
    )

    def match(facts: dict[str, Any]) -> list[int]:
        for handle, layout in chunks:
            try:
                result = assert_event(handle, layout.message(facts))
            except dre.error as e:
                raise MatchError(f"durable_rules rejected the client's facts: {e}") from e
            if result[0] == _NOT_HANDLED:
                continue
            if result[0]:
                raise MatchError(f"durable_rules answered with status {result[0]}")
            state = result[1]
            action = start(handle, state)
            if not action:
                continue
            text = action[1]
            complete(handle, state)
            return [layout.rule_index[text[2 : text.index('"', 2)]]]
        return []

    return match


def _all_hits(chunks: list[tuple[int, _Layout]]) -> Match:
    """A fact per chunk: read every match, then retract it so that no state is kept."""
    assert_fact, start, complete, retract = (
        dre.assert_fact,
        dre.start_action_for_state,
        dre.complete_and_start_action,
        dre.retract_fact,
    )

    def match(facts: dict[str, Any]) -> list[int]:
        hits: list[int] = []
        for handle, layout in chunks:
            message = layout.message(facts)
            rule_index = layout.rule_index
            try:
                result = assert_fact(handle, message)
                if result[0] == 0:
                    state = result[1]
                    action = start(handle, state)
                    while action:
                        text = action[1] if type(action) is tuple else action
                        hits.append(rule_index[text[2 : text.index('"', 2)]])
                        action = complete(handle, state)
                elif result[0] != _NOT_HANDLED:
                    raise MatchError(f"durable_rules answered with status {result[0]}")
            except dre.error as e:
                raise MatchError(f"durable_rules rejected the client's facts: {e}") from e
            finally:
                try:  # noqa: SIM105 (contextlib.suppress costs an object per client)
                    retract(handle, message)
                except dre.error:
                    pass  # nothing was asserted, or it is gone already
        return sorted(set(hits))

    return match


def _walk(test: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(operator, message key, literal) for every test in a durable condition."""
    for op, arg in test.items():
        if op in ("$and", "$or"):
            for part in arg:
                yield from _walk(part)
        else:
            for key, value in arg.items():
                yield op, key, value
