"""Issue 5 item 5: tierwise beside its peers on one spec of three decisions and 22 rules.

Every engine decides the same generated clients (the `pack3` spec: a first-hit over
numbers, a first-hit over enums and strings, a collect) at each size, in its own
subprocess so that peak memory is its own: clients/s, peak resident memory, the ratio to
tierwise, and mismatches against hand-written Python, printed as one table from one run.
Per-client engines beyond --max-per-client clients (and slow peers beyond --max-slow) run
on the first clients of the set and their clients/s is extrapolated; the table says so.

    python -m bench.peers [--sizes 100000,1000000] [--engines ...] [--full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import SPECS, Answer, Spec, count_mismatches, generate, generate_columns
from .table import load, markdown

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class EngineEntry:
    """Where a runner lives and how it is sampled: `slow` peers get the --max-slow cap."""

    module: str
    cls: str
    pip: str
    slow: bool = False
    per_client: bool = True
    note: str = ""


ENGINES: dict[str, EngineEntry] = {
    "tierwise": EngineEntry("bench.peers_tierwise", "TierwiseMany", "tierwise"),
    "tierwise-arrow": EngineEntry(
        "bench.peers_tierwise", "TierwiseArrow", "tierwise", per_client=False
    ),
    "tierwise-file": EngineEntry(
        "bench.peers_tierwise",
        "TierwiseFile",
        "tierwise",
        per_client=False,
        note="time of the decide_file call",
    ),
    "zen": EngineEntry("bench.peers_zen", "ZenEvaluate", "zen-engine"),
    "zen-batch": EngineEntry("bench.peers_zen", "ZenBatch", "zen-engine"),
    "zen-decision": EngineEntry(
        "bench.peers_zen",
        "ZenDecisionEvaluate",
        "zen-engine",
        slow=True,
        note="a note: not zen at its best",
    ),
    "durable": EngineEntry("bench.peers_durable", "DurableWrapper", "durable-rules", slow=True),
    "durable-c": EngineEntry("bench.peers_durable_c", "DurableC", "durable-rules"),
    "business-rules": EngineEntry(
        "bench.peers_business_rules", "BusinessRules", "business-rules", slow=True
    ),
    "rule-engine": EngineEntry("bench.peers_rule_engine", "RuleEngine", "rule-engine", slow=True),
    "handwritten": EngineEntry("bench.peers", "HandWritten", "", per_client=False),
}


class HandWritten:
    """The spec's hand-written Python, in a plain loop: the reference answers."""

    name = "hand-written Python"
    kind = "dicts"

    def __init__(self, spec: Spec) -> None:
        self.handwritten = spec.handwritten

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        handwritten = self.handwritten
        return [handwritten(c) for c in clients]


# -- the worker: one engine, one size, in its own process ---------------------------------


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS, so the peak measured next is the engine's own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(
    key: str, spec: Spec, size: int, sample: int, seed: int, missing: float
) -> dict[str, Any]:
    """Time one engine on `sample` of `size` clients; return its row of the table."""
    entry = ENGINES[key]
    try:
        cls = getattr(importlib.import_module(entry.module), entry.cls)
    except ImportError as e:
        return {"key": key, "skipped": f"not importable ({e}); pip install {entry.pip}"}
    kind = getattr(cls, "kind", "dicts")
    tmp = Path(tempfile.mkdtemp(prefix="tierwise-peers-"))
    if kind == "dicts":
        data: Any = generate(sample, seed, missing)
    else:
        import pyarrow as pa

        data = pa.table(generate_columns(sample, seed, missing))
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(data, tmp / "clients.parquet")
            data = tmp / "clients.parquet"
    _reset_peak()
    base = _status("VmRSS")
    start = time.perf_counter()
    runner = cls(spec)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    result = runner.run(data)
    elapsed = time.perf_counter() - start
    peak = _status("VmHWM")
    clients = data if kind == "dicts" else generate(sample, seed, missing)
    answers = (
        result if kind == "dicts" else runner.answers(result, [c["client_id"] for c in clients])
    )
    bad, examples = count_mismatches(spec, clients, answers)
    return {
        "key": key,
        "name": runner.name,
        "size": size,
        "sample": sample,
        "seconds": elapsed,
        "setup": setup,
        "rate": sample / elapsed,
        "peak_mb": peak / 1024,
        "base_mb": base / 1024,
        "mismatches": bad,
        "examples": examples,
    }


# -- the driver ---------------------------------------------------------------------------


def combine(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from an engine's repeats: the median clients/s, the highest peak and mismatches."""
    done = [r for r in repeats if "rate" in r]
    if not done:
        return repeats[0]
    row = dict(sorted(done, key=lambda r: r["rate"])[(len(done) - 1) // 2])
    row["peak_mb"] = max(r["peak_mb"] for r in done)
    row["mismatches"] = max(r["mismatches"] for r in done)
    row["repeats"] = len(done)
    return row


def run_one(key: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one worker subprocess and parse its JSON line."""
    entry = ENGINES[key]
    cap = size
    if not args.full and entry.per_client:
        cap = min(cap, args.max_per_client)
    if not args.full and entry.slow:
        cap = min(cap, args.max_slow)
    command = [
        sys.executable,
        "-m",
        "bench.peers",
        "--worker",
        key,
        "--sizes",
        str(size),
        "--sample",
        str(cap),
        "--seed",
        str(args.seed),
        "--missing",
        str(args.missing),
        "--spec",
        args.spec,
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.strip().splitlines()[-3:]
        return {
            "key": key,
            "size": size,
            "skipped": f"worker failed (exit {proc.returncode}): {' | '.join(tail)}",
        }
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["size"] = size
    return row


def print_table(rows: list[dict[str, Any]], spec: Spec, args: argparse.Namespace) -> None:
    """The table: one block per size, every engine's clients/s, memory and ratios to tierwise."""
    runs = "one run" if args.repeats == 1 else f"median of {args.repeats} runs"
    print(
        f"\n## {spec.name}: {len(spec.decisions)} decisions, {spec.rule_count} rules; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; missing facts {args.missing:.0%}; "
        f"{runs} per engine and size\n"
    )
    headers = [
        "clients",
        "engine",
        "clients/s",
        "seconds",
        "peak RSS MB",
        "Δ RSS MB",
        "÷ tierwise",
        "÷ batch",
        "mismatches",
        "note",
    ]
    table: list[list[str]] = []
    for size in sorted({r["size"] for r in rows}):
        block = [r for r in rows if r["size"] == size]
        ref = next((r["rate"] for r in block if r["key"] == "tierwise" and "rate" in r), None)
        batch = next(
            (r["rate"] for r in block if r["key"] == "tierwise-arrow" and "rate" in r), None
        )
        for r in block:
            if "skipped" in r:
                table.append([f"{size:,}", r["key"], *["-"] * 7, f"skipped: {r['skipped']}"])
                continue
            notes = []
            if r["sample"] < size:
                notes.append(
                    f"run on {r['sample']:,}: clients/s, seconds extrapolated; memory of that run"
                )
            if ENGINES[r["key"]].note:
                notes.append(ENGINES[r["key"]].note)
            table.append(
                [
                    f"{size:,}",
                    r["name"],
                    f"{r['rate']:,.0f}",
                    f"{size / r['rate']:.2f}",
                    f"{r['peak_mb']:,.0f}",
                    f"{r['peak_mb'] - r['base_mb']:,.0f}",
                    f"{r['rate'] / ref:.2f}" if ref else "-",
                    f"{r['rate'] / batch:.3f}" if batch else "-",
                    f"{r['mismatches']:,}",
                    "; ".join(notes),
                ]
            )
    print(markdown(headers, table, right={0, 2, 3, 4, 5, 6, 7, 8}))
    print()
    for line in summary(rows):
        print(line)
    for r in rows:
        for example in r.get("examples", []):
            print(f"  mismatch in {r['name']} at {r['size']:,}: {example}")
    print(
        "\n÷ tierwise: the engine's clients/s divided by tierwise decide_many's; "
        "÷ batch: divided by tierwise decide_arrow's. Peak RSS: the worker process's high-water "
        "mark over setup and run (generated clients included); Δ RSS: that peak minus the "
        "resident size once the clients were generated."
    )


PEERS = ("zen", "zen-batch", "durable", "business-rules", "rule-engine")
"""The other engines (durable's bare C loop is a floor for tierwise, not a product to compare)."""


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 5's targets per size: the batch path against the best peer and hand-written Python."""
    lines = []
    for size in sorted({r["size"] for r in rows}):
        rate = {r["key"]: r for r in rows if r["size"] == size and "rate" in r}
        peers = [rate[k] for k in PEERS if k in rate]
        best = max(peers, key=lambda r: r["rate"]) if peers else None
        for key in ("tierwise-arrow", "tierwise-file"):
            if key not in rate:
                continue
            r = rate[key]
            parts = [f"{size:,} clients, {r['name']}: {size / r['rate']:.2f} s"]
            if best is not None:
                parts.append(f"{r['rate'] / best['rate']:.1f}x the best peer ({best['name']})")
            if "handwritten" in rate:
                parts.append(f"{r['rate'] / rate['handwritten']['rate']:.2f}x hand-written Python")
            lines.append("; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated client counts")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated: " + ", ".join(ENGINES)
    )
    parser.add_argument("--spec", default="pack3", choices=sorted(SPECS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--missing",
        type=float,
        default=0.0,
        help="chance that a fact is missing (business-rules, rule-engine raise on it)",
    )
    parser.add_argument(
        "--max-per-client", type=int, default=200_000, help="cap for per-client engines"
    )
    parser.add_argument("--max-slow", type=int, default=20_000, help="cap for slow peers")
    parser.add_argument(
        "--full", action="store_true", help="no caps: every engine decides every client"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="rounds over every engine; the median is shown"
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    spec = SPECS[args.spec]
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        size = sizes[0]
        print(
            json.dumps(
                worker(args.worker, spec, size, args.sample or size, args.seed, args.missing)
            )
        )
        return
    keys = args.engines.split(",")
    unknown = [k for k in keys if k not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    print(f"before the run: {load()}")
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for round_ in range(args.repeats):
        for size in sizes:
            for key in keys:
                row = run_one(key, size, args)
                runs.setdefault((size, key), []).append(row)
                done = f"{row['rate']:,.0f} clients/s" if "rate" in row else row["skipped"]
                print(f"  round {round_ + 1}: {size:,} {key}: {done}", file=sys.stderr, flush=True)
    rows = [combine(r) for r in runs.values()]
    print_table(rows, spec, args)
    print(f"\nafter the run: {load()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
