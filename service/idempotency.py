"""Idempotency keys: a retried call (same `Idempotency-Key`, or the CRM's event id) gets
the answer the first call got, and its decisions are logged once.

Answers are kept in memory, bounded (the oldest go first) and for a day; a retry that
arrives while the first call is still being decided waits for that answer. Only answers
that a retry would get again are kept: decisions and client errors, not overload or outages.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .problems import ProblemError

TTL_SECONDS = 24 * 3600
KEY_LIMIT = 255


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as it went out: status, body and media type."""

    status: int
    body: bytes
    media_type: str


@dataclass(slots=True)
class _Entry:
    """A key's body digest, when it was first seen, and its answer or the future of it."""

    digest: bytes
    at: float
    answer: Answer | None
    waiters: asyncio.Future[Answer] | None


class IdempotencyStore:
    """Answers by (route, key); `run` computes an answer once per key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    async def run(
        self, route: str, key: str, body: bytes, compute: Callable[[], Awaitable[Answer]]
    ) -> tuple[Answer, bool]:
        """The answer for this key: computed now, or the one given before (True when replayed)."""
        if len(key) > KEY_LIMIT:
            raise ProblemError(
                "invalid-request", f"the idempotency key is over {KEY_LIMIT} characters"
            )
        digest = hashlib.sha256(body).digest()
        slot = (route, key)
        now = time.monotonic()
        entry = self._entries.get(slot)
        if entry is not None and now - entry.at > TTL_SECONDS:
            del self._entries[slot]
            entry = None
        if entry is not None:
            if entry.digest != digest:
                raise ProblemError(
                    "idempotency-conflict",
                    f"the idempotency key {key!r} was used before with a different body",
                )
            if entry.answer is not None:
                return entry.answer, True
            waiter = entry.waiters
            assert waiter is not None
            try:
                return await asyncio.shield(waiter), True
            except BaseException:
                if waiter.done():  # the first call failed (cancelled, timed out): decide here
                    return await self.run(route, key, body, compute)
                raise
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        entry = self._entries[slot] = _Entry(digest, now, None, future)
        try:
            answer = await compute()
        except BaseException as e:
            del self._entries[slot]
            if isinstance(e, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(e)
                future.exception()  # retrieved: a lone first call must not warn
            raise
        future.set_result(answer)
        if _keep(answer.status):
            entry.answer, entry.waiters = answer, None
            self._entries.move_to_end(slot)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            del self._entries[slot]
        return answer, False


def _keep(status: int) -> bool:
    """Answers a retry must get again: successes and client errors other than 401/429."""
    return status < 400 or (status < 500 and status not in (401, 408, 429))
