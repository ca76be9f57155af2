"""Declared input facts (`inputs:` of a decision or a facts file) turned into FactTypes,
and the one ordering of facts that read each other (derived facts), shared by both kinds
of file."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tierwise.errors import ErrorSink
from tierwise.lang.types import FactType
from tierwise.pack.load import Document
from tierwise.pack.schema import InputSpec


def input_types(
    doc: Document, specs: Mapping[str, InputSpec | str], sink: ErrorSink
) -> dict[str, FactType]:
    """The declared inputs of one file; a problem is reported at its key or value."""
    return {name: _input_type(doc, name, spec, sink) for name, spec in specs.items()}


def _input_type(doc: Document, name: str, spec: InputSpec | str, sink: ErrorSink) -> FactType:
    if isinstance(spec, str):
        return FactType(spec)  # type: ignore[arg-type]
    if spec.enum is not None:
        if spec.type not in (None, "string"):
            sink.add(
                doc.pos(("inputs", name, "type")),
                "wrong value type",
                "an enum input is a string",
                "drop 'type:' or write type: string",
            )
        return FactType("string", enum=tuple(spec.enum), unit=spec.unit)
    if spec.type is None:
        sink.add(
            doc.key_pos(("inputs", name)),
            "missing key",
            f"input {name!r} needs a type or an enum",
            "e.g. {type: number} or {enum: [a, b]}",
        )
        return FactType("string")
    return FactType(spec.type, minimum=spec.min, maximum=spec.max, unit=spec.unit)


def dependency_order(
    names: list[str], reads: Callable[[str], list[str]], on_cycle: Callable[[list[str]], None]
) -> tuple[list[str], set[str]]:
    """`names` so that each comes after the names it reads (else in the given order), depth
    first, and the names caught in a cycle; `on_cycle(a -> b -> a)` reports each cycle found.
    Without recursion: a pack may chain thousands of decisions or derived facts, and the
    chain's length is checked later."""
    known = set(names)
    state: dict[str, str] = {}
    order: list[str] = []
    cyclic: set[str] = set()
    for root in names:
        if root in state:
            continue
        state[root] = "active"
        stack = [(root, iter([u for u in reads(root) if u in known]))]
        while stack:
            name, pending = stack[-1]
            for dep in pending:
                if state.get(dep) == "active":
                    trail = [n for n, _ in stack]
                    chain = [*trail[trail.index(dep) :], dep]
                    cyclic.update(chain)
                    on_cycle(chain)
                elif dep not in state:
                    state[dep] = "active"
                    stack.append((dep, iter([u for u in reads(dep) if u in known])))
                    break
            else:
                stack.pop()
                state[name] = "done"
                order.append(name)
    return order, cyclic
