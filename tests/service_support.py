"""Helpers of the service tests: a real uvicorn server on 127.0.0.1, in a thread of this
process or as a `tierwise serve` subprocess, and a copy of the shipped packs to edit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tierwise.service.app import create_app
from tierwise.service.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "rules"
HOST = "127.0.0.1"

RICH = {
    "client_id": "42",
    "clv_percentile": 90,
    "margin_12m": 2000,
    "purchases_per_year": 8,
    "tenure_years": 4,
    "lifecycle_stage": "mature",
    "rfm_score": 12,
    "open_complaints": 1,
    "csat_last": 2,
    "preferred_channel": "email",
    "marketing_consent": "granted",
}
"""A client of the shipped packs whose facts make several rules of each decision match."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def copy_pack(folder: Path) -> Path:
    """A copy of the shipped packs in `folder`, to edit without touching the repository."""
    target = folder / "rules"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return target


@contextmanager
def running(config: ServiceConfig) -> Iterator[str]:
    """Serve `config` with uvicorn in a thread; yields the base URL, stops on exit."""
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def config(rules: Path, **options: Any) -> ServiceConfig:
    """A loopback service config on a free port."""
    return ServiceConfig(rules=rules, host=HOST, port=free_port(), **options)


@contextmanager
def subprocess_server(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`tierwise serve ARGS` in a subprocess on a free port; yields (process, base URL)."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("tierwise")), "serve", "--port", str(port), *args]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"tierwise serve did not start:\n{out}")
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
