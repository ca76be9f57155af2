"""tierwise in the peer bench: the per-client path and the batch (SQL on DuckDB) path.

The spec is written as tierwise rule files into a temporary folder. The per-client path
is `Engine.decide_many` over fact dicts; the batch path is `BatchEngine.decide_arrow`
(Arrow table in, Arrow table out) and `BatchEngine.decide_file` (Parquet in, Parquet out).
For the batch path the timed call returns a table; reading the answers back out of it for
the check is not timed.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import tierwise

from .spec import AS_OF, Answer, Spec, tierwise_answer, write_tierwise

_AS_OF = dt.date.fromisoformat(AS_OF)


def _pack(spec: Spec) -> Path:
    return write_tierwise(spec, Path(tempfile.mkdtemp(prefix="tierwise-bench-")))


class TierwiseMany:
    """`Engine.decide_many` over fact dicts, answers read from each Outcome."""

    name = "tierwise decide_many (per client)"
    kind = "dicts"

    def __init__(self, spec: Spec) -> None:
        self.engine = tierwise.Engine.from_path(_pack(spec))
        self.answer = tierwise_answer(spec)

    def run(self, clients: list[dict[str, Any]]) -> list[Answer]:
        answer = self.answer
        return [answer(o) for o in self.engine.decide_many(clients, _AS_OF)]


def table_answers(spec: Spec, table: Any, order: list[str]) -> list[Answer]:
    """Answers from a batch output table (`<decision>__rule`), in the order of client ids given."""
    ids = table.column("client_id").to_pylist()
    columns = []
    for d in spec.decisions:
        rules = table.column(f"{d.name}__rule").to_pylist()
        if d.hit_policy == "collect":
            columns.append([tuple(r.split(";")) if r else () for r in rules])
        else:
            columns.append(rules)
    by_id = dict(zip(ids, zip(*columns, strict=True), strict=True))
    return [by_id.get(cid, ("missing from output",)) for cid in order]


class TierwiseArrow:
    """`BatchEngine.decide_arrow`: an Arrow table of clients in, a table of decisions out."""

    name = "tierwise batch decide_arrow (DuckDB)"
    kind = "arrow"

    def __init__(self, spec: Spec) -> None:
        from tierwise.batch import BatchEngine

        self.spec = spec
        self.engine = BatchEngine.from_path(_pack(spec))

    def run(self, table: Any) -> Any:
        return self.engine.decide_arrow(table, _AS_OF)

    def answers(self, result: Any, order: list[str]) -> list[Answer]:
        return table_answers(self.spec, result, order)


class TierwiseFile:
    """`BatchEngine.decide_file`: Parquet in, Parquet out (process start excluded)."""

    name = "tierwise batch decide_file (Parquet->Parquet)"
    kind = "parquet"

    def __init__(self, spec: Spec) -> None:
        from tierwise.batch import BatchEngine

        self.spec = spec
        self.engine = BatchEngine.from_path(_pack(spec))

    def run(self, in_path: Path) -> Path:
        out_path = in_path.with_name("decisions.parquet")
        self.engine.decide_file(in_path, out_path, _AS_OF)
        return out_path

    def answers(self, result: Path, order: list[str]) -> list[Answer]:
        import pyarrow.parquet as pq

        return table_answers(self.spec, pq.read_table(result), order)
