"""The decision API: `/v1/decide`, `/v1/decide:batch`, `/v1/pack`, the probes and `/metrics`."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .deciding import dumps, invalid_facts
from .idempotency import Answer
from .metrics import CONTENT_TYPE
from .models import (
    BatchRequest,
    BatchResponse,
    Decided,
    DecideRequest,
    DecisionInfo,
    Health,
    InputInfo,
    PackInfo,
    ReloadError,
    RuleInfo,
)
from .problems import KINDS, MEDIA_TYPE, ProblemError, openapi_responses, problem_body

if TYPE_CHECKING:
    from .app import Service

router = APIRouter()
JSON = "application/json"
REPLAYED = "idempotency-replayed"
M = TypeVar("M", bound=BaseModel)
_COMMON = ("unauthorized", "payload-too-large", "overloaded", "malformed-request", "timeout")
_STARTED = uuid.uuid4().hex
_REQUESTS = itertools.count()
"""A request without an idempotency key is known by this process's id and its number (the
served log keeps one run per service start); a uuid4 per request cost a system call."""


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring a JSON request body of this model (parsed by the route)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {JSON: {"schema": ref}}}}


def service_of(request: Request) -> Service:
    """The Service of the app that received the request."""
    return request.app.state.service  # type: ignore[no-any-return]


def check_media_type(headers: Mapping[str, str]) -> None:
    """415 unless the body is JSON (a missing Content-Type is read as JSON)."""
    kind = headers.get("content-type", JSON).split(";")[0].strip().lower()
    if kind != JSON and not kind.endswith("+json"):
        raise ProblemError("unsupported-media-type", f"got {kind!r}, send {JSON}")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused past `limit` bytes even without a Content-Length."""
    check_media_type(request.headers)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError("payload-too-large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse(model: type[M], body: bytes) -> M:
    """The body as a request model; errors name each field that is wrong."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise ProblemError("malformed-request", str(e.errors()[0]["msg"])) from None
        errors = [
            {"where": ".".join(map(str, err["loc"])) or "body", "message": err["msg"]}
            for err in e.errors()
        ]
        raise ProblemError(
            "invalid-request", "the request does not have the expected shape", errors=errors
        ) from None


def problem_answer(service: Service, error: ProblemError) -> Answer:
    """A problem as an Answer (so an idempotency key replays it as well)."""
    service.metrics.errors.labels(error.kind).inc()
    return Answer(
        KINDS[error.kind].status,
        problem_body(error.kind, error.detail, errors=error.errors),
        MEDIA_TYPE,
    )


async def respond(
    service: Service,
    route: str,
    key: str | None,
    body: bytes,
    compute: Callable[[str], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """Compute the answer once per idempotency key (or every time without one); True when
    the answer is a replay."""

    async def guarded() -> Answer:
        try:
            return await compute(key or f"{_STARTED}-{next(_REQUESTS)}")
        except ProblemError as e:
            return problem_answer(service, e)

    if key is None:
        return await guarded(), False
    return await service.idempotency.run(route, key, body, guarded)


def to_response(answer: Answer, replayed: bool) -> Response:
    """An Answer as a Starlette response (marked when replayed)."""
    headers = {REPLAYED: "true"} if replayed else None
    return Response(answer.body, answer.status, headers=headers, media_type=answer.media_type)


Handler = Callable[["Service", Mapping[str, str], bytes], Awaitable[tuple[Answer, bool]]]
"""A hot route's work once authorised and read: headers and body in, the answer out."""


async def routed(request: Request, handler: Handler) -> Response:
    """A hot route served through FastAPI: auth, the body, the handler."""
    service = service_of(request)
    service.auth.check(request.headers.get("authorization"))
    body = await read_body(request, service.config.max_body)
    return to_response(*await handler(service, request.headers, body))


async def decide_answer(
    service: Service, headers: Mapping[str, str], body: bytes
) -> tuple[Answer, bool]:
    """`/v1/decide`: one client's answer (once per idempotency key)."""

    async def compute(request_key: str) -> Answer:
        req = parse(DecideRequest, body)
        release = service.holder.current
        decider = service.decider
        decider.check_decisions(release, req.decisions)
        as_of = req.as_of or dt.date.today()
        facts: Any = req.facts
        if facts is None:
            facts = await run_in_threadpool(decider.facts, release, None, req.client_id, as_of)
        outcome, seen = decider.decide(release, facts, as_of, req.client_id)
        decider.record(outcome, request_key)
        if outcome.errors:
            raise invalid_facts(outcome)
        answer = decider.answer(release, outcome, seen, req.decisions, req.trace)
        return Answer(200, dumps(answer), JSON)

    return await respond(service, "decide", headers.get("idempotency-key"), body, compute)


async def batch_answer(
    service: Service, headers: Mapping[str, str], body: bytes
) -> tuple[Answer, bool]:
    """`/v1/decide:batch`: every client's outcome, in order (once per idempotency key)."""

    async def compute(request_key: str) -> Answer:
        req = parse(BatchRequest, body)
        limit = service.config.max_batch
        if len(req.clients) > limit:
            raise ProblemError(
                "payload-too-large", f"{len(req.clients)} clients in one call, the limit is {limit}"
            )
        release = service.holder.current
        service.decider.check_decisions(release, req.decisions)
        data = await run_in_threadpool(
            service.decider.decide_batch,
            release,
            req.clients,
            req.as_of,
            req.decisions,
            req.trace,
            request_key,
        )
        return Answer(200, data, JSON)

    return await respond(service, "batch", headers.get("idempotency-key"), body, compute)


HOT_ROUTES: dict[str, Handler] = {"/v1/decide": decide_answer, "/v1/decide:batch": batch_answer}
"""The routes the fast lane (fastlane.py) answers without FastAPI's per-request machinery."""


@router.post(
    "/v1/decide",
    response_model=Decided,
    responses=openapi_responses(
        *_COMMON,
        "invalid-request",
        "invalid-facts",
        "unknown-decision",
        "unknown-client",
        "fact-source-failed",
        "idempotency-conflict",
        "unsupported-media-type",
    ),
    openapi_extra=body_schema(DecideRequest),
    summary="Decide for one client",
)
async def decide(request: Request) -> Response:
    """The client's outcome, the release that decided it and, with `trace`, every rule tried."""
    return await routed(request, decide_answer)


@router.post(
    "/v1/decide:batch",
    response_model=BatchResponse,
    responses=openapi_responses(
        *_COMMON,
        "invalid-request",
        "unknown-decision",
        "idempotency-conflict",
        "unsupported-media-type",
    ),
    openapi_extra=body_schema(BatchRequest),
    summary="Decide for several clients",
)
async def decide_batch(request: Request) -> Response:
    """One outcome per client, in order; a bad client is its own outcome's error."""
    return await routed(request, batch_answer)


@router.get(
    "/v1/pack",
    response_model=PackInfo,
    responses=openapi_responses("unauthorized"),
    summary="The serving pack",
)
async def pack(request: Request) -> Response:
    """Decisions, inputs with types, rules with file:line, hash, loaded-at, last reload error."""
    service = service_of(request)
    service.auth.check(request.headers.get("authorization"))
    release = service.holder.current
    p = release.engine.pack
    failure = service.holder.last_error
    info = PackInfo(
        hash=release.hash,
        version=release.version,
        loaded_at=release.loaded_at,
        source=str(release.source),
        profile=release.profile is not None,
        decisions=[
            DecisionInfo(
                name=d.name,
                description=d.description,
                hit_policy=d.hit_policy,
                at=str(d.pos),
                outputs={k: str(t) for k, t in d.output_types.items()},
                rules=[
                    RuleInfo(id=r.id, at=str(r.pos), condition=r.text, because=r.because)
                    for r in d.rules
                ],
            )
            for d in p.decisions
        ],
        inputs=[InputInfo(name=n, type=str(t), unit=t.unit) for n, t in p.inputs.items()],
        last_reload_error=ReloadError(
            at=failure.at, message=failure.message, problems=failure.problems
        )
        if failure
        else None,
    )
    return Response(info.model_dump_json(), media_type=JSON)


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Response:
    """The process answers."""
    return Response(b'{"status":"ok"}', media_type=JSON)


@router.get(
    "/readyz", response_model=Health, responses=openapi_responses("not-ready"), summary="Readiness"
)
async def readyz(request: Request) -> Response:
    """Ready while a release serves and the service is not stopping."""
    service = service_of(request)
    if service.stopping:
        raise ProblemError("not-ready", "the service is stopping")
    return Response(
        dumps({"status": "ready", "pack_hash": service.holder.current.hash}), media_type=JSON
    )


@router.get(
    "/metrics",
    responses={200: {"content": {"text/plain": {}}}, **openapi_responses("unauthorized")},
    response_class=Response,
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    """Requests and latency per route, decisions per output, reloads, reload failures, errors."""
    service = service_of(request)
    service.auth.check(request.headers.get("authorization"))
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)
