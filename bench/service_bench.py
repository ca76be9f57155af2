"""Issue 14 item 7: `tierwise serve` under a bounded load on loopback, and the per-client path
beside zen-engine on two data shapes, in one run.

Service: a real `tierwise serve` (shipped packs, uvicorn with httptools and uvloop) in a
subprocess, driven by an asyncio HTTP/1.1 client over keep-alive connections: (1) closed
loop, the most requests/s it answers; (2) open loop at a fixed rate (default 1,000/s),
latency from each request's scheduled time, so queueing counts; (3) `/v1/decide:batch`,
clients/s. The floors are a bare ASGI hello-world and an empty FastAPI route under the same
server and load generator; each load row says how much of a core the server and the load
generator used.
Every load is bounded in count and time and targets 127.0.0.1 only.

In process: `Engine.decide` (one call per client), `Engine.decide_many` and zen-engine's
`ZenEngine.evaluate` on the peer spec `pack3`, on the peers' own generator and on
continuous clients (lognormal CLV and revenue unrounded, about 2% of each fact missing,
about 1% exactly on a threshold a rule tests), answers checked against hand-written Python.

    python -m bench.service_bench [--seconds 5] [--rate 1000] [--rounds 3] [--clients 100000]
        [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import Request, Response  # at module level: FastAPI resolves the route's hints here

from .spec import AS_OF, INPUTS, SPECS, Spec, count_mismatches, generate, generate_columns

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MISSING = 0.02
ON_THRESHOLD = 0.01

# -- data shapes ---------------------------------------------------------------------------


def thresholds(spec: Spec) -> dict[str, list[Any]]:
    """Every literal a rule compares a numeric fact with, by fact."""
    found: dict[str, set[Any]] = {}
    for d in spec.decisions:
        for r in d.rules:
            for t in r.tests:
                if t.op in (">=", ">", "<=", "<") and t.field in INPUTS:
                    found.setdefault(t.field, set()).add(t.value)
    return {k: sorted(v) for k, v in found.items()}


def continuous_clients(n: int, spec: Spec, seed: int = 7) -> list[dict[str, Any]]:
    """Clients whose money facts are continuous: lognormal CLV and revenue (not rounded),
    costs a continuous share of revenue; about 1% of each tested numeric fact sits exactly
    on a threshold, and about 2% of every fact is missing."""
    rng = np.random.default_rng(seed)
    cols = generate_columns(n, seed)
    clv = np.exp(rng.normal(8.4, 1.4, n))
    revenue = np.exp(rng.normal(7.2, 1.2, n))
    cols["clv"] = clv.tolist()
    cols["revenue_12m"] = revenue.tolist()
    cols["direct_costs_12m"] = (revenue * rng.uniform(0.3, 1.5, n)).tolist()
    for name, values in thresholds(spec).items():
        column = cols[name]
        for i in np.flatnonzero(rng.random(n) < ON_THRESHOLD).tolist():
            column[i] = values[int(rng.integers(len(values)))]
    for name in INPUTS:
        column = cols[name]
        for i in np.flatnonzero(rng.random(n) < MISSING).tolist():
            column[i] = None
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def sample_clients(n: int) -> tuple[list[dict[str, Any]], dt.date]:
    """Up to `n` clients of the bundled sample CRM, their facts as a CRM would send them
    (JSON: dates as text, missing facts null), and the sample's date; creates the sample
    and its profile first, as `tierwise serve` with no arguments does (in ./tierwise-sample).
    The sample's dirty clients (about 2%, answered 422) are left out: every request counts."""
    import itertools

    import tierwise
    from tierwise.adapters import open_source
    from tierwise.plugins.builtin_run import _sample
    from tierwise.plugins.builtin_serve import sample_profile

    sample_profile()
    source, mapping, day, _ = _sample(10_000, None, None, None)
    engine = tierwise.Engine.from_path(ROOT / "rules")
    profile = shipped_profile()
    src = open_source(source, mapping)
    try:
        records = [r for r in src.clients(day, engine.pack.inputs) if isinstance(r, dict)]
    finally:
        src.close()
    valid = (r for r in records if not engine.decide(r, day, profile=profile).errors)
    return [orjson.loads(orjson.dumps(r)) for r in itertools.islice(valid, n)], day


def shipped_profile() -> Any:
    """The sample CRM's profile that `tierwise serve` with no arguments decides with."""
    from tierwise.plugins.builtin_serve import sample_profile
    from tierwise.profile import Profile

    return Profile.from_json(orjson.loads(sample_profile().read_bytes()))


# -- in process ------------------------------------------------------------------------------


def in_process(clients: int, repeats: int) -> list[tuple[str, str, float, int]]:
    """(data shape, runner, clients/s median, mismatches) for tierwise and zen on pack3."""
    import tierwise

    from .peers_tierwise import _pack, tierwise_answer
    from .peers_zen import ZenEvaluate

    spec = SPECS["pack3"]
    engine = tierwise.Engine.from_path(_pack(spec))  # warm across rounds, as zen's is
    answer = tierwise_answer(spec)
    day = dt.date.fromisoformat(AS_OF)
    zen = ZenEvaluate(spec)

    def decide(cs: list[dict[str, Any]]) -> list[Any]:
        d = engine.decide
        return [answer(d(c, day)) for c in cs]

    def many(cs: list[dict[str, Any]]) -> list[Any]:
        return [answer(o) for o in engine.decide_many(cs, day)]

    runners: list[tuple[str, Callable[[list[dict[str, Any]]], list[Any]]]] = [
        ("tierwise Engine.decide", decide),
        ("tierwise Engine.decide_many", many),
        ("zen-engine ZenEngine.evaluate", zen.run),
    ]
    shapes = {
        "peers' generator": generate(clients),
        "continuous, 2% missing, 1% on thresholds": continuous_clients(clients, spec),
    }
    rows = []
    for shape, data in shapes.items():
        times: dict[str, list[float]] = {name: [] for name, _ in runners}
        bad: dict[str, int] = {}
        for _ in range(repeats):
            for name, run in runners:  # runners take turns, so noise hits each alike
                started = time.perf_counter()
                answers = run(data)
                times[name].append(time.perf_counter() - started)
                bad[name] = count_mismatches(spec, data, answers)[0]
        for name, _ in runners:
            rows.append((shape, name, clients / statistics.median(times[name]), bad[name]))
    return rows


# -- the load generator --------------------------------------------------------------------


def _request(path: str, body: bytes) -> bytes:
    """A POST with a JSON body, as bytes on the wire."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request and read its whole answer; its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def closed_loop(
    port: int, requests: list[bytes], connections: int, seconds: float, limit: int
) -> tuple[int, float, list[float], int]:
    """Each connection sends its next request as soon as the last is answered."""
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds
    sent = 0

    async def worker(w: int) -> None:
        nonlocal failures, sent
        reader, writer = await asyncio.open_connection(HOST, port)
        i = w
        while time.perf_counter() < stop and sent < limit:
            sent += 1
            t = time.perf_counter()
            if await _exchange(reader, writer, requests[i % len(requests)]) != 200:
                failures += 1
            latencies.append(time.perf_counter() - t)
            i += connections
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    return len(latencies), time.perf_counter() - started, latencies, failures


async def open_loop(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int
) -> tuple[int, float, list[float], int]:
    """Request k is due at start + k/rate; its latency counts from then (queueing included)."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter() + 0.05

    async def worker(w: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(HOST, port)
        for k in range(w, total, connections):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if await _exchange(reader, writer, requests[k % len(requests)]) != 200:
                failures += 1
            latencies.append(time.perf_counter() - due)
        writer.close()

    await asyncio.gather(*(worker(w) for w in range(connections)))
    return len(latencies), time.perf_counter() - start, latencies, failures


def _p(latencies: list[float], q: float) -> float:
    """The q-quantile of latencies, in milliseconds."""
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    """Start a server subprocess and wait (bounded) until it accepts connections."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server on port {port} did not start")


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: an ASGI app that reads the body and answers a fixed JSON."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


def _empty_route() -> Any:
    """The second floor: a FastAPI app whose one POST route reads the body and answers a
    fixed JSON (FastAPI's own per-request cost, which tierwise's fast lane skips)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/decide")
    async def decide(request: Request) -> Response:
        """Reads the body, answers a fixed JSON."""
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    return app


def hello_server(port: int, fastapi: bool) -> None:
    """Serve a floor app under the same uvicorn options as tierwise serve."""
    import uvicorn

    uvicorn.run(
        _empty_route() if fastapi else _hello,
        host=HOST,
        port=port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


def engine_alone(clients: list[dict[str, Any]], day: dt.date) -> list[tuple[str, str, str]]:
    """The ceiling of both routes on one core: `decide_many` over the same clients, in process."""
    import tierwise

    engine = tierwise.Engine.from_path(ROOT / "rules")
    profile = shipped_profile()
    list(engine.decide_many(clients, day, profile=profile))  # warm: rulesets built, memo reviewed
    rows = []
    for label, run in (
        ("Engine.decide_many", lambda: list(engine.decide_many(clients, day, profile=profile))),
        ("Engine.decide", lambda: [engine.decide(c, day, profile=profile) for c in clients]),
    ):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        rate = len(clients) / statistics.median(times)
        rows.append(
            (
                f"shipped packs, {label} in process",
                f"{rate:,.0f} clients/s",
                "no HTTP: the per-client floor of both routes, on one core",
            )
        )
    return rows


def request_cost(clients: list[dict[str, Any]], day: dt.date) -> list[tuple[str, str, str]]:
    """Microseconds a request costs without sockets: through the whole ASGI app (limits, fast
    lane, handler), through the handler's work alone, and the engine alone."""
    from tierwise.plugins.builtin_serve import sample_profile
    from tierwise.service.app import create_app
    from tierwise.service.config import ServiceConfig
    from tierwise.service.deciding import dumps
    from tierwise.service.models import DecideRequest

    config = ServiceConfig(rules=ROOT / "rules", profile=sample_profile(), watch=False)
    app = create_app(config)
    service = app.app.service  # type: ignore[attr-defined]
    bodies = [orjson.dumps({"facts": c, "as_of": day}) for c in clients]
    profile = service.holder.current.profile

    async def through_app(body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/decide",
            "headers": headers,
            "query_string": b"",
            "http_version": "1.1",
            "scheme": "http",
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise SystemExit(f"the app answered {message['status']}")

        await app(scope, receive, send)

    async def app_loop() -> None:
        for body in bodies:
            await through_app(body)

    def handler_loop() -> None:
        release, decider = service.holder.current, service.decider
        for body in bodies:
            req = DecideRequest.model_validate_json(body)
            outcome, seen = decider.decide(release, req.facts, req.as_of or day, None)
            decider.record(outcome, "bench")
            dumps(decider.answer(release, outcome, seen, None, False))

    def engine_loop() -> None:
        engine = service.holder.current.engine
        for body in bodies:
            engine.decide(orjson.loads(body)["facts"], day, profile=profile)

    asyncio.run(app_loop())  # warm
    costs = []
    for label, run in (
        ("whole app (limits, fast lane, handler)", lambda: asyncio.run(app_loop())),
        ("handler: parse, enrich, decide, log, serialise", handler_loop),
        ("engine: Engine.decide alone", engine_loop),
    ):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        us = statistics.median(times) / len(bodies) * 1e6
        costs.append((f"/v1/decide in process: {label}", f"{us:,.0f} us a request", "no sockets"))
    return costs


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rounds(
    proc: subprocess.Popen[bytes], load: Callable[[], Any], rounds: int, per_call: int = 1
) -> tuple[str, str]:
    """Run a load `rounds` times: the median rate (requests/s, or clients/s with `per_call`
    clients a request), and the median p50 and p99 (the p99s' range), failures summed, and
    the median share of a core that the server and the load generator (this process) each
    used meanwhile, so a reader sees who had the CPU."""
    rates, p50s, p99s, shares, own_shares = [], [], [], [], []
    failed = 0
    for _ in range(rounds):
        server, own, started = _cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
        n, took, lat, bad = asyncio.run(load())
        wall = time.perf_counter() - started
        shares.append((_cpu_seconds(proc.pid) - server) / wall)
        own_shares.append((time.process_time() - own) / wall)
        rates.append(n * per_call / took)
        p50s.append(_p(lat, 0.5))
        p99s.append(_p(lat, 0.99))
        failed += bad
    median = statistics.median
    return f"{median(rates):,.0f}", (
        f"p50 {median(p50s):.2f} ms, p99 {median(p99s):.2f} ms "
        f"({min(p99s):.2f}-{max(p99s):.2f}), {failed} failed; "
        f"CPU: server {median(shares):.0%}, generator {median(own_shares):.0%}"
    )


def service_runs(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(what, figure, note) rows for the floor, /v1/decide and /v1/decide:batch."""
    clients, day = sample_clients(5000)
    singles = [_request("/v1/decide", orjson.dumps({"facts": c, "as_of": day})) for c in clients]
    batches = [
        _request(
            "/v1/decide:batch",
            orjson.dumps(
                {"clients": [{"facts": c} for c in clients[i : i + args.batch]], "as_of": day}
            ),
        )
        for i in range(0, len(clients), args.batch)
    ]
    rows = [*engine_alone(clients, day), *request_cost(clients[:2000], day)]
    for label, argv in (
        ("bare ASGI hello-world (floor)", [sys.executable, "-m", "bench.service_bench", "--hello"]),
        (
            "empty FastAPI route (floor)",
            [sys.executable, "-m", "bench.service_bench", "--hello", "--fastapi"],
        ),
        (
            "tierwise serve /v1/decide",
            [
                str(Path(sys.executable).with_name("tierwise")),
                "serve",
                "--no-watch",
                "--max-concurrency",
                "1000",
            ],
        ),
    ):
        port = _free_port()
        proc = _start([*argv, "--port", str(port)], port)
        try:
            asyncio.run(closed_loop(port, singles, 4, 1.0, 2000))  # warm up
            rate, note = _rounds(
                proc,
                lambda port=port: closed_loop(
                    port, singles, args.connections, args.seconds, args.limit
                ),
                args.rounds,
            )
            rows.append((label, f"{rate} req/s closed loop ({args.connections} conn)", note))
            rate, note = _rounds(
                proc,
                lambda port=port: open_loop(
                    port, singles, args.rate, args.seconds, args.connections
                ),
                args.rounds,
            )
            rows.append((label, f"{rate} req/s open loop at {args.rate:,.0f}/s", note))
            if "tierwise" in label:
                rate, note = _rounds(
                    proc,
                    lambda port=port: closed_loop(port, batches, 2, args.seconds, args.limit),
                    args.rounds,
                    args.batch,
                )
                rows.append(
                    (
                        "tierwise serve /v1/decide:batch",
                        f"{rate} clients/s ({args.batch} a call, 2 conn)",
                        f"{note} (latency a call)",
                    )
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def main() -> None:
    """Run the service loads, then the in-process comparison, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--limit", type=int, default=200_000, help="requests per load, at most")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=100_000, help="in-process clients")
    parser.add_argument("--repeats", type=int, default=3, help="in-process rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each service load")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--hello", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fastapi", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hello:
        hello_server(args.port, args.fastapi)
        return
    print(
        f"# service bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
    )
    if not args.skip_service:
        print("\n| what | rate | latency |\n|---|---:|---|")
        for what, figure, note in service_runs(args):
            print(f"| {what} | {figure} | {note} |")
    if not args.skip_in_process:
        rows = in_process(args.clients, args.repeats)
        print(
            "\n| data | engine | clients/s | ratio to zen | mismatches |\n|---|---|---:|---:|---:|"
        )
        for shape in dict.fromkeys(r[0] for r in rows):
            zen = next(r[2] for r in rows if r[0] == shape and r[1].startswith("zen"))
            for s, name, rate, bad in rows:
                if s == shape:
                    print(f"| {s} | {name} | {rate:,.0f} | {rate / zen:.2f} | {bad} |")


if __name__ == "__main__":
    main()
