"""durable_rules' limits never reach the user: each trap that design.md lists ("Limits and
traps", and "What the first version taught us") is driven through tierwise here.

- more than 64 rules matching one message (error 303), for first-hit events as for facts:
  ladders of 65, 200 and 1,000 matching rules under every hit policy, rules begun by a
  message but finished by none, a grid whose matches only overflow durable's stack when
  walked, a 450-rule tier table held to the SQL path, `or` branches all true;
- more than 253 properties (error 302): clients with 500 fields, under collect and first;
- one ruleset of 1,000 rules hangs: a first-hit decision of 5,000 rules;
- rules of more than 15 and/or groups (error 113 at load), found here beside the 303;
- a fact a rule reads must be in the message, null when missing; explicit nulls never
  match, and fact-versus-fact comparisons with a null (durable matched `$eq`, `$neq`);
- two threads on one session; batch asserts that lose actions; facts never retracted;
  1,024 sids; rulesets registered twice; not-handled messages; `$ex` matching durable's
  session state; integers past 64 bits, overflow to infinity, exponents; durable's timers;
- numbers that JSON writes with exponents (durable's parser rejects them), dates.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import durable_rules_engine as dre
import pytest

from tierwise import Engine, decide_table
from tierwise.runtime.compile import compile_decision

AS_OF = dt.date(2024, 3, 1)


def engine_for(tmp_path: Path, text: str) -> Engine:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return Engine.from_path(path)


@pytest.fixture(scope="module")
def five_thousand(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """5,000 rules as a CSV decision table (quicker to write and to load than 5,000 YAML rules)."""
    folder = tmp_path_factory.mktemp("big")
    rows = ["id,code,region,n"] + [f"r{k},{k},not(x{k % 7}),{k}" for k in range(5000)]
    (folder / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "big.yaml").write_text(
        "decision: big\ninputs: {code: integer, region: string}\ntable: {file: big.csv}\n"
        "default: {n: -1}\n",
        encoding="utf-8",
    )
    return Engine.from_path(folder)


@pytest.mark.parametrize("code", [0, 1, 1999, 2500, 4321, 4999])
def test_first_hit_decision_of_5000_rules(five_thousand: Engine, code: int) -> None:
    result = five_thousand.decide({"code": code, "region": "eu"}, as_of=AS_OF).decisions["big"]
    assert (result.status, result.output, result.rules) == ("decided", {"n": code}, [f"r{code}"])


def test_5000_rules_no_match_and_unknown(five_thousand: Engine) -> None:
    outcomes = list(
        five_thousand.decide_many(
            [{"code": 5000, "region": "eu"}, {"code": 14, "region": "x0"}, {"region": "eu"}],
            as_of=AS_OF,
        )
    )
    assert [o.decisions["big"].status for o in outcomes] == ["default"] * 3


def test_200_rules_matching_one_client_under_collect(tmp_path: Path) -> None:
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k}', then: {{step: {k}}}}}" for k in range(200)
    )
    text = f"decision: steps\nhit_policy: collect\ninputs: {{score: number}}\nrules:\n{rules}\n"
    engine = engine_for(tmp_path, text)
    every = engine.decide({"score": 1000}, as_of=AS_OF).decisions["steps"]
    assert every.status == "decided"
    assert every.output == [{"step": k} for k in range(200)]
    assert every.rules == [f"r{k}" for k in range(200)]
    some = engine.decide({"score": 99.5}, as_of=AS_OF).decisions["steps"]
    assert some.rules == [f"r{k}" for k in range(100)]


def test_200_matches_under_count_and_sum(tmp_path: Path) -> None:
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k} or flag', then: {{points: {k}}}}}" for k in range(200)
    )
    base = "hit_policy: collect\ninputs: {score: number, flag: bool}\nrules:\n" + rules + "\n"
    (tmp_path / "count.yaml").write_text("decision: hits\naggregate: count\n" + base)
    (tmp_path / "sum.yaml").write_text("decision: total\naggregate: sum(points)\n" + base)
    engine = Engine.from_path(tmp_path)
    outcome = engine.decide({"score": -1, "flag": True}, as_of=AS_OF)
    assert outcome.output("hits") == {"count": 200}
    assert outcome.output("total") == {"points": sum(range(200))}
    outcome = engine.decide({"score": 9, "flag": False}, as_of=AS_OF)
    assert outcome.output("hits") == {"count": 10}
    assert outcome.output("total") == {"points": sum(range(10))}


def test_clients_with_500_fields(tmp_path: Path) -> None:
    inputs = "\n".join(f"  f{k}: integer" for k in range(500))
    all_positive = " and ".join(f"f{k} > 0" for k in range(500))
    rules = [f"  - {{id: every, when: '{all_positive}', then: {{kind: every}}}}"]
    rules += [f"  - {{id: one{k}, when: 'f{k} == 7', then: {{kind: one{k}}}}}" for k in range(500)]
    text = f"decision: wide\nhit_policy: collect\ninputs:\n{inputs}\nrules:\n" + "\n".join(rules)
    engine = engine_for(tmp_path, text + "\n")
    client = {f"f{k}": 1 for k in range(500)}
    client.update({"f3": 7, "f260": 7, "f499": 7, "unrelated": "ignored"})
    result = engine.decide(client, as_of=AS_OF).decisions["wide"]
    assert result.rules == ["every", "one3", "one260", "one499"]
    client["f498"] = None
    result = engine.decide(client, as_of=AS_OF).decisions["wide"]
    assert result.rules == ["one3", "one260", "one499"]


@pytest.mark.parametrize("policy", ["first", "collect"])
def test_a_rule_with_100_or_branches_all_true(tmp_path: Path, policy: str) -> None:
    inputs = "\n".join(f"  f{k}: integer" for k in range(100))
    every = " or ".join(f"f{k} > 0" for k in range(100))
    text = f"decision: w\nhit_policy: {policy}\ninputs:\n{inputs}\nrules:\n"
    text += f"  - {{id: a, when: '{every}', then: {{k: a}}}}\n"
    text += "  - {id: b, when: 'f0 == 1', then: {k: b}}\n"
    engine = engine_for(tmp_path, text)
    result = engine.decide({f"f{k}": 1 for k in range(100)}, as_of=AS_OF).decisions["w"]
    assert result.rules == (["a"] if policy == "first" else ["a", "b"])
    result = engine.decide({"f99": 1}, as_of=AS_OF).decisions["w"]
    assert result.rules == ["a"]
    assert engine.decide({"f99": 0}, as_of=AS_OF).decisions["w"].status == "no_decision"


NUMBERS = """\
decision: sizes
hit_policy: collect
inputs: {x: number, n: integer}
rules:
  - {id: huge, when: x >= 1e20, then: {k: huge}}
  - {id: below_huge, when: x < 1e20 and x > 1e19, then: {k: below_huge}}
  - {id: tiny, when: x > 0 and x < 1e-7, then: {k: tiny}}
  - {id: exactly_tiny, when: x == 1e-7, then: {k: exactly_tiny}}
  - {id: negative_tiny, when: x >= -1e-7 and x < 0, then: {k: negative_tiny}}
  - {id: scaled, when: x * 1e10 > 1, then: {k: scaled}}
  - {id: big_int, when: n >= 1000000000000000, then: {k: big_int}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"x": 1e20}, ["huge", "scaled"]),
        ({"x": 2.5e20}, ["huge", "scaled"]),
        ({"x": 9.999e19}, ["below_huge", "scaled"]),
        ({"x": 1e-7}, ["exactly_tiny", "scaled"]),
        ({"x": 5e-8}, ["tiny", "scaled"]),
        ({"x": 5e-11}, ["tiny"]),
        ({"x": 1e-300}, ["tiny"]),
        ({"x": -1e-7}, ["negative_tiny"]),
        ({"x": -1e-8}, ["negative_tiny"]),
        ({"x": -1e20}, []),
        ({"n": 10**15}, ["big_int"]),
        ({"n": 10**15 - 1}, []),
    ],
)
def test_big_and_small_numbers(
    tmp_path: Path, facts: dict[str, float], expected: list[str]
) -> None:
    result = engine_for(tmp_path, NUMBERS).decide(facts, as_of=AS_OF).decisions["sizes"]
    assert result.rules == expected


def test_outputs_with_exponents_survive(tmp_path: Path) -> None:
    text = (
        "decision: o\ninputs: {x: number}\nrules:\n  - {id: a, when: x > 1e-7, then: {v: 1e20}}\n"
    )
    text += "default: {v: 1e-7}\n"
    engine = engine_for(tmp_path, text)
    assert engine.decide({"x": 1}, as_of=AS_OF).output("o") == {"v": 1e20}
    assert engine.decide({"x": 0}, as_of=AS_OF).output("o") == {"v": 1e-7}
    assert json.loads(engine.decide({"x": 0}, as_of=AS_OF).model_dump_json())


DATES = """\
decision: when
hit_policy: collect
inputs: {day: date, other: date, at: datetime}
rules:
  - {id: leap_or_later, when: day >= 2024-02-29, then: {k: leap_or_later}}
  - {id: before_epoch, when: day < 1970-01-01, then: {k: before_epoch}}
  - {id: same_day, when: day == other, then: {k: same_day}}
  - {id: in_list, when: 'day in [2000-01-01, 2024-03-01]', then: {k: in_list}}
  - {id: recent, when: days_since(day) <= 30, then: {k: recent}}
  - {id: after_noon, when: at > 2024-01-01T12:00:00, then: {k: after_noon}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"day": "2024-02-28"}, ["recent"]),
        ({"day": dt.date(2024, 2, 29)}, ["leap_or_later", "recent"]),
        (
            {"day": "2024-03-01", "other": "2024-03-01"},
            ["leap_or_later", "same_day", "in_list", "recent"],
        ),
        ({"day": "1969-12-31", "other": "1970-01-01"}, ["before_epoch"]),
        ({"day": "0001-01-01"}, ["before_epoch"]),
        ({"day": "2000-01-01"}, ["in_list"]),
        ({"at": "2024-01-01T12:00:01"}, ["after_noon"]),
        ({"at": "2024-01-01T12:00:00"}, []),
        ({"at": "2024-01-01T13:30:00+02:00"}, []),
        ({"at": "2024-01-01T11:30:00-01:00"}, ["after_noon"]),
        ({"at": dt.datetime(2024, 1, 1, 12, 0, 0, 1)}, ["after_noon"]),
    ],
)
def test_dates_and_datetimes_compare_as_dates(
    tmp_path: Path, facts: dict, expected: list[str]
) -> None:
    result = engine_for(tmp_path, DATES).decide(facts, as_of=AS_OF).decisions["when"]
    assert result.rules == expected


OVERFLOW = """\
decision: big
hit_policy: collect
inputs: {n: integer, x: number}
rules:
  - {id: square, when: n * n > 5, then: {k: square}}
  - {id: exact, when: n * n - 1 == n * n, then: {k: exact}}
  - {id: rounded, when: round(x) > 5, then: {k: rounded}}
  - {id: inf, when: x * x > 5, then: {k: inf}}
  - {id: not_inf, when: not (x * x > 5), then: {k: not_inf}}
  - {id: finite, when: x * x * 0 == 0, then: {k: finite}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"n": 2**53}, ["square", "exact"]),  # 2**106 is beyond int64: compared as a double
        ({"n": 3}, ["square"]),
        ({"x": 1e20}, ["rounded", "inf", "finite"]),  # round(1e20) is beyond int64
        ({"x": 1e200}, ["rounded"]),  # 1e200 * 1e200 overflows: null, neither true nor false
        ({"x": 2.0}, ["not_inf", "finite"]),
    ],
)
def test_arithmetic_beyond_64_bits_and_overflow(
    tmp_path: Path, facts: dict[str, float], expected: list[str]
) -> None:
    result = engine_for(tmp_path, OVERFLOW).decide(facts, as_of=AS_OF).decisions["big"]
    assert (result.rules, result.error) == (expected, None)


# -- more than 64 rules matching one message (error 303) --------------------------------


def ladder(tmp_path: Path, n: int, policy: str, op: str = ">=", extra: str = "") -> Engine:
    """n rules `score op k`: a high (or low) score matches every one of them at once."""
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score {op} {k}', then: {{step: {k}, tier: t}}}}" for k in range(n)
    )
    text = f"decision: steps\nhit_policy: {policy}\n{extra}inputs: {{score: number}}\n"
    return engine_for(tmp_path, text + f"rules:\n{rules}\n")


def steps(engine: Engine, score: float) -> Any:
    return engine.decide({"score": score}, as_of=AS_OF).decisions["steps"]


@pytest.mark.parametrize("n", [65, 200, 1000])
def test_first_hit_with_n_rules_matching_one_client(tmp_path: Path, n: int) -> None:
    engine = ladder(tmp_path, n, "first")
    assert (steps(engine, 10**6).status, steps(engine, 10**6).rules) == ("decided", ["r0"])
    assert steps(engine, -1).status == "no_decision"
    falling = ladder(tmp_path, n, "first", "<=")  # the winner is each ruleset's last rule
    for score in (0, 47, 48, 63, 64, n - 1):
        assert falling.decide({"score": score}, as_of=AS_OF).output("steps")["step"] == score
    assert steps(falling, n).status == "no_decision"


@pytest.mark.parametrize("n", [65, 200, 1000])
def test_priorities_reorder_rules_across_rulesets(tmp_path: Path, n: int) -> None:
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k}', then: {{step: {k}}}"
        + (", priority: 5}" if k == n - 1 else "}")
        for k in range(n)
    )
    engine = engine_for(tmp_path, f"decision: steps\ninputs: {{score: number}}\nrules:\n{rules}\n")
    assert steps(engine, 10**6).rules == [f"r{n - 1}"]
    assert steps(engine, 0).rules == ["r0"]


@pytest.mark.parametrize("n", [65, 200, 1000])
def test_every_policy_with_n_rules_matching_one_client(tmp_path: Path, n: int) -> None:
    collect = ladder(tmp_path, n, "collect", extra="aggregate: count\n")
    assert collect.decide({"score": 10**6}, as_of=AS_OF).output("steps") == {"count": n}
    unique = steps(ladder(tmp_path, n, "unique"), 10**6)
    assert unique.status == "error" and "durable" not in (unique.error or "")
    assert "r0" in (unique.error or "") and "r1" in (unique.error or "")
    assert steps(ladder(tmp_path, n, "unique"), 0).rules == ["r0"]
    ranked = "priority_order: {tier: [t]}\n"
    assert steps(ladder(tmp_path, n, "priority", extra=ranked), 10**6).status == "decided"
    any_ = steps(ladder(tmp_path, n, "any"), 10**6)
    assert any_.status == "error" and "durable" not in (any_.error or "")  # their steps differ


@pytest.mark.parametrize("policy", ["first", "collect"])
def test_rules_that_a_client_begins_but_none_finishes(tmp_path: Path, policy: str) -> None:
    """durable's stack holds tests a message passes, matched or only begun: 100 rules whose
    first test holds and whose second fails overflowed it without a single match."""
    rules = "\n".join(
        f"  - {{id: r{k}, when: 'score >= {k} and flag', then: {{step: {k}}}}}" for k in range(100)
    )
    text = f"decision: steps\nhit_policy: {policy}\ninputs: {{score: number, flag: bool}}\n"
    engine = engine_for(tmp_path, text + f"rules:\n{rules}\n")
    begun = engine.decide({"score": 500, "flag": False}, as_of=AS_OF).decisions["steps"]
    assert (begun.status, begun.error) == ("no_decision", None)
    done = engine.decide({"score": 500, "flag": True}, as_of=AS_OF).decisions["steps"]
    assert done.rules == (["r0"] if policy == "first" else [f"r{k}" for k in range(100)])


@pytest.mark.parametrize("policy", ["first", "collect"])
def test_a_grid_of_rules_all_matching(tmp_path: Path, policy: str) -> None:
    """33 x 33 rules `a_i > 0 and b_j > 0`: durable's stack, walked depth first, needs 33
    entries below its root and 33 more below the a_i it walks first; 65 is one too many."""
    n = 33
    inputs = ", ".join([f"a{i}: integer" for i in range(n)] + [f"b{i}: integer" for i in range(n)])
    rules = "\n".join(
        f"  - {{id: r{i}_{j}, when: 'a{i} > 0 and b{j} > 0', then: {{k: {i * n + j}}}}}"
        for i in range(n)
        for j in range(n)
    )
    text = f"decision: grid\nhit_policy: {policy}\ninputs: {{{inputs}}}\nrules:\n{rules}\n"
    engine = engine_for(tmp_path, text)
    client = {**{f"a{i}": 1 for i in range(n)}, **{f"b{i}": 1 for i in range(n)}}
    result = engine.decide(client, as_of=AS_OF).decisions["grid"]
    assert result.error is None
    assert len(result.rules) == (1 if policy == "first" else n * n)
    client["a0"] = 0
    assert engine.decide(client, as_of=AS_OF).decisions["grid"].rules[0] == "r1_0"


def test_exclusive_rules_share_a_ruleset(five_thousand: Engine) -> None:
    """Splitting follows what can match at once, not the rule count alone: 5,000 rows that
    test one code each fill rulesets of 200 (a first-hit client asks few of them)."""
    (compiled,) = five_thousand.compiled
    assert [len(c.rules) for c in compiled.chunks] == [200] * 25


@pytest.fixture(scope="module")
def tier_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 450-row tier table of overlapping bands (most clients match dozens of rows)."""
    folder = tmp_path_factory.mktemp("tiers")
    rows = ["id,segment,clv,orders,tier,discount_pct"]
    for k in range(450):
        segment = ["consumer", "business", "-"][k % 3]
        rows.append(f"t{k},{segment},>= {k * 40},>= {k % 17},tier{k % 9},{k % 25}")
    (folder / "tiers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "tiers.yaml").write_text(
        "decision: tier\ninputs: {segment: {enum: [consumer, business]}, clv: number, "
        "orders: integer}\ntable: {file: tiers.csv}\ndefault: {tier: none, discount_pct: 0}\n",
        encoding="utf-8",
    )
    return folder


def test_a_450_rule_tier_table_agrees_with_the_sql_path(tier_table: Path) -> None:
    import pyarrow as pa

    clients = pa.table(
        {
            "client_id": [str(k) for k in range(3000)],
            "segment": [["consumer", "business", None][k % 3] for k in range(3000)],
            "clv": [float((k * 7919) % 20000) for k in range(3000)],
            "orders": [k % 23 for k in range(3000)],
        }
    )
    durable = list(decide_table(tier_table, clients, AS_OF, engine="durable"))
    sql = list(decide_table(tier_table, clients, AS_OF, engine="sql"))
    assert [o.errors for o in durable] == [[]] * 3000
    assert [o.decisions["tier"].error for o in durable] == [None] * 3000
    assert [o.decisions["tier"].rules for o in durable] == [o.decisions["tier"].rules for o in sql]
    assert sum(o.decisions["tier"].status == "decided" for o in durable) > 2000


@pytest.mark.parametrize("policy", ["first", "collect"])
@pytest.mark.parametrize("pairs", [14, 15, 40])
def test_a_rule_of_many_and_or_groups(tmp_path: Path, policy: str, pairs: int) -> None:
    """durable keeps 31 expression entries per rule, two for each and/or group: an `or` of
    15 `and` pairs (16 groups) failed at load with error 113."""
    inputs = ", ".join(f"a{k}: number, b{k}: number" for k in range(pairs))
    cond = " or ".join(f"(a{k} > 0 and b{k} > 0)" for k in range(pairs))
    text = f"decision: x\nhit_policy: {policy}\ninputs: {{{inputs}}}\nrules:\n"
    text += f"  - {{id: r, when: '{cond}', then: {{k: 1}}}}\n"
    engine = engine_for(tmp_path, text)
    assert engine.decide({"a3": 1, "b3": 1}, as_of=AS_OF).decisions["x"].rules == ["r"]
    assert engine.decide({"a3": 1, "b4": 1}, as_of=AS_OF).decisions["x"].status == "no_decision"


# -- more than 253 properties (error 302) -----------------------------------------------


def test_first_hit_clients_with_500_fields(tmp_path: Path) -> None:
    inputs = "\n".join(f"  f{k}: integer" for k in range(500))
    rules = [f"  - {{id: one{k}, when: 'f{k} == 7', then: {{kind: one{k}}}}}" for k in range(500)]
    text = f"decision: wide\ninputs:\n{inputs}\nrules:\n" + "\n".join(rules) + "\n"
    engine = engine_for(tmp_path, text)
    client = {f"f{k}": 1 for k in range(500)}
    assert engine.decide(client, as_of=AS_OF).decisions["wide"].status == "no_decision"
    client["f260"] = 7
    assert engine.decide(client, as_of=AS_OF).decisions["wide"].rules == ["one260"]


# -- missing facts and nulls ---------------------------------------------------------------

NULLS = """\
decision: nulls
hit_policy: collect
inputs: {revenue: number, costs: number, a: string, b: string}
rules:
  - {id: below_costs, when: revenue < costs + 0, then: {k: below_costs}}
  - {id: not_above, when: not (revenue > costs), then: {k: not_above}}
  - {id: same, when: a == b, then: {k: same}}
  - {id: differ, when: a != b, then: {k: differ}}
  - {id: not_same, when: not (a == b), then: {k: not_same}}
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"revenue": 5}, []),  # costs absent: durable matched `revenue < costs + 0`
        ({"revenue": 5, "costs": None}, []),
        ({"revenue": 5, "costs": 9}, ["below_costs", "not_above"]),
        ({"a": "x"}, []),  # durable matched `$eq` and `$neq` of a fact with a null one
        ({"a": "x", "b": None}, []),
        ({"a": None, "b": None}, []),
        ({"a": "x", "b": "x"}, ["same"]),
        ({"a": "x", "b": "y"}, ["differ", "not_same"]),
    ],
)
def test_missing_and_null_facts_never_match(
    tmp_path: Path, facts: dict[str, Any], expected: list[str]
) -> None:
    result = engine_for(tmp_path, NULLS).decide(facts, as_of=AS_OF).decisions["nulls"]
    assert (result.rules, result.error) == (expected, None)


# -- sessions, threads, state -------------------------------------------------------------

MIXED = """\
decision: mixed
hit_policy: {policy}
inputs: {{score: number}}
rules:
  - {{id: always, when: true, then: {{k: always}}}}
  - {{id: high, when: score > 10, then: {{k: high}}}}
"""


@pytest.mark.parametrize("policy", ["first", "collect"])
def test_a_rule_that_always_holds_keeps_later_clients_decided(tmp_path: Path, policy: str) -> None:
    """`$ex` also matched durable's own session-state record, which left an action pending
    and blocked every later client; an always-true rule tests the client's message."""
    engine = engine_for(tmp_path, MIXED.format(policy=policy))
    expected = ["always"] if policy == "first" else ["always", "high"]
    for _ in range(50):
        assert engine.decide({"score": 20}, as_of=AS_OF).decisions["mixed"].rules == expected
        assert engine.decide({"score": 1}, as_of=AS_OF).decisions["mixed"].rules == ["always"]


def test_one_engine_shared_by_threads_on_ladders(tmp_path: Path) -> None:
    """Two threads on one durable session gave 47-64% wrong answers: each thread has its own
    rulesets, also for decisions split into many."""
    engine = ladder(tmp_path, 300, "first", "<=")
    wrong: list[int] = []

    def work(offset: int) -> None:
        for k in range(400):
            score = (k * 7 + offset) % 300
            if engine.decide({"score": score}, as_of=AS_OF).output("steps")["step"] != score:
                wrong.append(score)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_every_client_gets_its_outcome_in_order(tmp_path: Path) -> None:
    """durable's batch asserts raise when one fact matches nothing and lose actions: tierwise
    asserts one client at a time, and a client that matches nothing is just no match."""
    engine = ladder(tmp_path, 120, "collect", extra="aggregate: count\n")
    clients: list[Any] = [{"score": k - 20} for k in range(200)] + [{"score": "x"}, [1]]
    outcomes = list(engine.decide_many(clients, as_of=AS_OF))
    counts = [o.decisions["steps"].output for o in outcomes[:200]]
    assert counts == [{"count": min(120, k - 19)} if k > 19 else None for k in range(200)]
    assert [bool(o.errors) for o in outcomes[200:]] == [True, True]


def test_no_client_leaves_state_in_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Facts never retracted grow durable by about 6 KB each, and each sid keeps state (1,024
    of them raise MemoryError): after 5,000 clients with their own ids, every ruleset holds
    no fact and durable knows one session."""
    handles: list[int] = []
    create = dre.create_ruleset

    def recorded(name: str, definition: str) -> int:
        handles.append(create(name, definition))
        return handles[-1]

    monkeypatch.setattr(dre, "create_ruleset", recorded)
    (tmp_path / "c.yaml").write_text(
        "decision: c\nhit_policy: collect\ninputs: {score: number}\nrules:\n"
        + "".join(f"  - {{id: r{k}, when: 'score >= {k}', then: {{k: {k}}}}}\n" for k in range(90))
    )
    (tmp_path / "f.yaml").write_text(
        "decision: f\ninputs: {score: number}\nrules:\n"
        + "".join(f"  - {{id: r{k}, when: 'score <= {k}', then: {{k: {k}}}}}\n" for k in range(90))
    )
    engine = Engine.from_path(tmp_path)
    clients = [{"client_id": f"c{k}", "score": k % 97 + k / 10_000} for k in range(5000)]
    outcomes = list(engine.decide_many(clients, as_of=AS_OF))
    assert all(not o.errors and o.decisions["c"].error is None for o in outcomes)
    assert len(handles) == 4  # two rulesets per decision
    for handle in handles:
        assert json.loads(dre.get_facts(handle, "0")) == []
        with pytest.raises(dre.error, match="309"):  # no session but "0" was ever made
            dre.get_facts(handle, "c17")


def test_the_same_pack_loaded_twice_in_one_process(tmp_path: Path) -> None:
    """durable refuses a ruleset name registered twice: rulesets are named by pack hash and
    a counter, so engines of one pack (a reload) live side by side."""
    engines = [ladder(tmp_path, 70, "first") for _ in range(3)]
    engines.append(Engine(engines[0].pack))
    assert len({e.pack.hash for e in engines}) == 1
    assert [steps(e, 100).rules for e in engines] == [["r0"]] * 4


def test_decisions_follow_as_of_not_the_clock(tmp_path: Path) -> None:
    """durable's timers read the C clock; tierwise never uses them: time comes from as_of."""
    text = (
        "decision: r\nhit_policy: collect\ninputs: {day: date}\nrules:\n"
        "  - {id: recent, when: days_since(day) <= 30, then: {k: recent}}\n"
        "  - {id: future, when: day > 2050-01-01, then: {k: future}}\n"
    )
    engine = engine_for(tmp_path, text)
    client = {"day": "2090-01-10"}
    assert engine.decide(client, as_of=dt.date(2090, 2, 1)).decisions["r"].rules == [
        "recent",
        "future",
    ]
    assert engine.decide(client, as_of=dt.date(2091, 2, 1)).decisions["r"].rules == ["future"]


def test_rulesets_of_a_split_decision_keep_first_hit_order(tmp_path: Path) -> None:
    """The order of rules across rulesets is the decision's first-hit order (pri), so the
    winner is the earliest rule that holds, whichever ruleset it is in."""
    engine = ladder(tmp_path, 500, "first", "<=")
    (compiled,) = engine.compiled
    chunks = compile_decision(compiled.decision, engine.pack.functions, {}).chunks
    assert len(chunks) > 1 and sum(len(c.rules) for c in chunks) == 500
    pris = [e["pri"] for c in chunks for e in c.definition.values()]
    assert pris == list(range(500))
