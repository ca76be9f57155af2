"""Functions that rule expressions may call: a typed registry, filled by plugins.

A function declares its parameter and return kinds so the type checker can check calls
at load time; `sql` optionally gives the SQL form used by the batch compiler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class SqlForm:
    """A function's SQL form, imported from `module` on first use, so that the per-client
    path never loads SQLAlchemy for it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self._form: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._form is None:
            self._form = getattr(importlib.import_module(self.module), self.name)
        return self._form(*args, **kwargs)


@dataclass(frozen=True)
class Function:
    """A callable usable in rule expressions. Null in any argument gives null out, unless
    `null_safe` says the function handles null itself. `needs_as_of` functions receive the
    evaluation date as the keyword `as_of` (nothing reads the clock during evaluation).

    `sql` builds the same value from SQLAlchemy columns for the batch path. For a function
    that is not null-safe it must give NULL, for present arguments, exactly where `impl`
    raises: the batch path then reports the decision's error, as the per-client path does.
    """

    name: str
    params: tuple[str, ...]
    returns: str
    impl: Callable[..., Any]
    doc: str = ""
    needs_as_of: bool = False
    null_safe: bool = False
    sql: Callable[..., Any] | None = field(default=None, compare=False)
    plugin: str = "builtin"


class FunctionRegistry(Mapping[str, Function]):
    """Name -> Function; a second registration of one name is an error, not a silent override."""

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self._functions: dict[str, Function] = {}
        for f in functions:
            self.add(f)

    def add(self, function: Function) -> None:
        if function.name in self._functions:
            other = self._functions[function.name]
            raise ValueError(
                f"function {function.name!r} is registered twice "
                f"(by {other.plugin} and by {function.plugin})"
            )
        self._functions[function.name] = function

    def __getitem__(self, name: str) -> Function:
        return self._functions[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)
