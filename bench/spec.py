"""The benchmarks' shared spec: the rules, a seeded client generator, and hand-written answers.

Every rule is a conjunction of simple tests (`clv >= 50000`, `segment in ["b2b"]`), so one
definition can be written out for each engine (tierwise YAML, durable JSON, a zen decision
table, business-rules JSON, rule-engine text). The hand-written Python below is written
independently, by hand, and is the reference that every engine's answers are checked against.

An answer is, per decision in spec order: the winning rule id (first-hit; None when no rule
matched) or the tuple of matching rule ids in file order (collect).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

AS_OF = "2026-01-01"
"""The evaluation date every bench passes (the spec reads no dates; it keeps runs deterministic)."""

Answer = tuple[Any, ...]

# -- the facts --------------------------------------------------------------------------

STAGES = ("prospect", "new", "growing", "mature", "declining", "lapsed")
NPS = ("promoter", "passive", "detractor")
CHANNELS = ("email", "phone", "web", "store", "app")
SEGMENTS = ("consumer", "smb", "enterprise", "public", "partner")

INPUTS: dict[str, dict[str, Any]] = {
    "clv": {"type": "number"},
    "revenue_12m": {"type": "number"},
    "direct_costs_12m": {"type": "number"},
    "purchases_per_year": {"type": "integer"},
    "tenure_months": {"type": "integer"},
    "satisfaction": {"type": "integer"},
    "complaints_90d": {"type": "integer"},
    "open_tickets": {"type": "integer"},
    "lifecycle_stage": {"enum": list(STAGES)},
    "nps_group": {"enum": list(NPS)},
    "channel": {"type": "string"},
    "segment": {"type": "string"},
}
"""Declared inputs, as tierwise YAML writes them."""

NUMERIC = frozenset(k for k, v in INPUTS.items() if v.get("type") in ("number", "integer"))
DERIVED = {"margin_12m": ("revenue_12m", "-", "direct_costs_12m")}
"""Facts computed from inputs before matching: name -> (left, operator, right)."""

# -- the rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    """One test of a rule: `field op value`, op one of >= > <= < == in."""

    field: str
    op: str
    value: Any

    @property
    def text(self) -> str:
        """The test in tierwise's expression syntax (JSON literals are valid there)."""
        return f"{self.field} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class RuleSpec:
    """A rule: the conjunction of its tests, and its outputs."""

    id: str
    tests: tuple[Test, ...]
    outputs: dict[str, Any]

    @property
    def text(self) -> str:
        return " and ".join(t.text for t in self.tests)


@dataclass(frozen=True)
class DecisionSpec:
    """A decision: hit policy `first` or `collect`, rules in file order, optional default."""

    name: str
    hit_policy: str
    rules: tuple[RuleSpec, ...]
    default: dict[str, Any] | None = None

    @property
    def fields(self) -> list[str]:
        """The facts (inputs or derived) this decision's rules read, in first-use order."""
        return list(dict.fromkeys(t.field for r in self.rules for t in r.tests))


@dataclass(frozen=True)
class Spec:
    """A pack of decisions and the hand-written Python that answers it."""

    name: str
    decisions: tuple[DecisionSpec, ...]
    handwritten: Callable[[dict[str, Any]], Answer]

    @property
    def rule_count(self) -> int:
        return sum(len(d.rules) for d in self.decisions)


def rule(rule_id: str, *tests: str, **outputs: Any) -> RuleSpec:
    """`rule("gold", "clv >= 10000", tier="gold")`: each test is `field op json-literal`."""
    parsed = []
    for text in tests:
        field, op, literal = text.split(" ", 2)
        if op not in (">=", ">", "<=", "<", "==", "in"):
            raise ValueError(f"rule {rule_id}: unsupported operator {op!r} in {text!r}")
        value = json.loads(literal)
        parsed.append(Test(field, op, tuple(value) if op == "in" else value))
    return RuleSpec(rule_id, tuple(parsed), outputs)


FIRST20 = DecisionSpec(
    "pricing_tier",
    "first",
    (
        rule(
            "platinum_vip",
            "clv >= 50000",
            "margin_12m > 0",
            'segment == "enterprise"',
            tier="platinum",
            discount_pct=18,
        ),
        rule("platinum", "clv >= 50000", "margin_12m > 0", tier="platinum", discount_pct=15),
        rule("gold_loyal", "clv >= 20000", "tenure_months >= 60", tier="gold", discount_pct=10),
        rule("gold", "clv >= 10000", "purchases_per_year >= 6", tier="gold", discount_pct=8),
        rule("gold_margin", "margin_12m >= 5000", tier="gold", discount_pct=7),
        rule(
            "silver_growing",
            "clv >= 5000",
            'lifecycle_stage == "growing"',
            tier="silver",
            discount_pct=5,
        ),
        rule(
            "silver_mature",
            "clv >= 5000",
            'lifecycle_stage == "mature"',
            "satisfaction >= 7",
            tier="silver",
            discount_pct=5,
        ),
        rule("silver_frequent", "purchases_per_year >= 10", tier="silver", discount_pct=4),
        rule(
            "silver_partner", 'segment == "partner"', "clv >= 2000", tier="silver", discount_pct=4
        ),
        rule("bronze_public", 'segment == "public"', tier="bronze", discount_pct=3),
        rule(
            "bronze_new",
            'lifecycle_stage == "new"',
            "revenue_12m >= 2000",
            tier="bronze",
            discount_pct=3,
        ),
        rule("bronze_tenure", "tenure_months >= 120", tier="bronze", discount_pct=2),
        rule(
            "bronze_happy",
            "satisfaction >= 9",
            "purchases_per_year >= 3",
            tier="bronze",
            discount_pct=2,
        ),
        rule("watch_loss", "margin_12m < -2000", tier="watch", discount_pct=0),
        rule(
            "watch_fading",
            'lifecycle_stage in ["declining", "lapsed"]',
            "clv < 1000",
            tier="watch",
            discount_pct=0,
        ),
        rule(
            "standard_app",
            'channel == "app"',
            "purchases_per_year >= 4",
            tier="standard",
            discount_pct=1,
        ),
        rule("standard_smb", 'segment == "smb"', "clv >= 1000", tier="standard", discount_pct=1),
        rule("entry_prospect", 'lifecycle_stage == "prospect"', tier="entry", discount_pct=0),
        rule("entry_low", "clv < 500", tier="entry", discount_pct=0),
        rule(
            "standard_store",
            'channel == "store"',
            "satisfaction >= 5",
            tier="standard",
            discount_pct=1,
        ),
    ),
    {"tier": "standard", "discount_pct": 0},
)

COLLECT20 = DecisionSpec(
    "loyalty_methods",
    "collect",
    (
        rule("personal_manager", "clv >= 20000", method="personal_manager"),
        rule("account_team", 'segment == "enterprise"', "clv >= 10000", method="account_team"),
        rule("points_double", "purchases_per_year >= 8", method="points_double"),
        rule("points", "purchases_per_year >= 3", method="points"),
        rule(
            "exclusive_offer", "satisfaction >= 8", "tenure_months >= 24", method="exclusive_offer"
        ),
        rule(
            "anniversary_gift",
            "tenure_months >= 12",
            "satisfaction >= 6",
            method="anniversary_gift",
        ),
        rule("win_back", 'lifecycle_stage in ["declining", "lapsed"]', method="win_back"),
        rule("referral", 'nps_group == "promoter"', method="referral"),
        rule("ambassador", 'nps_group == "promoter"', "clv >= 10000", method="ambassador"),
        rule(
            "direct_mail",
            'channel in ["email", "store"]',
            "purchases_per_year >= 3",
            method="direct_mail",
        ),
        rule("app_push", 'channel == "app"', method="app_push"),
        rule("complaint_care", "complaints_90d >= 2", method="complaint_care"),
        rule("ticket_followup", "open_tickets >= 3", method="ticket_followup"),
        rule("margin_rescue", "margin_12m < 0", method="margin_rescue"),
        rule("upsell", "margin_12m >= 2000", 'lifecycle_stage == "growing"', method="upsell"),
        rule("onboarding_pack", 'lifecycle_stage in ["new", "prospect"]', method="onboarding_pack"),
        rule("partner_rebate", 'segment == "partner"', method="partner_rebate"),
        rule("public_tender", 'segment == "public"', "revenue_12m >= 5000", method="public_tender"),
        rule("long_tenure", "tenure_months >= 120", method="long_tenure"),
        rule("survey", "satisfaction <= 4", method="survey"),
    ),
)

TIER = DecisionSpec(
    "tier",
    "first",
    (
        rule("platinum", "clv >= 50000", "margin_12m > 0", tier="platinum", discount_pct=15),
        rule("gold", "clv >= 10000", "purchases_per_year >= 6", tier="gold", discount_pct=8),
        rule("gold_margin", "margin_12m >= 5000", tier="gold", discount_pct=7),
        rule("silver", "clv >= 5000", "satisfaction >= 7", tier="silver", discount_pct=5),
        rule("silver_frequent", "purchases_per_year >= 10", tier="silver", discount_pct=4),
        rule("bronze", "tenure_months >= 120", tier="bronze", discount_pct=2),
        rule("watch", "margin_12m < -2000", tier="watch", discount_pct=0),
        rule("entry", "clv < 500", tier="entry", discount_pct=0),
    ),
    {"tier": "standard", "discount_pct": 0},
)

SUPPORT = DecisionSpec(
    "support_action",
    "first",
    (
        rule(
            "recover_key",
            'nps_group == "detractor"',
            'segment in ["enterprise", "partner"]',
            action="service_recovery",
            via="phone",
        ),
        rule(
            "recover",
            'nps_group == "detractor"',
            'lifecycle_stage in ["mature", "growing"]',
            action="service_recovery",
            via="email",
        ),
        rule("win_back", 'lifecycle_stage == "lapsed"', action="win_back", via="email"),
        rule(
            "check_in",
            'lifecycle_stage == "declining"',
            'channel in ["phone", "store"]',
            action="proactive_check_in",
            via="phone",
        ),
        rule("survey", 'channel == "app"', 'nps_group == "passive"', action="survey", via="app"),
        rule(
            "onboarding",
            'lifecycle_stage in ["new", "prospect"]',
            'channel == "web"',
            action="onboarding",
            via="web",
        ),
        rule(
            "referral",
            'nps_group == "promoter"',
            'segment == "consumer"',
            action="referral_invite",
            via="email",
        ),
    ),
)

LOYALTY = DecisionSpec(
    "loyalty",
    "collect",
    (
        rule("personal_manager", "clv >= 20000", method="personal_manager"),
        rule("points_double", "purchases_per_year >= 8", method="points_double"),
        rule(
            "exclusive_offer", "satisfaction >= 8", "tenure_months >= 24", method="exclusive_offer"
        ),
        rule("win_back", 'lifecycle_stage in ["declining", "lapsed"]', method="win_back"),
        rule("referral", 'nps_group == "promoter"', method="referral"),
        rule(
            "direct_mail",
            'channel in ["email", "store"]',
            "purchases_per_year >= 3",
            method="direct_mail",
        ),
        rule("complaint_care", "complaints_90d >= 2", method="complaint_care"),
    ),
)

# -- hand-written Python: the reference --------------------------------------------------
# Missing numbers become NaN, so that every comparison with them is false: a missing fact
# never matches, as in tierwise. Missing strings (None) never equal a literal either.

NAN = math.nan


def handwritten_first20(c: dict[str, Any]) -> Answer:
    """The 20-rule first-hit pricing decision, by hand."""
    clv = c["clv"]
    clv = NAN if clv is None else clv
    rev, cost = c["revenue_12m"], c["direct_costs_12m"]
    rev = NAN if rev is None else rev
    margin = NAN if cost is None else rev - cost
    ppy = c["purchases_per_year"]
    ppy = NAN if ppy is None else ppy
    tenure = c["tenure_months"]
    tenure = NAN if tenure is None else tenure
    sat = c["satisfaction"]
    sat = NAN if sat is None else sat
    stage, segment, channel = c["lifecycle_stage"], c["segment"], c["channel"]
    if clv >= 50000 and margin > 0 and segment == "enterprise":
        return ("platinum_vip",)
    if clv >= 50000 and margin > 0:
        return ("platinum",)
    if clv >= 20000 and tenure >= 60:
        return ("gold_loyal",)
    if clv >= 10000 and ppy >= 6:
        return ("gold",)
    if margin >= 5000:
        return ("gold_margin",)
    if clv >= 5000 and stage == "growing":
        return ("silver_growing",)
    if clv >= 5000 and stage == "mature" and sat >= 7:
        return ("silver_mature",)
    if ppy >= 10:
        return ("silver_frequent",)
    if segment == "partner" and clv >= 2000:
        return ("silver_partner",)
    if segment == "public":
        return ("bronze_public",)
    if stage == "new" and rev >= 2000:
        return ("bronze_new",)
    if tenure >= 120:
        return ("bronze_tenure",)
    if sat >= 9 and ppy >= 3:
        return ("bronze_happy",)
    if margin < -2000:
        return ("watch_loss",)
    if stage in ("declining", "lapsed") and clv < 1000:
        return ("watch_fading",)
    if channel == "app" and ppy >= 4:
        return ("standard_app",)
    if segment == "smb" and clv >= 1000:
        return ("standard_smb",)
    if stage == "prospect":
        return ("entry_prospect",)
    if clv < 500:
        return ("entry_low",)
    if channel == "store" and sat >= 5:
        return ("standard_store",)
    return (None,)


def handwritten_collect20(c: dict[str, Any]) -> Answer:
    """The 20-rule collect loyalty decision, by hand."""
    clv = c["clv"]
    clv = NAN if clv is None else clv
    rev, cost = c["revenue_12m"], c["direct_costs_12m"]
    rev = NAN if rev is None else rev
    margin = NAN if cost is None else rev - cost
    ppy = c["purchases_per_year"]
    ppy = NAN if ppy is None else ppy
    tenure = c["tenure_months"]
    tenure = NAN if tenure is None else tenure
    sat = c["satisfaction"]
    sat = NAN if sat is None else sat
    complaints = c["complaints_90d"]
    complaints = NAN if complaints is None else complaints
    tickets = c["open_tickets"]
    tickets = NAN if tickets is None else tickets
    stage, segment, channel, nps = c["lifecycle_stage"], c["segment"], c["channel"], c["nps_group"]
    out = []
    if clv >= 20000:
        out.append("personal_manager")
    if segment == "enterprise" and clv >= 10000:
        out.append("account_team")
    if ppy >= 8:
        out.append("points_double")
    if ppy >= 3:
        out.append("points")
    if sat >= 8 and tenure >= 24:
        out.append("exclusive_offer")
    if tenure >= 12 and sat >= 6:
        out.append("anniversary_gift")
    if stage in ("declining", "lapsed"):
        out.append("win_back")
    if nps == "promoter":
        out.append("referral")
    if nps == "promoter" and clv >= 10000:
        out.append("ambassador")
    if channel in ("email", "store") and ppy >= 3:
        out.append("direct_mail")
    if channel == "app":
        out.append("app_push")
    if complaints >= 2:
        out.append("complaint_care")
    if tickets >= 3:
        out.append("ticket_followup")
    if margin < 0:
        out.append("margin_rescue")
    if margin >= 2000 and stage == "growing":
        out.append("upsell")
    if stage in ("new", "prospect"):
        out.append("onboarding_pack")
    if segment == "partner":
        out.append("partner_rebate")
    if segment == "public" and rev >= 5000:
        out.append("public_tender")
    if tenure >= 120:
        out.append("long_tenure")
    if sat <= 4:
        out.append("survey")
    return (tuple(out),)


def handwritten_pack(c: dict[str, Any]) -> Answer:
    """The pack of three (tier, support_action, loyalty), by hand."""
    clv = c["clv"]
    clv = NAN if clv is None else clv
    rev, cost = c["revenue_12m"], c["direct_costs_12m"]
    margin = NAN if rev is None or cost is None else rev - cost
    ppy = c["purchases_per_year"]
    ppy = NAN if ppy is None else ppy
    tenure = c["tenure_months"]
    tenure = NAN if tenure is None else tenure
    sat = c["satisfaction"]
    sat = NAN if sat is None else sat
    complaints = c["complaints_90d"]
    complaints = NAN if complaints is None else complaints
    stage, segment, channel, nps = c["lifecycle_stage"], c["segment"], c["channel"], c["nps_group"]

    if clv >= 50000 and margin > 0:
        tier = "platinum"
    elif clv >= 10000 and ppy >= 6:
        tier = "gold"
    elif margin >= 5000:
        tier = "gold_margin"
    elif clv >= 5000 and sat >= 7:
        tier = "silver"
    elif ppy >= 10:
        tier = "silver_frequent"
    elif tenure >= 120:
        tier = "bronze"
    elif margin < -2000:
        tier = "watch"
    elif clv < 500:
        tier = "entry"
    else:
        tier = None

    if nps == "detractor" and segment in ("enterprise", "partner"):
        support = "recover_key"
    elif nps == "detractor" and stage in ("mature", "growing"):
        support = "recover"
    elif stage == "lapsed":
        support = "win_back"
    elif stage == "declining" and channel in ("phone", "store"):
        support = "check_in"
    elif channel == "app" and nps == "passive":
        support = "survey"
    elif stage in ("new", "prospect") and channel == "web":
        support = "onboarding"
    elif nps == "promoter" and segment == "consumer":
        support = "referral"
    else:
        support = None

    loyalty = []
    if clv >= 20000:
        loyalty.append("personal_manager")
    if ppy >= 8:
        loyalty.append("points_double")
    if sat >= 8 and tenure >= 24:
        loyalty.append("exclusive_offer")
    if stage in ("declining", "lapsed"):
        loyalty.append("win_back")
    if nps == "promoter":
        loyalty.append("referral")
    if channel in ("email", "store") and ppy >= 3:
        loyalty.append("direct_mail")
    if complaints >= 2:
        loyalty.append("complaint_care")
    return (tier, support, tuple(loyalty))


SPECS: dict[str, Spec] = {
    "first20": Spec("first20", (FIRST20,), handwritten_first20),
    "collect20": Spec("collect20", (COLLECT20,), handwritten_collect20),
    "pack3": Spec("pack3", (TIER, SUPPORT, LOYALTY), handwritten_pack),
}
"""(a) a 20-rule first-hit decision, (b) a 20-rule collect, (c) three decisions, 22 rules."""

# -- the client generator ----------------------------------------------------------------


def generate_columns(n: int, seed: int = 42, missing: float = 0.0) -> dict[str, list[Any]]:
    """n clients as columns of Python values; `missing` is each fact's chance of being None."""
    rng = np.random.default_rng(seed)
    clv = np.round(np.exp(rng.normal(8.4, 1.4, n)), 2)
    revenue = np.round(clv * rng.uniform(0.05, 0.6, n), 2)
    costs = np.round(revenue * rng.uniform(0.3, 1.5, n), 2)
    cols: dict[str, list[Any]] = {
        "client_id": [f"c{i}" for i in range(n)],
        "clv": clv.tolist(),
        "revenue_12m": revenue.tolist(),
        "direct_costs_12m": costs.tolist(),
        "purchases_per_year": rng.poisson(4.5, n).tolist(),
        "tenure_months": rng.integers(0, 241, n).tolist(),
        "satisfaction": rng.integers(0, 11, n).tolist(),
        "complaints_90d": rng.poisson(0.6, n).tolist(),
        "open_tickets": rng.poisson(0.9, n).tolist(),
        "lifecycle_stage": rng.choice(STAGES, n, p=[0.08, 0.12, 0.2, 0.35, 0.15, 0.1]).tolist(),
        "nps_group": rng.choice(NPS, n, p=[0.35, 0.4, 0.25]).tolist(),
        "channel": rng.choice(CHANNELS, n).tolist(),
        "segment": rng.choice(SEGMENTS, n, p=[0.45, 0.25, 0.12, 0.08, 0.1]).tolist(),
    }
    if missing > 0:
        for name in INPUTS:
            column = cols[name]
            for i in np.flatnonzero(rng.random(n) < missing).tolist():
                column[i] = None
    return cols


def generate(n: int, seed: int = 42, missing: float = 0.0) -> list[dict[str, Any]]:
    """n clients as fact dicts (seeded: the same arguments give the same clients)."""
    cols = generate_columns(n, seed, missing)
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


# -- tierwise YAML -----------------------------------------------------------------------


def write_tierwise(spec: Spec, folder: Path) -> Path:
    """Write the spec as tierwise rule files (one per decision) into folder; returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in spec.decisions:
        fields = d.fields
        reads = {f for f in fields if f not in DERIVED}
        for name in fields:
            if name in DERIVED:
                reads.update(DERIVED[name][::2])
        lines = [f"decision: {d.name}", f"hit_policy: {d.hit_policy}", "inputs:"]
        lines += [f"  {name}: {json.dumps(INPUTS[name])}" for name in INPUTS if name in reads]
        derived = [name for name in DERIVED if name in fields]
        if derived:
            lines.append("derive:")
            lines += [f"  {name}: {' '.join(DERIVED[name])}" for name in derived]
        lines.append("rules:")
        for r in d.rules:
            lines.append(f"  - id: {r.id}")
            lines.append(f"    when: {json.dumps(r.text)}")
            lines.append(f"    then: {json.dumps(r.outputs)}")
        if d.default is not None:
            lines.append(f"default: {json.dumps(d.default)}")
        (folder / f"{d.name}.yaml").write_text("\n".join(lines) + "\n")
    return folder


def tierwise_answer(spec: Spec) -> Callable[[Any], Answer]:
    """Turns a tierwise Outcome into the spec's answer tuple."""
    plan = [(d.name, d.hit_policy == "collect") for d in spec.decisions]

    def answer(outcome: Any) -> Answer:
        decisions = outcome.decisions
        out = []
        for name, collect in plan:
            rules = decisions[name].rules
            out.append(tuple(rules) if collect else (rules[0] if rules else None))
        return tuple(out)

    return answer


def count_mismatches(
    spec: Spec, clients: list[dict[str, Any]], answers: list[Answer], show: int = 3
) -> tuple[int, list[str]]:
    """How many answers differ from the hand-written ones, and a few examples to print."""
    if len(answers) != len(clients):
        return abs(len(clients) - len(answers)) or 1, [
            f"{len(answers)} answers for {len(clients)} clients"
        ]
    bad = 0
    examples: list[str] = []
    for client, got in zip(clients, answers, strict=True):
        want = spec.handwritten(client)
        if got != want:
            bad += 1
            if len(examples) < show:
                examples.append(f"{client.get('client_id')}: got {got}, want {want}")
    return bad, examples
