"""`tierwise map SOURCE`: a first mapping file for a source nobody has mapped yet. It looks
at the source's columns (and a database's tables and client keys), proposes the column or
aggregate that could feed each fact the pack reads, and writes it as a commented mapping
file that `tierwise run --mapping` reads as it is."""

from __future__ import annotations

from pathlib import Path

import click

from tierwise.errors import TierwiseError

from .console import say, write_file
from .manager import hookimpl
from .options import RULES_OPTION, default_rules, setting_argument


@click.command("map")
@setting_argument("source", "source")
@RULES_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    show_default=True,
    help="Write the mapping file here; - is stdout.",
)
@click.option(
    "--table",
    help="The clients table of a database (default: the table the others refer to).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def map_command(
    source: str | None, rules: Path | None, out: Path, table: str | None, force: bool
) -> None:
    """Propose a mapping file for a source: the column or aggregate that could feed each
    fact the pack reads, and what is missing.

    SOURCE is what `tierwise run --source` takes: csv:export.csv, jsonl:clients.jsonl,
    parquet:clients.parquet, sqlite:///crm.db or postgresql://user@host/db (default: the
    source setting). Each proposal is commented with why and how sure it is; facts not
    found are listed with the rules that cannot fire without them. Check it, then
    `tierwise run --source SOURCE --mapping FILE`.
    """
    from tierwise.adapters.mapping_writer import render_mapping
    from tierwise.adapters.proposal import propose
    from tierwise.adapters.shapes import source_shape
    from tierwise.catalog import catalog

    from .builtin_cli import load_engine

    if source is None:
        raise click.UsageError("give the SOURCE to look at (or set source in tierwise.toml)")
    if str(out) != "-" and out.exists() and not force:
        raise click.UsageError(f"{out} exists: give --force to replace it, or another --out")
    path = rules or default_rules()
    facts = catalog(load_engine(path).pack)
    try:
        proposal = propose(source_shape(source), facts, table)
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None
    shown_out = None if str(out) == "-" else str(out)
    flag = str(rules) if rules is not None else None
    text = render_mapping(proposal, rules=str(path), rules_flag=flag, out=shown_out)
    write_file(out, text, "mapping file")
    counts = {c: 0 for c in ("sure", "likely", "a guess")}
    for p in proposal.proposals:
        counts[p.confidence] += 1
    found = ", ".join(f"{n} {c}" for c, n in counts.items() if n)
    say(
        f"proposed a source for {len(proposal.proposals)} of {len(facts.inputs)} fact(s)"
        + (f" ({found})" if found else "")
        + f"; {len(proposal.missing)} not found (listed in the file)",
        err=True,
    )
    if proposal.id_column is None:
        say(f"no id column found: {proposal.id_reason}; add clients: {{id: COLUMN}}", err=True)
    target = shown_out or "mapping.yaml"
    say(f"next: tierwise run --source {proposal.source.url} --mapping {target}", err=True)


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    """The `map` command, through the same hook as a plugin's commands."""
    return [map_command]
