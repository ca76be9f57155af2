"""How deep an expression nests once the derived facts it reads are written out: the solver
and the SQL compiler inline derived facts, so a chain of shallow ones can still nest past
what they (and Python's stack) hold. One check, for facts files and decisions alike."""

from __future__ import annotations

from collections.abc import MutableMapping

from tierwise.errors import ErrorSink, Pos
from tierwise.lang.expr import Node, names
from tierwise.lang.parse import MAX_DEPTH, depth


def written_out_depth(
    node: Node, written_out: MutableMapping[str, int], pos: Pos, sink: ErrorSink
) -> int:
    """`node`'s nesting with the derived facts in `written_out` counted as deep as they are
    written out; past MAX_DEPTH is reported at `pos`, once, where a chain passes the limit."""
    levels = depth(node, written_out)
    reported = any(written_out.get(n, 0) > MAX_DEPTH for n in names(node))
    if levels > MAX_DEPTH and not reported:
        sink.add(
            pos,
            "expression syntax",
            f"an expression may nest at most {MAX_DEPTH} levels, counting the derived "
            f"facts it reads as written out; this one nests {levels}",
            "compute long chains of derived facts in the source (the CRM's query)",
        )
    return levels
