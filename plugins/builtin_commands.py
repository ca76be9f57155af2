"""The integrator's commands: `tierwise plugins` (what is loaded, which hooks),
`tierwise changes` (a run's decisions that differ from the previous run), `tierwise
errors` (a run's client errors, grouped) and `tierwise config` (the settings in force)."""

from __future__ import annotations

from typing import Any

import click
import orjson

from .console import paint, say, write_json
from .log_access import open_log, reading_log
from .manager import get_plugin_manager, hookimpl, list_plugins
from .options import JSON_OPTION, LOG_OPTION, current
from .settings import MEANING


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per plugin.")
def plugins_command(as_json: bool) -> None:
    """List loaded plugins, where they come from and which hooks each implements."""
    infos = list_plugins(get_plugin_manager())
    for info in infos:
        if as_json:
            fields = {"name": info.name, "origin": info.origin, "hooks": list(info.hooks)}
            click.echo(orjson.dumps({**fields, "loaded": info.loaded, "reason": info.reason}))
        elif info.loaded:
            click.echo(f"{info.name}  ({info.origin})\n    hooks: {', '.join(info.hooks) or '-'}")
        else:
            click.echo(f"{info.name}  ({info.origin})\n    not loaded: {info.reason}")


@click.command("changes")
@LOG_OPTION
@click.option("--run", "run_id", default=None, help="Run id (default: the newest run).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per change.")
def changes_command(log_url: str | None, run_id: str | None, as_json: bool) -> None:
    """List a run's decisions that changed since the previous run (tier up or down, new
    action)."""
    from tierwise.adapters.log import output_label

    log = open_log(reading_log(log_url), create=False, option="--log")
    try:
        run_id, rows = log.changes(run_id)
    finally:
        log.close()
    for row in rows:
        before = (
            output_label(row["previous_status"], row["previous_output"])
            if row["previous_status"] is not None
            else "(new)"
        )
        after = output_label(row["status"], row["output"])
        if as_json:
            click.echo(
                orjson.dumps(
                    {
                        "run_id": run_id,
                        "client_id": row["client_id"],
                        "decision": row["decision"],
                        "before": before,
                        "after": after,
                        "rules": row["rules"],
                    }
                )
            )
        else:
            click.echo(f"{row['client_id']}\t{row['decision']}\t{before} -> {after}")
    if not as_json:
        click.echo(f"{len(rows)} change(s) in run {run_id}", err=True)


@click.command("errors")
@LOG_OPTION
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Example clients shown per group.",
)
@JSON_OPTION
def errors_command(log_url: str | None, run_id: str | None, examples: int, as_json: bool) -> None:
    """List a run's client errors, grouped by fact and message, with example clients.

    RUN is a run id; default: the newest run in the log.
    """
    from tierwise.adapters import run_report

    url = reading_log(log_url)
    log = open_log(url, create=False, option="--log")
    try:
        run = run_report.find_run(log, run_id)
        clients = run_report.saved_clients(log, run["id"])
        failed = run_report.failed_clients(log, run["id"])
        groups = run_report.error_groups(log, run["id"], examples)
        shown = log.url
    finally:
        log.close()
    if as_json:
        write_json(
            {
                "run_id": run["id"],
                "status": run["status"],
                "as_of": run["as_of"],
                "log": shown,
                "clients": clients,
                "clients_with_errors": failed,
                "groups": [g.to_dict() for g in groups],
            }
        )
        return
    _show_groups(run, clients, failed, groups, shown)


KIND_LABELS = {
    "client": "",
    "hook": " (a reaction hook, after deciding)",
    "decision": " (the decision failed)",
}


def _show_groups(
    run: dict[str, Any], clients: int, failed: int, groups: list[Any], log: str
) -> None:
    """The groups as text: a head line, then per group its count, fact, message and examples."""
    head = paint(f"run {run['id']}", "heading") + f" ({run['status']}, as of {run['as_of']}): "
    if not groups:
        say(head + f"no errors among {clients:,} client(s)")
        return
    decisions = sum(g.clients for g in groups if g.kind == "decision")
    errors = f"{failed:,} of {clients:,} client(s) ended in errors"
    if decisions:
        errors += f", {decisions:,} decision(s) failed"
    say(head + paint(errors, "error") + f"; {len(groups)} group(s):")
    width = max(len(f"{g.clients:,}") for g in groups)
    for group in groups:
        kind = KIND_LABELS.get(group.kind, f" ({group.kind})")
        say(f"  {group.clients:>{width},}  {paint(group.fact, 'heading')}{kind}: {group.message}")
        shown = ", ".join(_example(e) for e in group.examples)
        more = ", ..." if group.clients > len(group.examples) else ""
        if shown:
            say(f"  {'':>{width}}  e.g. {shown}{more}")
    first = groups[0].examples[0]["client_id"] if groups[0].examples else "CLIENT_ID"
    say(f"one client's outcome: tierwise why {first} --log {log} --run {run['id']}")


def _example(example: dict[str, Any]) -> str:
    value = example["value"]
    return f"{example['client_id']}" + (f" ({value!r})" if value is not None else "")


@click.command("config")
@JSON_OPTION
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Show the settings in force (source, mapping, rules, log, as_of) and where each
    comes from.

    Settings come from [tool.tierwise] in ./pyproject.toml, then ./tierwise.toml, then the
    TIERWISE_* environment variables; a later one wins, and a flag wins over them all.
    """
    found = current(ctx)
    if as_json:
        write_json(
            {
                name: {"value": s.value, "origin": s.origin, "env": s.env, "meaning": MEANING[name]}
                for name, s in found.items()
            }
        )
        return
    width = max(map(len, found))
    for name, setting in found.items():
        if setting.value is None:
            say(f"{name:<{width}}  (not set)  {MEANING[name]}")
        else:
            say(f"{name:<{width}}  {paint(setting.value, 'heading')}  from {setting.origin}")


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [plugins_command, changes_command, errors_command, config_command]
