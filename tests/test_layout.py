"""The core does not reach into its edges: nothing under engine/ imports tierwise.plugins
or tierwise.adapters (they are handed in), and the per-client path loads neither
SQLAlchemy nor click."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
EDGES = ("tierwise.plugins", "tierwise.adapters", "tierwise.service")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_the_core_imports_nothing_from_plugins_or_adapters() -> None:
    reaching = [
        f"{path.relative_to(ENGINE.parent)}:{line}: imports {module}"
        for path in sorted(ENGINE.rglob("*.py"))
        for line, module in _imports(path)
        if module.startswith(EDGES)
    ]
    assert not reaching, "\n".join(reaching)


def test_import_and_from_path_load_neither_sqlalchemy_nor_click() -> None:
    code = (
        "import sys\n"
        "from tierwise import Engine\n"
        f"Engine.from_path({str(ENGINE.parent / 'rules')!r})\n"
        "heavy = ('sqlalchemy', 'click', 'duckdb', 'sqlmodel', 'z3', 'pluggy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
