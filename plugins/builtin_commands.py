"""The integrator's commands: `tierwise plugins` (what is loaded, which hooks) and
`tierwise changes` (the decisions of a run that differ from the previous run)."""

from __future__ import annotations

import click
import orjson

from tierwise.errors import TierwiseError

from .manager import get_plugin_manager, hookimpl, list_plugins


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
@click.option("--log", "log_url", required=True, help="Decision log database URL.")
@click.option("--run", "run_id", default=None, help="Run id (default: the newest run).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per change.")
def changes_command(log_url: str, run_id: str | None, as_json: bool) -> None:
    """List a run's decisions that changed since the previous run (tier up or down, new action)."""
    from tierwise.adapters.log import DecisionLog, output_label

    try:
        log = DecisionLog(log_url)
        run_id, rows = log.changes(run_id)
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
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
    log.close()


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [plugins_command, changes_command]
