"""Writing a proposed mapping (tierwise.adapters.proposal) as a commented mapping file:
every entry with how sure the proposal is and why, the facts not found as commented-out
entries naming the rules that cannot fire without them, and the columns nothing reads.
The file is plain mapping YAML (docs/mapping.md), read back by `load_mapping` unchanged."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from tierwise.catalog import InputFact

from .proposal import MappingProposal, Proposal

WIDTH = 96
"""Comments are wrapped to this many characters."""
RULES_SHOWN = 3
"""Rules named per missing fact (the rest are counted)."""


def render_mapping(
    proposal: MappingProposal, *, rules: str, rules_flag: str | None, out: str | None
) -> str:
    """The mapping file's text; `rules` (the pack's path), `rules_flag` (the --rules given,
    if any) and `out` (the file) are for the comments that say how to run with it."""
    header = _header(proposal, rules, rules_flag, out)
    data = _document(proposal)
    buffer = io.StringIO()
    if data:
        data.yaml_set_start_comment(header)
        yaml = YAML()
        yaml.width = 4096  # an entry on one line, its comment above it
        yaml.indent(mapping=2, sequence=4, offset=2)
        yaml.dump(data, buffer)
    else:  # nothing found: still a mapping file (the defaults), saying so
        buffer.write("".join(f"# {line}\n" for line in header.splitlines()) + "{}\n")
    return buffer.getvalue() + _missing_block(proposal) + _unused_block(proposal)


def _document(proposal: MappingProposal) -> CommentedMap:
    """The mapping's keys (`clients`, `facts`, `aggregates`), each entry with its comment."""
    data = CommentedMap()
    clients = CommentedMap()
    if proposal.clients_table is not None:
        clients["table"] = proposal.clients_table
    if proposal.id_column is not None:
        clients["id"] = proposal.id_column
        _note(clients, "id", proposal.id_reason)
    if clients:
        data["clients"] = clients
    facts, aggregates = CommentedMap(), CommentedMap()
    for p in proposal.proposals:
        if p.column is not None:
            facts[p.fact] = p.column
            _note(facts, p.fact, _why(p))
        else:
            spec = dict(p.aggregate or {})
            if "where" in spec:
                spec["where"] = _flow(spec["where"])
            aggregates[p.fact] = _flow(spec)
            _note(aggregates, p.fact, _why(p))
    where = proposal.clients_table or "the file"
    for key, entries, note in (
        ("facts", facts, f"fact: the column of {where} that holds it"),
        ("aggregates", aggregates, "fact: an aggregate over a related table, per client"),
    ):
        if entries:
            data[key] = entries
            _note(data, key, note, indent=0)
    return data


def _note(mapping: CommentedMap, key: str, text: str, indent: int = 2) -> None:
    """A comment above `key`, wrapped to the width of a terminal."""
    lines = textwrap.wrap(text, WIDTH - indent - 2, break_on_hyphens=False)
    mapping.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=indent)


def _flow(values: dict[str, Any]) -> CommentedMap:
    """A mapping written on one line (`{table: orders, function: count}`)."""
    flow = CommentedMap(values)
    flow.fa.set_flow_style()
    return flow


def _why(p: Proposal) -> str:
    """A proposal's comment: how sure, and why."""
    return f"{p.confidence}: " + "; ".join(p.reasons)


def _header(proposal: MappingProposal, rules: str, rules_flag: str | None, out: str | None) -> str:
    """The file's opening comment: what it maps, how it was made, how to run with it."""
    source = proposal.source
    sampled = ", ".join(f"{t.name} ({t.rows} rows)" for t in source.tables)
    run = f"tierwise run --source {source.url} --mapping {out or 'mapping.yaml'}"
    if rules_flag:
        run += f" --rules {rules_flag}"
    text = (
        f"How {source.url} feeds the facts of the rules in {rules}, "
        f"proposed by `tierwise map` from the source's names, types and sampled values "
        f"(sampled: {sampled}). Each entry says how sure it is (sure, likely, a guess) and "
        f"why: check them, add what was not found, then run:"
    )
    lines = textwrap.wrap(text, WIDTH - 2, break_on_hyphens=False)
    lines += [f"  {run}", "The keys of this file: docs/mapping.md; the facts: `tierwise facts`."]
    return "\n".join(lines)


def _missing_block(proposal: MappingProposal) -> str:
    """The closing comment on the facts not found, each with what it is needed for."""
    if not proposal.missing:
        return ""
    how = "a column (facts:)" + (
        " or an aggregate (aggregates:)" if proposal.clients_table is not None else ""
    )
    lines = [
        "",
        f"# Not found in {proposal.source.url}: each is missing for every client",
        f"# until {how} feeds it; add `fact: COLUMN` under facts: for those you have.",
    ]
    for fact in proposal.missing:
        wrapped = textwrap.wrap(_missing_line(fact), WIDTH - 4, subsequent_indent="    ")
        lines += [f"#   {line}" for line in wrapped]
    return "\n".join(lines) + "\n"


def _missing_line(fact: InputFact) -> str:
    """One fact not found: its type, and the rules that cannot fire without it."""
    kind = f"{fact.type}" + (f", {fact.type.unit}" if fact.type.unit else "")
    if fact.needed_by:
        shown = ", ".join(fact.needed_by[:RULES_SHOWN])
        more = (
            f" and {len(fact.needed_by) - RULES_SHOWN} more"
            if len(fact.needed_by) > RULES_SHOWN
            else ""
        )
        effect = f"{len(fact.needed_by)} rule(s) cannot fire without it: {shown}{more}"
    elif fact.used:
        effect = f"read by {', '.join(fact.decisions or fact.derived[:RULES_SHOWN])}"
    else:
        effect = "no rule reads it yet"
    return f"{fact.name} ({kind}): {effect}"


def _unused_block(proposal: MappingProposal) -> str:
    """The closing comment on the columns that feed no fact."""
    if not proposal.unused_columns:
        return ""
    return f"\n# Columns no fact reads: {', '.join(proposal.unused_columns)}\n"
