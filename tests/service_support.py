"""Helpers of the service tests: a real uvicorn server on 127.0.0.1, in a thread of this
process or as a `tierwise serve` subprocess, and a copy of the shipped packs to edit."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tierwise import Engine
from tierwise.profile import Profile
from tierwise.service.app import create_app
from tierwise.service.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "rules"
HOST = "127.0.0.1"

RICH = {
    "client_id": "42",
    "revenue_12m": 2400.0,
    "revenue_24m": 4000.0,
    "direct_costs_12m": 1000.0,
    "relationship_costs_12m": 100.0,
    "churn_risk": 0.1,
    "first_purchase_at": "2021-06-01",
    "last_purchase_at": "2025-12-20",
    "orders_12m": 9,
    "orders_total": 30,
    "revenue_total": 9000.0,
    "open_complaints": 1,
    "csat_last": 2,
    "csat_avg_90d": 2.5,
    "csat_avg_365d": 4.0,
    "nps_last": 9,
    "preferred_channel": "email",
    "marketing_consent": "granted",
}
"""A client of the shipped packs whose facts make several rules of each decision match
(decided with PROFILE: a high-value client with an open complaint)."""

PROFILE = {
    "purchase_model": [0.6, 128.0, 0.8, 2.5],
    "mean_order_value": 110.0,
    "recency_cuts": [30.0, 90.0, 180.0, 365.0],
    "frequency_cuts": [1.0, 2.0, 4.0, 8.0],
    "revenue_cuts": [100.0, 500.0, 1000.0, 2000.0],
    "clv_cuts": [30.0 * k for k in range(1, 100)],
    "revenue_percentile_cuts": [30.0 * k for k in range(1, 100)],
}
"""Statistics of a base for the shipped packs' facts, fixed so that the tests are exact."""


def shipped_profile() -> Profile:
    """PROFILE as the shipped packs' Profile."""
    return Profile.given(Engine.from_path(SHIPPED).pack, PROFILE)


def profile_file() -> Path:
    """PROFILE as the JSON file `--profile` takes (written once per test process)."""
    path = Path(tempfile.gettempdir()) / f"tierwise-test-profile-{os.getpid()}.json"
    if not path.exists():
        path.write_text(json.dumps(shipped_profile().to_json()))
    return path


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
    """A loopback service config on a free port, deciding with PROFILE unless told."""
    options.setdefault("profile", profile_file())
    return ServiceConfig(rules=rules, host=HOST, port=free_port(), **options)


@contextmanager
def subprocess_server(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`tierwise serve ARGS` in a subprocess on a free port; yields (process, base URL)."""
    port = free_port()
    if "--profile" not in args and "--profile-log" not in args:
        args = [*args, "--profile", str(profile_file())]
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
