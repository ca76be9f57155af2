"""The rule author's and embedder's commands: check, test, decide, explain."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from tierwise.errors import RulePackError
from tierwise.outcome import FactError
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import UnreadableClient
from tierwise.runtime.records import json_line

from .manager import hookimpl

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


def load_engine(path: Path) -> Engine:
    """Load a pack for a command; a broken pack prints every error and exits with 1."""
    try:
        return Engine.from_path(path)
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
def decide(rules: Path, as_of: dt.datetime | None, input_: BinaryIO) -> None:
    """Decide for clients given as JSON lines; write one outcome per line as JSON."""
    engine = load_engine(rules)
    day = as_of.date() if as_of else dt.date.today()
    out = sys.stdout.buffer
    for outcome in engine.decide_many(_json_lines(input_, engine.id_field), as_of=day):
        out.write(outcome.model_dump_json().encode() + b"\n")
    out.flush()


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
@click.argument("facts")
def explain(rules: Path, as_of: dt.datetime | None, facts: str) -> None:
    """Explain the decisions for one client: FACTS is JSON, or @file.json."""
    from tierwise.runtime.explain import describe

    text = Path(facts[1:]).read_text() if facts.startswith("@") else facts
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON: {e}", param_hint="FACTS") from None
    engine = load_engine(rules)
    outcome = engine.decide(data, as_of=as_of.date() if as_of else None)
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
