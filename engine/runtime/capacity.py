"""How much of durable's fixed-size tables one ruleset needs, so that no message overflows them.

durable walks a ruleset's alpha network for every message, event or fact alike, with a
stack of 64 entries (events.c, handleAlpha): a node taken off the stack pushes every test
below it that the message passes, and each `$or` branch passed pushes that `$or`'s forward
node; one entry more is error 303. So what limits a ruleset is not how many rules match
but how many tests, matched or only begun, one message can pass at once. This module
builds the network from a ruleset's JSON conditions as durable does (rete.c: a test is
shared by the rules that reach it from the same node, an `$or` gets one forward node) and
bounds that stack for any message, using that tests of one field on different literals
cannot all hold at once. compile.py splits decisions so that every ruleset fits.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

MAX_STACK = 48
"""Stack entries that one message may need in a ruleset: durable has 64; the rest is margin."""
MAX_TESTS = 400
"""Tests directly below one node: durable's table for them holds 511 (error 106 at load)."""
MAX_GROUPS = 15
"""`$and` and `$or` groups in one rule: durable keeps 31 expression entries per rule, two for
each group, and refuses the ruleset past that (error 113 at load)."""
_ORDERED = ("$lt", "$lte", "$gt", "$gte")
_EXACT = 2**53
"""Numbers from here on may compare differently once durable holds them as doubles."""

Condition = dict[str, Any]
"""A rule's durable condition: {"$and": [...]}, {"$or": [...]} or {"$op": {field: literal}}."""


class _Node:
    """One node of the modelled alpha network: the tests below it, its forward nodes."""

    __slots__ = ("fields", "forwards", "tests")

    def __init__(self) -> None:
        self.tests: dict[tuple[str, str, type, Any], _Node] = {}
        self.fields: dict[str, list[tuple[str, Any]]] = {}
        self.forwards: list[_Node] = []

    def children(self) -> list[_Node]:
        """Every node below this one: its tests and its forward nodes."""
        return [*self.tests.values(), *self.forwards]

    def most_at_once(self) -> int:
        """The most children one message can push: every forward node, and per field the
        most of its tests that one value passes."""
        return len(self.forwards) + sum(map(_most_passed, self.fields.values()))


def fits(conditions: Iterable[Condition]) -> bool:
    """Whether a ruleset of these rule conditions stays within every limit for any message."""
    network = _Network()
    for condition in conditions:
        if _groups(condition) > MAX_GROUPS:
            return False
        network.attach(condition, network.root)
    return not network.too_wide and _stack(network.root) <= MAX_STACK


def _groups(condition: Condition) -> int:
    """How many `$and`/`$or` groups a condition has (durable counts them per rule)."""
    ((op, arg),) = condition.items()
    if op in ("$and", "$or"):
        return 1 + sum(map(_groups, arg))
    return 0


class _Network:
    """The alpha network of one ruleset, as durable's rete.c builds it."""

    def __init__(self) -> None:
        self.root = _Node()
        self.too_wide = False  # a node with more than MAX_TESTS tests below it

    def attach(self, condition: Condition, parent: _Node) -> _Node:
        """Add a condition below `parent` as durable does; the node where it ends."""
        ((op, arg),) = condition.items()
        if op == "$and":
            node = parent
            for part in arg:
                node = self.attach(part, node)
            return node
        if op == "$or":
            forward = _Node()
            for part in arg:
                self.attach(part, parent).forwards.append(forward)
            return forward
        ((field, literal),) = arg.items()
        token = (op, field, type(literal), literal)  # durable shares equal JSON type and value
        child = parent.tests.get(token)
        if child is None:
            child = parent.tests[token] = _Node()
            parent.fields.setdefault(field, []).append((op, literal))
            self.too_wide = self.too_wide or len(parent.tests) > MAX_TESTS
        return child


def _stack(root: _Node) -> int:
    """The most stack entries any message can need. Taking a node off frees its entry and
    pushes the children it passes;
    the child walked first then has all its siblings below it, so a node needs at most
    (children passed at once - 1) + the most that any one child needs."""
    height: dict[int, int] = {}
    todo: list[tuple[_Node, bool]] = [(root, False)]
    while todo:
        node, ready = todo.pop()
        if id(node) in height:
            continue
        children = node.children()
        if not ready:
            todo.append((node, True))
            todo.extend((c, False) for c in children if id(c) not in height)
        elif not children:
            height[id(node)] = 1
        else:
            height[id(node)] = node.most_at_once() - 1 + max(height[id(c)] for c in children)
    return height[id(root)]


def _most_passed(tests: list[tuple[str, Any]]) -> int:
    """The most of one field's tests (operator, literal) that a single value passes.

    Every test keeps its truth between two neighbouring literals, so trying each literal,
    each gap between two and both ends is enough. Literals that durable may order unlike
    Python (strings, mixed types, numbers past 2^53) count as if all could hold at once.
    """
    if len(tests) == 1:
        return 1
    literals = {literal for _, literal in tests}
    numeric = all(type(v) in (int, float) and -_EXACT < v < _EXACT for v in literals)
    if not numeric and (len({type(v) for v in literals}) > 1 or _ordered(tests)):
        return len(tests)
    by_op: dict[str, list[Any]] = {op: [] for op in _ORDERED}
    equal: Counter[Any] = Counter()
    unequal: Counter[Any] = Counter()
    for op, literal in tests:
        if op == "$eq":
            equal[literal] += 1
        elif op == "$neq":
            unequal[literal] += 1
        else:
            by_op[op].append(literal)
    for values in by_op.values():
        values.sort()
    points = sorted(literals)
    lt, lte, gt, gte = (by_op[op] for op in _ORDERED)
    others = sum(unequal.values())
    best = len(lt) + len(lte) + others  # below every literal
    best = max(best, len(gt) + len(gte) + others)  # above every literal
    for i, v in enumerate(points):
        at = (
            len(lt)
            - bisect_right(lt, v)
            + len(lte)
            - bisect_left(lte, v)
            + bisect_left(gt, v)
            + bisect_right(gte, v)
            + equal[v]
            + others
            - unequal[v]
        )
        best = max(best, at)
        if i + 1 < len(points):  # a value strictly between v and the next literal
            above = points[i + 1]
            between = (
                len(lt)
                - bisect_left(lt, above)
                + len(lte)
                - bisect_left(lte, above)
                + bisect_right(gt, v)
                + bisect_right(gte, v)
                + others
            )
            best = max(best, between)
    return best


def _ordered(tests: list[tuple[str, Any]]) -> bool:
    """Whether any of the tests orders values (<, <=, >, >=) rather than compares them."""
    return any(op in _ORDERED for op, _ in tests)
