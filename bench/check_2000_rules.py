"""Benchmark: generate a pack of 2,000 rules over five decisions (every hit policy, derived
facts, a function, one decision reading another) with planted problems, then time
`tierwise.verify.analyze` on it. Target: under 30 s on a 2-core machine.

    python bench/check_2000_rules.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry
from tierwise.verify.analyze import analyze

STAGES = ["prospect", "new", "growing", "mature", "declining", "lapsed"]
CHANNELS = ["email", "phone", "chat", "branch"]
HEADER = """inputs:
  clv: {type: number, min: 0}
  revenue_12m: {type: number, min: 0}
  direct_costs_12m: {type: number, min: 0}
  purchases_per_year: {type: integer, min: 0, max: 400}
  lifecycle_stage: {enum: [prospect, new, growing, mature, declining, lapsed]}
  satisfaction: {type: integer, min: 0, max: 10}
  tickets_90d: {type: integer, min: 0}
  channel: {enum: [email, phone, chat, branch]}
  last_purchase_at: date
"""


def rule(rid: str, when: str, then: str) -> str:
    return f"  - id: {rid}\n    when: {when}\n    then: {then}\n"


def pricing() -> str:
    """First-hit, 800 rules: CLV bands x stages x purchase bands; two planted problems."""
    rules = []
    bands = [(i * 2000, (i + 1) * 2000) for i in range(25)]
    freq = [(0, 3), (3, 8), (8, 20), (20, 401)]
    n = 0
    for lo, hi in bands:
        for stage in STAGES:
            for flo, fhi in freq:
                if n >= 596:
                    break
                when = (
                    f'clv >= {lo} and clv < {hi} and lifecycle_stage == "{stage}" '
                    f"and purchases_per_year >= {flo} and purchases_per_year < {fhi}"
                )
                rules.append(rule(f"p{n}", when, f"{{tier: t{n % 7}, discount_pct: {n % 20}}}"))
                n += 1
    for i in range(200):
        when = f"margin_12m > {i * 500} and days_since(last_purchase_at) <= {30 + i}"
        rules.append(rule(f"m{i}", when, f"{{tier: m{i % 5}, discount_pct: {i % 15}}}"))
    rules.append(
        rule(
            "shadowed",
            'clv >= 2000 and clv < 3000 and lifecycle_stage == "new" and purchases_per_year == 5',
            "{tier: odd, discount_pct: 1}",
        )
    )
    rules.append(rule("dead", "clv > 100 and clv < 50", "{tier: odd, discount_pct: 2}"))
    rules.append(rule("high", "clv >= 50000", "{tier: platinum, discount_pct: 15}"))
    rules.append(rule("fallback", "clv >= 0", "{tier: standard, discount_pct: 0}"))
    return (
        "decision: pricing\nhit_policy: first\n"
        + HEADER
        + "derive:\n  margin_12m: revenue_12m - direct_costs_12m\nrules:\n"
        + "".join(rules)
    )


def support() -> str:
    """Unique, 500 rules: a grid over satisfaction x tickets x channel, with one overlap."""
    rules = []
    n = 0
    for s in range(11):
        for t in range(11):
            for c in CHANNELS:
                tickets = f"tickets_90d == {t}" if t < 10 else "tickets_90d >= 10"
                when = f'satisfaction == {s} and {tickets} and channel == "{c}"'
                rules.append(rule(f"s{n}", when, f"{{action: a{n % 9}}}"))
                n += 1
    for i in range(15):
        rules.append(
            rule(f"x{i}", f"satisfaction == {i % 11} and tickets_90d < 0", "{action: none}")
        )
    rules.append(
        rule(
            "overlap",
            'satisfaction <= 1 and channel == "chat" and tickets_90d == 3',
            "{action: escalate}",
        )
    )
    return "decision: support\nhit_policy: unique\n" + HEADER + "rules:\n" + "".join(rules)


def loyalty() -> str:
    """Any, 300 rules reading the pricing decision's output; one conflict."""
    rules = []
    for i in range(299):
        when = (
            f'pricing.tier == "t{i % 7}" and satisfaction == {i % 11} and tickets_90d == {i // 11}'
        )
        rules.append(rule(f"l{i}", when, f"{{method: m{i % 4}}}"))
    rules.append(
        rule(
            "conflict",
            'pricing.tier == "t0" and satisfaction == 0 and tickets_90d == 0',
            "{method: other}",
        )
    )
    return (
        "decision: loyalty\nhit_policy: any\n"
        + HEADER
        + "rules:\n"
        + "".join(rules)
        + "default: {method: none}\n"
    )


def offers() -> str:
    """Collect, 250 rules: offers by purchase frequency band and channel; one dead rule."""
    rules = []
    for i in range(249):
        channel = CHANNELS[i % 4]
        when = (
            f'purchases_per_year >= {i} and purchases_per_year < {i + 3} and channel == "{channel}"'
        )
        rules.append(rule(f"o{i}", when, f"{{offer: o{i % 12}}}"))
    rules.append(rule("dead_offer", "purchases_per_year > 400", "{offer: never}"))
    return "decision: offers\nhit_policy: collect\n" + HEADER + "rules:\n" + "".join(rules)


def rank() -> str:
    """Priority, 150 rules; one that always loses to a better-ranked rule."""
    rules = []
    for i in range(149):
        when = f"tickets_90d >= {i} and satisfaction <= {i % 11}"
        rules.append(rule(f"r{i}", when, f"{{level: l{i % 3}}}"))
    rules.append(rule("loser", "tickets_90d >= 200 and satisfaction <= 0", "{level: l2}"))
    return (
        "decision: rank\nhit_policy: priority\npriority_order: {level: [l0, l1, l2]}\n"
        + HEADER
        + "rules:\n"
        + "".join(rules)
        + "default: {level: l2}\n"
    )


def write_pack(folder: Path) -> None:
    for name, text in [
        ("pricing", pricing()),
        ("support", support()),
        ("loyalty", loyalty()),
        ("offers", offers()),
        ("rank", rank()),
    ]:
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="write the pack here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        write_pack(folder)
        start, cpu_start = time.perf_counter(), time.process_time()
        pack = load_pack(folder, function_registry())
        loaded, cpu_loaded = time.perf_counter(), time.process_time()
        findings = analyze(pack)
        done, cpu_done = time.perf_counter(), time.process_time()
    rules = sum(len(d.rules) for d in pack.decisions)
    kinds = collections.Counter((f.decision, f.kind) for f in findings)
    print(f"{rules} rules in {len(pack.decisions)} decisions")
    wall = f"load {loaded - start:.1f} s, check {done - loaded:.1f} s, total {done - start:.1f} s"
    print(f"wall: {wall}")
    print(
        f"cpu:  load {cpu_loaded - cpu_start:.1f} s, check {cpu_done - cpu_loaded:.1f} s, "
        f"total {cpu_done - cpu_start:.1f} s (wall exceeds cpu when the machine is shared)"
    )
    for (decision, kind), count in sorted(kinds.items()):
        print(f"  {decision:10} {kind:20} {count}")


if __name__ == "__main__":
    main()
