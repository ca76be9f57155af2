"""Match one client's facts against compiled decisions in durable_rules' C engine.

Stage five of the pipeline. The C extension is driven directly (no Python wrapper, no
action callbacks): first-hit decisions assert one event that the highest-priority rule
consumes; the other policies assert a fact, read every match, and retract it, so no state
grows. durable is not safe for two threads on one session, so each thread gets its own
rulesets, created on first use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any

import durable_rules_engine as dre
import orjson

from .compile.durable import Chunk, CompiledDecision, durable_json, literal_json
from .errors import TierwiseError

_ruleset_ids = itertools.count()


class MatchError(TierwiseError):
    """durable_rules failed on one client's message; the client gets this as its error."""


class _ChunkRuntime:
    """A chunk's message layout: which working fact goes into which message field."""

    def __init__(self, chunk: Chunk, compiled: CompiledDecision) -> None:
        self.keys = tuple(f"f{i}" for i in range(len(chunk.fields)))
        self.names = tuple(chunk.fields)
        self.definition = orjson.dumps(chunk.definition).decode()
        self.rule_index = {name: idx for name, idx in chunk.rules.items()}
        self.convert = tuple(
            key
            for key, name in zip(self.keys, self.names, strict=True)
            if name.startswith("\0")
            or compiled.field_types.get(name, _NUMBER).kind in ("date", "datetime")
        )


class _Number:
    kind = "number"


_NUMBER = _Number()


class Matcher:
    """Matches working facts against every compiled decision; safe to share between threads."""

    def __init__(self, compiled: list[CompiledDecision], tag: str) -> None:
        self.compiled = compiled
        self.tag = tag
        self.layouts = [[_ChunkRuntime(c, cd) for c in cd.chunks] for cd in compiled]
        self._local = threading.local()

    def _handles(self) -> list[list[int]]:
        handles = getattr(self._local, "handles", None)
        if handles is None:
            handles = []
            for layouts in self.layouts:
                row = []
                for layout in layouts:
                    name = f"tw_{self.tag}_{next(_ruleset_ids)}"
                    row.append(dre.create_ruleset(name, layout.definition))
                handles.append(row)
            self._local.handles = handles
        return handles

    def matcher_for_thread(self) -> Callable[[int, dict[str, Any]], list[int]]:
        """A match function bound to this thread's rulesets (fast path for loops)."""
        handles = self._handles()
        compiled, layouts = self.compiled, self.layouts

        def match(index: int, facts: dict[str, Any]) -> list[int]:
            if compiled[index].mode == "event":
                return _first_hit(handles[index], layouts[index], facts)
            return _all_hits(handles[index], layouts[index], facts)

        return match


def _message(layout: _ChunkRuntime, facts: dict[str, Any]) -> str:
    msg: dict[str, Any] = {"sid": "0", "id": "c"}
    msg.update(zip(layout.keys, map(facts.get, layout.names), strict=True))
    for key in layout.convert:
        value = msg[key]
        if isinstance(value, dt.date):
            msg[key] = literal_json(value)
    return durable_json(msg)


def _first_hit(
    handles: list[int], layouts: list[_ChunkRuntime], facts: dict[str, Any]
) -> list[int]:
    for handle, layout in zip(handles, layouts, strict=True):
        try:
            result = dre.assert_event(handle, _message(layout, facts))
        except dre.error as e:
            raise MatchError(f"durable_rules rejected the client's facts: {e}") from e
        if result[0] != 0:
            continue
        state = result[1]
        action = dre.start_action_for_state(handle, state)
        if not action:
            continue
        message = action[1]
        rule = layout.rule_index[message[2 : message.index('"', 2)]]
        dre.complete_and_start_action(handle, state)
        return [rule]
    return []


def _all_hits(handles: list[int], layouts: list[_ChunkRuntime], facts: dict[str, Any]) -> list[int]:
    hits: set[int] = set()
    for handle, layout in zip(handles, layouts, strict=True):
        message = _message(layout, facts)
        try:
            result = dre.assert_fact(handle, message)
            if result[0] == 0:
                state = result[1]
                action = dre.start_action_for_state(handle, state)
                while action:
                    text = action[1] if isinstance(action, tuple) else action
                    hits.add(layout.rule_index[text[2 : text.index('"', 2)]])
                    action = dre.complete_and_start_action(handle, state)
        except dre.error as e:
            raise MatchError(f"durable_rules rejected the client's facts: {e}") from e
        finally:
            with contextlib.suppress(dre.error):
                dre.retract_fact(handle, message)
    return sorted(hits)
