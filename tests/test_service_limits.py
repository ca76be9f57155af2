"""Limits through a real server: beyond the concurrency bound a request gets 429 with
Retry-After, a request slower than the timeout gets 504, probes answer regardless."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx

from .service_support import RICH, SHIPPED, config, running


def slow_body(seconds: float) -> Iterator[bytes]:
    """A JSON body sent over `seconds`, so the request stays in flight that long."""
    yield b'{"facts": {"revenue_12m": 90, "notes": "'
    steps = 10
    for _ in range(steps):
        time.sleep(seconds / steps)
        yield b"x"
    yield b'"}}'


def test_beyond_the_concurrency_bound_is_429_with_retry_after() -> None:
    with running(config(SHIPPED, watch=False, max_concurrency=1)) as base:
        held: dict[str, httpx.Response] = {}

        def hold() -> None:
            held["r"] = httpx.post(
                base + "/v1/decide",
                content=slow_body(1.5),
                headers={"content-type": "application/json"},
                timeout=30,
            )

        t = threading.Thread(target=hold)
        t.start()
        time.sleep(0.5)
        r = httpx.post(base + "/v1/decide", json={"facts": RICH})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.json()["type"] == "urn:tierwise:problem:overloaded"
        assert httpx.get(base + "/healthz").status_code == 200
        t.join()
        assert held["r"].status_code == 200
        assert httpx.post(base + "/v1/decide", json={"facts": RICH}).status_code == 200
        assert 'tierwise_errors_total{type="overloaded"} 1.0' in httpx.get(base + "/metrics").text


def test_a_request_over_the_timeout_is_504() -> None:
    with running(config(SHIPPED, watch=False, timeout=0.5)) as base:
        r = httpx.post(
            base + "/v1/decide",
            content=slow_body(2),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 504
        assert r.json()["type"] == "urn:tierwise:problem:timeout"
        assert httpx.post(base + "/v1/decide", json={"facts": RICH}).status_code == 200
