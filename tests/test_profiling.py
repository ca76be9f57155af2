"""The profile step: statistics of the whole base that a facts file declares (cut points,
means, shares), computed once per run from each client's derived facts, stored as JSON,
checked against the pack's definitions, and read by the derived facts that need them."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from tierwise import Engine
from tierwise.errors import RulePackError
from tierwise.profile import Profile, ProfileError, cut_points, mean, share
from tierwise.runtime.facts import UnreadableClient
from tierwise.stdlib.crm import band, rank

AS_OF = dt.date(2026, 1, 1)

PACK = """\
facts: base
inputs:
  revenue: {type: number, min: 0}
  orders: {type: integer, min: 0}
  first_order: date
derive:
  tenure_days: days_since(first_order)
  score: band(revenue, revenue_cuts)
  repeat_buyer: orders >= 2
  above_mean: revenue > revenue_mean
profile:
  revenue_cuts: {cut_points: revenue, groups: 5, where: orders >= 1}
  revenue_mean: {mean: revenue}
  repeat_share: {share: orders >= 2, where: orders >= 1}
  tenure_mean: {mean: tenure_days}
"""
DECISION = """\
decision: tier
rules:
  - {id: top, when: score == 5 and above_mean, then: {tier: top}}
default: {tier: other}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    (tmp_path / "facts.yaml").write_text(PACK)
    (tmp_path / "tier.yaml").write_text(DECISION)
    return Engine.from_path(tmp_path)


def test_cut_points_are_nearest_rank_quantiles() -> None:
    values = list(range(1, 11))  # 1..10
    assert cut_points(values, 5) == [2, 4, 6, 8]
    assert cut_points(values, 4) == [3, 5, 8]  # ceil(2.5)=3rd, 5th, ceil(7.5)=8th value
    assert cut_points([7], 5) == [7, 7, 7, 7]
    assert cut_points([], 5) == []
    assert cut_points([0, 0, 0, 0, 1, 5], 5) == [0, 0, 0, 1]  # ties collapse groups
    assert mean([]) is None and mean([1.0, 2.0]) == 1.5
    assert share(1, 4) == 0.25 and share(0, 0) is None


def test_rank_counts_cut_points_strictly_below() -> None:
    cuts = (10.0, 20.0, 30.0)
    assert [rank(v, cuts) for v in (5, 10, 10.5, 30, 31)] == [0, 0, 1, 2, 3]
    assert [band(v, cuts) for v in (5, 10, 10.5, 30, 31)] == [1, 1, 2, 3, 4]
    percentiles = tuple(cut_points(list(range(1, 1001)), 100))
    assert rank(1000, percentiles) == 99 and rank(905, percentiles) == 90
    with pytest.raises(ValueError, match="ascending"):
        rank(1, (3.0, 2.0))


def _clients(n: int, seed: int = 3) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {
            "client_id": str(i),
            "revenue": float(rng.randrange(0, 900)),
            "orders": rng.randrange(0, 5),
            "first_order": dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 500)),
        }
        for i in range(n)
    ]


def test_the_profile_of_a_base_is_the_same_json_whatever_the_order(engine: Engine) -> None:
    clients = _clients(500)
    first = engine.profile(clients, AS_OF)
    shuffled = clients[:]
    random.Random(1).shuffle(shuffled)
    second = engine.profile(shuffled, AS_OF)
    assert first.to_json() == second.to_json() and first.digest == second.digest
    assert json.loads(json.dumps(first.to_json())) == first.to_json()
    buyers = sorted(c["revenue"] for c in clients if c["orders"] >= 1)  # type: ignore[operator]
    assert first.values["revenue_cuts"] == cut_points(buyers, 5)
    assert first.values["revenue_mean"] == pytest.approx(sum(c["revenue"] for c in clients) / 500)  # type: ignore[misc]
    repeat = sum(1 for c in clients if c["orders"] >= 2)  # type: ignore[operator]
    assert first.values["repeat_share"] == repeat / len(buyers)
    assert first.clients == 500 and first.present["revenue"] == 500
    assert first.values["tenure_mean"] is not None  # a derived fact, profiled
    assert Profile.from_json(first.to_json()) == first


def test_invalid_clients_are_skipped_not_profiled(engine: Engine) -> None:
    clients = [
        *_clients(10),
        {"client_id": "x", "revenue": "n/a"},
        UnreadableClient("y", ()),
        {"client_id": "z", "revenue": -5.0},
    ]
    profile = engine.profile(clients, AS_OF)  # type: ignore[arg-type]
    assert (profile.clients, profile.skipped) == (10, 3)


def test_decisions_read_the_profile_and_refuse_without_one(engine: Engine) -> None:
    clients = _clients(200)
    profile = engine.profile(clients, AS_OF)
    outcomes = list(engine.decide_many(clients, AS_OF, profile=profile))
    cuts = profile.values["revenue_cuts"]
    mean_ = profile.values["revenue_mean"]
    for client, outcome in zip(clients, outcomes, strict=True):
        top = client["revenue"] > cuts[-1] and client["revenue"] > mean_  # type: ignore[operator]
        assert outcome.output("tier") == {"tier": "top" if top else "other"}
    with pytest.raises(ProfileError, match=r"statistics of the whole client base \(revenue_cuts"):
        engine.decide(clients[0], AS_OF)


def test_a_stored_profile_must_match_the_packs_definitions(engine: Engine, tmp_path: Path) -> None:
    profile = engine.profile(_clients(50), AS_OF)
    (tmp_path / "facts.yaml").write_text(PACK.replace("groups: 5", "groups: 4"))
    changed = Engine.from_path(tmp_path)
    with pytest.raises(ProfileError, match="compute the profile again"):
        changed.decide(_clients(1)[0], AS_OF, profile=profile)
    with pytest.raises(ProfileError, match="version 2"):
        Profile.from_json({"version": 1, "quantiles": {}})


def test_facts_derived_from_the_profile_are_unknown_without_its_values(engine: Engine) -> None:
    given = Profile.given(engine.pack, {})
    facts, errors = engine.derive(_clients(1)[0], AS_OF, profile=given)
    assert not errors and facts["score"] is None and facts["above_mean"] is None
    with pytest.raises(ProfileError, match="4 ascending cut points"):
        Profile.given(engine.pack, {"revenue_cuts": [1, 2]})


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("  s: {cut_points: revenue}\n", "groups: goes with cut_points"),
        ("  s: {mean: revenue, share: orders >= 1}\n", "exactly one of cut_points, mean, share"),
        ("  s: {mean: first_order}\n", "mean needs a number, but s reads a date"),
        ("  s: {bg_nbd: revenue}\n", "bg_nbd needs a list of three values"),
        ("  s: {bg_nbd: '[orders, first_order, revenue]'}\n", "bg_nbd needs numbers, got a date"),
        ("  s: {share: revenue}\n", "a condition must be true or false"),
    ],
)
def test_a_broken_statistic_is_an_error_at_its_place(
    tmp_path: Path, profile: str, message: str
) -> None:
    text = (
        PACK.split("profile:\n")[0]
        + "profile:\n  revenue_cuts: {cut_points: revenue, groups: 5}\n"
        + "  revenue_mean: {mean: revenue}\n"
        + profile
    )
    (tmp_path / "facts.yaml").write_text(text)
    with pytest.raises(RulePackError) as caught:
        Engine.from_path(tmp_path)
    assert any(message in str(e) for e in caught.value.errors), caught.value
    assert all(e.pos.file.endswith("facts.yaml") for e in caught.value.errors)


LAYERED = """\
facts: layered
inputs:
  revenue: {type: number, min: 0}
derive:
  share_of_mean: revenue / revenue_mean
  rank_of_share: band(share_of_mean, share_cuts)
profile:
  revenue_mean: {mean: revenue}
  share_cuts: {cut_points: share_of_mean, groups: 4}
"""


def test_a_statistic_may_read_facts_that_need_other_statistics(tmp_path: Path) -> None:
    """Layers: share_cuts reads share_of_mean, which reads revenue_mean; the profile is
    computed layer by layer, from a list or from an iterator alike, and every derived fact
    is counted, with its min, median and max."""
    (tmp_path / "facts.yaml").write_text(LAYERED)
    engine = Engine.from_path(tmp_path)
    clients = [{"revenue": float(v)} for v in (1, 2, 3, 4, 5, 6, 7, 8)] + [{}]
    profile = engine.profile(clients, AS_OF)
    assert profile.values["revenue_mean"] == 4.5
    assert profile.values["share_cuts"] == cut_points(sorted(v / 4.5 for v in range(1, 9)), 4)
    assert profile.to_json() == engine.profile(iter(clients), AS_OF).to_json()
    assert profile.present == {"revenue": 8, "share_of_mean": 8, "rank_of_share": 8}
    assert profile.spread["revenue"].to_json() == {"min": 1, "median": 4, "max": 8}
    assert profile.spread["rank_of_share"].to_json() == {"min": 1, "median": 2, "max": 4}
    facts, _ = engine.derive({"revenue": 9.0}, AS_OF, profile=profile)
    assert facts["rank_of_share"] == 4


def test_dates_spread_as_iso_text_and_a_profile_round_trips(engine: Engine) -> None:
    profile = engine.profile(_clients(40), AS_OF)
    spread = profile.spread["first_order"].to_json()
    assert all(isinstance(v, str) and dt.date.fromisoformat(v) for v in spread.values())
    assert (
        Profile.from_json(json.loads(json.dumps(profile.to_json()))).to_json() == profile.to_json()
    )


def test_the_purchase_model_from_grouped_rows_is_the_per_client_one() -> None:
    """What the SQL side hands in (GROUP BY the three values, with counts) gives the same
    statistic as the per-client pass; rows that are no history count for nothing."""
    from tierwise.profile import bg_nbd_of_counts

    rng = random.Random(5)
    clients = []
    for _ in range(400):
        age = rng.randrange(30, 2000)
        repeats = rng.choice([0, 0, 0, 1, 2, 5])
        span = 0 if repeats == 0 else rng.randrange(0, age)
        clients.append({"n": repeats + 1, "span": span, "age": age})
    pack_text = (
        "facts: m\ninputs: {n: integer, span: integer, age: integer}\n"
        "profile:\n  model: {bg_nbd: '[n - 1, span, age]', where: n >= 1}\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.yaml").write_text(pack_text)
        engine = Engine.from_path(tmp)
        model = engine.profile(clients, AS_OF).values["model"]
    counts: dict[tuple[int, int, int], int] = {}
    for c in clients:
        key = (c["n"] - 1, c["span"], c["age"])
        counts[key] = counts.get(key, 0) + 1
    rows = [(*k, n) for k, n in counts.items()] + [(-1, 0, 10, 3), (2, 50, 10, 1), (None, 1, 2, 1)]
    assert bg_nbd_of_counts(rows) == model
    assert len(model) == 4 and all(v > 0 for v in model)
