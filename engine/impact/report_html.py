"""The diff as one self-contained HTML page: transition matrices, bar charts (inline SVG),
numeric changes, rule changes and example clients. Nothing is fetched from the network:
CSS, SVG and the little script are inline, and a Content-Security-Policy forbids the rest.
"""

from __future__ import annotations

import html
from typing import Any

CSS = """
:root { --ink:#1f2430; --muted:#6b7280; --line:#e5e7eb; --up:#2563eb; --down:#dc2626;
        --same:#9ca3af; --add:#15803d; --del:#b91c1c; --chg:#b45309; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: #f8fafc; }
header { background: #111827; color: #f9fafb; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #d1d5db; }
header code { background: #374151; color: #f9fafb; }
main { padding: 20px 28px; max-width: 1200px; }
section.decision { background: #fff; border: 1px solid var(--line); border-radius: 8px;
                   padding: 16px 20px; margin-bottom: 20px; }
h2 { margin: 0 0 8px; font-size: 18px; }
h3 { margin: 16px 0 6px; font-size: 14px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         margin-left: 8px; vertical-align: middle; background: #eef2ff; color: #3730a3; }
.badge.same { background: #f3f4f6; color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px;
        min-width: 170px; }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); }
table { border-collapse: collapse; }
table.matrix td, table.matrix th { border: 1px solid var(--line); padding: 4px 10px;
                                   text-align: right; min-width: 64px; }
table.matrix th { background: #f9fafb; font-weight: 600; }
table.matrix th.corner { text-align: left; color: var(--muted); font-weight: 400; }
table.matrix td.diag { color: var(--muted); }
table.matrix td.zero { color: #d1d5db; }
table.matrix tr:hover th, table.matrix td.hover { outline: 2px solid #93c5fd; }
table.plain td, table.plain th { border-bottom: 1px solid var(--line); padding: 4px 10px;
                                 text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.pos { color: var(--up); } .neg { color: var(--down); }
ul.changes { list-style: none; padding: 0; margin: 0; }
ul.changes li { padding: 3px 0; }
.mark { display: inline-block; width: 1.4em; font-weight: 700; }
.added .mark { color: var(--add); } .removed .mark { color: var(--del); }
.changed .mark, .moved .mark { color: var(--chg); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f4f6;
       padding: 1px 4px; border-radius: 4px; }
.old code { text-decoration: line-through; color: var(--del); }
.new code { color: var(--add); }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.scroll { overflow-x: auto; max-width: 100%; }
details { margin: 4px 0; } summary { cursor: pointer; }
.muted { color: var(--muted); }
"""

SCRIPT = """
document.querySelectorAll("table.matrix td").forEach(function (cell) {
  cell.addEventListener("mouseenter", function () {
    var col = cell.cellIndex, table = cell.closest("table");
    table.querySelectorAll("tr").forEach(function (row) {
      if (row.cells[col]) { row.cells[col].classList.add("hover"); }
    });
  });
  cell.addEventListener("mouseleave", function () {
    cell.closest("table").querySelectorAll(".hover").forEach(function (c) {
      c.classList.remove("hover");
    });
  });
});
document.body.setAttribute("data-ready", "yes");
"""

OTHER = "(other)"
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def matrix(
    transitions: list[dict[str, Any]], limit: int = 12
) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """Row labels (before), column labels (after) and counts of a transition list. Rows and
    columns share one order (most clients first), so unchanged clients form the diagonal;
    past `limit` labels, the rarest are summed into OTHER."""
    totals: dict[str, int] = {}
    for t in transitions:
        totals[t["before"]] = totals.get(t["before"], 0) + t["count"]
        totals[t["after"]] = totals.get(t["after"], 0) + t["count"]
    labels = sorted(totals, key=lambda k: (-totals[k], k))
    kept = set(labels if len(labels) <= limit else labels[: limit - 1])
    counts: dict[tuple[str, str], int] = {}
    for t in transitions:
        key = (_keep(t["before"], kept), _keep(t["after"], kept))
        counts[key] = counts.get(key, 0) + t["count"]
    order = [k for k in labels if k in kept] + ([OTHER] if len(kept) < len(labels) else [])
    rows = [k for k in order if any(b == k for b, _ in counts)]
    cols = [k for k in order if any(a == k for _, a in counts)]
    return rows, cols, counts


def _keep(label: str, kept: set[str]) -> str:
    return label if label in kept else OTHER


def render(data: dict[str, Any]) -> str:
    """The whole page for a diff's data (`Diff.to_dict()`)."""
    e = html.escape
    static = {d["decision"]: d for d in data["static"]}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>tierwise diff: {e(data['old'])} → {e(data['new'])}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>Impact of a rule change</h1>",
        f"<p><code>{e(data['old'])}</code> → <code>{e(data['new'])}</code> · "
        f"{data['clients']:,} clients · as of {e(data['as_of'])}"
        + (f" · {data['unreadable']:,} unreadable rows skipped" if data["unreadable"] else "")
        + f" · decided by {e(data['engines']['old'])} / {e(data['engines']['new'])}</p></header>",
        "<main>",
        _cards(data),
    ]
    for item in sorted(data["impact"], key=lambda i: i["changed"] == 0):
        parts.append(_decision(item, static.get(item["decision"]), data))
    parts += ["</main>", f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)


def _cards(data: dict[str, Any]) -> str:
    total = max(data["clients"], 1)
    cards = []
    for item in data["impact"]:
        pct = 100 * item["changed"] / total
        cards.append(
            f'<div class="card"><span>{html.escape(item["decision"])}</span>'
            f"<b>{item['changed']:,}</b><span>clients change ({pct:.1f}%)</span></div>"
        )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _decision(item: dict[str, Any], static: dict[str, Any] | None, data: dict[str, Any]) -> str:
    e = html.escape
    name = item["decision"]
    status = static["status"] if static else "same"
    out = [
        f'<section class="decision" id="decision-{e(name)}">',
        f'<h2>{e(name)}<span class="badge {e(status)}">{e(status)}</span></h2>',
        f'<p class="muted">{item["changed"]:,} of {data["clients"]:,} clients change'
        + (f" {e(item['field'])}" if item["field"] else "")
        + "</p>",
    ]
    if static and (static["rules"] or static["settings"]):
        out.append("<h3>Rule changes</h3>" + _changes(static))
    if not item["changed"]:
        out.append("</section>")
        return "\n".join(out)
    out.append("<h3>Transition matrix (rows: before, columns: after)</h3>")
    if item["per_item"]:
        out.append(
            '<p class="muted">Counted per item: kept items on the diagonal, dropped items '
            "in column (none), new items in row (none).</p>"
        )
    out.append(_matrix(item))
    out.append('<div class="charts">' + _bars(item) + _numeric_chart(item) + "</div>")
    if item["numeric"]:
        out.append("<h3>Numeric outputs</h3>" + _numeric(item, data.get("weight")))
    moved = [t for t in item["transitions"] if t["before"] != t["after"] and t["examples"]]
    if moved:
        out.append("<h3>Example clients</h3>" + "".join(_examples(t) for t in moved))
    out.append("</section>")
    return "\n".join(out)


def _changes(static: dict[str, Any]) -> str:
    e = html.escape
    marks = {"added": "+", "removed": "\u2212", "changed": "~", "moved": "\u2195"}
    items = [
        f'<li class="changed"><span class="mark">~</span>{e(s)}</li>' for s in static["settings"]
    ]
    for c in static["rules"]:
        kind = c["change"]
        text = (
            f'<span class="mark">{marks.get(kind, "?")}</span>rule <b>{e(c["rule"])}</b> {e(kind)}'
        )
        if c["parts"]:
            text += " (" + e(", ".join(c["parts"])) + ")"
        view_old, view_new = c.get("old"), c.get("new")
        if kind == "changed" and view_old and view_new:
            if "condition" in c["parts"]:
                text += f'<div class="old"><code>{e(view_old["when"])}</code></div>'
                text += f'<div class="new"><code>{e(view_new["when"])}</code></div>'
            if "outputs" in c["parts"]:
                text += f'<div class="old"><code>{e(_show(view_old["then"]))}</code></div>'
                text += f'<div class="new"><code>{e(_show(view_new["then"]))}</code></div>'
        elif kind in ("added", "removed"):
            view = view_new or view_old or {}
            when, then = e(view.get("when", "")), e(_show(view.get("then", {})))
            text += f" <code>{when}</code> → <code>{then}</code>"
        items.append(f'<li class="{e(kind)}">{text}</li>')
    return '<ul class="changes">' + "".join(items) + "</ul>"


def _show(outputs: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in outputs.items()) + "}"


def _matrix(item: dict[str, Any]) -> str:
    e = html.escape
    rows, cols, counts = matrix(item["transitions"])
    top = max((n for (b, a), n in counts.items() if b != a), default=0)
    head = '<tr><th class="corner">before \\ after</th>' + "".join(f"<th>{e(c)}</th>" for c in cols)
    head += "<th>total</th></tr>"
    body = []
    for r in rows:
        cells = []
        for c in cols:
            n = counts.get((r, c), 0)
            if n == 0:
                cells.append('<td class="zero">0</td>')
            elif r == c:
                cells.append(f'<td class="diag">{n:,}</td>')
            else:
                alpha = 0.15 + 0.6 * n / top if top else 0.15
                cells.append(f'<td style="background: rgba(37,99,235,{alpha:.2f})">{n:,}</td>')
        total = sum(counts.get((r, c), 0) for c in cols)
        body.append(f"<tr><th>{e(r)}</th>{''.join(cells)}<td>{total:,}</td></tr>")
    table = (
        f'<table class="matrix" data-decision="{e(item["decision"])}">{head}{"".join(body)}</table>'
    )
    return f'<div class="scroll">{table}</div>'


def _bars(item: dict[str, Any]) -> str:
    """Clients per result before (grey) and after (blue), as horizontal bars."""
    e = html.escape
    rows, cols, counts = matrix(item["transitions"])
    labels = list(dict.fromkeys(rows + cols))
    before = {k: sum(n for (b, _), n in counts.items() if b == k) for k in labels}
    after = {k: sum(n for (_, a), n in counts.items() if a == k) for k in labels}
    top = max([*before.values(), *after.values(), 1])
    unit = "items given" if item["per_item"] else "clients"
    width, left, bar = 520, 140, 12
    height = 30 + len(labels) * (2 * bar + 10)
    out = [
        f'<svg class="chart" role="img" aria-label="clients per result" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" font-size="12" fill="#6b7280">{unit} per result: '
        '<tspan fill="#9ca3af">■ before</tspan> <tspan fill="#2563eb">■ after</tspan></text>',
    ]
    y = 26
    scale = (width - left - 60) / top
    for k in labels:
        out.append(
            f'<text x="{left - 6}" y="{y + bar + 4}" font-size="12" text-anchor="end">{e(k)}</text>'
        )
        for value, color in ((before[k], "#9ca3af"), (after[k], "#2563eb")):
            w = max(value * scale, 1 if value else 0)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}"/>')
            out.append(
                f'<text x="{left + w + 4:.1f}" y="{y + bar - 2}" font-size="11">{value:,}</text>'
            )
            y += bar
        y += 10
    out.append("</svg>")
    return "".join(out)


def _numeric_chart(item: dict[str, Any]) -> str:
    """Each numeric output's total before and after, as vertical bar pairs."""
    e = html.escape
    fields = item["numeric"]
    if not fields:
        return ""
    width, height, pad = 120 + 140 * len(fields), 220, 30
    top = max([abs(n["before"]) for n in fields] + [abs(n["after"]) for n in fields] + [1])
    scale = (height - 2 * pad - 20) / top
    out = [
        f'<svg class="chart" role="img" aria-label="numeric outputs" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        '<text x="0" y="14" font-size="12" fill="#6b7280">'
        "total per output, before and after</text>",
    ]
    base = height - pad
    out.append(f'<line x1="20" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#d1d5db"/>')
    for i, n in enumerate(fields):
        x = 40 + i * 140
        for j, (value, color) in enumerate(((n["before"], "#9ca3af"), (n["after"], "#2563eb"))):
            h = abs(value) * scale
            y = base - h if value >= 0 else base
            out.append(
                f'<rect x="{x + j * 34}" y="{y:.1f}" width="30" height="{h:.1f}" fill="{color}"/>'
            )
            out.append(
                f'<text x="{x + j * 56 + 25}" y="{(y - 4) if value >= 0 else (y + h + 12):.1f}" '
                f'font-size="10" text-anchor="middle">{_num(value)}</text>'
            )
        out.append(
            f'<text x="{x + 53}" y="{base + 16}" font-size="12" text-anchor="middle">'
            f"{e(n['field'])}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _numeric(item: dict[str, Any], weight: str | None) -> str:
    e = html.escape
    head = "<tr><th>output</th><th class='num'>total before</th><th class='num'>after</th>"
    head += "<th class='num'>change</th><th class='num'>clients changed</th>"
    if weight:
        head += f"<th class='num'>weighted by {e(weight)}: before</th><th class='num'>after</th>"
        head += "<th class='num'>change</th>"
    rows = []
    for n in item["numeric"]:
        cells = f"<td>{e(n['field'])}</td><td class='num'>{_num(n['before'])}</td>"
        cells += f"<td class='num'>{_num(n['after'])}</td>{_delta(n['delta'])}"
        cells += f"<td class='num'>{n['changed_clients']:,}</td>"
        if weight:
            wb, wa = n["weighted_before"] or 0.0, n["weighted_after"] or 0.0
            cells += (
                f"<td class='num'>{_num(wb)}</td><td class='num'>{_num(wa)}</td>{_delta(wa - wb)}"
            )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="plain numeric">{head}{"".join(rows)}</table>'


def _examples(t: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for ex in t["examples"]:
        facts = ", ".join(f"{k}={v}" for k, v in ex["facts"].items())
        before = e(", ".join(ex["rules_before"]) or "-")
        after = e(", ".join(ex["rules_after"]) or "-")
        rows.append(
            f"<tr><td>{e(str(ex['client_id']))}</td><td>{before}</td><td>{after}</td>"
            f"<td><code>{e(facts)}</code></td></tr>"
        )
    summary = f"{e(t['before'])} → {e(t['after'])}: {t['count']:,} clients"
    head = "<tr><th>client</th><th>rule before</th><th>rule after</th><th>facts</th></tr>"
    table = f'<table class="plain">{head}{"".join(rows)}</table>'
    return f"<details><summary>{summary}</summary>{table}</details>"


def _num(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _delta(value: float) -> str:
    cls = "pos" if value > 0 else "neg" if value < 0 else ""
    sign = "+" if value > 0 else ""
    return f"<td class='num {cls}'>{sign}{_num(value)}</td>"
