"""The rule author's and embedder's commands: check, test, decide, explain."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from tierwise.errors import RulePackError
from tierwise.outcome import FactError
from tierwise.profile import Profile, ProfileError
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import UnreadableClient
from tierwise.runtime.records import json_line

from .enrichment import PluginEnrichment, enrichment
from .manager import get_plugin_manager, hookimpl

RULES_OPTION = click.option(
    "--rules",
    "rules",
    type=click.Path(exists=True, path_type=Path),
    default=Path("rules"),
    show_default=True,
    help="A rule file or a folder of rule files.",
)
AS_OF_OPTION = click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Evaluation date (YYYY-MM-DD); default: today, once for the whole run.",
)


PROFILE_OPTION = click.option(
    "--profile",
    "profile_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The base's statistics as JSON (`tierwise profile` writes them), for packs whose "
    "facts read statistics of the whole base.",
)


def load_engine(path: Path) -> Engine:
    """Load a pack for a command, with every plugin's functions; a broken pack prints every
    error and exits with 1."""
    from .manager import function_registry

    try:
        return Engine.from_path(path, functions=function_registry())
    except RulePackError as e:
        for error in e.errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(e.errors)} error(s); nothing was decided.", err=True)
        raise SystemExit(1) from None


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--strict", is_flag=True, help="Treat solver findings (dead rules, gaps, overlaps) as errors."
)
def check(path: Path, strict: bool) -> None:
    """Check rule files: every error at file:line:col, then dead rules, overlaps and gaps."""
    engine = load_engine(path)
    pack = engine.pack
    rules = sum(len(d.rules) for d in pack.decisions)
    click.echo(
        f"{path}: {len(pack.decisions)} decision(s), {rules} rule(s), no errors (pack {pack.hash})"
    )
    findings = _findings(pack)
    for finding in findings:
        click.echo(("error: " if strict else "warning: ") + str(finding), err=strict)
    if findings:
        click.echo(f"{len(findings)} finding(s)" + (" (--strict: failing)" if strict else ""))
        if strict:
            raise SystemExit(1)


def _findings(pack: Any) -> list[Any]:
    try:
        from tierwise.verify.analyze import analyze
    except ImportError:
        return []
    return list(analyze(pack))


@click.command(name="test")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
def test_command(path: Path, verbose: bool) -> None:
    """Run the tests written in rule files (`tests:` with given/expect)."""
    from tierwise.testing.rule_tests import run_all

    results = run_all(load_engine(path))
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            click.echo(r.report())
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        if not results:
            click.echo("no tests found: add 'tests:' with given/expect to the rule files", err=True)
        raise SystemExit(1)


def read_profile(path: Path | None) -> Profile | None:
    """The profile in a JSON file, or None; an unreadable one is a usage error."""
    if path is None:
        return None
    try:
        return Profile.from_json(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ProfileError) as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--profile") from None


def needs_profile(engine: Engine, what: str) -> click.ClickException:
    """The error of a command that cannot compute the base's statistics itself."""
    stats = ", ".join(s.name for s in engine.pack.profile)
    return click.ClickException(
        f"this pack reads statistics of the whole client base ({stats}), which {what}: "
        "give --profile FILE (written by `tierwise profile --source ...`)"
    )


@click.command()
@RULES_OPTION
@AS_OF_OPTION
@click.option(
    "--input",
    "input_",
    type=click.File("rb"),
    default="-",
    help="JSON lines of client facts; - is stdin.",
)
@PROFILE_OPTION
def decide(
    rules: Path, as_of: dt.datetime | None, input_: BinaryIO, profile_file: Path | None
) -> None:
    """Decide for clients given as JSON lines; write one outcome per line as JSON. A pack
    that reads statistics of the whole base computes them from the input first (or takes
    --profile)."""
    engine = load_engine(rules)
    day = as_of.date() if as_of else dt.date.today()
    enrich = enrichment(get_plugin_manager())
    profile = read_profile(profile_file)
    with tempfile.TemporaryFile("w+b") as spool:
        if profile is None and engine.pack.profile:
            if not input_.seekable():  # stdin: read it twice from a copy
                shutil.copyfileobj(input_, spool)
                input_ = spool
            input_.seek(0)
            lines = _json_lines(input_, engine.id_field)
            profile = engine.profile(_enriched(enrich, lines, day, {}), day)
            click.echo(
                f"profile: computed over the {profile.clients:,} readable clients of the input",
                err=True,
            )
            input_.seek(0)
        values = dict(profile.values) if profile is not None else {}
        out = sys.stdout.buffer
        records = _enriched(enrich, _json_lines(input_, engine.id_field), day, values)
        for outcome in engine.decide_many(records, as_of=day, profile=profile):
            out.write(outcome.model_dump_json().encode() + b"\n")
        out.flush()


def _enriched(
    enrich: PluginEnrichment | None, records: Iterator[Any], day: dt.date, values: dict[str, Any]
) -> Iterator[Any]:
    return records if enrich is None else enrich.all(records, day, values)


def _json_lines(stream: BinaryIO, id_field: str) -> Iterator[Any]:
    """Each line parsed, as bytes, so one line that is not UTF-8 is that line's error and
    never costs its neighbours; a broken line is passed on as that client's error."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield json_line(line, (id_field,))
        except orjson.JSONDecodeError as e:
            yield UnreadableClient(None, (FactError("*", f"line {number} is not valid JSON: {e}"),))


@click.command()
@RULES_OPTION
@AS_OF_OPTION
@PROFILE_OPTION
@click.argument("facts")
def explain(rules: Path, as_of: dt.datetime | None, profile_file: Path | None, facts: str) -> None:
    """Explain the decisions for one client: FACTS is JSON, or @file.json."""
    from tierwise.runtime.explain import describe

    text = Path(facts[1:]).read_text() if facts.startswith("@") else facts
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON: {e}", param_hint="FACTS") from None
    engine = load_engine(rules)
    profile = read_profile(profile_file)
    if profile is None and engine.pack.profile:
        raise needs_profile(engine, "one client cannot give")
    day = as_of.date() if as_of else dt.date.today()
    enrich = enrichment(get_plugin_manager())
    if enrich is not None and isinstance(data, dict):
        data = enrich.enrich(data, day, dict(profile.values) if profile else {})
    outcome = engine.decide(data, as_of=day, profile=profile)
    click.echo(
        f"client {outcome.client_id or '(no id)'}, as of {outcome.as_of}, pack {outcome.pack_hash}"
    )
    for error in outcome.errors:
        click.echo(f"invalid fact {error.fact}: {error.message} (value: {error.value!r})")
    for result in outcome.decisions.values():
        click.echo(describe(result))


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [check, test_command, decide, explain]
