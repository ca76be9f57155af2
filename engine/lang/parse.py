"""Parse rule expressions (`clv >= 10000 and not exists(churned_at)`) into the tree of expr.py.

A hand-written tokenizer and recursive-descent parser: rule text is data, never evaluated
by Python, so a rule file cannot run code. Errors point at the offending column. Nesting is
bounded (MAX_DEPTH), so that neither the parser nor any later stage that walks the tree
recursively (type checking, both compilers, the solver) can run out of Python's stack.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tierwise.errors import Pos
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
    Not,
    Or,
)

Locator = Callable[[int], Pos]

MAX_DEPTH = 32
"""An expression may nest at most 32 levels: each parenthesis, `not`, minus, list and
function call is a level, and so is each operator of a chain such as `a + b + c` (the
tree holds it as (a + b) + c). Derived facts count where they are read: a condition
reading d, where d is `x * 2`, nests as `x * 2` written in its place. The bound is what
the deepest walk after parsing (the SQL compiler's, about 25 stack frames a level) leaves
room for below Python's 1,000 frames."""
_DEPTH_HINT = "split the expression into derived facts (derive:) that each say one thing"

_VALUE_HINT = (
    'a value is a fact name, a number, a "string", a date like 2024-01-31, true/false, '
    "[a list] or (an expression)"
)

KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)?)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|=)
    """,
    re.VERBOSE,
)


class ParseError(Exception):
    """An expression that does not parse; pos points at the offending token."""

    def __init__(self, pos: Pos, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    offset: int


def tokenize(text: str, locate: Locator) -> list[Token]:
    tokens: list[Token] = []
    offset = 0
    while offset < len(text):
        m = _TOKEN.match(text, offset)
        if m is None:
            raise ParseError(
                locate(offset),
                f"unexpected character {text[offset]!r}",
                'expressions use names, numbers, "strings", dates like 2024-01-31 and '
                "the operators == != < <= > >= + - * / % and or not in",
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), offset))
        offset = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_expression(text: str, locate: Locator) -> Node:
    """Parse one expression; `locate` maps a character offset in text to its file position."""
    if not text.strip():
        raise ParseError(locate(0), "empty expression", "write a condition such as clv >= 1000")
    return _Parser(tokenize(text, locate), locate).parse()


def depth(node: Node, derived: Mapping[str, int] | None = None) -> int:
    """How many levels an expression nests (see MAX_DEPTH), with each derived fact it reads
    counted as deep as `derived` says it is written out."""
    known = derived or {}
    heights: dict[int, int] = {}
    todo: list[tuple[Node, bool]] = [(node, False)]
    while todo:  # without recursion: it also measures trees built elsewhere
        current, ready = todo.pop()
        children = current.children()
        if not ready:
            todo.append((current, True))
            todo.extend((c, False) for c in children)
        elif children:
            heights[id(current)] = 1 + max(heights[id(c)] for c in children)
        else:
            heights[id(current)] = known.get(current.name, 1) if isinstance(current, Name) else 1
    return heights[id(node)]


def too_deep(pos: Pos) -> ParseError:
    """The error for an expression that nests deeper than MAX_DEPTH."""
    return ParseError(pos, f"an expression may nest at most {MAX_DEPTH} levels", _DEPTH_HINT)


class _Parser:
    def __init__(self, tokens: list[Token], locate: Locator) -> None:
        self.tokens = tokens
        self.i = 0
        self.locate = locate
        self.level = 0  # parentheses, lists, calls, nots and minuses open around the token
        self.heights: dict[int, tuple[int, Node]] = {}  # a built node's levels, by id

    def enter(self) -> None:
        """One level deeper, for a parenthesis, list, call, `not` or minus at the token."""
        self.level += 1
        if self.level > MAX_DEPTH:
            raise too_deep(self.pos())

    def built(self, node: Node, at: Token) -> Node:
        """A new node, refused when the tree would nest deeper than MAX_DEPTH."""
        height = 1 + max((self.heights.get(id(c), (1,))[0] for c in node.children()), default=0)
        if height > MAX_DEPTH:
            raise too_deep(self.pos(at))
        self.heights[id(node)] = (height, node)  # the node is kept, so its id stays its own
        return node

    # -- helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def pos(self, token: Token | None = None) -> Pos:
        return self.locate((token or self.tok).offset)

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.text in texts

    def take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def expect(self, text: str, hint: str = "") -> Token:
        if not self.at(text):
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end"
            raise ParseError(self.pos(), f"expected {text!r} but found {found}", hint)
        return self.take()

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            hint = "join conditions with 'and' or 'or'"
            if self.at("="):
                hint = "use == to compare"
            raise ParseError(self.pos(), f"unexpected {self.tok.text!r}", hint)
        return node

    def or_(self) -> Node:
        start = self.tok
        items = [self.and_()]
        while self.at("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else self.built(Or(self.pos(start), tuple(items)), start)

    def and_(self) -> Node:
        start = self.tok
        items = [self.not_()]
        while self.at("and"):
            self.take()
            items.append(self.not_())
        if len(items) == 1:
            return items[0]
        return self.built(And(self.pos(start), tuple(items)), start)

    def not_(self) -> Node:
        if self.at("not"):
            self.enter()
            start = self.take()
            operand = self.not_()
            self.level -= 1
            return self.built(Not(self.pos(start), operand), start)
        return self.comparison()

    def comparison(self) -> Node:
        start = self.tok
        left = self.sum_()
        if self.at("==", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            right = self.sum_()
            if self.at("==", "!=", "<", "<=", ">", ">="):
                raise ParseError(
                    self.pos(), "comparisons cannot be chained", "write a < b and b < c"
                )
            return self.built(Compare(self.pos(start), op, left, right), start)
        if self.at("="):
            raise ParseError(self.pos(), "'=' is not a comparison", "use == to compare")
        negated = False
        if self.at("not") and self.tokens[self.i + 1].text == "in":
            self.take()
            negated = True
        if self.at("in"):
            self.take()
            return self.built(In(self.pos(start), left, self.sum_(), negated), start)
        if negated:
            raise ParseError(
                self.pos(), "expected 'in' after 'not'", "x not in [1, 2] or not (x == 1)"
            )
        return left

    def sum_(self) -> Node:
        start = self.tok
        node = self.product()
        while self.at("+", "-"):
            op = self.take()
            node = self.built(Arith(self.pos(start), op.text, node, self.product()), op)
        return node

    def product(self) -> Node:
        start = self.tok
        node = self.unary()
        while self.at("*", "/", "%"):
            op = self.take()
            node = self.built(Arith(self.pos(start), op.text, node, self.unary()), op)
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.enter()
            start = self.take()
            operand = self.unary()
            self.level -= 1
            if isinstance(operand, Literal) and type(operand.value) in (int, float):
                return Literal(self.pos(start), -operand.value)  # type: ignore[operator]
            return self.built(Neg(self.pos(start), operand), start)
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        pos = self.pos()
        if t.kind == "number":
            self.take()
            is_float = any(c in t.text for c in ".eE")
            return Literal(pos, float(t.text) if is_float else int(t.text))
        if t.kind == "string":
            self.take()
            return Literal(pos, _unquote(t.text))
        if t.kind == "date":
            self.take()
            try:
                return Literal(pos, dt.date.fromisoformat(t.text))
            except ValueError as e:
                raise ParseError(pos, f"invalid date {t.text}: {e}", "dates are YYYY-MM-DD") from e
        if t.kind == "datetime":
            self.take()
            try:
                return Literal(pos, dt.datetime.fromisoformat(t.text))
            except ValueError as e:
                raise ParseError(pos, f"invalid datetime {t.text}: {e}") from e
        if self.at("("):
            self.enter()
            self.take()
            node = self.or_()
            self.expect(")", "every '(' needs a matching ')'")
            self.level -= 1
            return node
        if self.at("["):
            self.enter()
            self.take()
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.sum_())
                if not self.at(","):
                    break
                self.take()
            self.expect("]", "list items are separated by commas: [1, 2, 3]")
            self.level -= 1
            return self.built(ListLit(pos, tuple(items)), t)
        if t.kind == "name":
            if t.text in ("true", "false"):
                self.take()
                return Literal(pos, t.text == "true")
            if t.text == "null":
                raise ParseError(
                    pos,
                    "null cannot be compared",
                    "a comparison with a missing fact is unknown; test presence with exists(x)",
                )
            if t.text in KEYWORDS:
                raise ParseError(pos, f"expected a value but found {t.text!r}", _VALUE_HINT)
            self.take()
            if self.at("("):
                return self.call(t, pos)
            return Name(pos, t.text)
        found = repr(t.text) if t.kind != "end" else "the end of the expression"
        raise ParseError(pos, f"expected a value but found {found}", _VALUE_HINT)

    def call(self, name: Token, pos: Pos) -> Node:
        self.enter()
        self.take()  # (
        args: list[Node] = []
        while not self.at(")"):
            args.append(self.or_())
            if not self.at(","):
                break
            self.take()
        self.expect(")", "function arguments are separated by commas")
        self.level -= 1
        if name.text == "exists":
            if len(args) != 1 or not isinstance(args[0], Name):
                raise ParseError(pos, "exists() takes one fact name", "exists(churned_at)")
            return Exists(pos, args[0].name)
        return self.built(Call(pos, name.text, tuple(args)), name)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
