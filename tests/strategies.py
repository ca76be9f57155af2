"""Hypothesis strategies: random rule packs (YAML text) and random clients for them.

`packs()` draws a pack of one to three decisions as {filename: yaml_text}; later decisions
may read earlier ones' outputs, and with `facts=True` every decision may read a facts
file's derived facts, some of them computed from statistics of the whole base.
`clients(pack)` draws clients for a loaded Pack. Literals in rules and values in clients
come from the same small pools, so that equalities and boundaries are hit often, and
clients leave facts absent or explicitly null.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tierwise.lang.types import FactType
from tierwise.pack.ir import Pack

INPUTS: dict[str, Any] = {
    "n1": "number",
    "n2": "number",
    "i1": "integer",
    "i2": "integer",
    "s1": "string",
    "e1": {"enum": ["a", "b", "c"]},
    "b1": "bool",
    "d1": "date",
    "d2": "date",
    "t1": "datetime",
    "tags": "list",
}
"""The inputs every generated rule file declares (a pack merges them)."""

INTS = [-3, -1, 0, 1, 2, 3, 5, 7, 10, 1000, 10**15]
NUMBERS = [0.0, -0.5, 0.5, 1.0, 2.5, 3.0, 7.0, 1e20, -1e20, 1e-7, -1e-7, 2.0000001, 100.0, 1e300]
STRINGS = ["a", "b", "c", "gold", 'x"y', "é", "", "a b"]
ENUM = ["a", "b", "c"]
DATES = [dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2024, 2, 29), dt.date(2030, 6, 15)]
DATETIMES = [
    dt.datetime(2024, 1, 1, 0, 0),
    dt.datetime(2024, 1, 1, 12, 30),
    dt.datetime(2024, 1, 2, 0, 0, 1),
]
TIERS = ["gold", "silver", "bronze"]
POLICIES = [
    ("first", None),
    ("first", "priority"),
    ("unique", None),
    ("priority", None),
    ("any", None),
    ("collect", None),
    ("collect", "count"),
    ("collect", "sum(score)"),
    ("collect", "min(score)"),
    ("collect", "max(score)"),
]
AS_OF = dt.date(2024, 3, 1)
"""The evaluation date the differential tests pass to both interpreters."""


def _string_literal(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number_literal(value: float | int) -> str:
    return repr(value)


@dataclass
class _Scope:
    """What an expression may read: typed names of inputs, derived facts, upstream outputs."""

    numeric: list[str] = field(default_factory=lambda: ["n1", "n2", "i1", "i2"])
    bools: list[str] = field(default_factory=lambda: ["b1"])
    tier_values: list[str] = field(default_factory=list)
    tier_lists: list[str] = field(default_factory=list)
    exists: list[str] = field(default_factory=lambda: list(INPUTS))

    def extended(self) -> _Scope:
        return _Scope(
            list(self.numeric),
            list(self.bools),
            list(self.tier_values),
            list(self.tier_lists),
            list(self.exists),
        )


@st.composite
def _numeric(draw: st.DrawFn, scope: _Scope, depth: int) -> str:
    """A numeric expression: names, literals, arithmetic, negation, function calls."""
    options = ["name", "int", "number"]
    if depth > 0:
        options += ["arith", "arith", "neg", "call"]
    kind = draw(st.sampled_from(options))
    if kind == "name":
        return draw(st.sampled_from(scope.numeric))
    if kind == "int":
        return _number_literal(draw(st.sampled_from(INTS)))
    if kind == "number":
        return _number_literal(draw(st.sampled_from(NUMBERS)))
    if kind == "neg":
        return "-" + draw(st.sampled_from(scope.numeric))
    if kind == "arith":
        op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
        left = draw(_numeric(scope, depth - 1))
        right = draw(_numeric(scope, depth - 1))
        return f"({left} {op} {right})"
    fn = draw(st.sampled_from(["abs", "min", "max", "round", "days_since", "days_between"]))
    if fn == "days_since":
        return "days_since(d1)"
    if fn == "days_between":
        return "days_between(d1, d2)"
    if fn in ("min", "max"):
        left, right = draw(_numeric(scope, depth - 1)), draw(_numeric(scope, depth - 1))
        return f"{fn}({left}, {right})"
    return f"{fn}({draw(_numeric(scope, depth - 1))})"


def _list_of(draw: st.DrawFn, pool: list[Any], render: Any) -> str:
    items = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=3))
    return "[" + ", ".join(render(i) for i in items) + "]"


@st.composite
def _leaf(draw: st.DrawFn, scope: _Scope) -> str:
    """One test: a comparison, membership, exists, a bool, or a constant."""
    compare = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    kinds = ["num", "num", "num", "num_in", "string", "enum", "bool", "date", "datetime"]
    kinds += ["exists", "tags", "constant"]
    if scope.tier_values:
        kinds += ["tier"] * 3
    if scope.tier_lists:
        kinds += ["tier_list"] * 4
    kind = draw(st.sampled_from(kinds))
    if kind == "num":
        left = draw(_numeric(scope, 2))
        right = draw(_numeric(scope, 1))
        if draw(st.booleans()):
            right = _number_literal(draw(st.sampled_from(INTS + NUMBERS)))
        return f"{left} {draw(compare)} {right}"
    if kind == "num_in":
        subject = draw(_numeric(scope, 1))
        op = draw(st.sampled_from(["in", "not in"]))
        return f"{subject} {op} {_list_of(draw, INTS + NUMBERS, _number_literal)}"
    if kind == "string":
        form = draw(st.sampled_from(["eq", "in", "lower", "fact"]))
        if form == "eq":
            op = draw(st.sampled_from(["==", "!="]))
            return f"s1 {op} {_string_literal(draw(st.sampled_from(STRINGS)))}"
        if form == "in":
            op = draw(st.sampled_from(["in", "not in"]))
            return f"s1 {op} {_list_of(draw, STRINGS, _string_literal)}"
        if form == "lower":
            return f"lower(s1) == {_string_literal(draw(st.sampled_from(STRINGS)))}"
        return f"s1 {draw(st.sampled_from(['==', '!=']))} e1"
    if kind == "enum":
        if draw(st.booleans()):
            op = draw(st.sampled_from(["==", "!="]))
            return f"e1 {op} {_string_literal(draw(st.sampled_from(ENUM)))}"
        op = draw(st.sampled_from(["in", "not in"]))
        return f"e1 {op} {_list_of(draw, ENUM, _string_literal)}"
    if kind == "bool":
        name = draw(st.sampled_from(scope.bools))
        form = draw(st.sampled_from(["bare", "eq", "ne"]))
        if form == "bare":
            return name
        literal = draw(st.sampled_from(["true", "false"]))
        return f"{name} {'==' if form == 'eq' else '!='} {literal}"
    if kind == "date":
        form = draw(st.sampled_from(["literal", "facts", "in", "since"]))
        if form == "literal":
            return f"d1 {draw(compare)} {draw(st.sampled_from(DATES)).isoformat()}"
        if form == "facts":
            return f"d1 {draw(compare)} d2"
        if form == "in":
            return f"d2 in {_list_of(draw, DATES, dt.date.isoformat)}"
        return f"days_since(d1) {draw(compare)} {draw(st.sampled_from(INTS))}"
    if kind == "datetime":
        return (
            f"t1 {draw(compare)} {draw(st.sampled_from(DATETIMES)).isoformat(timespec='seconds')}"
        )
    if kind == "exists":
        return f"exists({draw(st.sampled_from(scope.exists))})"
    if kind == "tags":
        op = draw(st.sampled_from(["in", "not in"]))
        return f"{_string_literal(draw(st.sampled_from(STRINGS)))} {op} tags"
    if kind == "tier":
        name = draw(st.sampled_from(scope.tier_values))
        op = draw(st.sampled_from(["==", "!="]))
        return f"{name} {op} {_string_literal(draw(st.sampled_from(TIERS)))}"
    if kind == "tier_list":
        name = draw(st.sampled_from(scope.tier_lists))
        op = draw(st.sampled_from(["in", "not in"]))
        return f"{_string_literal(draw(st.sampled_from(TIERS)))} {op} {name}"
    return draw(st.sampled_from(["1 < 2", "2 < 1", "(1 / 0) > 0", "not (1 == 1)"]))


@st.composite
def conditions(draw: st.DrawFn, scope: _Scope | None = None, depth: int = 2) -> str:
    """A condition: leaves joined by and/or, under not, nested up to `depth`."""
    scope = scope or _Scope()
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(_leaf(scope))
    kind = draw(st.sampled_from(["and", "and", "or", "not"]))  # selective rules miss often
    if kind == "not":
        return f"not ({draw(conditions(scope, depth - 1))})"
    parts = draw(st.lists(conditions(scope, depth - 1), min_size=2, max_size=3))
    return "(" + f" {kind} ".join(parts) + ")"


@st.composite
def _outputs(draw: st.DrawFn, few: bool) -> dict[str, Any]:
    """A rule's `then`: a tier, a numeric score (maybe null) and a flag."""
    scores: list[Any] = [1, 2, 2.5, None] if few else [*INTS[:8], 2.5, 1e-7, None]
    return {
        "tier": draw(st.sampled_from(TIERS[:2] if few else TIERS)),
        "score": draw(st.sampled_from(scores)),
        "flag": draw(st.booleans()),
    }


@st.composite
def _decision(draw: st.DrawFn, name: str, scope: _Scope) -> tuple[dict[str, Any], _Scope]:
    """One rule file's data, and the scope later decisions see (with this one's outputs)."""
    policy, extra = draw(st.sampled_from(POLICIES))
    own = scope.extended()
    data: dict[str, Any] = {"decision": name, "hit_policy": policy, "inputs": INPUTS}
    derive: dict[str, str] = {}
    for k in range(draw(st.integers(0, 2))):
        derived = f"{name}_x{k}"
        if draw(st.booleans()):
            derive[derived] = draw(_numeric(own, 2))
            own.numeric.append(derived)
        else:
            derive[derived] = draw(conditions(own, 1))
            own.bools.append(derived)
    if derive:
        data["derive"] = derive
    rules = []
    for index in range(draw(st.integers(1, 6))):
        when: Any = draw(conditions(own))
        if draw(st.integers(0, 12)) == 0:
            when = draw(st.booleans())
        rule: dict[str, Any] = {"id": f"{name}_r{index}", "when": when}
        rule["then"] = draw(_outputs(few=policy == "any"))
        if extra == "priority" and draw(st.booleans()):
            rule["priority"] = draw(st.integers(-1, 2))
        rules.append(rule)
    if all(r["then"]["score"] is None for r in rules):
        rules[0]["then"]["score"] = 1  # an output that is always null is typed as a string
    data["rules"] = rules
    if policy == "priority":
        data["priority_order"] = {"tier": draw(st.permutations(TIERS))}
    if extra is not None and extra != "priority":
        data["aggregate"] = extra
    if draw(st.booleans()):
        data["default"] = draw(_outputs(few=False))
    out = scope.extended()
    if extra is not None and extra != "priority":
        field_name = "count" if extra == "count" else "score"
        out.numeric.append(f"{name}.{field_name}")
        out.exists.append(f"{name}.{field_name}")
    elif policy == "collect":
        out.tier_lists.append(f"{name}.tier")
        out.exists.append(f"{name}.tier")
    else:
        out.tier_values.append(f"{name}.tier")
        out.numeric.append(f"{name}.score")
        out.bools.append(f"{name}.flag")
        out.exists.append(f"{name}.score")
    return data, out


@st.composite
def _facts_file(draw: st.DrawFn, scope: _Scope) -> tuple[str, _Scope]:
    """A facts file (YAML text): derived facts over the inputs, base statistics of them
    (cut points, a mean, a share, some over a `where:`), and derived facts that read the
    statistics; and the scope the decisions see (with every derived fact)."""
    own = scope.extended()
    derive: dict[str, str] = {}
    for k in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            derive[f"f_n{k}"] = draw(_numeric(own, 2))
            own.numeric.append(f"f_n{k}")
        else:
            derive[f"f_b{k}"] = draw(conditions(own, 1))
            own.bools.append(f"f_b{k}")
    own.exists += list(derive)

    def where() -> dict[str, str]:
        return {"where": draw(conditions(own, 1))} if draw(st.booleans()) else {}

    subject = st.sampled_from(own.numeric[:4] + [n for n in derive if n.startswith("f_n")])
    profile: dict[str, Any] = {
        "p_cuts": {"cut_points": draw(subject), "groups": draw(st.integers(2, 6)), **where()},
        "p_mean": {"mean": draw(subject), **where()},
        "p_share": {"share": draw(conditions(own, 1)), **where()},
    }
    after = {
        "g_band": f"band({draw(subject)}, p_cuts)",
        "g_rank": f"rank({draw(subject)}, p_cuts)",
        "g_above": f"{draw(subject)} > p_mean",
        "g_share": "p_share * 10",
    }
    derive.update(after)
    out = own.extended()
    out.numeric += ["g_band", "g_rank", "g_share"]
    out.bools.append("g_above")
    out.exists += list(after)
    data = {"facts": "base", "inputs": INPUTS, "profile": profile, "derive": derive}
    return json.dumps(data, indent=1, ensure_ascii=False), out


@st.composite
def packs(draw: st.DrawFn, max_decisions: int = 3, facts: bool = False) -> dict[str, str]:
    """A random rule pack as {filename: YAML text}; decision k may read decisions before it
    and, with `facts`, the derived facts of a facts file."""
    scope = _Scope()
    files: dict[str, str] = {}
    if facts:
        files["facts.yaml"], scope = draw(_facts_file(scope))
    for k in range(draw(st.integers(1, max_decisions))):
        data, scope = draw(_decision(f"d{k}", scope))
        files[f"d{k}.yaml"] = json.dumps(data, indent=1, ensure_ascii=False)
    return files


def _value(ftype: FactType) -> st.SearchStrategy[Any]:
    if ftype.enum is not None:
        return st.sampled_from(ftype.enum)
    match ftype.kind:
        case "number":
            return st.one_of(
                st.sampled_from(NUMBERS),
                st.sampled_from(INTS[:-1]),
                st.floats(-1e6, 1e6, allow_nan=False),
            )
        case "integer":
            return st.one_of(st.sampled_from(INTS), st.integers(-100, 100))
        case "string":
            return st.one_of(st.sampled_from(STRINGS), st.text(max_size=4))
        case "bool":
            return st.booleans()
        case "date":
            return st.one_of(
                st.sampled_from(DATES),
                st.sampled_from(DATES).map(dt.date.isoformat),
                st.dates(dt.date(1990, 1, 1), dt.date(2035, 1, 1)),
            )
        case "datetime":
            return st.one_of(
                st.sampled_from(DATETIMES),
                st.sampled_from(DATETIMES).map(lambda d: d.isoformat()),
            )
        case "list":
            return st.lists(st.sampled_from(STRINGS), max_size=3)
    raise ValueError(f"no strategy for {ftype}")


@st.composite
def clients(draw: st.DrawFn, pack: Pack) -> dict[str, Any]:
    """A client for `pack`: each declared input absent, explicitly null, or a valid value."""
    facts: dict[str, Any] = {}
    for name, ftype in pack.inputs.items():
        presence = draw(st.sampled_from(["value", "value", "value", "null", "absent"]))
        if presence == "value":
            facts[name] = draw(_value(ftype))
        elif presence == "null":
            facts[name] = None
    return facts
