"""Running the app under uvicorn: httptools and uvloop when installed, a graceful drain on
SIGTERM (in-flight requests finish, then the decision log is flushed), SIGHUP to reload."""

from __future__ import annotations

import importlib.util
import logging

import uvicorn

from .app import create_app
from .config import ServiceConfig

DRAIN_SECONDS = 30
"""How long SIGTERM waits for in-flight requests before it closes their connections."""


def serve(config: ServiceConfig, *, access_log: bool = False) -> None:
    """Serve until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(config)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="on",
        access_log=access_log,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        server_header=False,
        log_config=None,
    )
