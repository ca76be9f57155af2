"""The fast lane: `POST /v1/decide` and `/v1/decide:batch` answered straight from ASGI.

FastAPI's per-request machinery (dependency solving, its middleware and exception layers)
cost more than deciding a client (measured: about 580 of 740 us a request). These two
routes call the same handlers as their FastAPI routes (api.HOT_ROUTES: auth, the body,
idempotency, deciding), so both give the same bytes; FastAPI still documents them and
serves everything else. Off when CORS is configured, so the CORS layer sees every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from .api import HOT_ROUTES, REPLAYED, check_media_type
from .limits import ASGIApp, Receive, Scope, Send
from .problems import KINDS, MEDIA_TYPE, ProblemError, problem_body

if TYPE_CHECKING:
    from .app import Service


class FastLane:
    """Answers the hot routes itself and hands every other request to the app."""

    def __init__(self, app: ASGIApp, service: Service, routes: dict[str, Any]) -> None:
        self.app = app
        self.service = service
        self.routes = routes
        """The app's route objects by path, so metrics label these requests as FastAPI would."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A hot route is answered here; every other request goes to the app."""
        path: str = scope.get("path", "")
        handler = HOT_ROUTES.get(path) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.routes.get(path)
        service = self.service
        headers = Headers(scope=scope)
        try:
            service.auth.check(headers.get("authorization"))
            check_media_type(headers)
            body = await _read(receive, service.config.max_body)
            answer, replayed = await handler(service, headers, body)
        except ProblemError as e:
            service.metrics.errors.labels(e.kind).inc()
            extra = [(k.lower().encode(), v.encode()) for k, v in e.headers.items()]
            await _send(
                send,
                KINDS[e.kind].status,
                MEDIA_TYPE,
                problem_body(e.kind, e.detail, path, errors=e.errors),
                extra,
            )
            return
        extra = [(REPLAYED.encode(), b"true")] if replayed else []
        await _send(send, answer.status, answer.media_type, answer.body, extra)


async def _read(receive: Receive, limit: int) -> bytes:
    """The request body, refused past `limit` bytes as it arrives."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProblemError("malformed-request", "the client went away before its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProblemError("payload-too-large", f"the body is over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, media_type: str, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    """An answer with its length and media type."""
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
