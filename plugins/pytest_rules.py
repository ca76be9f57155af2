"""pytest plugin: `pytest rules/` collects one test item per case in each rule file.

Only YAML files with a top-level `decision:` or `facts:` key are collected, so other YAML
in a project is left alone. Each file is decided with the pack of its folder, so decisions
that read other decisions see them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tierwise.errors import RulePackError


@cache
def _engine(folder: Path) -> Any:
    from tierwise.plugins.manager import function_registry
    from tierwise.runtime.engine import Engine

    return Engine.from_path(folder, functions=function_registry())


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and _is_rule_file(file_path):
        return RuleFile.from_parent(parent, path=file_path)
    return None


def _is_rule_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            return any(line.startswith(("decision:", "facts:")) for line in f)
    except (OSError, UnicodeDecodeError):
        return False


class RuleFile(pytest.File):
    """A rule file: its `tests:` become items."""

    def collect(self):  # type: ignore[no-untyped-def]
        try:
            engine = _engine(self.path.parent)
        except RulePackError as e:
            yield PackErrorItem.from_parent(self, name="load", error=e)
            return
        from tierwise.testing.rule_tests import cases

        for case in cases(engine):
            if Path(case.file).resolve() == self.path.resolve():
                yield RuleTestItem.from_parent(self, name=case.name, engine=engine, case=case)


class RuleTestFailure(Exception):
    """A rule test whose decision differs from its `expect`."""


class RuleTestItem(pytest.Item):
    def __init__(self, *, engine: Any, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine, self.case = engine, case

    def runtest(self) -> None:
        from tierwise.testing.rule_tests import run_case

        result = run_case(self.engine, self.case)
        if not result.passed:
            raise RuleTestFailure(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RuleTestFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.pos.line - 1, f"{self.case.group}: {self.name}"


class PackErrorItem(pytest.Item):
    """A pack that does not load fails as one item that lists every error."""

    def __init__(self, *, error: RulePackError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)
