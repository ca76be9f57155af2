"""Compile decisions to durable_rules rulesets (JSON condition form) and the values to precompute.

durable matches `fact op literal` tests; everything else in a condition (arithmetic,
function calls, fact-versus-fact comparisons, exists, list membership) is hoisted into a
value computed in Python before the assert, and durable tests that value. Negation is
pushed down to the tests (Kleene logic keeps De Morgan), so unknown never matches, also
under `not`. Large decisions are split into several rulesets so that durable's limits
(its 64-entry match stack, see capacity.py; slow loads past ~500 rules; 253 properties)
are never reached, for first-hit events and for facts alike.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tierwise.functions import FunctionRegistry
from tierwise.lang.expr import (
    FLIPPED_COMPARE,
    NEGATED_COMPARE,
    And,
    Compare,
    Exists,
    In,
    ListLit,
    Literal,
    Name,
    Node,
    Not,
    Or,
    render,
)
from tierwise.lang.types import BOOL, FactType
from tierwise.pack.ir import Decision, Rule
from tierwise.runtime import capacity
from tierwise.runtime.evaluate import Evaluator, compile_expr

MAX_RULES = 200
"""Rules per ruleset: one of 1,000 hung durable, 500 worked; also under durable's 256 rules
that may end at one shared test."""
MAX_FIELDS = 200
"""Message properties per ruleset: durable fails past 253."""

_DURABLE_OP = {"==": "$eq", "!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
MESSAGE_ID = "c"
"""The `id` of every client message; durable's own session-state fact has id "sid-<sid>"."""
TRUE_TEST: dict[str, Any] = {"$eq": {"id": MESSAGE_ID}}
"""A rule that always holds must test the client message: `$ex id` also matched durable's
session-state fact, which left an action pending and blocked every later event."""
_EXPONENT = re.compile(rb"[0-9]e[-+]?[0-9]")
_TRUTHS = (Exists, Compare, In, And, Or, Not)
"""Nodes whose value is always True, False or None (the rule language's three values)."""


@dataclass
class Hoisted:
    """A value computed in Python before matching: a derived fact or a hoisted sub-expression."""

    name: str
    text: str
    evaluate: Evaluator


@dataclass
class Chunk:
    """One durable ruleset: its JSON definition, the message fields it reads, its rules."""

    definition: dict[str, Any]
    fields: list[str] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)


@dataclass
class CompiledDecision:
    """What the runtime needs to match one decision: values to compute and rulesets to assert."""

    decision: Decision
    mode: str  # "event" (first-hit: the first match wins) or "fact" (all matches)
    computed: list[Hoisted]
    chunks: list[Chunk]
    field_types: dict[str, FactType]


class _Hoister:
    """Names the sub-expressions that durable cannot test itself; one name per distinct text."""

    def __init__(self, decision: Decision, functions: FunctionRegistry) -> None:
        self.functions = functions
        self.values: dict[str, Hoisted] = {}
        self.types: dict[str, FactType] = {}
        """The hoisted values known to be true, false or null (so their class is a lookup)."""
        for d in decision.derived:
            self.values[d.name] = Hoisted(d.name, d.name, compile_expr(d.expr, functions))

    def hoist(self, node: Node) -> str:
        text = render(node)
        key = f"\0{text}"
        if key not in self.values:
            self.values[key] = Hoisted(key, text, compile_expr(node, self.functions))
            if isinstance(node, _TRUTHS):
                self.types[key] = BOOL
        return key


def compile_decision(
    decision: Decision, functions: FunctionRegistry, types: dict[str, FactType]
) -> CompiledDecision:
    hoister = _Hoister(decision, functions)
    mode = "event" if decision.hit_policy == "first" else "fact"
    rules = decision.ordered_rules() if mode == "event" else list(decision.rules)
    conditions: list[tuple[Rule, Any]] = []
    for rule in rules:
        cond = _nnf(rule.condition, False, hoister)
        if cond is False:
            continue
        if cond is not True and not _fits([(rule, cond)]):
            # too many fields for one message, or a condition that alone could overflow
            # durable's match stack or tables (errors 302, 303, 106, 113): decide the
            # whole condition in Python and let durable test its value
            cond = ("test", "==", hoister.hoist(rule.condition), True)
        conditions.append((rule, cond))
    chunks = _chunk(conditions, mode)
    field_types = {**types, **hoister.types} if hoister.types else types
    return CompiledDecision(decision, mode, list(hoister.values.values()), chunks, field_types)


def _chunk(conditions: list[tuple[Rule, Any]], mode: str) -> list[Chunk]:
    """Consecutive rules into rulesets, each as large as durable's limits allow. First-hit
    order runs across them: a client's answer is the first ruleset's match that has one."""
    chunks: list[Chunk] = []
    start = 0
    while start < len(conditions):
        size = _fitting(conditions, start)
        chunks.append(_ruleset(conditions[start : start + size], start, mode))
        start += size
    return chunks


def _fitting(conditions: list[tuple[Rule, Any]], start: int) -> int:
    """How many rules from `start` on fit one ruleset (one always does: a rule that does not
    fit alone is hoisted whole). What a ruleset needs only grows with its rules, so the
    count is found by doubling, then bisecting."""
    limit = min(MAX_RULES, len(conditions) - start)
    if _fits(conditions[start : start + limit]):
        return limit
    fitting, too_many = 1, limit
    while fitting * 2 < too_many and _fits(conditions[start : start + fitting * 2]):
        fitting *= 2
    too_many = min(too_many, fitting * 2)
    while too_many - fitting > 1:
        middle = (fitting + too_many) // 2
        if _fits(conditions[start : start + middle]):
            fitting = middle
        else:
            too_many = middle
    return fitting


def _fits(conditions: list[tuple[Rule, Any]]) -> bool:
    """Whether these rules make one ruleset within durable's limits, for any message."""
    chunk = _ruleset(conditions, 0, "fact")
    tests = [entry["all"][0]["m"] for entry in chunk.definition.values()]
    return len(chunk.fields) <= MAX_FIELDS and capacity.fits(tests)


def _ruleset(conditions: list[tuple[Rule, Any]], first: int, mode: str) -> Chunk:
    """One durable ruleset of these rules; under first-hit, `pri` continues from `first`."""
    chunk = Chunk({})
    for pri, (rule, cond) in enumerate(conditions, start=first):
        name = f"r{rule.index}"
        test = TRUE_TEST if cond is True else _to_json(cond, chunk)
        entry: dict[str, Any] = {"all": [{"m": test}]}
        if mode == "event":
            entry["pri"] = pri
        chunk.definition[name] = entry
        chunk.rules[name] = rule.index
    return chunk


# -- negation normal form ---------------------------------------------------------------
# A condition becomes True, False, or a tree of ("and"|"or", [..]) over leaves
# ("test", op, field, literal). Unknown constants never match, so they become False.


def _nnf(node: Node, neg: bool, h: _Hoister) -> Any:
    match node:
        case Not(operand=o):
            return _nnf(o, not neg, h)
        case And(items=items) | Or(items=items):
            is_and = isinstance(node, And) != neg
            parts = [_nnf(i, neg, h) for i in items]
            return _combine("and" if is_and else "or", parts)
        case Literal(value=v):
            if v is None:
                return False
            return bool(v) != neg
        case Compare(op=op, left=left, right=right):
            if isinstance(left, Literal) and isinstance(right, Literal):
                return _constant(node, neg, h)
            if isinstance(left, Literal):
                op, left, right = FLIPPED_COMPARE[op], right, left
            if isinstance(right, Literal):
                subject = _subject(left, h)
                return ("test", NEGATED_COMPARE[op] if neg else op, subject, right.value)
            return ("test", "==", h.hoist(node), not neg)
        case In(item=item, container=ListLit(items=items), negated=negated) if items:
            subject = _subject(item, h)
            member = negated == neg
            leaves = [("test", "==" if member else "!=", subject, i.value) for i in items]  # type: ignore[attr-defined]
            return _combine("or" if member else "and", leaves)
        case Name():
            return ("test", "==", node.name, not neg)
        case _:
            return ("test", "==", h.hoist(node), not neg)


def _subject(node: Node, h: _Hoister) -> str:
    return node.name if isinstance(node, Name) else h.hoist(node)


def _constant(node: Node, neg: bool, h: _Hoister) -> bool:
    value = compile_expr(node, h.functions)({})
    return value is not None and bool(value) != neg


def _combine(kind: str, parts: list[Any]) -> Any:
    absorbing, neutral = (False, True) if kind == "and" else (True, False)
    kept = []
    for p in parts:
        if p is absorbing:
            return absorbing
        if p is neutral:
            continue
        if p[0] == kind:  # (a and b) and c is a and b and c: one group fewer for durable
            kept.extend(p[1])
        else:
            kept.append(p)
    if not kept:
        return neutral
    return kept[0] if len(kept) == 1 else (kind, kept)


def _to_json(cond: Any, chunk: Chunk) -> dict[str, Any]:
    if cond[0] == "test":
        _, op, name, value = cond
        if name not in chunk.fields:
            chunk.fields.append(name)
        key = f"f{chunk.fields.index(name)}"
        return {_DURABLE_OP[op]: {key: literal_json(value)}}
    return {"$" + cond[0]: [_to_json(c, chunk) for c in cond[1]]}


def literal_json(value: Any) -> Any:
    """A literal as durable compares it: dates as day numbers, datetimes as epoch seconds."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, dt.date):
        return value.toordinal()
    return value


def durable_json(obj: Any) -> str:
    """JSON that durable's parser reads right: it rejects exponents, so numbers are written out."""
    out = orjson.dumps(obj)
    if b"e" in out and _has_exponent(out):
        return _plain_json(obj)
    return out.decode()


def _has_exponent(out: bytes) -> bool:
    """Whether orjson wrote a number in exponent form (it does from 1e16 up)."""
    return _EXPONENT.search(out) is not None


def _plain_json(obj: Any) -> str:
    """JSON with every float written out in positional notation."""
    if isinstance(obj, dict):
        return (
            "{"
            + ",".join(orjson.dumps(str(k)).decode() + ":" + _plain_json(v) for k, v in obj.items())
            + "}"
        )
    if isinstance(obj, list):
        return "[" + ",".join(_plain_json(v) for v in obj) + "]"
    if isinstance(obj, float):
        text = format(decimal.Decimal(repr(obj)), "f")
        return text if "." in text else text + ".0"  # without a point durable reads an int64
    return orjson.dumps(obj).decode()
