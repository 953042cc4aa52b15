"""The analyst report: the latest month's KPIs and a one-page, self-contained HTML file.

Charts are inline SVG drawn here (no JavaScript, no CDN, nothing fetched), so the page opens offline
and can be mailed as an attachment. Each chart's numbers are also embedded as JSON
(`<script type="application/json" id="data-...">`) for anyone who wants the figures behind a bar.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cashbook.money import to_major_str

MOVEMENTS = [("previous_mrr", "Previous"), ("new_mrr", "New"), ("reactivation_mrr", "Reactivation"),
             ("expansion_mrr", "Expansion"), ("contraction_mrr", "Contraction"), ("churned_mrr", "Churn"),
             ("mrr", "Current")]
_NEGATIVE = {"contraction_mrr", "churned_mrr"}
REVENUE_DAYS = 60


class ReportError(RuntimeError):
    """The marts needed for the report are missing or empty."""


@dataclass
class CurrencyKpis:
    currency: str
    values: dict[str, Any]

    def money(self, key: str) -> str:
        v = self.values.get(key)
        return "-" if v is None else to_major_str(int(v), self.currency)

    def rate(self, key: str) -> str:
        v = self.values.get(key)
        return "-" if v is None else f"{v * 100:.2f} %"


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(query, params or [])
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date:
    try:
        row = con.execute("SELECT max(month) FROM marts.mrr_monthly").fetchone()
    except duckdb.CatalogException:
        raise ReportError("marts.mrr_monthly does not exist: run the pipeline (or pass --stripe DIR)") from None
    if not row or row[0] is None:
        raise ReportError("marts.mrr_monthly is empty: no subscription revenue to report yet")
    return row[0]


def kpis(con: duckdb.DuckDBPyConnection, month: dt.date) -> list[CurrencyKpis]:
    """One KPI set per currency for `month` (MRR, movements, churn rates, revenue, payment health)."""
    rows = _rows(con, """
        SELECT m.currency, m.mrr, m.arr, m.customers, m.arpa, m.previous_mrr, m.new_mrr, m.expansion_mrr,
               m.contraction_mrr, m.churned_mrr, m.reactivation_mrr,
               m.new_mrr + m.expansion_mrr + m.reactivation_mrr - m.contraction_mrr - m.churned_mrr AS net_new_mrr,
               c.customer_churn_rate, c.gross_mrr_churn_rate, c.net_mrr_churn_rate,
               r.gross, r.refunds, r.disputes, r.fees, r.net,
               p.attempts, p.succeeded,
               CASE WHEN p.attempts > 0 THEN p.succeeded / p.attempts END AS payment_success_rate
        FROM marts.mrr_monthly m
        LEFT JOIN marts.churn_monthly c USING (month, currency)
        LEFT JOIN marts.revenue_monthly r USING (month, currency)
        LEFT JOIN (SELECT date_trunc('month', day)::DATE AS month, currency, sum(attempts) AS attempts,
                          sum(succeeded) AS succeeded
                   FROM marts.payment_health_daily GROUP BY ALL) p USING (month, currency)
        WHERE m.month = ?
        ORDER BY m.currency""", [month])
    return [CurrencyKpis(r.pop("currency"), r) for r in rows]


# --- SVG -------------------------------------------------------------------------------------------

def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _waterfall_svg(k: CurrencyKpis, width: int = 560, height: int = 260) -> str:
    """Previous MRR, each movement as a floating bar, current MRR; green up, red down."""
    steps: list[tuple[str, str, int, int]] = []  # key, label, bottom, top
    level = 0
    for key, label in MOVEMENTS:
        v = int(k.values.get(key) or 0)
        if key in ("previous_mrr", "mrr"):
            steps.append((key, label, 0, v))
            level = v
        elif key in _NEGATIVE:
            steps.append((key, label, level - v, level))
            level -= v
        else:
            steps.append((key, label, level, level + v))
            level += v
    top = max([s[3] for s in steps] + [1])
    pad, base = 30, height - 40
    bw = (width - 2 * pad) / len(steps)
    parts = [f'<svg class="chart waterfall" data-currency="{_esc(k.currency)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="MRR movements {_esc(k.currency)}">']
    for i, (key, label, lo, hi) in enumerate(steps):
        y_hi = base - (hi / top) * (base - pad)
        y_lo = base - (lo / top) * (base - pad)
        color = "#4a6fa5" if key in ("previous_mrr", "mrr") else ("#c0504d" if key in _NEGATIVE else "#4f9a5a")
        x = pad + i * bw + 4
        amount = int(k.values.get(key) or 0)
        parts.append(f'<rect x="{x:.1f}" y="{y_hi:.1f}" width="{bw - 8:.1f}" height="{max(y_lo - y_hi, 1):.1f}" '
                     f'fill="{color}" data-key="{key}" data-amount="{amount}"><title>{_esc(label)}: '
                     f'{_esc(to_major_str(amount, k.currency))}</title></rect>')
        parts.append(f'<text x="{x + (bw - 8) / 2:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">'
                     f'{_esc(label)}</text>')
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#888"/></svg>')
    return "".join(parts)


def _bars_svg(points: list[tuple[str, int]], css: str, currency: str, width: int = 760, height: int = 220) -> str:
    top = max([v for _, v in points] + [1])
    bottom = min([v for _, v in points] + [0])
    span = (top - bottom) or 1
    pad, base_h = 30, height - 30
    bw = (width - 2 * pad) / max(len(points), 1)
    zero_y = pad + (top / span) * (base_h - pad)
    parts = [f'<svg class="chart {css}" data-currency="{_esc(currency)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, (label, v) in enumerate(points):
        y = pad + ((top - max(v, 0)) / span) * (base_h - pad)
        h = abs(v) / span * (base_h - pad)
        parts.append(f'<rect x="{pad + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" height="{max(h, 0.5):.1f}" '
                     f'fill="{"#4a6fa5" if v >= 0 else "#c0504d"}" data-label="{_esc(label)}" data-amount="{v}">'
                     f'<title>{_esc(label)}: {_esc(to_major_str(v, currency))}</title></rect>')
    if points:
        parts.append(f'<text x="{pad}" y="{height - 8}" font-size="10">{_esc(points[0][0])}</text>')
        parts.append(f'<text x="{width - pad}" y="{height - 8}" font-size="10" text-anchor="end">'
                     f'{_esc(points[-1][0])}</text>')
    parts.append(f'<line x1="{pad}" y1="{zero_y:.1f}" x2="{width - pad}" y2="{zero_y:.1f}" stroke="#888"/></svg>')
    return "".join(parts)


def _lines_svg(series: dict[str, list[tuple[str, float | None]]], currency: str, width: int = 760,
               height: int = 220) -> str:
    colors = ["#c0504d", "#4a6fa5", "#4f9a5a"]
    values = [v for pts in series.values() for _, v in pts if v is not None]
    top = max([*values, 0.01])
    bottom = min([*values, 0.0])
    span = (top - bottom) or 1
    pad = 30
    n = max((len(p) for p in series.values()), default=1)
    step = (width - 2 * pad) / max(n - 1, 1)
    parts = [f'<svg class="chart churn" data-currency="{_esc(currency)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for (name, pts), color in zip(series.items(), colors, strict=False):
        coords = [(pad + i * step, pad + (top - v) / span * (height - 2 * pad), label, v)
                  for i, (label, v) in enumerate(pts) if v is not None]
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}" '
                         f'data-series="{_esc(name)}"/>')
            for x, y, label, v in coords:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{_esc(name)} '
                             f'{_esc(label)}: {v * 100:.2f} %</title></circle>')
        parts.append(f'<text x="{width - pad}" y="{pad + 12 * (list(series).index(name))}" font-size="10" '
                     f'text-anchor="end" fill="{color}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- page ------------------------------------------------------------------------------------------

def chart_data(con: duckdb.DuckDBPyConnection, month: dt.date) -> dict[str, Any]:
    """The numbers behind every chart, keyed by chart then currency (also embedded in the page)."""
    waterfall = {k.currency: {key: int(k.values.get(key) or 0) for key, _ in MOVEMENTS} for k in kpis(con, month)}
    since = month - dt.timedelta(days=REVENUE_DAYS)
    revenue: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(con, "SELECT day, currency, gross, net FROM marts.revenue_daily WHERE day >= ? ORDER BY day",
                   [since]):
        revenue.setdefault(r["currency"], []).append({"day": r["day"].isoformat(), "gross": int(r["gross"]),
                                                      "net": int(r["net"])})
    churn: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(con, "SELECT month, currency, customer_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate "
                        "FROM marts.churn_monthly WHERE month <= ? ORDER BY month", [month]):
        churn.setdefault(r["currency"], []).append({
            "month": r["month"].strftime("%Y-%m"), "customer_churn_rate": r["customer_churn_rate"],
            "gross_mrr_churn_rate": r["gross_mrr_churn_rate"], "net_mrr_churn_rate": r["net_mrr_churn_rate"]})
    return {"month": month.strftime("%Y-%m"), "mrr_waterfall": waterfall, "revenue_by_day": revenue,
            "churn_trend": churn}


def _json_block(name: str, data: Any) -> str:
    text = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    return f'<script type="application/json" id="data-{name}">{text}</script>'


def render_html(con: duckdb.DuckDBPyConnection, month: dt.date | None = None) -> str:
    month = month or latest_month(con)
    data = chart_data(con, month)
    sets = kpis(con, month)
    kpi_rows = "".join(
        f"<tr><td>{_esc(k.currency)}</td><td>{k.money('mrr')}</td><td>{k.values['customers']}</td>"
        f"<td>{k.money('arpa')}</td><td>{k.money('net_new_mrr')}</td><td>{k.rate('customer_churn_rate')}</td>"
        f"<td>{k.rate('gross_mrr_churn_rate')}</td><td>{k.rate('net_mrr_churn_rate')}</td><td>{k.money('gross')}</td>"
        f"<td>{k.money('net')}</td><td>{k.rate('payment_success_rate')}</td></tr>" for k in sets)
    sections = []
    for k in sets:
        sections.append(f"<h3>MRR movements, {month:%Y-%m} ({_esc(k.currency)})</h3>{_waterfall_svg(k)}")
    for cur, pts in sorted(data["revenue_by_day"].items()):
        sections.append(f"<h3>Gross revenue by day, last {REVENUE_DAYS} days ({_esc(cur)}, settlement)</h3>"
                        + _bars_svg([(p["day"], p["gross"]) for p in pts], "revenue", cur))
    for cur, pts in sorted(data["churn_trend"].items()):
        series = {label: [(p["month"], p[key]) for p in pts] for key, label in (
            ("customer_churn_rate", "customer churn"), ("gross_mrr_churn_rate", "gross MRR churn"),
            ("net_mrr_churn_rate", "net MRR churn"))}
        sections.append(f"<h3>Churn trend ({_esc(cur)})</h3>" + _lines_svg(series, cur))
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>cashbook report {month:%Y-%m}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
        "h3{margin:20px 0 4px;font-size:15px}</style></head><body>"
        f"<h1>cashbook: {month:%B %Y}</h1><p>Amounts in each currency's major units; currencies are never mixed. "
        f"Generated {generated}. Definitions: docs/metrics.md.</p>"
        "<table><tr><th>currency</th><th>MRR</th><th>customers</th><th>ARPA</th><th>net new MRR</th>"
        "<th>customer churn</th><th>gross MRR churn</th><th>net MRR churn</th><th>gross revenue</th>"
        f"<th>net revenue</th><th>payment success</th></tr>{kpi_rows}</table>"
        + "".join(sections)
        + _json_block("mrr-waterfall", data["mrr_waterfall"]) + _json_block("revenue-by-day", data["revenue_by_day"])
        + _json_block("churn-trend", data["churn_trend"]) + "</body></html>"
    )


def write_report(con: duckdb.DuckDBPyConnection, reports_dir: Path, month: dt.date | None = None) -> Path:
    month = month or latest_month(con)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"report-{month:%Y-%m}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(con, month), encoding="utf-8")
    tmp.replace(path)
    return path
