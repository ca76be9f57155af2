"""Output helpers for the benches: markdown tables (they paste into the README as they are)
and the machine's load (on a shared machine it explains the noise)."""

from __future__ import annotations

import os


def markdown(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A markdown table with padded columns; columns whose index is in `right` align right."""
    right = right or set()
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + (":" if i in right else "-") for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def load() -> str:
    """The machine's load, printed with every table: on a shared machine it explains the noise."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"
