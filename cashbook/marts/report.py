"""The analyst report: one month's KPIs and a one-page, self-contained HTML file, as finance reads it.

Charts are inline SVG drawn here (no JavaScript, no CDN, nothing fetched), so the page opens offline
and can be mailed as an attachment. Each chart's numbers are also embedded as JSON
(`<script type="application/json" id="data-...">`) for anyone who wants the figures behind a bar.

What a reader can rely on (issue 13, "The KPI report"):
- the default month is the latest *complete* one; a running month (`is_complete` false in the marts) is only
  reported when asked for, and every figure of it is marked provisional (table, titles, chart points);
- every chart has value labels on its y axis and dates on its x axis; legends sit in their own band above
  the plot, never over the lines;
- "last 60 days" is exactly 60 UTC days, ending on the month's last day (or on the newest day with data, if
  the month is still running); days without balance transactions are 0, not skipped.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cashbook.money import exponent, to_major_str

MOVEMENTS = [("previous_mrr", "Previous"), ("new_mrr", "New"), ("reactivation_mrr", "Reactivation"),
             ("expansion_mrr", "Expansion"), ("contraction_mrr", "Contraction"), ("churned_mrr", "Churn"),
             ("mrr", "Current")]
_NEGATIVE = {"contraction_mrr", "churned_mrr"}
REVENUE_DAYS = 60
CHURN_SERIES = (("customer_churn_rate", "customer churn"), ("gross_mrr_churn_rate", "gross MRR churn"),
                ("net_mrr_churn_rate", "net MRR churn"))
PROVISIONAL = "provisional"
# (key, label, kind) of the KPI table, in order; kind: money | count | rate
KPI_ROWS: list[tuple[str, str, str]] = [
    ("mrr", "MRR", "money"), ("arr", "ARR", "money"), ("customers", "customers", "count"), ("arpa", "ARPA", "money"),
    ("new_mrr", "new MRR", "money"), ("expansion_mrr", "expansion MRR", "money"),
    ("contraction_mrr", "contraction MRR", "money"), ("churned_mrr", "churned MRR", "money"),
    ("reactivation_mrr", "reactivation MRR", "money"), ("net_new_mrr", "net new MRR", "money"),
    ("customer_churn_rate", "customer churn", "rate"), ("gross_mrr_churn_rate", "gross MRR churn", "rate"),
    ("net_mrr_churn_rate", "net MRR churn", "rate"), ("gross", "gross revenue", "money"),
    ("net", "net revenue", "money"), ("payment_success_rate", "payment success", "rate"),
]


class ReportError(RuntimeError):
    """The marts needed for the report are missing or empty, or the month asked for has no data."""


@dataclass
class CurrencyKpis:
    currency: str
    values: dict[str, Any]

    @property
    def provisional(self) -> bool:
        return not bool(self.values.get("is_complete"))

    def money(self, key: str) -> str:
        v = self.values.get(key)
        return "-" if v is None else to_major_str(int(v), self.currency)

    def rate(self, key: str) -> str:
        v = self.values.get(key)
        return "-" if v is None else f"{v * 100:.2f} %"

    def text(self, key: str, kind: str) -> str:
        if kind == "money":
            return self.money(key)
        if kind == "rate":
            return self.rate(key)
        v = self.values.get(key)
        return "-" if v is None else str(int(v))


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(query, params or [])
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _month_bounds(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.date | None]:
    try:
        row = con.execute("SELECT max(month) FILTER (WHERE is_complete), max(month) FROM marts.mrr_monthly").fetchone()
    except duckdb.CatalogException:
        raise ReportError("marts.mrr_monthly does not exist: run the pipeline (or pass --stripe DIR)") from None
    if not row or row[1] is None:
        raise ReportError("marts.mrr_monthly is empty: no subscription revenue to report yet")
    return row[0], row[1]


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The default month: the latest complete one; the running month only if no month is complete yet."""
    complete, newest = _month_bounds(con)
    return complete or newest  # type: ignore[return-value]


def check_month(con: duckdb.DuckDBPyConnection, month: dt.date) -> None:
    """A month the marts have; otherwise a ReportError naming the months that exist."""
    _month_bounds(con)
    months = [m for (m,) in con.execute("SELECT DISTINCT month FROM marts.mrr_monthly ORDER BY month").fetchall()]
    if month not in months:
        raise ReportError(f"no MRR rows for {month:%Y-%m}: the marts cover {months[0]:%Y-%m} to {months[-1]:%Y-%m}")


def kpis(con: duckdb.DuckDBPyConnection, month: dt.date) -> list[CurrencyKpis]:
    """One KPI set per currency for `month` (MRR, movements, churn rates, revenue, payment health)."""
    rows = _rows(con, """
        SELECT m.currency, m.mrr, m.arr, m.customers, m.arpa, m.previous_mrr, m.new_mrr, m.expansion_mrr,
               m.contraction_mrr, m.churned_mrr, m.reactivation_mrr, m.is_complete,
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


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def revenue_window(con: duckdb.DuckDBPyConnection, month: dt.date) -> tuple[dt.date, dt.date]:
    """Exactly REVENUE_DAYS days, ending on the month's last day or on the newest day with data before it."""
    end = month_end(month)
    row = con.execute("SELECT max(day) FROM marts.revenue_daily WHERE day <= ?", [end]).fetchone()
    if row and row[0] is not None and month <= row[0] < end:
        end = row[0]  # the running month: up to its newest data, not into days that have not happened
    return end - dt.timedelta(days=REVENUE_DAYS - 1), end


# --- axes ------------------------------------------------------------------------------------------

def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 × 10^k steps); 0 is a tick when in range."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _money_tick(v: float, currency: str) -> str:
    """A tick label in major units, without needless decimals (12,500 not 12500.00)."""
    major = v / 10 ** exponent(currency)
    return f"{major:,.0f}" if abs(major) >= 100 or major == int(major) else f"{major:,.2f}"


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


@dataclass(frozen=True)
class Frame:
    """Plot geometry: a legend band on top, y labels on the left, x labels below."""

    width: int
    height: int
    left: int = 78
    right: int = 16
    top: int = 34  # the legend band lies above this line
    bottom: int = 36

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, v: float, lo: float, hi: float) -> float:
        return self.top + (hi - v) / ((hi - lo) or 1) * self.plot_h


def _y_axis(f: Frame, ticks: list[float], label: Any, unit: str) -> list[str]:
    lo, hi = ticks[0], ticks[-1]
    parts = [f'<text class="axis-title" x="4" y="{f.top - 8}" font-size="10" fill="#555">{_esc(unit)}</text>']
    for t in ticks:
        y = f.y(t, lo, hi)
        parts.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{f.width - f.right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text class="tick y" x="{f.left - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
                     f'{_esc(label(t))}</text>')
    parts.append(f'<line x1="{f.left}" y1="{f.top}" x2="{f.left}" y2="{f.height - f.bottom}" stroke="#888"/>')
    return parts


def _x_label(f: Frame, x: float, text: str) -> str:
    return (f'<text class="tick x" x="{x:.1f}" y="{f.height - f.bottom + 14}" font-size="10" '
            f'text-anchor="middle">{_esc(text)}</text>')


def _legend(f: Frame, items: list[tuple[str, str, str]]) -> str:
    """Legend entries (label, color, dash) laid out left to right in the band above the plot."""
    parts = ['<g class="legend">']
    x = f.left
    for label, color, dash in items:
        parts.append(f'<line x1="{x}" y1="12" x2="{x + 18}" y2="12" stroke="{color}" stroke-width="2"'
                     + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        parts.append(f'<text x="{x + 22}" y="15" font-size="10">{_esc(label)}</text>')
        x += 30 + 6 * len(label)
    parts.append("</g>")
    return "".join(parts)


# --- charts ----------------------------------------------------------------------------------------

def _waterfall_svg(k: CurrencyKpis, width: int = 620, height: int = 280) -> str:
    """Previous MRR, each movement as a floating bar, current MRR; green up, red down; y axis in major units."""
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
    f = Frame(width, height, top=20)
    ticks = nice_ticks(min(0, *(s[2] for s in steps)), max(1, *(s[3] for s in steps)))
    lo, hi = ticks[0], ticks[-1]
    bw = f.plot_w / len(steps)
    parts = [f'<svg class="chart waterfall" data-currency="{_esc(k.currency)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="MRR movements {_esc(k.currency)}">']
    parts += _y_axis(f, ticks, lambda t: _money_tick(t, k.currency), k.currency.upper())
    for i, (key, label, bottom, top) in enumerate(steps):
        y_hi, y_lo = f.y(top, lo, hi), f.y(bottom, lo, hi)
        color = "#4a6fa5" if key in ("previous_mrr", "mrr") else ("#c0504d" if key in _NEGATIVE else "#4f9a5a")
        x = f.left + i * bw + 4
        amount = int(k.values.get(key) or 0)
        dash = ' stroke="#333" stroke-dasharray="3,2" fill-opacity="0.55"' if k.provisional else ""
        parts.append(f'<rect x="{x:.1f}" y="{y_hi:.1f}" width="{bw - 8:.1f}" height="{max(y_lo - y_hi, 1):.1f}" '
                     f'fill="{color}"{dash} data-key="{key}" data-amount="{amount}"><title>{_esc(label)}: '
                     f'{_esc(to_major_str(amount, k.currency))}</title></rect>')
        parts.append(f'<text class="value" x="{x + (bw - 8) / 2:.1f}" y="{y_hi - 3:.1f}" font-size="9" '
                     f'text-anchor="middle" fill="#333">{_esc(to_major_str(amount, k.currency))}</text>')
        parts.append(_x_label(f, x + (bw - 8) / 2, label))
    parts.append(f'<line x1="{f.left}" y1="{f.y(0, lo, hi):.1f}" x2="{width - f.right}" y2="{f.y(0, lo, hi):.1f}" '
                 'stroke="#888"/></svg>')
    return "".join(parts)


def _bars_svg(points: list[tuple[str, int]], css: str, currency: str, width: int = 760, height: int = 240) -> str:
    """One bar per day; y axis in major units, x axis dated every 10 days and on the last day."""
    f = Frame(width, height, top=20, right=36)  # room for the last date label
    ticks = nice_ticks(min([v for _, v in points] + [0]), max([v for _, v in points] + [1]))
    lo, hi = ticks[0], ticks[-1]
    bw = f.plot_w / max(len(points), 1)
    parts = [f'<svg class="chart {css}" data-currency="{_esc(currency)}" data-days="{len(points)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">']
    parts += _y_axis(f, ticks, lambda t: _money_tick(t, currency), currency.upper())
    zero_y = f.y(0, lo, hi)
    for i, (label, v) in enumerate(points):
        y = f.y(max(v, 0), lo, hi)
        h = abs(f.y(v, lo, hi) - zero_y)
        parts.append(f'<rect x="{f.left + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" '
                     f'height="{max(h, 0.5):.1f}" fill="{"#4a6fa5" if v >= 0 else "#c0504d"}" '
                     f'data-label="{_esc(label)}" data-amount="{v}"><title>{_esc(label)}: '
                     f'{_esc(to_major_str(v, currency))}</title></rect>')
    for i, (label, _) in enumerate(points):
        if i % 10 == 0 or i == len(points) - 1:
            if i == len(points) - 1 and i % 10 and i % 10 < 6:
                continue  # too close to the previous date label
            parts.append(_x_label(f, f.left + i * bw + bw / 2, label))
    parts.append(f'<line x1="{f.left}" y1="{zero_y:.1f}" x2="{width - f.right}" y2="{zero_y:.1f}" stroke="#888"/>'
                 "</svg>")
    return "".join(parts)


def _lines_svg(series: dict[str, list[tuple[str, float | None, bool]]], currency: str, width: int = 760,
               height: int = 260) -> str:
    """Rates by month; a provisional (running-month) point is hollow, joined by a dashed segment and labelled."""
    colors = ["#c0504d", "#4a6fa5", "#4f9a5a"]
    values = [v for pts in series.values() for _, v, _ in pts if v is not None]
    f = Frame(width, height)
    ticks = nice_ticks(min([*values, 0.0]), max([*values, 0.01]))
    lo, hi = ticks[0], ticks[-1]
    months = next(iter(series.values()), [])
    n = max(len(months), 1)
    inset = 24  # keeps the first and last points (and their date labels) off the axis and the edge
    step = (f.plot_w - 2 * inset) / max(n - 1, 1)
    parts = [f'<svg class="chart churn" data-currency="{_esc(currency)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    legend = [(name, color, "") for name, color in zip(series, colors, strict=False)]
    if any(not done for _, _, done in months):
        legend.append((f"{PROVISIONAL} (month not over)", "#777", "4,3"))
    parts.append(_legend(f, legend))
    parts += _y_axis(f, ticks, lambda t: f"{t * 100:.1f} %", "rate")
    every = max(1, math.ceil(n / 12))
    for i, (label, _, done) in enumerate(months):
        if i % every == 0 or i == n - 1:
            parts.append(_x_label(f, f.left + inset + i * step, label + ("*" if not done else "")))
    for (name, pts), color in zip(series.items(), colors, strict=False):
        coords = [(f.left + inset + i * step, f.y(v, lo, hi), label, v, done)
                  for i, (label, v, done) in enumerate(pts) if v is not None]
        solid = [c for c in coords if c[4]]
        if solid:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in solid)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}" '
                         f'data-series="{_esc(name)}"/>')
        for j, (x, y, label, v, done) in enumerate(coords):
            if not done:
                if j > 0:
                    px, py = coords[j - 1][0], coords[j - 1][1]
                    parts.append(f'<line class="{PROVISIONAL}" x1="{px:.1f}" y1="{py:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
                                 f'stroke="{color}" stroke-width="2" stroke-dasharray="4,3"/>')
                parts.append(f'<circle class="{PROVISIONAL}" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff" '
                             f'stroke="{color}" stroke-width="2"><title>{_esc(name)} {_esc(label)} '
                             f'({PROVISIONAL}): {v * 100:.2f} %</title></circle>')
            else:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{_esc(name)} '
                             f'{_esc(label)}: {v * 100:.2f} %</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


# --- page ------------------------------------------------------------------------------------------

def chart_data(con: duckdb.DuckDBPyConnection, month: dt.date) -> dict[str, Any]:
    """The numbers behind every chart and the KPI table, keyed by chart then currency (embedded in the page)."""
    sets = kpis(con, month)
    waterfall = {k.currency: {key: int(k.values.get(key) or 0) for key, _ in MOVEMENTS} for k in sets}
    start, end = revenue_window(con, month)
    by_day: dict[str, dict[dt.date, dict[str, int]]] = {}
    for r in _rows(con, "SELECT day, currency, gross, net FROM marts.revenue_daily WHERE day BETWEEN ? AND ? "
                        "ORDER BY day", [start, end]):
        by_day.setdefault(r["currency"], {})[r["day"]] = {"gross": int(r["gross"]), "net": int(r["net"])}
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    revenue = {cur: [{"day": d.isoformat(), **rows.get(d, {"gross": 0, "net": 0})} for d in days]
               for cur, rows in sorted(by_day.items())}
    churn: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(con, "SELECT month, currency, customer_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate, "
                        "is_complete FROM marts.churn_monthly WHERE month <= ? ORDER BY month", [month]):
        churn.setdefault(r["currency"], []).append({
            "month": r["month"].strftime("%Y-%m"), "is_complete": bool(r["is_complete"]),
            **{key: r[key] for key, _ in CHURN_SERIES}})
    table = {k.currency: {"is_complete": not k.provisional,
                          **{key: (None if k.values.get(key) is None else
                                   (float(k.values[key]) if kind == "rate" else int(k.values[key])))
                             for key, _, kind in KPI_ROWS}} for k in sets}
    return {"month": month.strftime("%Y-%m"), "kpis": table, "mrr_waterfall": waterfall,
            "revenue_window": {"from": start.isoformat(), "to": end.isoformat(), "days": len(days)},
            "revenue_by_day": revenue, "churn_trend": churn}


def _json_block(name: str, data: Any) -> str:
    text = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    return f'<script type="application/json" id="data-{name}">{text}</script>'


def render_html(con: duckdb.DuckDBPyConnection, month: dt.date | None = None) -> str:
    month = month or latest_month(con)
    data = chart_data(con, month)
    sets = kpis(con, month)
    provisional = any(k.provisional for k in sets)
    head = "".join(f"<th>{_esc(k.currency)}</th>" for k in sets)
    status = "".join(f'<td class="{PROVISIONAL if k.provisional else "complete"}">'
                     f'{"provisional*" if k.provisional else "complete"}</td>' for k in sets)
    body_rows = "".join(
        f"<tr><th>{_esc(label)}</th>" + "".join(
            f'<td class="{PROVISIONAL if k.provisional else ""}">{_esc(k.text(key, kind))}'
            f'{"*" if k.provisional else ""}</td>' for k in sets) + "</tr>"
        for key, label, kind in KPI_ROWS)
    sections = []
    for k in sets:
        mark = f" — {PROVISIONAL}*" if k.provisional else ""
        sections.append(f"<h3>MRR movements, {month:%Y-%m} ({_esc(k.currency)}){mark}</h3>{_waterfall_svg(k)}")
    window = data["revenue_window"]
    for cur, pts in data["revenue_by_day"].items():
        sections.append(f"<h3>Gross revenue by day, last {REVENUE_DAYS} days ({window['from']} to {window['to']}; "
                        f"{_esc(cur)}, settlement)</h3>" + _bars_svg([(p["day"], p["gross"]) for p in pts], "revenue",
                                                                     cur))
    for cur, pts in sorted(data["churn_trend"].items()):
        series = {label: [(p["month"], p[key], p["is_complete"]) for p in pts] for key, label in CHURN_SERIES}
        sections.append(f"<h3>Churn trend ({_esc(cur)})</h3>" + _lines_svg(series, cur))
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"<p class='{PROVISIONAL}-note'><strong>* Provisional:</strong> {month:%B %Y} has not ended in the data "
            "(the newest balance transaction is before its last second): renewals may not be invoiced yet, so its "
            "MRR is low and its churn high until the month closes.</p>") if provisional else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>cashbook report {month:%Y-%m}{' (provisional)' if provisional else ''}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
        "td.provisional{color:#8a5a00;font-style:italic}"
        "h3{margin:20px 0 4px;font-size:15px}</style></head><body>"
        f"<h1>cashbook: {month:%B %Y}{' (provisional)' if provisional else ''}</h1>"
        "<p>Amounts in each currency's major units; currencies are never mixed. "
        f"Generated {generated}. Definitions: docs/metrics.md.</p>{note}"
        f"<table class='kpis'><tr><th>KPI</th>{head}</tr><tr><th>month status</th>{status}</tr>{body_rows}</table>"
        + "".join(sections)
        + _json_block("kpis", data["kpis"]) + _json_block("mrr-waterfall", data["mrr_waterfall"])
        + _json_block("revenue-by-day", data["revenue_by_day"]) + _json_block("revenue-window", data["revenue_window"])
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
