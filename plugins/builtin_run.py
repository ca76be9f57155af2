"""The main job, `tierwise run`, and `tierwise why CLIENT` to read one stored explanation.

With no arguments `run` creates the bundled sample CRM on first use, derives the facts of
every client, decides every shipped decision, stores the outcomes in a decision log and
prints a summary; --source, --mapping, --rules and --out point it at a user's own data.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from tierwise.errors import TierwiseError
from tierwise.health import data_health, silent_defaults
from tierwise.paths import Request, Source, choose_path
from tierwise.plugins.cli import ExitCode
from tierwise.profile import Profile

from .builtin_cli import exit_with, load_engine
from .console import paint, say, write_json
from .enrichment import enrichment
from .log_access import SAMPLE_LOG, log_url, open_log, reading_log
from .manager import get_plugin_manager, hookimpl
from .options import (
    AS_OF_OPTION,
    JSON_OPTION,
    LOG_OPTION,
    MAPPING_OPTION,
    RULES_OPTION,
    SOURCE_OPTION,
    default_rules,
    setting_option,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from tierwise.adapters.files import FileSource
    from tierwise.adapters.job import RunSummary
    from tierwise.adapters.log import DecisionLog

SAMPLE_DIR = Path("tierwise-sample")


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


class ErrorRate(click.ParamType):
    """A share of clients: a fraction (0.05) or a percentage (5%), from 0 to 1."""

    name = "rate"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            self.fail(f"{value!r} is not a fraction (0.05) or a percentage (5%)", param, ctx)
        if not 0 <= rate <= 1:
            self.fail(f"{value!r} is not between 0 and 1 (0% and 100%)", param, ctx)
        return rate


@dataclass(frozen=True)
class RunRequest:
    """What a run decides and where it logs, as resolved from flags, settings and the
    sample's defaults; enough to say how to resume it."""

    source: str
    mapping: Path | None
    rules: Path
    out: str
    as_of: dt.date
    engine: str
    writeback: bool
    sample: bool

    def resume_command(self, run_id: str) -> str:
        """The command that resumes run `run_id` (passwords hidden)."""
        parts = ["tierwise", "run"]
        if not self.sample:
            parts += ["--source", shown_url(self.source)]
        if self.mapping is not None and not (self.sample and self.mapping == _sample_mapping()):
            parts += ["--mapping", str(self.mapping)]
        parts += ["--rules", str(self.rules), "--out", shown_url(self.out)]
        parts += ["--as-of", self.as_of.isoformat(), "--run-id", run_id]
        if self.engine != "auto":
            parts += ["--engine", self.engine]
        if not self.writeback:
            parts.append("--no-writeback")
        return shlex.join(parts)


def shown_url(url: str) -> str:
    """A URL for the terminal: a database URL with its password hidden."""
    from tierwise.adapters.db import safe_url

    return safe_url(url) if "://" in url else url


@click.command()
@setting_option(
    "source",
    "--source",
    help="Where the clients are: sqlite:///crm.db, postgresql://..., "
    "csv:clients.csv, jsonl:clients.jsonl, parquet:clients.parquet. Default: the sample CRM.",
)
@MAPPING_OPTION
@RULES_OPTION
@setting_option(
    "log",
    "--out",
    "--log",
    "out",
    help="Decision log: a database URL or a SQLite file path. Default: beside the sample "
    "CRM, or tierwise-decisions.db.",
)
@AS_OF_OPTION
@click.option(
    "--run-id",
    help="Resume this interrupted run (same pack and as_of); an id the log does not have "
    "is an error unless --new-run is given.",
)
@click.option("--new-run", is_flag=True, help="Start a new run, named by --run-id if given.")
@click.option(
    "--max-error-rate",
    type=ErrorRate(),
    default=None,
    help="Exit with 3 when more than this share of clients end in errors (0.05 or 5%). "
    "Default: only when every client does.",
)
@click.option(
    "--clients",
    "sample_size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Size of the sample CRM when it is created.",
)
@SAMPLE_PROFILE_OPTION
@click.option("--page-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--no-writeback", is_flag=True, help="Do not write outputs back to CRM columns.")
@click.option(
    "--repair-writeback",
    is_flag=True,
    help="Only complete the CRM write-back of pages an interrupted or failed run logged "
    "but did not write back (every start does this first); decides nothing.",
)
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
@click.option("--json", "as_json", is_flag=True, help="Write the run summary as JSON to stdout.")
def run(
    source: str | None,
    mapping: Path | None,
    rules: Path | None,
    out: str | None,
    as_of: dt.datetime | None,
    run_id: str | None,
    new_run: bool,
    max_error_rate: float | None,
    sample_size: int,
    sample_profile: str,
    page_size: int,
    no_writeback: bool,
    repair_writeback: bool,
    engine_choice: str,
    as_json: bool,
) -> None:
    """Decide every client of a source and store the outcomes (the main job).

    The run id and the command that resumes the run are printed when it starts, and again
    if it is interrupted (Ctrl-C: exit code 130).
    """
    rules = rules or default_rules()
    engine = load_engine(rules, as_json)
    request = run_request(
        source, mapping, rules, out, as_of, engine_choice, sample_size, sample_profile
    )
    if no_writeback:
        request = replace(request, writeback=False)
    pm = get_plugin_manager()
    if repair_writeback:
        _repair(request.source, request.mapping, request.out, pm)
        return
    job = _prepare(engine, request, pm, page_size)
    if not as_json:
        print_health(engine, job.profile, job.source)
    log = open_log(request.out, create=True, option="--out")
    try:
        run_id, resumed = _choose_run(log, run_id, new_run)
        resume = request.resume_command(run_id)
        say(paint(_start_line(log, run_id, resumed), "heading", err=True), err=True)
        say(f"if it stops, resume it with: {resume}", err=True)
        summary = _guarded(job, log, run_id, resume)
        profile = job.profile
        if as_json:
            write_json(_summary_data(summary, request, log, job, max_error_rate))
        else:
            _print_summary(summary, request.out, rules, profile)
            _point_at_errors(summary, log)
            _print_warnings(job, summary)
    finally:
        log.close()
    if too_many_errors(summary.clients, summary.errors, max_error_rate):
        _fail_on_errors(summary, max_error_rate)


def run_request(
    source: str | None,
    mapping: Path | None,
    rules: Path,
    out: str | None,
    as_of: dt.datetime | None,
    engine: str,
    sample_size: int,
    sample_profile: str = "full",
) -> RunRequest:
    """What the run decides and where it logs: the flags and settings, or the sample CRM
    (created on first use) with its mapping, date and log."""
    day = as_of.date() if as_of else None
    sample = source is None
    if source is None:
        source, mapping, day, out = _sample(sample_size, mapping, day, out, sample_profile)
    out = log_url(out, "--out") if out else "sqlite:///tierwise-decisions.db"
    return RunRequest(source, mapping, rules, out, day or dt.date.today(), engine, True, sample)


@dataclass(frozen=True)
class Job:
    """A run ready to start: the engine, what to decide, the plugins, the source (a
    batch-decided one when the SQL path is taken), and the profile of its clients."""

    engine: Any
    request: RunRequest
    pm: Any
    source: Any
    profile: Profile
    page_size: int

    def warnings(self, summary: RunSummary) -> list[Any]:
        """The run's silent defaults: facts no client has, decisions that never fired."""
        origin = getattr(self.source, "fact_origin", None) or (lambda fact: "the source")
        return silent_defaults(self.engine.pack, self.profile, summary.decided, origin)


def _prepare(engine: Any, request: RunRequest, pm: Any, page_size: int) -> Job:
    """Open the source and profile its clients (the per-client path) before the log is
    touched, so a source or mapping that cannot be read leaves no log behind."""
    from tierwise.adapters import open_source

    workdir = Path(out_dir(request.out))
    batch = _batch_source(engine, request.source, request.mapping, request.engine, workdir, pm)
    day = request.as_of
    click.echo(f"profiling {shown_url(request.source)} ...", err=True)
    if batch is not None:
        return Job(engine, request, pm, batch, batch.profile(day), page_size)
    source = open_source(request.source, request.mapping, pm=pm)
    return Job(engine, request, pm, source, profile_pass(engine, source, day, pm), page_size)


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


def _guarded(job: Job, log: DecisionLog, run_id: str, resume: str) -> RunSummary:
    """The run, with what an interrupt or an error leaves said: what is saved, how to resume."""
    from sqlalchemy.exc import DBAPIError

    from tierwise.adapters.db import reason

    try:
        return _run_with_progress(
            job.engine,
            job.source,
            log,
            as_of=job.request.as_of,
            run_id=run_id,
            page_size=job.page_size,
            profile=job.profile,
            pm=job.pm,
            writeback=job.request.writeback,
        )
    except KeyboardInterrupt:
        _interrupted(log, run_id, resume)
    except TierwiseError as e:
        _stopped(log, run_id, resume, str(e))
    except DBAPIError as e:
        where = f"check --source {shown_url(job.request.source)} and --out {log.url}"
        _stopped(log, run_id, resume, f"the database reported: {reason(e)}\n{where}")


def _choose_run(log: DecisionLog, run_id: str | None, new_run: bool) -> tuple[str, bool]:
    """The run's id and whether it resumes one: `--run-id` must name a run of the log,
    unless `--new-run` asks for a new run (whose id then must be free)."""
    from tierwise.adapters.log import new_run_id
    from tierwise.adapters.run_report import run_exists

    if run_id is None:
        return new_run_id(), False
    exists = run_exists(log, run_id)
    if exists and new_run:
        raise click.BadParameter(
            f"run {run_id} already exists in {log.url}; leave out --new-run to resume it",
            param_hint="'--run-id'",
        )
    if not exists and not new_run:
        newest = ", ".join(f"{r['id']} ({r['status']})" for r in log.runs()[:3])
        raise click.BadParameter(
            f"no run {run_id!r} in {log.url} to resume"
            + (f" (newest: {newest})" if newest else " (it has no runs yet)")
            + f"; add --new-run to start a new run named {run_id}",
            param_hint="'--run-id'",
        )
    return run_id, exists


def _start_line(log: DecisionLog, run_id: str, resumed: bool) -> str:
    """`run X starts`, or `run X resumes` with how many clients it has saved already."""
    if not resumed:
        return f"run {run_id} starts"
    from tierwise.adapters.run_report import saved_clients

    return f"run {run_id} resumes ({saved_clients(log, run_id):,} client(s) saved before)"


def _interrupted(log: DecisionLog, run_id: str, resume: str) -> NoReturn:
    """Say what an interrupted run saved and how to resume it, and exit with 130."""
    from tierwise.adapters.run_report import run_exists, saved_clients

    say(err=True)
    if run_exists(log, run_id):
        saved = saved_clients(log, run_id)
        say(
            paint(f"interrupted: run {run_id} has {saved:,} client(s) saved", "warning", True)
            + f" in {log.url}; the page being decided was not saved and is decided on resume",
            err=True,
        )
        say(f"resume it with: {resume}", err=True)
    else:
        say(
            paint("interrupted before the first client was decided", "warning", True)
            + ": nothing was saved; run the same command again",
            err=True,
        )
    exit_with(ExitCode.INTERRUPTED)


def _stopped(log: DecisionLog, run_id: str, resume: str, reason: str) -> NoReturn:
    """A run stopped by an error: the error, then what is saved and how to resume."""
    from tierwise.adapters.run_report import run_exists, saved_clients

    try:
        saved = saved_clients(log, run_id) if run_exists(log, run_id) else 0
    except Exception:  # the log itself may be what failed
        saved = 0
    if saved:
        reason += (
            f"\nrun {run_id} has {saved:,} client(s) saved; once fixed, resume it with: {resume}"
        )
    raise click.ClickException(reason)


def too_many_errors(clients: int, errors: int, max_rate: float | None) -> bool:
    """Whether a finished run fails on its errors: more than `max_rate` of its clients, and
    always when every client failed."""
    if clients == 0:
        return False
    return errors == clients or (max_rate is not None and errors / clients > max_rate)


def _fail_on_errors(summary: RunSummary, max_rate: float | None) -> NoReturn:
    """Exit with ERROR_RATE, saying why, after the summary (everything is logged)."""
    allowed = "" if max_rate is None else f", more than --max-error-rate {max_rate:.2%} allows"
    share = summary.errors / summary.clients
    say(
        paint(f"run {summary.run_id} finished, but ", "error", True)
        + f"{summary.errors:,} of {summary.clients:,} clients ({share:.1%}) ended in errors"
        + allowed,
        err=True,
    )
    exit_with(ExitCode.ERROR_RATE)


def _point_at_errors(summary: RunSummary, log: DecisionLog) -> None:
    """Where to read a run's client errors, when it has any."""
    if summary.errors:
        say(f"see its client errors: tierwise errors --log {log.url} {summary.run_id}")


def _summary_data(
    summary: RunSummary,
    request: RunRequest,
    log: DecisionLog,
    job: Job,
    max_rate: float | None,
) -> dict[str, Any]:
    """The run summary as JSON data."""
    failing = too_many_errors(summary.clients, summary.errors, max_rate)
    return {
        "run_id": summary.run_id,
        "status": summary.status,
        "resumed": summary.resumed,
        "as_of": summary.as_of,
        "pack": summary.pack_hash,
        "rules": str(request.rules),
        "source": shown_url(request.source),
        "log": log.url,
        "profile": job.profile.digest,
        "warnings": [w.to_json() for w in job.warnings(summary)],
        "clients": summary.clients,
        "errors": summary.errors,
        "error_rate": summary.errors / summary.clients if summary.clients else 0.0,
        "max_error_rate": max_rate,
        "exit_code": int(ExitCode.ERROR_RATE if failing else ExitCode.OK),
        "skipped": summary.skipped,
        "changes": summary.changes,
        "hook_errors": summary.hook_errors,
        "previous_run_id": summary.previous_run_id,
        "counts": summary.counts,
        "wall_seconds": round(summary.wall_seconds, 3),
    }


def _repair(source: str, mapping: Path | None, out: str, pm: Any) -> None:
    """`run --repair-writeback`: write back the pending pages of the source's CRM."""
    from tierwise.adapters import open_source
    from tierwise.adapters.job import repair_writeback

    try:
        src = open_source(source, mapping, pm=pm)
        try:
            repaired = repair_writeback(src, out)
        finally:
            src.close()
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    if not repaired.pages:
        click.echo(f"no write-back is missing: the CRM has every page logged in {shown_url(out)}")
        return
    click.echo(
        f"write-back completed for {repaired.clients:,} client(s) in {repaired.pages} page(s) "
        f"of run(s) {', '.join(repaired.runs)}"
    )


TABLE_SCHEMES = ("parquet", "csv", "jsonl")


def _batch_source(
    engine: Any, source: str, mapping: Path | None, choice: str, workdir: Path, pm: Any
) -> Any:
    """The batch-decided source when tierwise.paths.choose_path takes the SQL path for this
    source, else None (the per-client path); says which path and why on stderr."""
    from .manager import enrichments

    where = run_source(source)
    try:
        path = choose_path([engine.pack], where, cast("Request", choice), enrichments(pm))
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    if path.engine == "durable":
        click.echo(f"engine: durable ({path.reason})", err=True)
        return None
    from tierwise.adapters import open_source
    from tierwise.adapters.decided import BatchDecidedSource, PushdownDecidedSource
    from tierwise.batch import BatchEngine

    click.echo(f"engine: sql ({path.reason})", err=True)
    batch = BatchEngine(engine.pack, dialect=where.sql_dialect or "duckdb")
    if where.kind == "table":
        scheme, _, file = source.partition(":")
        table: FileSource
        if scheme == "parquet":  # read by the batch path only, its mapping checked alike
            from tierwise.adapters.files import open_parquet_table

            table = open_parquet_table(source, mapping)
        else:  # a CSV or JSONL file: its source's id column and renames, checked
            table = cast("FileSource", open_source(source, mapping, pm=pm))
        columns = table.table_columns(engine.pack.inputs)
        return BatchDecidedSource(batch, file, source, workdir, columns)
    return PushdownDecidedSource(batch, open_source(source, mapping, pm=pm))


def run_source(source: str) -> Source:
    """A --source as the choice of path sees it: table files (parquet: only SQL reads;
    csv: and jsonl:, whose mapping both paths apply), SQLite or PostgreSQL databases, and
    streams read client by client (stdin, other adapters)."""
    from tierwise.adapters.db import SCHEME_ALIASES, safe_url

    scheme, _, path = source.partition(":")
    scheme = scheme.split("+", 1)[0].lower()
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    if scheme in TABLE_SCHEMES and path != "-":
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
        partial = crm.with_name(crm.name + ".partial")
        generate(partial, clients=size)
        partial.replace(crm)  # an interrupted creation leaves no half-made CRM behind
    name = "decisions.db" if profile == "full" else f"decisions-{profile}.db"
    log = out or (SAMPLE_LOG if profile == "full" else f"sqlite:///{SAMPLE_DIR / name}")
    return f"sqlite:///{crm}", mapping or _sample_mapping(profile), day or SAMPLE_END, log


def _run_with_progress(engine: Any, source: Any, out: DecisionLog, **options: Any) -> RunSummary:
    """run_job, with a progress bar when a person watches the terminal."""
    from tierwise.adapters.job import run_job

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
    shown = shown_url(out)
    click.echo(
        f"run {summary.run_id}: {summary.status}, as of {summary.as_of}, "
        f"rules {rules} (pack {summary.pack_hash}), profile {profile.digest}"
    )
    click.echo(
        f"clients: {summary.clients:,}  errors: {summary.errors:,}  "
        f"changes since last run: {summary.changes:,}  hook errors: {summary.hook_errors}"
    )
    click.echo(f"wall time: {summary.wall_seconds:.2f} s  ({rate:,.0f} clients/s)")
    if summary.repaired:
        click.echo(
            f"write-back completed first for {summary.repaired:,} client(s) of earlier starts"
        )
    for decision, counts in summary.counts.items():
        per_output = _per_output(counts)
        several = " (a client may get several)" if per_output != counts else ""
        click.echo(f"\n{decision}{several}:")
        width = max((len(label) for label in per_output), default=0)
        for label, count in sorted(per_output.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {label:<{width}}  {count:>7,}")
    click.echo(
        f"\noutcomes are in {shown} (tables tierwise_runs, tierwise_decisions, "
        "tierwise_client_errors)"
    )
    example = _example_client(out, summary.run_id)
    hint = f" {example}" if example else " CLIENT_ID"
    click.echo(f"see one client's explanation: tierwise why{hint} --log {shown}")


def _print_warnings(job: Job, summary: RunSummary) -> None:
    """The run's silent defaults, loudly, on stderr: facts no client has, decisions that
    never fired."""
    for warning in job.warnings(summary):
        say(paint(f"WARNING: {warning.message}", "warning", err=True), err=True)


def _per_output(counts: dict[str, int]) -> dict[str, int]:
    """Clients per single output: a collect decision's label joins its outputs with ' | '."""
    per: dict[str, int] = {}
    for label, count in counts.items():
        for part in label.split(" | "):
            per[part] = per.get(part, 0) + count
    return per


def _example_client(url: str, run_id: str) -> str | None:
    """The first client of the run, for the `why` hint (none when the log cannot be read)."""
    import sqlalchemy as sa

    from tierwise.adapters import AdapterError
    from tierwise.adapters.log import DECISIONS, DecisionLog

    try:
        log = DecisionLog(url)
    except AdapterError:
        return None
    try:
        with log.engine.connect() as conn:
            return conn.execute(
                sa.select(DECISIONS.c.client_id)
                .where(DECISIONS.c.run_id == run_id)
                .order_by(DECISIONS.c.client_id)
                .limit(1)
            ).scalar()
    except sa.exc.DBAPIError:
        return None
    finally:
        log.close()


@click.command()
@click.argument("client_id")
@LOG_OPTION
@click.option("--run", "run_id", help="Run id; default: the latest run that has this client.")
@JSON_OPTION
def why(client_id: str, log_url: str | None, run_id: str | None, as_json: bool) -> None:
    """Show one client's stored decisions and why each was made."""
    import sqlalchemy as sa

    from tierwise.adapters.log import DECISIONS, ERRORS, RUNS

    url = reading_log(log_url)
    log = open_log(url, create=False, option="--log")
    try:
        with log.engine.connect() as conn:
            run_id = run_id or _latest_run(conn, client_id)
            if run_id is None:
                raise click.ClickException(f"client {client_id!r} is in no run of {log.url}")
            run_row = conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
            if run_row is None:
                raise click.ClickException(f"no run {run_id!r} in the decision log {log.url}")
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
    if not rows and not errors:
        raise click.ClickException(f"client {client_id!r} is not in run {run_id} of {log.url}")
    if as_json:
        write_json(_client_data(client_id, run_row, rows, errors))
        return
    for line in _describe_client(client_id, run_row, rows, errors):
        click.echo(line)


def _client_data(client_id: str, run_row: Any, rows: Any, errors: Any) -> dict[str, Any]:
    """One client's stored outcome in a run, as JSON data."""
    from tierwise.adapters.log import result_of

    run = {k: run_row[k] for k in ("id", "status", "as_of", "pack_hash", "started_at", "source")}
    run["source"] = shown_url(run["source"])
    return {
        "client_id": client_id,
        "run": run,
        "errors": [
            {"kind": e["kind"], "fact": e["fact"], "message": e["message"], "value": e["value"]}
            for e in errors
        ],
        "decisions": {row["decision"]: _result_data(result_of(row)) for row in rows},
    }


def _result_data(result: Any) -> dict[str, Any]:
    """A DecisionResult as JSON data."""
    from dataclasses import asdict

    return asdict(result)


def _latest_run(conn: sa.Connection, client_id: str) -> str | None:
    import sqlalchemy as sa

    from tierwise.adapters.log import DECISIONS, ERRORS, RUNS

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
    from tierwise.adapters.log import result_of
    from tierwise.runtime.explain import describe

    for error in errors:
        label = paint(f"error ({error['kind']}) in {error['fact']}", "error")
        yield f"{label}: {error['message']}"
    for row in rows:
        yield describe(result_of(row))


@click.command("profile")
@SOURCE_OPTION
@MAPPING_OPTION
@RULES_OPTION
@AS_OF_OPTION
@SAMPLE_PROFILE_OPTION
@click.option(
    "--engine",
    "engine_choice",
    type=click.Choice(["auto", "durable", "sql"]),
    default="auto",
    show_default=True,
    help="The path that computes it, chosen as `tierwise run` chooses.",
)
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
    engine_choice: str,
    target: Any,
) -> None:
    """Compute the statistics of the whole base that the pack's facts read, as a run does.

    The JSON (with how many clients have each fact) is what `decide --profile`, `explain
    --profile` and `serve --profile` take.
    """
    rules = rules or default_rules()
    engine = load_engine(rules)
    request = run_request(
        source, mapping, rules, None, as_of, engine_choice, 10_000, sample_profile
    )
    job = _prepare(engine, request, get_plugin_manager(), 1000)
    profile = job.profile
    document = profile_json(engine, profile, job.source)
    job.source.close()
    print_health(engine, profile, job.source)
    target.write(json.dumps(document, indent=2) + "\n")
    say(
        f"profile {profile.digest} of {shown_url(request.source)} as of {request.as_of}: "
        f"{profile.clients:,} clients, {profile.skipped:,} unreadable",
        err=True,
    )


def profile_json(engine: Any, profile: Profile, source: Any) -> dict[str, Any]:
    """A profile as its file holds it (what `--profile` options read), with the data
    health of the base it was computed over."""
    health = data_health(engine.pack, profile, getattr(source, "fact_origin", None))
    return {**profile.to_json(), "health": health.to_json()}


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [run, why, profile_command]
