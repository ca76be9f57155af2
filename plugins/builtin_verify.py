"""`tierwise diff OLD NEW --source CLIENTS`: what a rule change does before it goes live.

OLD and NEW are rule paths or git revisions (`HEAD~1:rules`, or `git:HEAD~1` for the same
path as the other side). Prints the rule changes and, per decision, a transition matrix
and the change of each numeric output; `--json` and `--html` write the full report.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import click
import orjson

from .console import say, write_file
from .manager import hookimpl
from .options import AS_OF_OPTION, MAPPING_OPTION, setting_option


@click.command()
@click.argument("old")
@click.argument("new")
@setting_option(
    "source",
    "--source",
    required=True,
    help="The clients: a CSV, JSONL or Parquet file, or a source URL (csv:, jsonl:, sqlite:///...).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the report as JSON to this file; - is stdout.",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write a self-contained HTML report to this file; - is stdout.",
)
@click.option(
    "--weight",
    default=None,
    help="Numeric fact to weight numeric outputs by (default: revenue_12m when declared).",
)
@click.option("--no-weight", is_flag=True, help="Do not weight numeric outputs.")
@MAPPING_OPTION
@AS_OF_OPTION
@click.option(
    "--profile",
    "profile_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The base's statistics for both sides (as `tierwise export` or `profile` write "
    "them); default: computed over --source for each side.",
)
def diff(
    old: str,
    new: str,
    source: str,
    json_out: Path | None,
    html_out: Path | None,
    weight: str | None,
    no_weight: bool,
    mapping: Path | None,
    as_of: dt.datetime | None,
    profile_file: Path | None,
) -> None:
    """Compare two versions of the rules, and their impact on a client base.

    The text report goes to stdout, or to stderr when --json or --html is - (stdout).
    """
    from .builtin_cli import read_profile

    profile = read_profile(profile_file)
    if json_out is not None and html_out is not None and str(json_out) == str(html_out) == "-":
        raise click.UsageError("--json - and --html - both ask for stdout: give one a file")
    from tierwise.adapters.clients import read_clients
    from tierwise.errors import RulePackError, TierwiseError
    from tierwise.impact.impact import default_weight
    from tierwise.impact.impact import diff as run_diff
    from tierwise.impact.static import DiffError
    from tierwise.pack.build import load_pack
    from tierwise.pack.revisions import RevisionError, materialize
    from tierwise.plugins.manager import function_registry

    functions = function_registry()
    day = as_of.date() if as_of else dt.date.today()
    with tempfile.TemporaryDirectory(prefix="tierwise-diff-") as tmp:
        try:
            packs = []
            for side, spec, other in (("OLD", old, new), ("NEW", new, old)):
                path = materialize(spec, other, Path(tmp))
                try:
                    packs.append(load_pack(path, functions))
                except RulePackError as e:
                    for error in e.errors:
                        click.echo(str(error), err=True)
                    raise click.ClickException(f"{side} rules ({spec}) do not load") from None
            old_pack, new_pack = packs
            chosen = None if no_weight else weight or default_weight(old_pack, new_pack)
            types = {**old_pack.inputs, **new_pack.inputs}
            clients, unreadable = read_clients(source, types, day, mapping)
            result = run_diff(
                old_pack,
                new_pack,
                clients,
                old_label=old,
                new_label=new,
                as_of=day,
                weight=chosen,
                unreadable=unreadable,
                profile=profile,
            )
        except (RevisionError, DiffError, TierwiseError) as e:  # a source or its mapping too
            raise click.ClickException(str(e)) from None
    data = result.to_dict()
    to_stdout = "-" in (str(json_out), str(html_out))
    say(render_text(data), err=to_stdout)
    if json_out is not None:
        write_file(json_out, orjson.dumps(data, option=orjson.OPT_INDENT_2).decode(), "JSON report")
    if html_out is not None:
        from tierwise.impact.report_html import render

        write_file(html_out, render(data), "HTML report")


def render_text(data: dict[str, Any]) -> str:
    """The diff as text for a terminal: rule changes, matrices, numeric changes."""
    from tierwise.impact.report_html import matrix

    lines = [
        f"{data['old']} -> {data['new']}: {data['clients']:,} clients, as of {data['as_of']}"
        + (f" ({data['unreadable']:,} unreadable rows skipped)" if data["unreadable"] else "")
    ]
    static = {d["decision"]: d for d in data["static"]}
    marks = {"added": "+", "removed": "-", "changed": "~", "moved": "^"}
    for item in sorted(data["impact"], key=lambda i: i["changed"] == 0):
        change = static.get(item["decision"], {"status": "same", "settings": [], "rules": []})
        lines += [
            "",
            f"{item['decision']} ({change['status']}): {item['changed']:,} clients change",
        ]
        lines += [f"  ~ {s}" for s in change["settings"]]
        for c in change["rules"]:
            parts = f" ({', '.join(c['parts'])})" if c["parts"] else ""
            lines.append(f"  {marks.get(c['change'], '?')} rule {c['rule']} {c['change']}{parts}")
            if c["change"] == "changed" and "condition" in c["parts"]:
                lines += [f"      - {c['old']['when']}", f"      + {c['new']['when']}"]
        rows, cols, counts = matrix(item["transitions"])
        if rows and any(b != a for b, a in counts):
            lines.append("")
            if item["per_item"]:
                lines.append("  per item: dropped items go to (none), new ones come from (none)")
            lines += ["  " + line for line in _grid(rows, cols, counts)]
        for n in item["numeric"]:
            if n["before"] == n["after"] and not n["changed_clients"]:
                continue
            text = f"  {n['field']}: total {_num(n['before'])} -> {_num(n['after'])}"
            text += f" ({_signed(n['delta'])})"
            if data["weight"] and n["weighted_before"] is not None:
                wb, wa = n["weighted_before"], n["weighted_after"]
                text += (
                    f"; weighted by {data['weight']}: {_num(wb)} -> {_num(wa)} ({_signed(wa - wb)})"
                )
            lines.append(text)
    return "\n".join(lines)


def _grid(rows: list[str], cols: list[str], counts: dict[tuple[str, str], int]) -> list[str]:
    """The matrix as aligned text."""
    corner = "before \\ after"
    first = max([len(corner), *map(len, rows)])
    widths = [max(len(c), *(len(f"{counts.get((r, c), 0):,}") for r in rows)) for c in cols]
    out = [
        corner.ljust(first)
        + "  "
        + "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
    ]
    for r in rows:
        cells = []
        for c, w in zip(cols, widths, strict=True):
            n = counts.get((r, c), 0)
            cells.append((f"{n:,}" if n else ".").rjust(w))
        out.append(r.ljust(first) + "  " + "  ".join(cells))
    return out


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _num(value)


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    return [diff]
