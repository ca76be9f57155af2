"""docs/facts.md names every fact and statistic of the shipped packs, and docs/functions.md
every standard function, so that neither page falls behind the code."""

from __future__ import annotations

from pathlib import Path

from tierwise import Engine
from tierwise.stdlib import FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_every_fact_of_the_shipped_packs_is_documented() -> None:
    pack = Engine.from_path(ROOT / "rules").pack
    text = (ROOT / "docs" / "facts.md").read_text()
    names = [*pack.inputs, *(d.name for d in pack.derived), *(s.name for s in pack.profile)]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/facts.md does not document {missing}"


def test_every_standard_function_is_documented() -> None:
    text = (ROOT / "docs" / "functions.md").read_text()
    missing = [f.name for f in FUNCTIONS if f"`{f.name}(" not in text]
    assert not missing, f"docs/functions.md does not document {missing}"
