"""The installed `tierwise` command run as a user runs it: a subprocess, in a folder of the
test's own, with none of the settings variables of the test run's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TIERWISE = Path(sys.executable).with_name("tierwise")
"""The console script that `pip install` put beside this interpreter."""

RULES = Path(__file__).resolve().parent.parent / "rules"

PACK = """\
decision: tier
hit_policy: first
inputs:
  clv: {type: number, min: 0}
  segment: {enum: [consumer, business]}
rules:
  - id: gold
    when: clv >= 10000 and segment == "business"
    then: {tier: gold}
    because: Valuable business client
default: {tier: standard}
tests:
  - given: {clv: 20000, segment: business}
    expect: {tier: gold}
    rule: gold
"""

CLEAN = ("NO_COLOR", "TIERWISE_SOURCE", "TIERWISE_MAPPING", "TIERWISE_RULES", "TIERWISE_LOG")
"""Variables of the test run's environment that would change what a command does."""


@dataclass(frozen=True)
class Done:
    """A finished command: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without the settings variables, with `extra` on top."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN and k != "TIERWISE_AS_OF"}
    env.update(extra or {})
    return env


def tierwise(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 180,
) -> Done:
    """Run `tierwise ARGS` in `cwd` and wait for it."""
    done = subprocess.run(
        [str(TIERWISE), *args],
        cwd=cwd,
        env=environment(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def write_pack(folder: Path) -> Path:
    """A one-decision pack in `folder`/rules; returns that folder."""
    rules = folder / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "tier.yaml").write_text(PACK)
    return rules


def write_clients(path: Path, good: int, bad: int) -> Path:
    """A CSV of `good` valid clients, then `bad` whose clv is not a number."""
    rows = ["client_id,clv,segment"]
    rows += [f"c{i},{3000 * i},{'business' if i % 2 else 'consumer'}" for i in range(good)]
    rows += [f"x{i},lots,business" for i in range(bad)]
    path.write_text("\n".join(rows) + "\n")
    return path
