"""Errors as RFC 9457 problem details: one stable `type` per class, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tierwise:problem:"


@dataclass(frozen=True)
class Kind:
    """A class of error: its HTTP status and its title (the same for every occurrence)."""

    status: int
    title: str


KINDS: dict[str, Kind] = {
    "malformed-request": Kind(400, "The request body is not valid JSON"),
    "unauthorized": Kind(401, "A valid bearer token is required"),
    "bad-signature": Kind(401, "The request signature is missing, wrong or too old"),
    "unknown-decision": Kind(404, "No such decision in the serving pack"),
    "unknown-client": Kind(404, "No such client in the fact source"),
    "not-found": Kind(404, "No such resource"),
    "method-not-allowed": Kind(405, "Method not allowed"),
    "idempotency-conflict": Kind(409, "The idempotency key was used with another body"),
    "payload-too-large": Kind(413, "The request body is too large"),
    "unsupported-media-type": Kind(415, "The request body must be application/json"),
    "invalid-request": Kind(422, "The request does not have the expected shape"),
    "invalid-facts": Kind(422, "Some facts are invalid"),
    "no-facts": Kind(422, "The call carries no facts and no fact source is configured"),
    "overloaded": Kind(429, "Too many requests in flight"),
    "internal": Kind(500, "The service failed on this request"),
    "fact-source-failed": Kind(502, "The fact source could not be read"),
    "not-ready": Kind(503, "The service is not ready"),
    "timeout": Kind(504, "The request took longer than the service allows"),
}
"""Every problem the service answers with; the key is the end of its `type`."""


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem of this kind."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


def problem_body(kind: str, detail: str, instance: str | None = None, **extra: Any) -> bytes:
    """The JSON of one problem."""
    k = KINDS[kind]
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind,
        "title": k.title,
        "status": k.status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update({key: value for key, value in extra.items() if value is not None})
    return orjson.dumps(body, default=str)


def problem_response(error: ProblemError, instance: str | None = None) -> Response:
    """The HTTP answer for a ProblemError."""
    return Response(
        problem_body(error.kind, error.detail, instance, errors=error.errors),
        status_code=KINDS[error.kind].status,
        media_type=MEDIA_TYPE,
        headers=error.headers,
    )


def openapi_responses(*kinds: str) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for these problem kinds, so the OpenAPI schema lists them."""
    ref = {"$ref": "#/components/schemas/Problem"}
    out: dict[int | str, dict[str, Any]] = {}
    for kind in kinds:
        k = KINDS[kind]
        entry = out.setdefault(
            k.status, {"description": k.title, "content": {MEDIA_TYPE: {"schema": ref}}}
        )
        if entry["description"] != k.title:
            entry["description"] += "; " + k.title
    return out
