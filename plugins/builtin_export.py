"""`tierwise export`: every client's facts as the paths see them, to a Parquet, CSV or
JSON-lines table (with the profile they were derived with), so that `decide`,
`decide_table` and `diff` can be fed from a CRM and decide as `run` does on it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from tierwise.plugins.cli import ExitCode

from .builtin_cli import exit_with, load_engine
from .builtin_run import (
    SAMPLE_PROFILE_OPTION,
    ErrorRate,
    profile_json,
    profile_pass,
    run_request,
    shown_url,
    too_many_errors,
)
from .console import paint, say, write_file
from .manager import get_plugin_manager, hookimpl
from .options import AS_OF_OPTION, MAPPING_OPTION, RULES_OPTION, SOURCE_OPTION, default_rules

if TYPE_CHECKING:
    from tierwise.adapters.export import Exported
    from tierwise.profile import Profile

FORMAT_CHOICE = click.Choice(["parquet", "csv", "jsonl"])


@click.command("export")
@SOURCE_OPTION
@MAPPING_OPTION
@RULES_OPTION
@AS_OF_OPTION
@click.option(
    "--to",
    "target",
    required=True,
    help="The facts table: clients.parquet, clients.csv or clients.jsonl; - is stdout "
    "(JSON lines unless --format says otherwise).",
)
@click.option(
    "--format", "fmt", type=FORMAT_CHOICE, help="The table's format; default: --to's suffix."
)
@click.option(
    "--profile-to",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Where the profile the facts were derived with goes (JSON, as `tierwise profile` "
    "writes it); default: beside the table, as NAME.profile.json.",
)
@click.option(
    "--errors",
    "errors_to",
    type=click.File("wb"),
    help="Write the clients left out for their errors here, one JSON line each; - is stdout.",
)
@click.option(
    "--max-error-rate",
    type=ErrorRate(),
    default=None,
    help="Exit with 3 when more than this share of clients have errors (0.05 or 5%). "
    "Default: only when every client does.",
)
@SAMPLE_PROFILE_OPTION
def export_command(
    source: str | None,
    mapping: Path | None,
    rules: Path | None,
    as_of: dt.datetime | None,
    target: str,
    fmt: str | None,
    profile_to: Path | None,
    errors_to: IO[bytes] | None,
    max_error_rate: float | None,
    sample_profile: str,
) -> None:
    """Write every client's facts (inputs and derived facts) to a table, as the paths see them.

    The facts are read and validated as `run` reads them and derived with the profile
    `run` computes, which is written beside the table: `decide --profile`, `decide_table(...,
    profile=...)` and `diff` fed from the table decide as `run` on the source does, at the
    same --as-of. A client whose facts are invalid is not in the table: it is counted, and
    --errors lists each one.
    """
    from tierwise.adapters.export import table_format

    outs = [o for o, given in (("--to", target), ("--profile-to", profile_to)) if str(given) == "-"]
    outs += ["--errors"] if errors_to is not None and errors_to.name == "<stdout>" else []
    if len(outs) > 1:
        both = "both" if len(outs) == 2 else "all"
        raise click.UsageError(f"{' and '.join(outs)} {both} ask for stdout: give files instead")
    if source is not None and source.lower().startswith("parquet:"):
        raise click.BadParameter(
            f"{source} is a table already: decide_table and diff read it as it is "
            "(export reads a CRM or a CSV or JSON-lines export of one)",
            param_hint="'--source'",
        )
    rules = rules or default_rules()
    engine = load_engine(rules)
    fmt = table_format(target, fmt)
    profile_path = _profile_path(engine, target, profile_to)
    request = run_request(source, mapping, rules, None, as_of, "durable", 10_000, sample_profile)
    done, profile = _export(engine, request, target, fmt, profile_path, errors_to)
    shown = "stdout" if target == "-" else target
    say(
        f"exported {done.written:,} client(s) of {shown_url(request.source)} as of "
        f"{request.as_of} to {shown} ({fmt})",
        err=True,
    )
    if profile is not None:
        say(
            f"profile {profile.digest} in {profile_path}: decide the table with "
            f"--as-of {request.as_of} --profile {profile_path}",
            err=True,
        )
    if done.failed:
        _report_failures(done, errors_to)
    if too_many_errors(done.written + done.failed, done.failed, max_error_rate):
        share = done.failed / (done.written + done.failed)
        say(
            paint(f"{done.failed:,} client(s) ({share:.1%}) had errors", "error", True)
            + (
                f", more than --max-error-rate {max_error_rate:.2%} allows"
                if max_error_rate is not None
                else ""
            ),
            err=True,
        )
        exit_with(ExitCode.ERROR_RATE)


def _export(
    engine: Any,
    request: Any,
    target: str,
    fmt: str,
    profile_path: Path | None,
    errors_to: IO[bytes] | None,
) -> tuple[Exported, Profile | None]:
    """Profile the source as `run` does, then write every client's facts and the profile."""
    from tierwise.adapters import open_source
    from tierwise.adapters.export import (
        WRITERS,
        FailureLines,
        TableTarget,
        export_facts,
        fact_columns,
    )

    from .enrichment import enrichment

    pm = get_plugin_manager()
    day = request.as_of
    src = open_source(request.source, request.mapping, pm=pm)
    try:
        profile = None
        if engine.pack.profile:
            say(f"profiling {shown_url(request.source)} ...", err=True)
            profile = profile_pass(engine, src, day, pm)
        records: Any = src.clients(day, engine.pack.inputs)
        enrich = enrichment(pm)
        if enrich is not None:  # as `run` enriches each client it decides
            records = enrich.all(records, day, dict(profile.values) if profile else {})
        failures = FailureLines(errors_to) if errors_to is not None else None
        with TableTarget(target) as out:
            writer = WRITERS[fmt](out, fact_columns(engine.pack))
            try:
                done = export_facts(engine, records, day, profile, writer, failures)
            finally:
                writer.close()
        if profile is not None and profile_path is not None:
            document = json.dumps(profile_json(engine, profile, src), indent=2) + "\n"
            write_file(profile_path, document, "profile")
    finally:
        src.close()
    return done, profile


def _profile_path(engine: Any, target: str, given: Path | None) -> Path | None:
    """Where the profile goes: --profile-to, else NAME.profile.json beside the table; None
    for a pack that reads no statistics. A table on stdout needs --profile-to."""
    if not engine.pack.profile:
        return None
    if given is not None:
        return given
    if target == "-":
        raise click.UsageError(
            "this pack's facts read statistics of the whole base: with --to -, give "
            "--profile-to FILE for the profile they were derived with"
        )
    path = Path(target)
    return path.with_name(path.name.split(".")[0] + ".profile.json")


def _report_failures(done: Exported, errors_to: IO[bytes] | None) -> None:
    """How many clients are left out for their errors, a few examples, where the rest are."""
    say(
        paint(f"{done.failed:,} client(s) have errors and are not in the table", "warning", True),
        err=True,
    )
    for failure in done.examples:
        first = failure.errors[0]
        more = f" (and {len(failure.errors) - 1} more)" if len(failure.errors) > 1 else ""
        say(f"  e.g. {failure.client_id}: {first.fact}: {first.message}{more}", err=True)
    if errors_to is not None:
        say(f"each one with its errors is in {errors_to.name}", err=True)
    else:
        say("--errors FILE writes each one with its errors (JSON lines)", err=True)


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [export_command]
