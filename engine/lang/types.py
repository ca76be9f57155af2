"""The value types of the rule language, and how a declared input is written in YAML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "integer", "string", "bool", "date", "datetime", "list", "numbers", "null"]
KINDS: tuple[str, ...] = ("number", "integer", "string", "bool", "date", "datetime", "list")
"""The kinds an input may be declared with; `numbers` (ascending cut points) only ever
comes from the run's profile, and `null` is the type of the literal null."""
NUMERIC = frozenset({"number", "integer"})
ORDERED = frozenset({"number", "integer", "date", "datetime"})


@dataclass(frozen=True, slots=True)
class FactType:
    """A fact's type: its kind, and for enums, ranges and units the declared domain."""

    kind: Kind
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None

    def __str__(self) -> str:
        if self.enum is not None:
            return "enum [" + ", ".join(self.enum) + "]"
        return self.kind

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def domain(self) -> str:
        """The declared domain in words ("one of a, b", ">= 0 and <= 1"), or ""."""
        if self.enum is not None:
            return "one of " + ", ".join(self.enum)
        low = f">= {self.minimum:g}" if self.minimum is not None else ""
        high = f"<= {self.maximum:g}" if self.maximum is not None else ""
        return " and ".join(x for x in (low, high) if x)


NUMBER = FactType("number")
INTEGER = FactType("integer")
STRING = FactType("string")
BOOL = FactType("bool")
DATE = FactType("date")
DATETIME = FactType("datetime")
LIST = FactType("list")
NUMBERS = FactType("numbers")
NULL = FactType("null")


def comparable(a: FactType, b: FactType) -> bool:
    """Whether two types may meet in ==, !=, or (when ordered) <, <=, >, >=."""
    if a.kind == "null" or b.kind == "null":
        return True
    if a.numeric and b.numeric:
        return True
    return a.kind == b.kind
