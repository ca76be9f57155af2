"""The one choice of path for a set of clients: per client through durable, or the rules
compiled to one SQL query. `tierwise run`, `decide_table` and `diff` all ask `choose_path`.

Both paths give the same outcomes; SQL is the faster. So "auto" takes SQL whenever the
source can be read by a query and nothing blocks it: a function without an SQL form, a
dialect the pack does not compile for, or an enrichment plugin that gives facts the pack
reads (the SQL path cannot call a plugin, and must not decide with nulls in its place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, NoReturn

from tierwise.errors import TierwiseError

if TYPE_CHECKING:
    from tierwise.pack.ir import Pack

PathName = Literal["durable", "sql"]
Request = Literal["auto", "durable", "sql"]
SourceKind = Literal["table", "arrow", "database", "stream"]


class PathError(TierwiseError):
    """The path asked for cannot read this source (e.g. the durable path and a source only
    the SQL path reads)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where the clients come from, as far as the path matters: a table file or an Arrow
    table (SQL by DuckDB), a SQL database (SQL pushed down in its `dialect`), or a stream
    read client by client (the durable path only). `name` labels it in reasons;
    `per_client` is False for a source that only the SQL path can read."""

    kind: SourceKind
    name: str
    dialect: str | None = None
    per_client: bool = True

    @property
    def sql_dialect(self) -> str | None:
        """The dialect a query over this source runs in, or None when none can read it."""
        if self.kind in ("table", "arrow"):
            return "duckdb"
        return self.dialect if self.kind == "database" else None


@dataclass(frozen=True, slots=True)
class Enrichment:
    """A plugin that adds facts to each client before matching (tierwise_enrich_facts), with
    the facts it may add; None when it does not say, so it may add any."""

    plugin: str
    facts: frozenset[str] | None


class PathChoice(NamedTuple):
    """The path that decides ("durable" or "sql") and why, in words for the user."""

    engine: PathName
    reason: str


def choose_path(
    packs: Sequence[Pack],
    source: Source,
    request: Request = "auto",
    enrichments: Sequence[Enrichment] = (),
) -> PathChoice:
    """The path for deciding `source` with every pack of `packs` (one path for all, so a
    diff compares like with like). "sql" asked for when a blocker stands raises
    PushdownError with the reasons; "durable" asked for on a source only SQL reads raises
    PathError; "auto" takes SQL unless the source streams per client or a blocker stands."""
    if request not in ("auto", "durable", "sql"):
        raise PathError(f"the path is auto, durable or sql, not {request!r}")
    if request == "durable":
        if not source.per_client:
            raise PathError(f"only the SQL path reads {source.name}")
        return PathChoice("durable", "the durable path was asked for")
    dialect = source.sql_dialect
    if dialect is None:
        reason = (
            f"the SQL path reads table files and SQLite or PostgreSQL databases, not {source.name}"
        )
        if request == "sql":
            _refuse(reason)
        return PathChoice("durable", f"{source.name} is read client by client")
    blockers = sql_blockers(packs, dialect, enrichments)
    if blockers:
        if request == "sql" or not source.per_client:
            where = "" if source.per_client else f" and only the SQL path reads {source.name}"
            _refuse(f"this pack cannot run as SQL{where}: " + "; ".join(blockers))
        return PathChoice("durable", "; ".join(blockers))
    packs_compile = "the pack compiles" if len(packs) == 1 else "the packs compile"
    return PathChoice("sql", f"{packs_compile} to SQL for {dialect}")


def sql_blockers(
    packs: Sequence[Pack], dialect: str, enrichments: Sequence[Enrichment] = ()
) -> list[str]:
    """Why these packs cannot be decided as SQL in `dialect`, one reason each (empty when
    they can): functions without an SQL form, a failed compile, enrichment they read."""
    from tierwise.batch.compiler import PushdownError, compiled, pushdown_blockers

    reasons: dict[str, None] = {}
    for pack in packs:
        found = pushdown_blockers(pack)
        if not found:
            try:
                compiled(pack, dialect)
            except PushdownError as e:
                found = [str(e)]
        found += _enrichment_blockers(pack, enrichments)
        reasons.update(dict.fromkeys(found))
    return list(reasons)


def _enrichment_blockers(pack: Pack, enrichments: Sequence[Enrichment]) -> list[str]:
    """One reason per plugin that may give facts this pack reads."""
    reasons = []
    for e in enrichments:
        if e.facts is None:
            reasons.append(
                f"plugin {e.plugin} adds facts to each client without saying which "
                "(tierwise_enriched_facts), and only the durable path runs it"
            )
            continue
        read = sorted(e.facts & set(pack.inputs))
        if read:
            reasons.append(
                f"plugin {e.plugin} gives facts the pack reads ({', '.join(read)}), "
                "and only the durable path runs it"
            )
    return reasons


def _refuse(reason: str) -> NoReturn:
    """Raise the batch path's PushdownError (imported here: it loads SQLAlchemy)."""
    from tierwise.batch.compiler import PushdownError

    raise PushdownError(reason)
