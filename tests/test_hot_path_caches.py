"""What the per-client path remembers between clients never changes an answer.

The engine keeps the last profile's statistics, the standard library checks a profile's
cut points and reads its purchase model once per tuple, dates read from text are
remembered, and hoisted true/false values are keyed by lookup: each is held here to what
a fresh computation gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tierwise import Engine
from tierwise.lang.types import FactType
from tierwise.lang.values import ReadError, read
from tierwise.profile import Profile
from tierwise.stdlib import constants
from tierwise.stdlib.crm import band, rank

from . import reference

AS_OF = dt.date(2026, 1, 1)
FACTS = """facts: crm
inputs:
  revenue_12m: {type: number, min: 0}
derive:
  revenue_band:
    expr: band(revenue_12m, revenue_cuts)
profile:
  revenue_cuts: {cut_points: revenue_12m, groups: 5}
"""
TIER = """decision: tier
hit_policy: first
rules:
  - {id: top, when: 'revenue_band >= 5', then: {tier: top}}
  - {id: high, when: 'revenue_band >= 4', then: {tier: high}}
default: {tier: other}
"""


@pytest.fixture()
def banded(tmp_path: Path) -> Engine:
    (tmp_path / "crm.yaml").write_text(FACTS, encoding="utf-8")
    (tmp_path / "tier.yaml").write_text(TIER, encoding="utf-8")
    return Engine.from_path(tmp_path)


def test_each_call_decides_with_the_profile_it_is_given(banded: Engine) -> None:
    """Two profiles in turn, with decide and decide_many: never the one before's cuts."""
    low = Profile.given(banded.pack, {"revenue_cuts": [10, 20, 30, 40]})
    high = Profile.given(banded.pack, {"revenue_cuts": [1000, 2000, 3000, 4000]})
    client = {"revenue_12m": 500.0}
    for _ in range(2):
        assert banded.decide(client, AS_OF, profile=low).output("tier") == {"tier": "top"}
        assert banded.decide(client, AS_OF, profile=high).output("tier") == {"tier": "other"}
        [many] = banded.decide_many([client], AS_OF, profile=low)
        assert many.output("tier") == {"tier": "top"}


def test_a_profile_that_does_not_fit_is_refused_every_time(banded: Engine) -> None:
    from tierwise.profile import ProfileError

    good = Profile.given(banded.pack, {"revenue_cuts": [10, 20, 30, 40]})
    banded.decide({"revenue_12m": 5.0}, AS_OF, profile=good)
    stale = Profile({"revenue_cuts": [1, 2, 3, 4]}, {"revenue_cuts": "another definition"})
    for _ in range(2):
        with pytest.raises(ProfileError):
            banded.decide({"revenue_12m": 5.0}, AS_OF, profile=stale)


def test_cut_points_are_checked_for_every_new_tuple_and_every_list() -> None:
    good = (1.0, 2.0, 3.0)
    assert [rank(v, good) for v in (0.5, 2.0, 9.0)] == [0, 1, 3]
    for bad in ((3.0, 1.0, 2.0), [3.0, 1.0, 2.0]):
        for _ in range(2):  # a failure is not remembered
            with pytest.raises(ValueError, match="ascending"):
                band(1.0, bad)
    listed = [1.0, 2.0, 3.0]
    assert band(2.5, listed) == 3
    listed[0] = 9.0  # a list may change between calls: it is checked each time
    with pytest.raises(ValueError, match="ascending"):
        band(2.5, listed)


def test_per_tuple_remembers_tuples_only_and_starts_afresh_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []

    def length(value: Any) -> int:
        calls.append(value)
        return len(value)

    remembered = constants.per_tuple(length)
    monkeypatch.setattr(constants, "LIMIT", 2)
    t = (1, 2, 3)
    assert [remembered(t), remembered(t)] == [3, 3]
    assert len(calls) == 1
    assert [remembered([1]), remembered([1])] == [1, 1]
    assert len(calls) == 3
    others = [tuple(range(n)) for n in range(4)]
    assert [remembered(o) for o in others] == [0, 1, 2, 3]
    assert remembered(t) == 3  # forgotten when the memo filled, computed again
    assert len(calls) == 8


def test_dates_read_from_text_are_read_alike_every_time() -> None:
    date = FactType("date")
    first = [read(text, date) for text in ("2024-02-29", "2024-02-29 ", "2024-03-01")]
    again = [read(text, date) for text in ("2024-02-29", "2024-02-29 ", "2024-03-01")]
    assert first == again == [dt.date(2024, 2, 29), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    for _ in range(2):
        with pytest.raises(ReadError):
            read("2023-02-29", date)


HOISTED = """decision: contact
hit_policy: collect
inputs:
  email: {type: string}
  phone: {type: string}
  revenue_12m: {type: number}
  costs_12m: {type: number}
rules:
  - {id: by_mail, when: 'exists(email) and not exists(phone)', then: {via: mail}}
  - {id: profitable, when: 'revenue_12m > costs_12m', then: {via: call}}
  - {id: either, when: 'exists(email) or revenue_12m <= costs_12m', then: {via: letter}}
"""


def test_hoisted_truth_values_keep_every_answer(tmp_path: Path) -> None:
    """exists() and fact-against-fact comparisons are keyed by lookup; a warm engine (most
    clients answered from the memo) agrees with the reference interpreter on every client."""
    (tmp_path / "contact.yaml").write_text(HOISTED, encoding="utf-8")
    engine = Engine.from_path(tmp_path)
    values: dict[str, list[Any]] = {
        "email": [None, "a@b.c"],
        "phone": [None, "+33"],
        "revenue_12m": [None, 0.0, 10.0, 10.5],
        "costs_12m": [None, 10.0],
    }
    clients = [
        {"email": e, "phone": p, "revenue_12m": r, "costs_12m": c}
        for e in values["email"]
        for p in values["phone"]
        for r in values["revenue_12m"]
        for c in values["costs_12m"]
    ] * 3
    for facts, outcome in zip(clients, engine.decide_many(clients, AS_OF), strict=True):
        decided = reference.decide(engine.pack, facts, AS_OF)
        assert decided is not None
        want = decided["contact"]
        got = outcome.decisions["contact"]
        assert (got.status, got.rules) == (want.status, want.rules), facts
