"""Encode one decision's expressions as z3 formulas with the engine's exact null semantics.

Every value is a pair (present, value) and every condition a pair (true, false) of z3
formulas: Kleene logic, where unknown is neither, so `not unknown` stays unknown. What the
encoder cannot model exactly (plugin functions, `%` on numbers, other decisions' outputs)
becomes a fresh free variable and leaves a note, which keeps every "never" proof sound.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import z3

from tierwise import policy
from tierwise.lang.expr import (
    And,
    Arith,
    Call,
    Compare,
    Exists,
    In,
    ListLit,
    Literal,
    Name,
    Neg,
    Node,
    NodeVisitor,
    Not,
    Or,
    render,
)
from tierwise.lang.types import FactType
from tierwise.pack.ir import Decision, Pack
from tierwise.runtime.evaluate import comparable_value
from tierwise.runtime.facts import MAX_SAFE_INTEGER

NUMERIC = ("integer", "number")
ORDERED = ("integer", "number", "date", "datetime")
MIN_DAY, MAX_DAY = dt.date.min.toordinal(), dt.date.max.toordinal()
MIN_SECOND, MAX_SECOND = -62135596800, 253402300799
ROUNDING = z3.Q(1, 2**52)
"""Bound on the relative error of one rounded float operation (half an ulp is 2**-53)."""
MAX_FLOAT = z3.RealVal(int(1.7976931348623157e308))
"""Past the largest double a result overflows to inf, which is left unconstrained."""


_TRUE, _FALSE = z3.BoolVal(True), z3.BoolVal(False)


def conj(items: list[z3.BoolRef]) -> z3.BoolRef:
    """z3 `and` without z3py's per-call coercions (encoding speed matters at 2,000 rules)."""
    items = [i for i in items if i is not _TRUE]
    if not items:
        return _TRUE
    if len(items) == 1:
        return items[0]
    ctx = items[0].ctx
    array, size = z3.z3._to_ast_array(items)
    return z3.BoolRef(z3.z3core.Z3_mk_and(ctx.ref(), size, array), ctx)


def disj(items: list[z3.BoolRef]) -> z3.BoolRef:
    """z3 `or` without z3py's per-call coercions."""
    items = [i for i in items if i is not _FALSE]
    if not items:
        return _FALSE
    if len(items) == 1:
        return items[0]
    ctx = items[0].ctx
    array, size = z3.z3._to_ast_array(items)
    return z3.BoolRef(z3.z3core.Z3_mk_or(ctx.ref(), size, array), ctx)


def neg(item: z3.BoolRef) -> z3.BoolRef:
    """z3 `not` without z3py's per-call coercions."""
    return z3.BoolRef(z3.z3core.Z3_mk_not(item.ctx.ref(), item.as_ast()), item.ctx)


@dataclass(frozen=True)
class Val:
    """A value: whether it is present (not null), its z3 term, and its kind.

    kind is a FactType kind, or "opaque" for a value the encoder does not model.
    """

    present: z3.BoolRef
    term: Any
    kind: str


@dataclass(frozen=True)
class Truth:
    """A condition in three-valued logic: when it is true, and when it is false."""

    true: z3.BoolRef
    false: z3.BoolRef


@dataclass
class FactVar:
    """An input fact of the client: its presence, its value and its declared type."""

    name: str
    type: FactType
    val: Val


class Strings:
    """Strings as integers: each distinct string literal gets an id; any other id is another
    string. Equality is all the rule language asks of strings, so this is exact."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def id(self, text: str) -> int:
        return self.ids.setdefault(text, len(self.ids))

    def text(self, number: int) -> str:
        for text, i in self.ids.items():
            if i == number:
                return text
        candidate = f"other_{abs(number)}"
        while candidate in self.ids:
            candidate += "_"
        return candidate


@dataclass
class Trace:
    """What one encoding step leaned on: notes on free values, and the free z3 terms."""

    notes: set[str] = field(default_factory=set)
    frees: set[Any] = field(default_factory=set)

    def merge(self, other: Trace) -> None:
        self.notes |= other.notes
        self.frees |= other.frees


class Space:
    """What the encoders of one solver share: the client's facts, the evaluation date, the
    domain constraints, and the outputs of the decisions read through `decision.field`."""

    def __init__(self, pack: Pack, strings: Strings) -> None:
        self.pack = pack
        self.strings = strings
        self.constraints: list[z3.BoolRef] = []
        self.facts: dict[str, FactVar] = {}
        self.as_of = z3.Int("as_of")
        self.as_of_used = False
        self.outputs: dict[str, tuple[Val, Trace]] = {}
        self._inputs: dict[str, list[str]] = {}
        self.trace = Trace()
        self.fresh = itertools.count()
        self.shared = {d.name: d.type for d in pack.derived}
        """The facts files' derived facts, which the solver treats as facts of their
        declared type and domain (as a rule test pins them), not through their formulas."""
        self.constraints.append(z3.And(self.as_of >= MIN_DAY, self.as_of <= MAX_DAY))

    def decision_inputs(self, name: str) -> list[str]:
        """The input facts that decision `name` reads, through the decisions it reads."""
        if name not in self._inputs:
            self._inputs[name] = []
            other = next((d for d in self.pack.decisions if d.name == name), None)
            if other is not None:
                encoder = Encoder(self, other)
                found: dict[str, None] = {}
                for r in other.rules:
                    found.update(dict.fromkeys(encoder.input_names(r.condition)))
                self._inputs[name] = list(found)
        return self._inputs[name]

    def fact(self, name: str, declared: FactType | None) -> FactVar:
        """The client's fact `name`, created on first use with its declared domain."""
        if name in self.facts:
            return self.facts[name]
        ftype = (
            self.pack.inputs.get(name) or self.shared.get(name) or declared or FactType("string")
        )
        present = z3.Bool(f"{name}?")
        term, domain = _fact_term(name, ftype, self.strings)
        if domain is not None:
            self.constraints.append(z3.Implies(present, domain))
        var = FactVar(name, ftype, Val(present, term, ftype.kind))
        self.facts[name] = var
        return var

    def free_value(self, kind: str, note: str) -> Val:
        k = next(self.fresh)
        present = z3.Bool(f"free_p{k}")
        term = _free_term(f"free_v{k}", kind)
        self.trace.notes.add(note)
        self.trace.frees.add(present)
        if term is not None and not isinstance(term, z3.FuncDeclRef):
            self.trace.frees.add(term)
        return Val(present, term, kind)

    def free_truth(self, note: str) -> Truth:
        k = next(self.fresh)
        t, f = z3.Bool(f"free_t{k}"), z3.Bool(f"free_f{k}")
        self.trace.notes.add(note)
        self.trace.frees |= {t, f}
        self.constraints.append(z3.Not(z3.And(t, f)))
        return Truth(t, f)

    def traced(self, compute: Any) -> tuple[Any, Trace]:
        """Run `compute()` with a fresh trace; return its result and trace, and merge the
        trace into the enclosing one."""
        outer = self.trace
        self.trace = Trace()
        try:
            result = compute()
        finally:
            inner, self.trace = self.trace, outer
        outer.merge(inner)
        return result, inner


class Encoder:
    """Turns one decision's conditions into z3 terms over a shared Space."""

    def __init__(self, space: Space, decision: Decision) -> None:
        self.space = space
        self.decision = decision
        self._derived = {d.name: d for d in decision.derived}
        self._memo: dict[str, tuple[Val, Trace]] = {}
        self._truths = _Truths(self)
        self._values = _Values(self)

    # -- entry points --------------------------------------------------------------------
    def condition(self, node: Node) -> tuple[Truth, Trace]:
        """A rule condition's truth, and the trace of what was treated as free inside it."""
        return self.space.traced(lambda: self.truth(node))

    def input_names(self, node: Node) -> list[str]:
        """The input facts a condition reads, through derived facts and other decisions."""
        seen: dict[str, None] = {}
        derived = self._derived
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, Name | Exists):
                if n.name in derived:
                    stack.append(derived[n.name].expr)
                elif "." in n.name:
                    seen.update(dict.fromkeys(self.space.decision_inputs(n.name.split(".", 1)[0])))
                else:
                    seen.setdefault(n.name, None)
            stack.extend(n.children())
        return list(seen)

    # -- conditions ----------------------------------------------------------------------
    def truth(self, node: Node) -> Truth:
        """When a condition holds and when it fails (neither: unknown)."""
        return self._truths.visit(node)

    def compare(self, node: Compare) -> Truth:
        left, right = self.value(node.left), self.value(node.right)
        holds = _relation(node.op, left, right)
        if holds is None:
            return self.space.free_truth(f"{render(node)} treated as a free condition")
        both = conj([left.present, right.present])
        return Truth(conj([both, holds]), conj([both, neg(holds)]))

    def member(self, node: In) -> Truth:
        item = self.value(node.item)
        if isinstance(node.container, ListLit):
            tests = []
            for elem in node.container.items:
                if isinstance(elem, Literal) and elem.value is None:
                    continue
                test = _relation("==", item, self.value(elem))
                if test is None:
                    return self.space.free_truth(f"{render(node)} treated as a free condition")
                tests.append(test)
            holds: z3.BoolRef = disj(tests)
            present = item.present
        else:
            container = self.value(node.container)
            if container.kind != "list" or item.kind != "string":
                return self.space.free_truth(f"{render(node)} treated as a free condition")
            holds = container.term(item.term)
            present = conj([item.present, container.present])
        if node.negated:
            holds = neg(holds)
        return Truth(conj([present, holds]), conj([present, neg(holds)]))

    # -- values --------------------------------------------------------------------------
    def value(self, node: Node) -> Val:
        """A value's presence and term."""
        return self._values.visit(node)

    def literal(self, v: Any) -> Val:
        yes = _TRUE
        if isinstance(v, bool):
            return Val(yes, z3.BoolVal(v), "bool")
        if isinstance(v, int):
            return Val(yes, z3.IntVal(v), "integer")
        if isinstance(v, float):
            return Val(yes, _real(v), "number")
        if isinstance(v, str):
            return Val(yes, z3.IntVal(self.space.strings.id(v)), "string")
        if isinstance(v, dt.datetime):
            return Val(yes, _real(comparable_value(v)), "datetime")
        if isinstance(v, dt.date):
            return Val(yes, z3.IntVal(v.toordinal()), "date")
        return Val(_FALSE, None, "opaque")

    def memo(self, key: str, compute: Any) -> Val:
        if key in self._memo:
            val, trace = self._memo[key]
            self.space.trace.merge(trace)
            return val
        val, trace = self.space.traced(compute)
        self._memo[key] = (val, trace)
        return val

    def name(self, name: str) -> Val:
        if name in self._derived:
            return self.memo(name, lambda: self.value(self._derived[name].expr))
        if "." in name:
            return self.output(name)
        return self.space.fact(name, self.decision.inputs.get(name)).val

    def output(self, name: str) -> Val:
        """Another decision's output (`decision.field`), encoded from that decision's rules."""
        space = self.space
        if name in space.outputs:
            val, trace = space.outputs[name]
            space.trace.merge(trace)
            return val
        val, trace = space.traced(lambda: self._output(name))
        space.outputs[name] = (val, trace)
        return val

    def _output(self, name: str) -> Val:
        dname, field_name = name.split(".", 1)
        other = next((d for d in self.space.pack.decisions if d.name == dname), None)
        if other is None:
            return self.space.free_value("opaque", f"{name} treated as free")
        if other.hit_policy == "collect":
            note = f"{name} (a collect decision's result) treated as free"
            if other.aggregate is None:
                return self.space.free_value("list", note)
            kind = "integer" if other.aggregate.op == "count" else "number"
            val = self.space.free_value(kind, note)
            if kind == "integer":
                self.space.constraints.append(val.term >= 0)
            return val
        kind = other.output_types.get(field_name, FactType("string")).kind
        sub = Encoder(self.space, other)
        chain, error = _resolution(other, [sub.condition(r.condition)[0].true for r in other.rules])
        final = other.default.get(field_name) if other.default is not None else None
        present: z3.BoolRef = _TRUE if final is not None else _FALSE
        term = self._output_term(final, kind)
        for cond, outputs in reversed(chain):
            v = outputs.get(field_name)
            present = z3.If(cond, _TRUE if v is not None else _FALSE, present)
            term = z3.If(cond, self._output_term(v, kind), term)
        present = conj([present, neg(error)])
        if self.space.trace.notes:
            failed = self.space.free_truth(f"{dname} may fail on a function error").true
            present = conj([present, neg(failed)])
        return Val(present, term, kind)

    def _output_term(self, value: Any, kind: str) -> Any:
        if value is None:
            return _zero(kind)
        lit = self.literal(value)
        return z3.ToReal(lit.term) if kind == "number" and lit.kind == "integer" else lit.term

    def arith(self, node: Arith) -> Val:
        left, right = self.value(node.left), self.value(node.right)
        if left.kind not in NUMERIC or right.kind not in NUMERIC:
            return self.space.free_value("number", f"{render(node)} treated as free")
        both = conj([left.present, right.present])
        ints = left.kind == right.kind == "integer"
        if node.op in ("+", "-", "*"):
            a, b = (left.term, right.term) if ints else (_to_real(left), _to_real(right))
            term = a + b if node.op == "+" else a - b if node.op == "-" else a * b
            if ints:
                return Val(both, term, "integer")
            return Val(both, self.rounded(term), "number")
        nonzero = right.term != 0
        if node.op == "/":
            term = self.rounded(_to_real(left) / _to_real(right))
            return Val(conj([both, nonzero]), term, "number")
        if not ints:
            val = self.space.free_value("number", f"{render(node)} treated as free (% on numbers)")
            self.space.constraints.append(z3.Implies(val.present, both))
            return val
        a, b = left.term, right.term
        magnitude = z3.If(a >= 0, a, -a) % z3.If(b >= 0, b, -b)
        return Val(conj([both, nonzero]), z3.If(a < 0, -magnitude, magnitude), "integer")

    def rounded(self, exact: Any) -> z3.ArithRef:
        """A float operation's result: within one rounding step of the exact real result
        (relative error at most 2**-52), so proofs also hold for floating point."""
        k = next(self.space.fresh)
        value = z3.Real(f"float{k}")
        magnitude = z3.If(exact >= 0, exact, -exact)
        slack = ROUNDING * magnitude
        self.space.constraints.append(
            z3.Or(magnitude > MAX_FLOAT, z3.And(value - exact <= slack, exact - value <= slack))
        )
        return value

    def call(self, node: Call) -> Val:
        fn = self.space.pack.functions.get(node.func)
        args = [self.value(a) for a in node.args]
        present = conj([a.present for a in args])
        exact = _builtin(fn.impl if fn is not None else None, args, self.space)
        if exact is not None:
            return Val(present, exact[0], exact[1])
        kind = fn.returns if fn is not None and fn.returns in _KINDS else "opaque"
        val = self.space.free_value(kind, f"function {node.func}() treated as free")
        if fn is not None and not fn.null_safe:
            self.space.constraints.append(z3.Implies(val.present, present))
        return val


class _Truths(NodeVisitor[Truth]):
    """A condition node's truth for one Encoder: when it holds and when it fails."""

    def __init__(self, encoder: Encoder) -> None:
        self.e = encoder

    def visit_Literal(self, node: Literal) -> Truth:
        v = node.value
        if v is None or isinstance(v, bool):
            return Truth(_TRUE if v is True else _FALSE, _TRUE if v is False else _FALSE)
        return self.generic_visit(node)

    def visit_Not(self, node: Not) -> Truth:
        t = self.visit(node.operand)
        return Truth(t.false, t.true)

    def visit_And(self, node: And) -> Truth:
        parts = [self.visit(i) for i in node.items]
        return Truth(conj([p.true for p in parts]), disj([p.false for p in parts]))

    def visit_Or(self, node: Or) -> Truth:
        parts = [self.visit(i) for i in node.items]
        return Truth(disj([p.true for p in parts]), conj([p.false for p in parts]))

    def visit_Exists(self, node: Exists) -> Truth:
        p = self.e.name(node.name).present
        return Truth(p, neg(p))

    def visit_Compare(self, node: Compare) -> Truth:
        return self.e.compare(node)

    def visit_In(self, node: In) -> Truth:
        return self.e.member(node)

    def generic_visit(self, node: Node, *args: Any) -> Truth:
        """Any other node is a value: a bool holds when true, anything else is free."""
        val = self.e.value(node)
        if val.kind == "bool":
            return Truth(conj([val.present, val.term]), conj([val.present, neg(val.term)]))
        return self.e.space.free_truth(f"{render(node)} treated as a free condition")


class _Values(NodeVisitor[Val]):
    """A value node's (present, term) pair for one Encoder; what it cannot model is free."""

    def __init__(self, encoder: Encoder) -> None:
        self.e = encoder

    def visit_Literal(self, node: Literal) -> Val:
        return self.e.literal(node.value)

    def visit_Name(self, node: Name) -> Val:
        return self.e.name(node.name)

    def visit_Neg(self, node: Neg) -> Val:
        inner = self.visit(node.operand)
        if inner.kind not in NUMERIC:
            return self.e.space.free_value(inner.kind, f"{render(node)} treated as free")
        return Val(inner.present, -inner.term, inner.kind)

    def visit_Arith(self, node: Arith) -> Val:
        return self.e.memo("\0" + render(node), lambda: self.e.arith(node))

    def visit_Call(self, node: Call) -> Val:
        return self.e.memo("\0" + render(node), lambda: self.e.call(node))

    def _condition(self, node: Node) -> Val:
        """A condition used as a value: a bool, present when the condition is not unknown."""
        t = self.e.truth(node)
        return Val(disj([t.true, t.false]), t.true, "bool")

    visit_Compare = visit_In = visit_And = visit_Or = visit_Not = visit_Exists = _condition

    def generic_visit(self, node: Node, *args: Any) -> Val:
        return self.e.space.free_value("opaque", f"{render(node)} treated as free")


def _resolution(
    decision: Decision, matches: list[z3.BoolRef]
) -> tuple[list[tuple[z3.BoolRef, dict[str, Any]]], z3.BoolRef]:
    """A single-output decision's hit policy (tierwise.policy) as an if-chain (condition,
    outputs), and when it errs: the first match in rule order under first and priority;
    under unique and any, a match of exactly one conflict group, and an error for two."""
    if policy.is_ranked(decision):
        return [(matches[r.index], r.outputs) for r in policy.rule_order(decision)], _FALSE
    groups = policy.conflict_groups(decision)
    hits = [z3.Or([matches[r.index] for r in group]) for group in groups]
    count = z3.Sum([z3.If(h, 1, 0) for h in hits]) if hits else z3.IntVal(0)
    chain = [
        (z3.And(h, count == 1), group[0].outputs) for h, group in zip(hits, groups, strict=True)
    ]
    return chain, count >= 2


def _zero(kind: str) -> Any:
    if kind == "bool":
        return _FALSE
    if kind in ("number", "datetime"):
        return z3.RealVal(0)
    return z3.IntVal(0)


_KINDS = ("integer", "number", "string", "bool", "date", "datetime", "list")


def _builtin(impl: Any, args: list[Val], space: Space) -> tuple[Any, str] | None:
    """The exact z3 term of a built-in function, or None to treat the call as free."""
    from tierwise.stdlib import general as bf

    kinds = [a.kind for a in args]
    if impl is bf.days_since and kinds == ["date"]:
        space.as_of_used = True
        return space.as_of - args[0].term, "integer"
    if impl is bf.days_between and kinds == ["date", "date"]:
        return args[1].term - args[0].term, "integer"
    if impl is abs and len(args) == 1 and kinds[0] in NUMERIC:
        x = args[0].term
        return z3.If(x < 0, -x, x), kinds[0]
    if impl in (min, max) and len(args) == 2 and all(k in NUMERIC for k in kinds):
        ints = kinds == ["integer", "integer"]
        a, b = (args[0].term, args[1].term) if ints else (_to_real(args[0]), _to_real(args[1]))
        pick = a <= b if impl is min else a >= b
        return z3.If(pick, a, b), "integer" if ints else "number"
    return None


def _relation(op: str, left: Val, right: Val) -> z3.BoolRef | None:
    """`left op right` on present values, or None when the kinds cannot be modelled."""
    lk, rk = left.kind, right.kind
    if lk in NUMERIC and rk in NUMERIC:
        a, b = (
            (left.term, right.term) if lk == rk == "integer" else (_to_real(left), _to_real(right))
        )
    elif lk == rk and (
        lk in ("date", "datetime") or (lk in ("string", "bool") and op in ("==", "!="))
    ):
        a, b = left.term, right.term
    else:
        return None
    match op:
        case "==":
            return a == b
        case "!=":
            return a != b
        case "<":
            return a < b
        case "<=":
            return a <= b
        case ">":
            return a > b
        case ">=":
            return a >= b
    return None


def _to_real(v: Val) -> Any:
    return z3.ToReal(v.term) if v.kind == "integer" else v.term


def _real(value: float | int) -> z3.RatNumRef:
    f = Fraction(value)
    return z3.Q(f.numerator, f.denominator)


def _free_term(name: str, kind: str) -> Any:
    match kind:
        case "integer" | "date" | "string":
            return z3.Int(name)
        case "number" | "datetime":
            return z3.Real(name)
        case "bool":
            return z3.Bool(name)
        case "list":
            return z3.Function(name, z3.IntSort(), z3.BoolSort())
    return None


def _fact_term(name: str, ftype: FactType, strings: Strings) -> tuple[Any, z3.BoolRef | None]:
    """A fact's z3 term and the constraint its declared domain puts on it when present."""
    term = _free_term(name, ftype.kind)
    parts: list[z3.BoolRef] = []
    match ftype.kind:
        case "integer":
            lo = -MAX_SAFE_INTEGER if ftype.minimum is None else ftype.minimum
            hi = MAX_SAFE_INTEGER if ftype.maximum is None else ftype.maximum
            parts += [z3.ToReal(term) >= _real(lo), z3.ToReal(term) <= _real(hi)]
        case "number":
            parts += [term >= -MAX_FLOAT, term <= MAX_FLOAT]
            if ftype.minimum is not None:
                parts.append(term >= _real(ftype.minimum))
            if ftype.maximum is not None:
                parts.append(term <= _real(ftype.maximum))
        case "string" if ftype.enum is not None:
            parts.append(z3.Or([term == strings.id(v) for v in ftype.enum]))
        case "date":
            parts += [term >= MIN_DAY, term <= MAX_DAY]
        case "datetime":
            parts += [term >= MIN_SECOND, term <= MAX_SECOND]
    return term, (z3.And(parts) if parts else None)


def decode(model: z3.ModelRef, var: FactVar, strings: Strings, extra_strings: list[int]) -> Any:
    """A fact's value in a model, as JSON-friendly Python (dates as ISO text)."""
    if not z3.is_true(model.eval(var.val.present, model_completion=True)):
        return None
    term = var.val.term
    kind = var.type.kind
    if kind == "list":
        candidates = sorted(set(strings.ids.values()) | set(extra_strings))
        return [
            strings.text(i)
            for i in candidates
            if z3.is_true(model.eval(term(i), model_completion=True))
        ]
    value = model.eval(term, model_completion=True)
    match kind:
        case "bool":
            return z3.is_true(value)
        case "integer":
            return value.as_long()
        case "string":
            return strings.text(value.as_long())
        case "date":
            return dt.date.fromordinal(value.as_long()).isoformat()
        case "number":
            return _float(value)
        case "datetime":
            return dt.datetime.fromtimestamp(_float(value), dt.UTC).isoformat()
    return None


def _float(value: z3.RatNumRef) -> float:
    """The double nearest a rational; via decimals when its digits are too many for int()."""
    try:
        return float(Fraction(value.numerator_as_long(), value.denominator_as_long()))
    except ValueError:
        return float(value.as_decimal(40).rstrip("?"))
