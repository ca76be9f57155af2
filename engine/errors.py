"""Errors a rule author or an integrator can act on: each names the place (file:line:col)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a rule file; line and col are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule pack: where, what, and a short hint how to fix it."""

    pos: Pos
    kind: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.pos}: {self.kind}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class TierwiseError(Exception):
    """Base class of every error tierwise raises on purpose."""


class RulePackError(TierwiseError):
    """A rule pack that cannot be loaded; carries every error found, not just the first."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.pos.file, e.pos.line, e.pos.col))
        count = len(self.errors)
        head = f"{count} error{'s' if count != 1 else ''} in rule pack"
        super().__init__(head + ":\n" + "\n".join(str(e) for e in self.errors))


class ErrorSink:
    """Collects RuleErrors during a stage so that a pack reports all of them in one run."""

    def __init__(self) -> None:
        self.errors: list[RuleError] = []
        self.unusable: set[str] = set()
        """Facts whose declaration had an error already reported: a rule reading one is
        not reported again as reading an unknown fact."""

    def add(self, pos: Pos, kind: str, message: str, hint: str = "") -> None:
        self.errors.append(RuleError(pos, kind, message, hint))

    def raise_if_any(self) -> None:
        if self.errors:
            raise RulePackError(self.errors)
