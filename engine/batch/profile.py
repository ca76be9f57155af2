"""The profile step on the batch path: a pack's statistics of a whole table, and the data
health of its facts, computed inside the database with the meanings tierwise.profile
defines, pass by pass as its ProfilePlan says. The clients' validated inputs are read from
the source once, into a temporary table (in the connection's temporary schema: nothing is
written into the database's own); each pass materialises the clients' facts over it once
(the compiler's profile base, with the statistics of the passes before as constants) in
another; one aggregate query gives the counts and the min/max, a windowed
query picks each nearest rank (cut points, medians), a grouped one gives a purchase
model's histories, and a mean's values are added exactly (fsum) as on the per-client path,
so both paths give the same numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tierwise.batch.compiler import SqlCompiler
from tierwise.pack.ir import Pack, ProfileStat
from tierwise.profile import (
    Profile,
    ProfilePlan,
    Spread,
    bg_nbd_of_counts,
    mean,
    share,
)

BASE = "tierwise_profile"
"""The temporary tables of the clients' facts, one per pass (`tierwise_profile_<pass>`):
each pass's is built on the one before, which is dropped then; the last one holds every
fact, for the decisions (`SqlCompiler.select_facts`)."""
INPUTS = "tierwise_profile_inputs"
"""The temporary table of the clients' validated inputs."""
SPREAD_KINDS = ("number", "integer", "date", "datetime")
"""Facts of these kinds get a min, median and max (as on the per-client path)."""

Run = Callable[[str], Iterable[Sequence[Any]]]
"""Executes one SQL text and yields its rows, fetched a page at a time (none for a
statement); a caller consumes them before running the next."""


def compute(run: Run, compiler: SqlCompiler, validated: sa.Select[Any], as_of: dt.date) -> Profile:
    """The profile of the clients whose validated inputs `validated` gives (SqlCompiler.
    validated over the source), through `run`: the source is read once."""
    inputs = read_inputs(run, compiler, validated)
    try:
        return passes(run, compiler, inputs, as_of)[0]
    finally:
        drop_tables(run, compiler)


def read_inputs(run: Run, compiler: SqlCompiler, validated: sa.Select[Any]) -> sa.TableClause:
    """The clients' validated inputs read from the source into the temporary table `INPUTS`
    (replacing one a failed run left on this connection); the table, to build on."""
    _drop(run, compiler, INPUTS)
    _execute(run, f"CREATE TEMP TABLE {INPUTS} AS {compiler.sql_text(validated)}")
    return sa.table(INPUTS, *(sa.column(c.name) for c in validated.selected_columns))


def drop_tables(run: Run, compiler: SqlCompiler) -> None:
    """The profile's temporary tables, dropped (those there are)."""
    for layer in range(ProfilePlan(compiler.pack).passes):
        _drop(run, compiler, f"{BASE}_{layer}")
    _drop(run, compiler, INPUTS)


def passes(
    run: Run, compiler: SqlCompiler, inputs: sa.TableClause, as_of: dt.date
) -> tuple[Profile, sa.TableClause]:
    """The profile's passes over the table of validated inputs (`read_inputs`), and the
    last pass's table of every client's facts, left for the decisions (`drop_tables`)."""
    plan = ProfilePlan(compiler.pack)
    found = _Found()
    table = inputs
    with ThreadPoolExecutor(1, thread_name_prefix="tierwise-fit") as fitting:
        for layer in range(plan.passes):
            table = _base(run, compiler, table, as_of, layer, found.values)
            found.add(_Pass(run, compiler, table), plan, layer, fitting)
    return found.profile(compiler.pack, as_of), table


def _base(
    run: Run,
    compiler: SqlCompiler,
    before: sa.TableClause,
    as_of: dt.date,
    layer: int,
    values: dict[str, Any],
) -> sa.TableClause:
    """Pass `layer`'s table, built on the one before (dropped then, unless it is the
    inputs), with the statistics known so far."""
    select = compiler.profile_base(before, as_of, layer=layer, statistics=dict(values))
    created = f"{BASE}_{layer}"
    _drop(run, compiler, created)
    _execute(run, f"CREATE TEMP TABLE {created} AS {compiler.sql_text(select)}")
    if layer:
        _drop(run, compiler, before.name)
    return sa.table(created, *(sa.column(c.name) for c in select.selected_columns))


@dataclass
class _Found:
    """What the passes found so far: the statistics, per fact how many valid clients have
    it and its spread, and the clients counted (everyone, and the valid ones)."""

    values: dict[str, Any] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    spread: dict[str, Spread] = field(default_factory=dict)
    everyone: int = 0
    clients: int = 0

    def add(self, pass_: _Pass, plan: ProfilePlan, layer: int, fitting: Executor) -> None:
        """One pass's counts, statistics and spreads; a purchase model is fitted in Python
        on `fitting` while the database works out the spreads."""
        pack = pass_.compiler.pack
        kinds = {**pack.inputs, **{d.name: d.type for d in pack.derived}}
        facts = plan.facts[layer]
        spread_facts = [n for n in facts if kinds[n].kind in SPREAD_KINDS]
        counts, extremes = pass_.counts(facts, plan.stats[layer], spread_facts)
        if layer == 0:
            self.everyone, self.clients = counts["everyone"], counts["ok"]
        self.present.update({n: counts[f"p_{n}"] for n in facts})
        for stat in plan.stats[layer]:
            if stat.kind != "bg_nbd":
                self.values[stat.name] = pass_.statistic(stat, counts)
        fits: dict[str, Future[Any]] = {  # after the statistics that fetch many rows, which
            # would wait for the GIL the fit holds; the spreads' queries sort in the database
            stat.name: fitting.submit(bg_nbd_of_counts, pass_.histories(stat))
            for stat in plan.stats[layer]
            if stat.kind == "bg_nbd"
        }
        for name in spread_facts:
            if counts[f"p_{name}"]:
                self.spread[name] = pass_.spread(name, counts, extremes)
        self.values.update({name: fit.result() for name, fit in fits.items()})

    def profile(self, pack: Pack, as_of: dt.date) -> Profile:
        """The Profile of what was found."""
        return Profile(
            {s.name: self.values.get(s.name) for s in pack.profile},
            {s.name: s.text for s in pack.profile},
            as_of,
            self.clients,
            self.everyone - self.clients,
            self.present,
            self.spread,
        )


class _Pass:
    """The queries of one pass over its temporary table of valid and invalid clients."""

    def __init__(self, run: Run, compiler: SqlCompiler, table: Any) -> None:
        self.run, self.compiler, self.table = run, compiler, table
        self.ok = table.c.ok
        self.inputs = compiler.pack.inputs

    def _rows(self, select: sa.Select[Any]) -> Iterable[Sequence[Any]]:
        return self.run(self.compiler.sql_text(select))

    def value(self, fact: str) -> Any:
        """A fact's column: `i_<input>`, or `p_<derived fact>`."""
        return self.table.c[f"i_{fact}" if fact in self.inputs else f"p_{fact}"]

    def _valid(self, value: Any) -> Any:
        """Where the client is valid and has a value in column `value`."""
        return sa.and_(self.ok, value.is_not(None))

    def counts(
        self, facts: list[str], stats: list[ProfileStat], spread: list[str]
    ) -> tuple[dict[str, int], dict[str, Any]]:
        """In one query: everyone, the valid clients, per fact the valid clients that have
        it (`p_<fact>`), per statistic its values (a share's: those that hold, as
        `held_<statistic>`); and the smallest and largest value of each `spread` fact over
        the valid clients (`min_p_<fact>`, `max_p_<fact>`)."""
        t = self.table
        columns: dict[str, Any] = {
            "everyone": sa.func.count(),
            "ok": sa.func.count(sa.case((self.ok, 1))),
        }
        for n in facts:
            columns[f"p_{n}"] = sa.func.count(sa.case((self.ok, self.value(n))))
        for stat in stats:
            name = f"s_{stat.name}__0" if stat.kind == "bg_nbd" else f"s_{stat.name}"
            columns[name] = sa.func.count(sa.case((self.ok, t.c[name])))
            if stat.kind == "share":
                held = sa.case((sa.and_(self.ok, t.c[name] == 1.0), 1))
                columns[f"held_{stat.name}"] = sa.func.count(held)
        counted = list(columns)
        for n in spread:
            valid = sa.case((self.ok, self.value(n)))
            columns[f"min_p_{n}"] = sa.func.min(valid)
            columns[f"max_p_{n}"] = sa.func.max(valid)
        select = sa.select(*(c.label(k) for k, c in columns.items()))
        (row,) = list(self._rows(select))
        values = dict(zip(columns, row, strict=True))
        return {k: int(values.pop(k)) for k in counted}, values

    def statistic(self, stat: ProfileStat, counts: dict[str, int]) -> Any:
        """A statistic's value, with tierwise.profile's meaning (a `bg_nbd` one is fitted
        from `histories`)."""
        column = f"s_{stat.name}"
        if stat.kind == "share":
            return share(counts[f"held_{stat.name}"], counts[column])
        if stat.kind == "mean":
            value = self.table.c[column]
            picked = sa.select(value).where(self._valid(value))
            return mean([float(v) for (v,) in self._rows(picked)])
        n = counts[column]
        if n == 0:
            return None
        g = stat.groups or 2
        ranks = [(k * n + g - 1) // g for k in range(1, g)]  # tierwise.profile.cut_points
        return [float(v) for v in self._at_ranks(self.table.c[column], ranks)]

    def histories(self, stat: ProfileStat) -> list[tuple[Any, Any, Any, int]]:
        """A `bg_nbd` statistic's purchase histories: its three values per client, grouped,
        with the number of valid clients that have them."""
        parts = [self.table.c[f"s_{stat.name}__{k}"] for k in range(3)]
        grouped = (
            sa.select(*parts, sa.func.count())
            .where(sa.and_(self.ok, *(p.is_not(None) for p in parts)))
            .group_by(*parts)
        )
        return [(x, span, age, n) for x, span, age, n in self._rows(grouped)]

    def spread(self, fact: str, counts: dict[str, int], extremes: dict[str, Any]) -> Spread:
        """A fact's min, median and max over the valid clients that have it (the extremes
        and the count from `counts`)."""
        low, high = extremes[f"min_p_{fact}"], extremes[f"max_p_{fact}"]
        middle = self._at_ranks(self.value(fact), [(counts[f"p_{fact}"] + 1) // 2])[0]
        return Spread(*(_shown(v) for v in (low, middle, high)))  # profile.median's rank

    def _at_ranks(self, value: Any, ranks: list[int]) -> list[Any]:
        """The values at the 1-based `ranks` of a column's values in ascending order: one
        rank by a sort that stops there (about twice as fast), several by numbering."""
        wanted = sorted(set(ranks))
        if len(wanted) == 1:
            one = sa.select(value).where(self._valid(value)).order_by(value)
            picked = one.limit(1).offset(wanted[0] - 1)
            ((at,),) = list(self._rows(picked))
            return [at for _ in ranks]
        ranked = (
            sa.select(value.label("v"), sa.func.row_number().over(order_by=value).label("rn"))
            .where(self._valid(value))
            .subquery("ranked")
        )
        numbered = sa.select(ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(wanted))
        at = {int(rn): v for rn, v in self._rows(numbered)}
        return [at[r] for r in ranks]


def fetched(cursor: Any, sql: str, page: int = 10_000) -> Iterable[Sequence[Any]]:
    """A DB-API cursor's rows of `sql`, a page at a time (none for a statement)."""
    cursor.execute(sql)
    if cursor.description is None:
        return
    while rows := cursor.fetchmany(page):
        yield from rows


def _execute(run: Run, statement: str) -> None:
    """Run a statement (its rows, if any, are read and dropped)."""
    for _ in run(statement):
        pass


def _drop(run: Run, compiler: SqlCompiler, table: str) -> None:
    """A temporary table dropped if it exists (qualified: never a table of the database's)."""
    _execute(run, f"DROP TABLE IF EXISTS {compiler.dialect.temp_schema}.{table}")


def _shown(value: Any) -> Any:
    """A spread value as the per-client path shows it: dates as ISO text, whole numbers as
    integers."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value[:10]
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
