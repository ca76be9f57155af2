"""The main job, `tierwise run`, and `tierwise why CLIENT` to read one stored explanation.

With no arguments `run` creates the bundled sample CRM on first use, derives the facts of
every client, decides every shipped decision, stores the outcomes in a decision log and
prints a summary; --source, --mapping, --rules and --out point it at a user's own data.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import click
import sqlalchemy as sa

from tierwise.adapters import AdapterError, open_source
from tierwise.adapters.job import RunSummary, run_job
from tierwise.adapters.log import DECISIONS, ERRORS, RUNS, DecisionLog, result_of
from tierwise.errors import TierwiseError
from tierwise.health import data_health, silent_defaults
from tierwise.paths import Request, Source, choose_path
from tierwise.plugins.enrichment import enrichment
from tierwise.profile import Profile
from tierwise.runtime.explain import describe

from .builtin_cli import AS_OF_OPTION, load_engine
from .manager import get_plugin_manager, hookimpl

SAMPLE_DIR = Path("tierwise-sample")


def default_rules() -> Path:
    """./rules when it exists (a checkout, or a user's project), else the packs shipped inside."""
    local = Path("rules")
    if local.is_dir():
        return local
    from importlib.resources import files

    return Path(str(files("tierwise.packs")))


SAMPLE_PROFILES = {
    "full": "sample_mapping.yaml",
    "purchase-log": "sample_mapping_purchase_log.yaml",
}
"""How the sample CRM is read: everything it has, or only its purchases (no costs, tickets,
surveys or churn score), so the packs' missing-data paths can be seen."""
SAMPLE_PROFILE_OPTION = click.option(
    "--sample-profile",
    type=click.Choice(list(SAMPLE_PROFILES)),
    default="full",
    show_default=True,
    help="Without --source: read the sample CRM whole, or as a bare purchase log "
    "(no costs, tickets, surveys or churn score).",
)


def _sample_mapping(profile: str = "full") -> Path:
    """The sample CRM's mapping for a sample profile, shipped as package data of
    tierwise.adapters."""
    from importlib.resources import files

    return Path(str(files("tierwise.adapters") / SAMPLE_PROFILES[profile]))


@click.command()
@click.option(
    "--source",
    help="Where the clients are: sqlite:///crm.db, postgresql://..., "
    "csv:clients.csv, jsonl:clients.jsonl. Default: the sample CRM.",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, path_type=Path),
    help="YAML mapping of CRM tables and columns to facts (SQL sources).",
)
@click.option(
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Rule file or folder. Default: ./rules, else the shipped packs.",
)
@click.option("--out", help="Decision log database URL. Default: beside the sample CRM.")
@AS_OF_OPTION
@click.option("--run-id", help="Resume this interrupted run (same pack and as_of).")
@click.option(
    "--clients",
    "sample_size",
    type=int,
    default=10_000,
    show_default=True,
    help="Size of the sample CRM when it is created.",
)
@SAMPLE_PROFILE_OPTION
@click.option("--page-size", type=int, default=1000, show_default=True)
@click.option("--no-writeback", is_flag=True, help="Do not write outputs back to CRM columns.")
@click.option(
    "--engine",
    "engine_choice",
    type=click.Choice(["auto", "durable", "sql"]),
    default="auto",
    show_default=True,
    help="durable: per client, with enrichment plugins; sql: the rules compiled to SQL, "
    "run by DuckDB over a table file or inside a SQLite/PostgreSQL CRM. auto: sql "
    "whenever the pack compiles for the source and reads no plugin's facts, else durable.",
)
def run(
    source: str | None,
    mapping: Path | None,
    rules: Path | None,
    out: str | None,
    as_of: dt.datetime | None,
    run_id: str | None,
    sample_size: int,
    sample_profile: str,
    page_size: int,
    no_writeback: bool,
    engine_choice: str,
) -> None:
    """Decide every client of a source and store the outcomes (the main job)."""
    rules = rules or default_rules()
    engine = load_engine(rules)
    day = as_of.date() if as_of else None
    if source is None:
        source, mapping, day, out = _sample(sample_size, mapping, day, out, sample_profile)
    day = day or dt.date.today()
    out = out or "sqlite:///tierwise-decisions.db"
    pm = get_plugin_manager()
    try:
        batch = _batch_source(engine, source, mapping, engine_choice, Path(out_dir(out)), pm)
        if batch is not None:
            src, profile = batch, batch.profile(day)
        else:
            src = open_source(source, mapping, pm=pm)
            click.echo(f"profiling {source} ...", err=True)
            profile = profile_pass(engine, src, day, pm)
        print_health(engine, profile, src)
        summary = _run_with_progress(
            engine,
            src,
            out,
            as_of=day,
            run_id=run_id,
            page_size=page_size,
            profile=profile,
            pm=pm,
            writeback=not no_writeback,
        )
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    _print_summary(summary, out, rules, profile)
    _print_warnings(engine, profile, summary, src)


TABLE_SCHEMES = ("parquet", "csv", "jsonl")


def _batch_source(
    engine: Any, source: str, mapping: Path | None, choice: str, workdir: Path, pm: Any
) -> Any:
    """The batch-decided source when tierwise.paths.choose_path takes the SQL path for this
    source, else None (the per-client path); says which path and why on stderr."""
    from .manager import enrichments

    where = run_source(source, mapping)
    try:
        path = choose_path([engine.pack], where, cast("Request", choice), enrichments(pm))
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    if path.engine == "durable":
        click.echo(f"engine: durable ({path.reason})", err=True)
        return None
    from tierwise.adapters.decided import BatchDecidedSource, PushdownDecidedSource
    from tierwise.batch import BatchEngine

    click.echo(f"engine: sql ({path.reason})", err=True)
    batch = BatchEngine(engine.pack)
    if where.kind == "table":
        return BatchDecidedSource(batch, source.partition(":")[2], source, workdir)
    return PushdownDecidedSource(batch, open_source(source, mapping, pm=pm))


def profile_pass(engine: Any, source: Any, as_of: dt.date, pm: Any) -> Profile:
    """The run's profile from the source (read once per layer of statistics), clients
    enriched by the plugins as they will be when decided."""
    return engine.profile(_Reread(engine, source, as_of, enrichment(pm)), as_of)


class _Reread:
    """A source's clients, read again from the source each time they are iterated (the
    profile's layers), enriched as they will be when decided."""

    def __init__(self, engine: Any, source: Any, as_of: dt.date, enrich: Any) -> None:
        self.engine, self.source, self.as_of, self.enrich = engine, source, as_of, enrich

    def __iter__(self) -> Iterator[Any]:
        """The source's clients, read anew."""
        records = self.source.clients(self.as_of, self.engine.pack.inputs)
        if self.enrich is not None:
            records = self.enrich.all(records, self.as_of, {})
        return iter(records)


def print_health(engine: Any, profile: Profile, source: Any) -> None:
    """The base's data health on stderr, before anything is decided: per declared fact,
    the share of clients that have it, its min, median and max, the rules that need it,
    and a loud warning for a fact that no client has."""
    origin = getattr(source, "fact_origin", None)
    for line in data_health(engine.pack, profile, origin).lines():
        if line.startswith("WARNING"):
            click.secho(line, fg="yellow", err=True)
        else:
            click.echo(line, err=True)


def run_source(source: str, mapping: Path | None) -> Source:
    """A --source as the choice of path sees it: table files (parquet: only SQL reads;
    csv: and jsonl: with no mapping, which only the per-client reader applies), SQLite or
    PostgreSQL databases, and streams read client by client (stdin, other adapters)."""
    from tierwise.adapters.db import SCHEME_ALIASES, safe_url

    scheme, _, path = source.partition(":")
    scheme = scheme.split("+", 1)[0].lower()
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    if scheme in TABLE_SCHEMES and path != "-":
        if mapping is not None and scheme != "parquet":
            return Source("stream", f"{source} with a mapping")
        return Source("table", source, per_client=scheme != "parquet")
    if scheme in ("sqlite", "postgresql"):
        return Source("database", safe_url(source), scheme)
    return Source("stream", safe_url(source))


def out_dir(log_url: str) -> str:
    """A folder for the batch path's temporary result: beside a SQLite log, else here."""
    if log_url.startswith("sqlite:///"):
        return str(Path(log_url.removeprefix("sqlite:///")).resolve().parent)
    return "."


def _sample(
    size: int,
    mapping: Path | None,
    day: dt.date | None,
    out: str | None,
    profile: str = "full",
) -> tuple[str, Path, dt.date, str]:
    """The sample CRM, created on first use, with the mapping of its profile, date and log
    beside it (a log per profile, so a run's changes compare like with like)."""
    from tierwise.adapters.sample_crm import SAMPLE_END, generate

    crm = SAMPLE_DIR / "crm.db"
    if not crm.exists():
        click.echo(f"creating the sample CRM ({size:,} clients) in {crm} ...", err=True)
        generate(crm, clients=size)
    name = "decisions.db" if profile == "full" else f"decisions-{profile}.db"
    log = out or f"sqlite:///{SAMPLE_DIR / name}"
    return f"sqlite:///{crm}", mapping or _sample_mapping(profile), day or SAMPLE_END, log


def _run_with_progress(engine: Any, source: Any, out: str, **options: Any) -> RunSummary:
    """run_job, with a progress bar when a person watches the terminal."""
    if not sys.stderr.isatty():
        return run_job(engine, source, out, **options)
    profile = options["profile"]
    total = profile.clients + profile.skipped or None
    bar: Any
    with click.progressbar(length=total, label="deciding", file=sys.stderr, show_pos=True) as bar:
        done = [0]

        def progress(summary: RunSummary) -> None:
            bar.update(summary.clients + summary.skipped - done[0])
            done[0] = summary.clients + summary.skipped

        return run_job(engine, source, out, progress=progress, **options)


def _print_summary(summary: RunSummary, out: str, rules: Path, profile: Profile) -> None:
    rate = summary.clients / summary.wall_seconds if summary.wall_seconds else 0.0
    click.echo(
        f"run {summary.run_id}: {summary.status}, as of {summary.as_of}, "
        f"rules {rules} (pack {summary.pack_hash}), profile {profile.digest}"
    )
    click.echo(
        f"clients: {summary.clients:,}  errors: {summary.errors:,}  "
        f"changes since last run: {summary.changes:,}  hook errors: {summary.hook_errors}"
    )
    click.echo(f"wall time: {summary.wall_seconds:.2f} s  ({rate:,.0f} clients/s)")
    for decision, counts in summary.counts.items():
        per_output = _per_output(counts)
        several = " (a client may get several)" if per_output != counts else ""
        click.echo(f"\n{decision}{several}:")
        width = max((len(label) for label in per_output), default=0)
        for label, count in sorted(per_output.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {label:<{width}}  {count:>7,}")
    click.echo(
        f"\noutcomes are in {out} (tables tierwise_runs, tierwise_decisions, "
        "tierwise_client_errors)"
    )
    example = _example_client(out, summary.run_id)
    hint = f" {example}" if example else " CLIENT_ID"
    click.echo(f"see one client's explanation: tierwise why{hint} --log {out}")


def _print_warnings(engine: Any, profile: Profile, summary: RunSummary, source: Any) -> None:
    """The run's silent defaults, loudly, on stderr: facts no client has, decisions that
    never fired."""
    origin = getattr(source, "fact_origin", None) or (lambda fact: "the source")
    found = silent_defaults(engine.pack, profile, summary.decided, origin)
    for warning in found:
        click.secho(f"WARNING: {warning.message}", fg="yellow", err=True)


def _per_output(counts: dict[str, int]) -> dict[str, int]:
    """Clients per single output: a collect decision's label joins its outputs with ' | '."""
    per: dict[str, int] = {}
    for label, count in counts.items():
        for part in label.split(" | "):
            per[part] = per.get(part, 0) + count
    return per


def _example_client(url: str, run_id: str) -> str | None:
    log = DecisionLog(url)
    try:
        with log.engine.connect() as conn:
            return conn.execute(
                sa.select(DECISIONS.c.client_id)
                .where(DECISIONS.c.run_id == run_id)
                .order_by(DECISIONS.c.client_id)
                .limit(1)
            ).scalar()
    finally:
        log.close()


@click.command("profile")
@click.option(
    "--source", help="Where the clients are (as for `tierwise run`). Default: the sample CRM."
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, path_type=Path),
    help="YAML mapping of CRM tables and columns to facts.",
)
@click.option(
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Rule file or folder. Default: ./rules, else the shipped packs.",
)
@AS_OF_OPTION
@SAMPLE_PROFILE_OPTION
@click.option(
    "--to",
    "target",
    type=click.File("w"),
    default="-",
    show_default=True,
    help="Where the profile's JSON goes; - is stdout.",
)
def profile_command(
    source: str | None,
    mapping: Path | None,
    rules: Path | None,
    as_of: dt.datetime | None,
    sample_profile: str,
    target: Any,
) -> None:
    """Compute the statistics of the whole base that the pack's facts read, as the JSON that
    `decide --profile` and `explain --profile` take, with the base's data health (per fact:
    the share of clients that have it, min, median, max, the rules that need it) under
    "health" and on stderr."""
    rules = rules or default_rules()
    engine = load_engine(rules)
    day = as_of.date() if as_of else None
    if source is None:
        source, mapping, day, _ = _sample(10_000, mapping, day, None, sample_profile)
    day = day or dt.date.today()
    pm = get_plugin_manager()
    try:
        src = open_source(source, mapping, pm=pm)
        try:
            profile = profile_pass(engine, src, day, pm)
            health = data_health(engine.pack, profile, getattr(src, "fact_origin", None))
        finally:
            src.close()
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    for line in health.lines():
        click.secho(line, fg="yellow" if line.startswith("WARNING") else None, err=True)
    target.write(json.dumps({**profile.to_json(), "health": health.to_json()}, indent=2) + "\n")
    click.echo(
        f"profile {profile.digest} of {source} as of {day}: {profile.clients:,} clients, "
        f"{profile.skipped:,} unreadable",
        err=True,
    )


@click.command()
@click.argument("client_id")
@click.option(
    "--log",
    "log_url",
    default=f"sqlite:///{SAMPLE_DIR / 'decisions.db'}",
    show_default=True,
    help="Decision log database URL.",
)
@click.option("--run", "run_id", help="Run id; default: the latest run that has this client.")
def why(client_id: str, log_url: str, run_id: str | None) -> None:
    """Show one client's stored decisions and why each was made."""
    try:
        log = DecisionLog(log_url)
    except AdapterError as e:
        raise click.ClickException(str(e)) from None
    try:
        with log.engine.connect() as conn:
            run_id = run_id or _latest_run(conn, client_id)
            if run_id is None:
                raise click.ClickException(f"client {client_id!r} is in no run of {log_url}")
            run_row = conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
            rows = (
                conn.execute(
                    sa.select(DECISIONS).where(
                        DECISIONS.c.run_id == run_id, DECISIONS.c.client_id == client_id
                    )
                )
                .mappings()
                .all()
            )
            errors = (
                conn.execute(
                    sa.select(ERRORS)
                    .where(ERRORS.c.run_id == run_id, ERRORS.c.client_id == client_id)
                    .order_by(ERRORS.c.seq)
                )
                .mappings()
                .all()
            )
    finally:
        log.close()
    for line in _describe_client(client_id, run_row, rows, errors):
        click.echo(line)


def _latest_run(conn: sa.Connection, client_id: str) -> str | None:
    runs = sa.union(
        sa.select(DECISIONS.c.run_id).where(DECISIONS.c.client_id == client_id),
        sa.select(ERRORS.c.run_id).where(ERRORS.c.client_id == client_id),
    ).subquery()
    return conn.execute(
        sa.select(RUNS.c.id)
        .where(RUNS.c.id.in_(sa.select(runs.c.run_id)))
        .order_by(RUNS.c.started_at.desc())
        .limit(1)
    ).scalar()


def _describe_client(client_id: str, run_row: Any, rows: Any, errors: Any) -> Iterator[str]:
    yield (
        f"client {client_id}, run {run_row['id']}, as of {run_row['as_of']}, "
        f"pack {run_row['pack_hash']}"
    )
    for error in errors:
        yield f"error ({error['kind']}) in {error['fact']}: {error['message']}"
    for row in rows:
        yield describe(result_of(row))


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [run, why, profile_command]
