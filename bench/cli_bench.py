"""How long the `tierwise` command takes to start, as a whole process (issue 13, item 6).

    python -m bench.cli_bench [--rounds 9]

Each round runs, in a fresh empty folder, the bare interpreter (`python -c pass`), the
package import (`python -c "import tierwise"`), every plugin loaded (what each command
paid at start before the built-in commands were loaded lazily), and `tierwise --version`,
`tierwise --help`, `tierwise check -h` and `tierwise check` (the shipped packs: the folder
has no ./rules). The commands of one round run back to back, so they share the machine's
load; the table gives each one's median and fastest wall time, its ratio to the bare
interpreter and to the package import measured in the same rounds, and the target.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIERWISE = str(Path(sys.executable).with_name("tierwise"))
CASES: dict[str, tuple[list[str], float | None]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "python -c 'import tierwise'": ([sys.executable, "-c", "import tierwise"], None),
    "every plugin loaded (old start)": (
        [sys.executable, "-c", "from tierwise.plugins.manager import get_plugin_manager as g; g()"],
        None,
    ),
    "tierwise --version": ([TIERWISE, "--version"], 0.3),
    "tierwise --help": ([TIERWISE, "--help"], 0.3),
    "tierwise check -h": ([TIERWISE, "check", "-h"], None),
    "tierwise check (shipped packs)": ([TIERWISE, "check"], 1.0),
}


def wall(argv: list[str], folder: Path) -> float:
    """Seconds from start to exit of one process; it must succeed."""
    started = time.perf_counter()
    subprocess.run(argv, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, list[float]]:
    """Every case's wall times, one per round, after one warm-up round (file cache)."""
    times: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="tierwise-cli-bench-") as tmp:
        folder = Path(tmp)
        for argv, _ in CASES.values():
            wall(argv, folder)
        for _ in range(rounds):
            for name, (argv, _) in CASES.items():
                times[name].append(wall(argv, folder))
    return times


def report(times: dict[str, list[float]]) -> str:
    """The table: median, fastest, ratios to the interpreter and the import, target."""
    medians = {name: statistics.median(t) for name, t in times.items()}
    bare, package = medians["python -c pass"], medians["python -c 'import tierwise'"]
    lines = [
        f"{'process':<32} {'median s':>9} {'fastest s':>9} {'x python':>9} {'x import':>9}  target",
        "-" * 84,
    ]
    for name, samples in times.items():
        target = CASES[name][1]
        verdict = (
            ""
            if target is None
            else f"< {target} s: " + ("met" if medians[name] < target else "NOT met")
        )
        lines.append(
            f"{name:<32} {medians[name]:>9.3f} {min(samples):>9.3f} "
            f"{medians[name] / bare:>9.2f} {medians[name] / package:>9.2f}  {verdict}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    times = measure(args.rounds)
    print(f"{args.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(report(times))


if __name__ == "__main__":
    main()
