"""The app factory: builds the FastAPI app of one service (releases, auth, limits, routes,
callers, metrics, the served-decision log) and wraps it in the limits layer."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import tierwise
from tierwise.plugins.manager import get_plugin_manager

from . import api
from .api import HOT_ROUTES
from .auth import BearerAuth
from .callers import routes as caller_routes
from .callers.hubspot import available as hubspot_available
from .config import ConfigError, ServiceConfig
from .deciding import Decider
from .fact_source import FactSource
from .fastlane import FastLane
from .idempotency import IdempotencyStore
from .limits import Guard
from .metrics import Metrics
from .models import BatchRequest, DecideRequest, Problem
from .payload import CallersModel, load_callers
from .problems import ProblemError, problem_response
from .releases import ReleaseHolder, Watcher, load_profile
from .served_log import ServedLog

log = logging.getLogger("tierwise.service")

_HTTP_KINDS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    400: "malformed-request",
}


@dataclass
class Service:
    """Everything a request reads: the serving release, the decider, auth, limits, stores."""

    config: ServiceConfig
    holder: ReleaseHolder
    decider: Decider
    auth: BearerAuth
    metrics: Metrics
    idempotency: IdempotencyStore
    callers: CallersModel
    served_log: ServedLog | None = None
    fact_source: FactSource | None = None
    watcher: Watcher | None = None
    stopping: bool = False


def build_service(config: ServiceConfig) -> Service:
    """Load the first release (a broken pack stops the start, with every error) and the rest."""
    config.check()
    metrics = Metrics()

    def counted(ok: bool) -> None:
        (metrics.reloads if ok else metrics.reload_failures).inc()
        metrics.release.set(holder.current.version)

    profile = load_profile(config.profile, config.profile_log)
    holder = ReleaseHolder(
        config.rules, profile=profile, run_tests=config.run_tests, on_reload=counted
    )
    metrics.release.set(holder.current.version)
    pack = holder.current.engine.pack
    outputs = {d.name: set(d.output_types) for d in pack.decisions}
    callers = load_callers(config.callers, outputs, {d.name: d.pos for d in pack.derived})
    if config.secrets.hubspot and not hubspot_available():
        raise ConfigError(
            "the HubSpot caller needs the HubSpot SDK: pip install 'tierwise[hubspot]'"
        )
    fact_source = FactSource(config.source, config.mapping) if config.source else None
    pm = get_plugin_manager()
    pm.require_loaded()
    served_log = (
        ServedLog(
            config.log,
            pack_hash=holder.current.hash,
            source=f"service:{config.host}:{config.port}",
            batch=config.log_batch,
            interval=config.log_interval,
            on_pending=metrics.log_pending.set,
            on_error=metrics.errors.labels("decision-log").inc,
        )
        if config.log is not None
        else None
    )
    service = Service(
        config=config,
        holder=holder,
        decider=Decider(pm, fact_source, metrics, served_log),
        served_log=served_log,
        auth=BearerAuth(config.tokens),
        metrics=metrics,
        idempotency=IdempotencyStore(config.idempotency_size),
        callers=callers,
        fact_source=fact_source,
    )
    return service


def create_app(config: ServiceConfig) -> Guard:
    """The ASGI app of `tierwise serve`: FastAPI inside the limits layer."""
    service = build_service(config)
    app = FastAPI(
        title="tierwise",
        version=tierwise.__version__,
        description="Decisions on client facts from the serving rule pack, with explanations.",
        lifespan=_lifespan(service),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    if config.cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.include_router(api.router)
    caller_routes.include(app, config)
    _handlers(app, service)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    inner: Any = app
    if not config.cors:
        routes = {
            path: r for r in api.router.routes if (path := getattr(r, "path", "")) in HOT_ROUTES
        }
        inner = FastLane(app, service, routes)
    return Guard(
        inner,
        max_body=config.max_body,
        max_concurrency=config.max_concurrency,
        timeout=config.timeout,
        metrics=service.metrics,
    )


def _lifespan(service: Service) -> Any:
    """Start the watcher and SIGHUP at startup; at shutdown stop them and flush the log."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = service.config
        if config.watch:
            service.watcher = Watcher(service.holder)
            service.watcher.start()
        _on_sighup(service)
        gc.collect()
        gc.freeze()  # the loaded pack moves out of the collector's way: shorter pauses
        log.info(
            "serving pack %s from %s on %s:%d",
            service.holder.current.hash,
            config.rules,
            config.host,
            config.port,
        )
        try:
            yield
        finally:
            service.stopping = True
            if service.watcher is not None:
                service.watcher.stop()
            if service.served_log is not None:
                service.served_log.close()
            if service.fact_source is not None:
                service.fact_source.close()

    return lifespan


def _on_sighup(service: Service) -> None:
    """SIGHUP forces a reload (in a thread of its own, never in the signal handler)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return

    def reload(_signum: int, _frame: Any) -> None:
        threading.Thread(target=service.holder.reload, name="tierwise-sighup").start()

    signal.signal(signal.SIGHUP, reload)


def _handlers(app: FastAPI, service: Service) -> None:
    """Problem details for every error FastAPI or a route raises."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        service.metrics.errors.labels(exc.kind).inc()
        return problem_response(exc, request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = _HTTP_KINDS.get(exc.status_code, "not-found")
        detail = f"{request.method} {request.url.path}: {exc.detail}"
        return await on_problem(request, ProblemError(kind, detail, headers=exc.headers))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"where": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        return await on_problem(
            request, ProblemError("invalid-request", "the request is not valid", errors=errors)
        )

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("request %s %s failed", request.method, request.url.path, exc_info=exc)
        return await on_problem(
            request, ProblemError("internal", "the error is in the service's log")
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_crash)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with the request bodies the routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    for model in (DecideRequest, BatchRequest, Problem):
        body = model.model_json_schema(ref_template=ref)
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    app.openapi_schema = schema
    return schema
