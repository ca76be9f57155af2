"""The idempotency store on its own: one computation per key, concurrent retries wait for
it, a first call that fails or is cancelled leaves the key free to be decided again."""

from __future__ import annotations

import asyncio

import pytest

from tierwise.service.idempotency import Answer, IdempotencyStore
from tierwise.service.problems import ProblemError


def test_concurrent_retries_share_one_computation() -> None:
    store = IdempotencyStore(10)
    calls = 0

    async def compute() -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return Answer(200, b"{}", "application/json")

    async def main() -> list[tuple[Answer, bool]]:
        return await asyncio.gather(*(store.run("r", "k", b"x", compute) for _ in range(5)))

    results = asyncio.run(main())
    assert calls == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True, True, True]


def test_a_cancelled_first_call_lets_a_waiting_retry_decide() -> None:
    store = IdempotencyStore(10)
    calls = 0

    async def compute() -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2 if calls == 1 else 0)
        return Answer(200, str(calls).encode(), "application/json")

    async def main() -> tuple[Answer, bool]:
        first = asyncio.ensure_future(store.run("r", "k", b"x", compute))
        await asyncio.sleep(0.01)
        retry = asyncio.ensure_future(store.run("r", "k", b"x", compute))
        await asyncio.sleep(0.01)
        first.cancel()
        return await retry

    answer, replayed = asyncio.run(main())
    assert (answer.body, replayed, calls) == (b"2", False, 2)


def test_overload_is_not_kept_and_a_different_body_conflicts() -> None:
    store = IdempotencyStore(1)

    async def busy() -> Answer:
        return Answer(429, b"{}", "application/problem+json")

    async def ok() -> Answer:
        return Answer(200, b"{}", "application/json")

    async def main() -> None:
        await store.run("r", "k", b"x", busy)
        assert (await store.run("r", "k", b"x", ok))[1] is False  # 429 was not kept
        with pytest.raises(ProblemError) as caught:
            await store.run("r", "k", b"y", ok)
        assert caught.value.kind == "idempotency-conflict"
        await store.run("r", "other", b"x", ok)  # the store holds one: "k" goes
        assert (await store.run("r", "k", b"y", ok))[1] is False

    asyncio.run(main())
