"""Issue 2 item 10: tierwise's per-client path beside a bare durable loop and hand-written Python.

For (a) a 20-rule first-hit decision, (b) a 20-rule collect decision and (c) a pack of three
decisions (two first-hit, one collect, 22 rules), times `Engine.decide` one client at a
time and `Engine.decide_many` over generated clients, next to a bare loop over durable's C
extension and hand-written Python for the same rules, all in one run: the median of several
repeats (the runners take turns, so machine noise hits each alike). Every engine's answers
are checked against the hand-written ones.

    python -m bench.engine_bench [--clients 100000] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tierwise

from .peers_durable_c import DurableC
from .spec import (
    AS_OF,
    SPECS,
    Answer,
    Spec,
    count_mismatches,
    generate,
    tierwise_answer,
    write_tierwise,
)
from .table import load, markdown

TARGETS = {"first20": 80_000, "pack3": 60_000}
"""decide_many clients/s that issue 2 asks for on this 2-core machine."""

Runner = Callable[[list[dict[str, Any]]], list[Answer]]


def runners(spec: Spec, folder: Path) -> dict[str, Callable[[], Runner]]:
    """The four ways to answer a spec. Each entry makes a fresh runner: tierwise's runners
    get a new Engine every time, so no run profits from what an earlier one remembered."""
    pack = tierwise.Engine.from_path(write_tierwise(spec, folder)).pack
    as_of = dt.date.fromisoformat(AS_OF)
    answer = tierwise_answer(spec)
    durable = DurableC(spec)
    handwritten = spec.handwritten

    def decide_each() -> Runner:
        decide = tierwise.Engine(pack).decide
        return lambda clients: [answer(decide(c, as_of)) for c in clients]

    def decide_many() -> Runner:
        engine = tierwise.Engine(pack)
        return lambda clients: [answer(o) for o in engine.decide_many(clients, as_of)]

    def by_hand(clients: list[dict[str, Any]]) -> list[Answer]:
        return [handwritten(c) for c in clients]

    return {
        "tierwise decide (one at a time)": decide_each,
        "tierwise decide_many": decide_many,
        "durable C extension, bare loop": lambda: durable.run,
        "hand-written Python": lambda: by_hand,
    }


def measure(spec: Spec, clients: list[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    """Run every runner `repeats` times in turn, each time fresh; one row per runner."""
    with tempfile.TemporaryDirectory() as tmp:
        makers = runners(spec, Path(tmp))
        rates: dict[str, list[float]] = {name: [] for name in makers}
        checks: dict[str, tuple[int, list[str]]] = {}
        for _ in range(repeats):
            for name, make in makers.items():
                run = make()
                start = time.perf_counter()
                answers = run(clients)
                rates[name].append(len(clients) / (time.perf_counter() - start))
                if name not in checks:
                    checks[name] = count_mismatches(spec, clients, answers)
    return [
        {
            "engine": name,
            "median": statistics.median(r),
            "min": min(r),
            "max": max(r),
            "mismatches": checks[name][0],
            "examples": checks[name][1],
        }
        for name, r in rates.items()
    ]


def print_table(spec: Spec, rows: list[dict[str, Any]], n: int, repeats: int) -> None:
    """One table per spec: clients/s, and decide_many's ratio to each engine."""
    many = next(r["median"] for r in rows if r["engine"] == "tierwise decide_many")
    kinds = "+".join(d.hit_policy for d in spec.decisions)
    print(
        f"\n## {spec.name}: {len(spec.decisions)} decision(s) ({kinds}), {spec.rule_count} rules, "
        f"{n:,} clients, median of {repeats}\n"
    )
    headers = ["engine", "clients/s", "range", "us/client", "decide_many / this", "mismatches"]
    table = [
        [
            r["engine"],
            f"{r['median']:,.0f}",
            f"{r['min']:,.0f}-{r['max']:,.0f}",
            f"{1e6 / r['median']:.1f}",
            f"{many / r['median']:.2f}",
            f"{r['mismatches']:,}",
        ]
        for r in rows
    ]
    print(markdown(headers, table, right={1, 2, 3, 4, 5}))
    for r in rows:
        for example in r["examples"]:
            print(f"  mismatch in {r['engine']}: {example}")
    target = TARGETS.get(spec.name)
    if target:
        verdict = "met" if many >= target else "NOT met"
        print(f"\ntarget: decide_many >= {target:,} clients/s: {verdict} ({many:,.0f})")


def profile(spec: Spec, clients: list[dict[str, Any]], top: int = 25) -> str:
    """cProfile of decide_many over the clients; the top functions by own time."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = tierwise.Engine.from_path(write_tierwise(spec, Path(tmp)))
        as_of = dt.date.fromisoformat(AS_OF)
        answer = tierwise_answer(spec)
        profiler = cProfile.Profile()
        profiler.enable()
        for outcome in engine.decide_many(clients, as_of):
            answer(outcome)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=int, default=100_000, help="clients per run (default 100,000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per engine; the median is shown"
    )
    parser.add_argument("--missing", type=float, default=0.02, help="chance that a fact is missing")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--specs", default="first20,collect20,pack3", help="comma-separated")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile decide_many (top 25 by tottime)"
    )
    parser.add_argument("--profile-clients", type=int, default=20_000)
    args = parser.parse_args(argv)
    clients = generate(args.clients, args.seed, args.missing)
    print(
        f"# tierwise engine bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.clients:,} clients (missing facts {args.missing:.0%}), {args.repeats} repeats, "
        f"{load()}"
    )
    for name in args.specs.split(","):
        spec = SPECS[name]
        print_table(spec, measure(spec, clients, args.repeats), len(clients), args.repeats)
    print(f"\nafter the run: {load()}")
    if args.profile:
        for name in args.specs.split(","):
            print(f"\n## cProfile: tierwise decide_many, {name}, {args.profile_clients:,} clients")
            print(profile(SPECS[name], clients[: args.profile_clients]))


if __name__ == "__main__":
    main()
