"""The outermost ASGI layer: bounded concurrency (429 with Retry-After beyond it), the body
limit on the declared length, a per-request timeout, latency metrics per route, and a
problem answer instead of a traceback for anything that escapes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .metrics import Metrics
from .problems import KINDS, MEDIA_TYPE, problem_body

log = logging.getLogger("tierwise.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNLIMITED = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes answer even when the service is saturated."""
RETRY_AFTER = "1"


class Guard:
    """Wraps the app: every HTTP request passes the limits and is measured."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_concurrency: int,
        timeout: float,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.metrics = metrics
        self.in_flight = 0
        metrics.in_flight.set_function(lambda: self.in_flight)  # read when scraped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or run the request under the timeout; count it either way."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        refusal = self._refusal(scope, path)
        if refusal is not None:
            kind, detail, headers = refusal
            await self._problem(send_status, kind, detail, headers)
        else:
            self.in_flight += 1
            try:
                async with asyncio.timeout(self.timeout):
                    await self.app(scope, receive, send_status)
            except TimeoutError:
                if not status[0]:
                    await self._problem(
                        send_status, "timeout", f"no answer within {self.timeout:g} s"
                    )
            except Exception:
                log.exception("request %s %s failed", scope.get("method"), path)
                if not status[0]:
                    await self._problem(
                        send_status, "internal", "the error is in the service's log"
                    )
            finally:
                self.in_flight -= 1
        route = scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        self.metrics.observe(label, status[0], time.perf_counter() - started)

    async def _problem(
        self, send: Send, kind: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with a problem from this layer (the app counts its own)."""
        self.metrics.errors.labels(kind).inc()
        body = problem_body(kind, detail)
        raw = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": KINDS[kind].status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope: Scope, path: str) -> tuple[str, str, dict[str, str]] | None:
        """Why a request is refused before it runs (overload, a declared body too big), or None."""
        if path in UNLIMITED:
            return None
        if self.in_flight >= self.max_concurrency:
            return (
                "overloaded",
                f"{self.in_flight} requests in flight, the limit is {self.max_concurrency}",
                {"retry-after": RETRY_AFTER},
            )
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return "malformed-request", "Content-Length is not a number", {}
                if length > self.max_body:
                    return (
                        "payload-too-large",
                        f"the body is {length} bytes, the limit is {self.max_body}",
                        {},
                    )
        return None
