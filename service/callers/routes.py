"""The caller endpoints: the signature is checked first, then the callers file maps the
payload to facts (or to a client id read from the fact source), and the chosen outputs go
back in the shape each CRM reads. A caller is served only when its secret is configured."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierwise.service.api import JSON, read_body, respond, service_of, to_response
from tierwise.service.config import ServiceConfig
from tierwise.service.deciding import dumps, invalid_facts
from tierwise.service.idempotency import Answer
from tierwise.service.payload import CallerMapping
from tierwise.service.problems import ProblemError, openapi_responses

from . import hubspot, webhook, zendesk

if TYPE_CHECKING:
    from tierwise.service.app import Service

_RESPONSES = openapi_responses(
    "bad-signature",
    "payload-too-large",
    "overloaded",
    "malformed-request",
    "invalid-facts",
    "unknown-client",
    "fact-source-failed",
    "no-facts",
    "idempotency-conflict",
    "timeout",
    "unsupported-media-type",
)
_BODY = {
    "requestBody": {
        "required": True,
        "content": {JSON: {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


def include(app: FastAPI, config: ServiceConfig) -> None:
    """Add the endpoint of every caller whose secret is configured."""
    for name, endpoint, summary in _CALLERS:
        if getattr(config.secrets, name):
            app.add_api_route(
                f"/v1/callers/{name}",
                endpoint,
                methods=["POST"],
                responses=_RESPONSES,
                openapi_extra=_BODY,
                summary=summary,
            )


async def hubspot_action(request: Request) -> Response:
    """Answers a HubSpot workflow action with `{"outputFields": {...}}`."""
    service = service_of(request)
    body = await read_body(request, service.config.max_body)
    secret = service.config.secrets.hubspot
    assert secret is not None
    hubspot.verify(
        request.headers,
        body,
        _public_uri(request, service),
        secret,
        time.time(),
        service.config.replay_window,
    )
    return await _decide(
        request,
        service,
        body,
        service.callers.hubspot,
        "hubspot",
        None,
        lambda fields, _: hubspot.answer(fields),
    )


async def zendesk_webhook(request: Request) -> Response:
    """Answers a Zendesk webhook with the chosen outputs and the outcome."""
    service = service_of(request)
    body = await read_body(request, service.config.max_body)
    secret = service.config.secrets.zendesk
    assert secret is not None
    zendesk.verify(request.headers, body, secret, time.time(), service.config.replay_window)
    return await _decide(
        request,
        service,
        body,
        service.callers.zendesk,
        "zendesk",
        request.headers.get(zendesk.INVOCATION),
        _outputs_and_outcome,
    )


async def signed_webhook(request: Request) -> Response:
    """Answers a generic signed webhook with the chosen outputs and the outcome."""
    service = service_of(request)
    body = await read_body(request, service.config.max_body)
    secret = service.config.secrets.webhook
    assert secret is not None
    webhook.verify(request.headers, body, secret, time.time(), service.config.replay_window)
    return await _decide(
        request, service, body, service.callers.webhook, "webhook", None, _outputs_and_outcome
    )


def _outputs_and_outcome(fields: dict[str, Any], decided: dict[str, Any]) -> dict[str, Any]:
    """The Zendesk and webhook answer: the mapped outputs and the whole outcome."""
    return {"outputs": fields, "outcome": decided}


def _public_uri(request: Request, service: Service) -> str:
    """The URL the CRM called, as it signed it (the public URL when behind a proxy)."""
    base = service.config.public_url
    if base is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


async def _decide(
    request: Request,
    service: Service,
    body: bytes,
    mapping: CallerMapping,
    route: str,
    event_id: str | None,
    shape: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
) -> Response:
    """Map a verified payload to facts, decide once per event id, answer in the caller's shape."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ProblemError("malformed-request", f"the {route} payload is not JSON: {e}") from None
    key = (
        request.headers.get("idempotency-key")
        or mapping.read(payload, mapping.event_id)
        or event_id
    )

    async def compute(request_key: str) -> Answer:
        decider = service.decider
        release = service.holder.current
        client_id = mapping.read(payload, mapping.client_id)
        as_of = _day(mapping.read(payload, mapping.as_of), route)
        facts: Any = mapping.read_facts(payload)
        if not facts:
            facts = await run_in_threadpool(decider.facts, release, None, client_id, as_of)
        outcome, seen = decider.decide(release, facts, as_of, client_id)
        decider.record(outcome, request_key)
        if outcome.errors:
            raise invalid_facts(outcome)
        decided = decider.answer(release, outcome, seen, None, False)
        return Answer(200, dumps(shape(mapping.answer(outcome), decided)), JSON)

    return to_response(*await respond(service, route, key, body, compute))


def _day(text: str | None, route: str) -> dt.date:
    """The decision day from the payload (ISO date or datetime), else today."""
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ProblemError(
            "invalid-request", f"the {route} payload's as_of {text!r} is not a date"
        ) from None


_CALLERS: tuple[tuple[str, Any, str], ...] = (
    ("hubspot", hubspot_action, "A HubSpot workflow action"),
    ("zendesk", zendesk_webhook, "A Zendesk webhook"),
    ("webhook", signed_webhook, "A generic signed webhook"),
)
"""Each signed caller: its name (the secret that turns it on, and its path), its endpoint
and its summary in the OpenAPI schema."""
