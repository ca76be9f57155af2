"""`tierwise facts`: what a pack reads, for the team that feeds it. The inputs a source
must give (grouped by the CRM records they come from, each with its type, range, unit,
meaning, the rules that need it and the mapping keys that can feed it), then what the pack
derives from them and the statistics of the base it computes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierwise.catalog import DerivedFact, FactCatalog, InputFact, Statistic, catalog

from .console import paint, say, write_json
from .manager import hookimpl
from .options import JSON_OPTION, RULES_OPTION, default_rules

GROUPS = ("the client record", "orders", "support tickets", "satisfaction surveys")
"""The order in which inputs are shown, by the record they come from."""
SHOWN = 4
"""Rules or decisions named per line (the rest are counted)."""


@click.command("facts")
@RULES_OPTION
@JSON_OPTION
def facts_command(rules: Path | None, as_json: bool) -> None:
    """List what a pack reads: each input with its type, range and unit, where it can come
    from, and what is derived from it.

    The inputs are what your source must give, one value per client (a column of a file
    or of the clients table, or an aggregate over orders, tickets or surveys); derived
    facts and statistics of the base are computed by the pack on every path.
    """
    from .builtin_cli import load_engine

    path = rules or default_rules()
    pack = load_engine(path, as_json).pack
    found = catalog(pack)
    described = [_input_data(fact) for fact in found.inputs]
    if as_json:
        write_json(
            {
                "rules": str(path),
                "pack": pack.hash,
                "inputs": described,
                "derived": [_derived_data(d) for d in found.derived],
                "statistics": [_statistic_data(s) for s in found.statistics],
            }
        )
        return
    _show_inputs(str(path), pack.hash, described, len(found.derived), len(found.statistics))
    _show_derived(found)


def _input_data(fact: InputFact) -> dict[str, Any]:
    """One input as JSON data, with its group and the mapping keys that can feed it."""
    from tierwise.adapters.proposal import aggregate_hint
    from tierwise.adapters.vocabulary import group_of

    t = fact.type
    hint = aggregate_hint(fact)
    feeds: dict[str, Any] = {"column": f"facts: {{{fact.name}: COLUMN}}"}
    if hint is not None:
        spec = ", ".join(f"{k}: {v}" for k, v in hint.items())
        feeds["aggregate"] = f"aggregates: {{{fact.name}: {{{spec}}}}}"
    return {
        "name": fact.name,
        "type": t.kind,
        "enum": list(t.enum) if t.enum is not None else None,
        "min": t.minimum,
        "max": t.maximum,
        "unit": t.unit,
        "description": fact.description,
        "declared_at": str(fact.declared_at),
        "group": group_of(fact.name, fact.description) if hint is not None else GROUPS[0],
        "decisions": list(fact.decisions),
        "derived": list(fact.derived),
        "needed_by": list(fact.needed_by),
        "feeds": feeds,
    }


def _derived_data(d: DerivedFact) -> dict[str, Any]:
    """One derived fact as JSON data."""
    return {
        "name": d.name,
        "type": str(d.type),
        "unit": d.type.unit,
        "formula": d.formula,
        "description": d.description,
        "declared_at": str(d.declared_at),
        "inputs": list(d.inputs),
        "functions": list(d.functions),
        "statistics": list(d.statistics),
        "decision": d.decision,
    }


def _statistic_data(s: Statistic) -> dict[str, Any]:
    """One statistic of the base as JSON data."""
    return {
        "name": s.name,
        "kind": s.kind,
        "computed": s.text,
        "description": s.description,
        "declared_at": str(s.declared_at),
        "inputs": list(s.inputs),
    }


def _listed(names: list[str]) -> str:
    """Names for a line of text: the first few, and how many more."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _type_text(fact: dict[str, Any]) -> str:
    """An input's type in words: its kind or enum, range and unit."""
    if fact["enum"] is not None:
        text = "one of " + ", ".join(fact["enum"])
    else:
        text = fact["type"]
        bounds = [f">= {fact['min']:g}" if fact["min"] is not None else ""]
        bounds.append(f"<= {fact['max']:g}" if fact["max"] is not None else "")
        if any(bounds):
            text += " " + " and ".join(b for b in bounds if b)
    return text + (f", {fact['unit']}" if fact["unit"] else "")


def _show_inputs(
    rules: str, digest: str, inputs: list[dict[str, Any]], derived: int, stats: int
) -> None:
    """The inputs, after a line on the pack, in the groups of GROUPS."""
    used = sum(1 for f in inputs if f["decisions"] or f["derived"])
    say(
        paint(f"The rules in {rules} (pack {digest}) read {len(inputs)} input fact(s)", "heading")
        + f" ({used} used by rules). Your source gives them, one value per client; the pack"
        f" derives {derived} fact(s) and {stats} statistic(s) of the base from them."
    )
    say("A column of the same name needs no mapping; `tierwise map SOURCE` proposes the rest.")
    for group in GROUPS:
        members = [f for f in inputs if f["group"] == group]
        if not members:
            continue
        say()
        say(paint(f"From {group}", "heading"))
        for fact in members:
            _show_input(fact)


def _show_input(fact: dict[str, Any]) -> None:
    """One input: type, meaning, the rules that need it, the mapping keys that feed it."""
    say(f"  {paint(fact['name'], 'place')}  {_type_text(fact)}")
    if fact["description"]:
        say(f"      {fact['description']}")
    if fact["needed_by"]:
        count = len(fact["needed_by"])
        say(f"      {count} rule(s) cannot fire without it: {_listed(fact['needed_by'])}")
    elif fact["decisions"]:
        say(f"      read by {_listed(fact['decisions'])} (no rule needs it alone)")
    elif fact["derived"]:
        say(f"      read by {_listed(fact['derived'])}")
    else:
        say("      no rule reads it yet")
    feeds = fact["feeds"]
    say(f"      from: a column ({feeds['column']})")
    if "aggregate" in feeds:
        say(f"            or, in a database, {feeds['aggregate']}")


def _show_derived(found: FactCatalog) -> None:
    """The derived facts and statistics, each with the inputs it comes from."""
    say()
    say(paint("Derived by the pack for every client, on every path", "heading"))
    for d in found.derived:
        owner = f" [{d.decision}]" if d.decision else ""
        say(f"  {paint(d.name, 'place')}{owner} = {d.formula}")
        if d.description:
            say(f"      {d.description}")
        sources = f"from {_listed(list(d.inputs))}" if d.inputs else "from no input"
        if d.statistics:
            sources += f"; statistics {', '.join(d.statistics)}"
        say(f"      {sources}")
    if found.statistics:
        say()
        say(paint("Statistics of the whole base, computed once per run", "heading"))
        for s in found.statistics:
            say(f"  {paint(s.name, 'place')} = {s.text}")
            say(f"      from {_listed(list(s.inputs))}")


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    """The `facts` command, through the same hook as a plugin's commands."""
    return [facts_command]
