"""The rule author's and embedder's commands: check, test, decide, explain."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
import orjson

from tierwise.errors import RulePackError
from tierwise.outcome import FactError
from tierwise.plugins.cli import ExitCode
from tierwise.profile import Profile, ProfileError
from tierwise.runtime.engine import Engine
from tierwise.runtime.facts import UnreadableClient
from tierwise.runtime.records import json_line

from .console import paint, rule_error_data, say, show_rule_error, write_json
from .enrichment import PluginEnrichment, enrichment
from .manager import function_registry, get_plugin_manager, hookimpl
from .options import AS_OF_OPTION, JSON_OPTION, RULES_OPTION, default_rules, setting_argument

PATH_ARGUMENT = setting_argument("rules", "path", type=click.Path(exists=True, path_type=Path))
PROFILE_OPTION = click.option(
    "--profile",
    "profile_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The base's statistics as JSON (`tierwise profile` writes them), for packs whose "
    "facts read statistics of the whole base.",
)


def exit_with(code: ExitCode) -> NoReturn:
    """End the command with `code` (what was to be said is said)."""
    raise click.exceptions.Exit(code)


def load_engine(path: Path, as_json: bool = False) -> Engine:
    """Load a pack for a command, with every plugin's functions; a broken pack shows every
    error (as JSON with `as_json`) and ends the command with exit code 1."""
    try:
        return Engine.from_path(path, functions=function_registry())
    except RulePackError as e:
        if as_json:
            errors = [rule_error_data(error) for error in e.errors]
            write_json({"path": str(path), "ok": False, "count": len(errors), "errors": errors})
        else:
            for error in e.errors:
                show_rule_error(error)
            say(paint(f"{len(e.errors)} error(s) in {path}", "error", err=True), err=True)
        exit_with(ExitCode.FAILED)


@click.command()
@PATH_ARGUMENT
@click.option(
    "--strict", is_flag=True, help="Treat solver findings (dead rules, gaps, overlaps) as errors."
)
@JSON_OPTION
def check(path: Path | None, strict: bool, as_json: bool) -> None:
    """Check rule files: every error at file:line:col, then dead rules, overlaps and gaps.

    PATH is a rule file or folder; default: the rules setting, ./rules, else the shipped packs.
    """
    path = path or default_rules()
    engine = load_engine(path, as_json)
    pack = engine.pack
    rules = sum(len(d.rules) for d in pack.decisions)
    findings = _findings(pack)
    failing = strict and bool(findings)
    if as_json:
        write_json(
            {
                "path": str(path),
                "ok": not failing,
                "pack": pack.hash,
                "decisions": len(pack.decisions),
                "rules": rules,
                "errors": [],
                "findings": [f.to_dict() for f in findings],
                "strict": strict,
            }
        )
    else:
        say(
            f"{path}: {len(pack.decisions)} decision(s), {rules} rule(s), "
            f"{paint('no errors', 'ok')} (pack {pack.hash})"
        )
        label = paint("error: ", "error", strict) if strict else paint("warning: ", "warning")
        for finding in findings:
            say(label + str(finding), err=strict)
        if findings:
            say(f"{len(findings)} finding(s)" + (" (--strict: failing)" if strict else ""))
    if failing:
        exit_with(ExitCode.FAILED)


def _findings(pack: Any) -> list[Any]:
    try:
        from tierwise.verify.analyze import analyze
    except ImportError:
        return []
    return list(analyze(pack))


@click.command(name="test")
@PATH_ARGUMENT
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
@JSON_OPTION
def test_command(path: Path | None, verbose: bool, as_json: bool) -> None:
    """Run the tests written in rule files (`tests:` with given/expect).

    PATH is a rule file or folder; default: the rules setting, ./rules, else the shipped packs.
    """
    from tierwise.testing.rule_tests import run_all

    path = path or default_rules()
    results = run_all(load_engine(path, as_json))
    failed = [r for r in results if not r.passed]
    if as_json:
        cases = [
            {
                "decision": r.decision,
                "name": r.name,
                "file": r.pos.file,
                "line": r.pos.line,
                "col": r.pos.col,
                "passed": r.passed,
                "problems": list(r.problems),
            }
            for r in results
        ]
        passed = len(results) - len(failed)
        write_json({"path": str(path), "passed": passed, "failed": len(failed), "cases": cases})
    else:
        for r in results:
            if verbose or not r.passed:
                head, _, rest = r.report().partition("\n")
                status = "ok" if r.passed else "FAILED"
                head = head.removesuffix(status) + paint(status, "ok" if r.passed else "error")
                say(head + ("\n" + rest if rest else ""))
        summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
        say(paint(summary, "error" if failed else "ok"))
        if not results:
            say("no tests found: add 'tests:' with given/expect to the rule files", err=True)
    if failed or not results:
        exit_with(ExitCode.FAILED)


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
    rules: Path | None, as_of: dt.datetime | None, input_: BinaryIO, profile_file: Path | None
) -> None:
    """Decide for clients given as JSON lines; write one outcome per line as JSON.

    A pack that reads statistics of the whole base computes them from the input first
    (or takes --profile).
    """
    engine = load_engine(rules or default_rules())
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
            say(
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


def read_profile(path: Path | None) -> Profile | None:
    """The profile in a JSON file, or None; an unreadable one is a usage error."""
    if path is None:
        return None
    try:
        return Profile.from_json(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ProfileError) as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--profile") from None


def needs_profile(engine: Engine, what: str) -> click.UsageError:
    """The error of a command that cannot compute the base's statistics itself."""
    stats = ", ".join(s.name for s in engine.pack.profile)
    return click.UsageError(
        f"this pack reads statistics of the whole client base ({stats}), which {what}: "
        "give --profile FILE (written by `tierwise profile --source ...`)"
    )


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
@JSON_OPTION
@PROFILE_OPTION
@click.argument("facts")
def explain(
    rules: Path | None,
    as_of: dt.datetime | None,
    as_json: bool,
    profile_file: Path | None,
    facts: str,
) -> None:
    """Explain the decisions for one client: FACTS is JSON, @file.json, or @- (stdin).

    Exits with 1 when a fact is invalid or a decision fails for this client. A pack that
    reads statistics of the whole base needs --profile.
    """
    from tierwise.runtime.explain import describe

    data = _facts(facts)
    engine = load_engine(rules or default_rules(), as_json)
    profile = read_profile(profile_file)
    if profile is None and engine.pack.profile:
        raise needs_profile(engine, "one client cannot give")
    day = as_of.date() if as_of else dt.date.today()
    enrich = enrichment(get_plugin_manager())
    if enrich is not None and isinstance(data, dict):
        data = enrich.enrich(data, day, dict(profile.values) if profile else {})
    outcome = engine.decide(data, as_of=day, profile=profile)
    if as_json:
        write_json(outcome.model_dump(mode="json"))
    else:
        say(
            f"client {outcome.client_id or '(no id)'}, as of {outcome.as_of}, "
            f"pack {outcome.pack_hash}"
        )
        for error in outcome.errors:
            label = paint(f"invalid fact {error.fact}", "error")
            say(f"{label}: {error.message} (value: {error.value!r})")
        for result in outcome.decisions.values():
            say(describe(result))
    if not outcome.ok:
        if not as_json:
            say("this client's facts or decisions have errors (shown above)", err=True)
        exit_with(ExitCode.FAILED)


def _facts(text: str) -> Any:
    """FACTS as given: JSON text, `@file.json`, or `@-` for stdin; usage errors if unreadable."""
    if text.startswith("@"):
        name = text[1:]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as e:
            raise click.BadParameter(f"{name}: {e.strerror}", param_hint="FACTS") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON: {e}", param_hint="FACTS") from None


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [check, test_command, decide, explain]
