"""The profile step on the batch path: a pack's statistics of a whole table, computed inside
the database with the meanings tierwise.profile defines. Each client's facts (the compiler's
profile base) are materialised once in a temporary table; one aggregate query gives the
counts, means and shares, and one windowed query per cut-points statistic picks its
nearest-rank values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from tierwise.batch.compiler import SqlCompiler
from tierwise.profile import Profile

BASE = "tierwise_profile"
"""The temporary table of the clients' facts (dropped when the step ends)."""

Run = Callable[[str], Sequence[Sequence[Any]]]
"""Executes one SQL text and returns its rows (none for a statement)."""


def compute(run: Run, compiler: SqlCompiler, base: sa.Select[Any], as_of: dt.date) -> Profile:
    """The profile of the clients `base` (SqlCompiler.profile_base) gives, through `run`."""
    pack = compiler.pack
    run(f"CREATE TEMP TABLE {BASE} AS {compiler.sql_text(base)}")
    try:
        table = sa.table(BASE, *(sa.column(c.name) for c in base.selected_columns))
        present = [c.name[2:] for c in base.selected_columns if c.name.startswith("p_")]
        ok = table.c.ok
        counted = [
            sa.func.count(),
            sa.func.count(sa.case((ok, 1))),
            *(sa.func.count(sa.case((ok, table.c[f"p_{n}"]))) for n in present),
            *(_aggregate(s.kind, sa.case((ok, table.c[f"s_{s.name}"]))) for s in pack.profile),
        ]
        (row,) = run(compiler.sql_text(sa.select(*counted)))
        everyone, clients = int(row[0]), int(row[1])
        counts = dict(zip(present, (int(v) for v in row[2 : 2 + len(present)]), strict=True))
        values: dict[str, Any] = {}
        for stat, value in zip(pack.profile, row[2 + len(present) :], strict=True):
            if stat.kind == "cut_points":
                values[stat.name] = _cuts(run, compiler, table, stat.name, int(value), stat.groups)
            else:
                values[stat.name] = None if value is None else float(value)
    finally:
        run(f"DROP TABLE {BASE}")
    return Profile(
        values,
        {s.name: s.text for s in pack.profile},
        as_of,
        clients,
        everyone - clients,
        counts,
    )


def _aggregate(kind: str, value: Any) -> Any:
    """Per kind of statistic, what the aggregate query computes of it (cut points: how many
    values there are, so the positions of their nearest ranks can be asked for)."""
    return sa.func.count(value) if kind == "cut_points" else sa.func.avg(value)


def _cuts(
    run: Run, compiler: SqlCompiler, table: Any, name: str, n: int, groups: int | None
) -> list[float] | None:
    """The nearest-rank cut points of a statistic's `n` values (tierwise.profile.cut_points)."""
    if n == 0:
        return None
    g = groups or 2
    positions = [(k * n + g - 1) // g for k in range(1, g)]
    column = table.c[f"s_{name}"]
    ranked = (
        sa.select(column.label("v"), sa.func.row_number().over(order_by=column).label("rn"))
        .where(sa.and_(table.c.ok, column.is_not(None)))
        .subquery("ranked")
    )
    picked = sa.select(ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(sorted(set(positions))))
    at = {int(rn): float(v) for rn, v in run(compiler.sql_text(picked))}
    return [at[p] for p in positions]
