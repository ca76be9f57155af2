"""The HTML diff report: self-contained, and checked in a real headless browser (Debian's
chromium): it loads without console errors, runs its script, and shows the matrix."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tierwise.impact.impact import diff
from tierwise.impact.report_html import matrix, render
from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]
RULES = """
decision: tier
hit_policy: first
inputs:
  clv: {type: number, min: 0}
  revenue_12m: {type: number, min: 0}
rules:
  - {id: gold, when: clv >= LIMIT, then: {tier: gold, discount_pct: 10}}
  - {id: silver, when: clv >= 1000, then: {tier: silver, discount_pct: 5}}
default: {tier: "<standard>", discount_pct: 0}
"""


@pytest.fixture
def report(tmp_path: Path) -> dict[str, object]:
    packs = []
    for name, limit in (("old", "10000"), ("new", "5000")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "tier.yaml").write_text(textwrap.dedent(RULES.replace("LIMIT", limit)), "utf-8")
        packs.append(load_pack(folder, function_registry()))
    clients = [
        {"client_id": f"c{i}", "clv": float(clv), "revenue_12m": 100.0}
        for i, clv in enumerate([500, 2000, 6000, 7000, 12000, 8000, 800])
    ]
    result = diff(*packs, clients, old_label="old", new_label="new", as_of=dt.date(2026, 1, 1))
    return result.to_dict()


def test_the_page_is_self_contained_and_escaped(report: dict[str, object]) -> None:
    page = render(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "&lt;standard&gt;" in page and "<standard>" not in page
    assert "Content-Security-Policy" in page


def test_matrix_keeps_one_order_and_folds_rare_labels() -> None:
    transitions = [
        {"before": "a", "after": "b", "count": 5},
        {"before": "b", "after": "b", "count": 3},
        {"before": "c", "after": "d", "count": 1},
    ]
    rows, cols, counts = matrix(transitions)
    assert rows == ["b", "a", "c"] and cols == ["b", "d"]
    rows, cols, counts = matrix(transitions, limit=2)
    assert rows == ["b", "(other)"] and counts[("(other)", "b")] == 5
    assert counts[("(other)", "(other)")] == 1


def run_chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_the_report_loads_in_chromium_and_shows_the_matrix(
    report: dict[str, object], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(report), encoding="utf-8")
    done = run_chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    dom = done.stdout
    assert 'data-ready="yes"' in dom  # the inline script ran to its end
    table = re.search(r'<table class="matrix" data-decision="tier">(.*?)</table>', dom, re.S)
    assert table is not None
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table.group(1))
    # gold and silver tie at 5 clients before + after, so they sort by name
    assert cells[:5] == ["before \\ after", "gold", "silver", "&lt;standard&gt;", "total"]
    silver_row = cells[cells.index("silver", 5) :][:5]
    assert silver_row == ["silver", "3", "1", "0", "4"]  # 3 silver clients become gold
    shot = tmp_path / "report.png"
    done = run_chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1400")
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_the_browser_check_sees_errors_and_blocked_fetches(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    csp = "default-src 'none'; script-src 'unsafe-inline'"
    page.write_text(
        f'<html><head><meta http-equiv="Content-Security-Policy" content="{csp}"></head>'
        '<body><img src="https://example.com/x.png"><script>missing();</script></body></html>',
        encoding="utf-8",
    )
    messages = console_messages(run_chromium(page, tmp_path, "--dump-dom").stderr)
    assert any("Uncaught ReferenceError" in m for m in messages)
    assert any("Content Security Policy" in m for m in messages)
