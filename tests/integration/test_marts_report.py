"""`cashbook report`: KPI table on stdout and a self-contained HTML page whose charts carry the mart figures."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cashbook.cli import app
from cashbook.marts import build_all
from cashbook.simulator import SimConfig, simulate
from cashbook.sources.export import read_export
from cashbook.warehouse import register_raw_tables


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(out=out, customers=60, months=3, seed=9, start=dt.date(2025, 1, 1)))
    return out


def _data(page: str, name: str) -> dict:
    m = re.search(rf'<script type="application/json" id="data-{name}">(.*?)</script>', page, re.S)
    assert m, f"chart data {name} missing"
    return json.loads(m.group(1))


def test_report_from_export(export_dir: Path, cashbook_home: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--stripe", str(export_dir)], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "cashbook KPIs 2025-02" in result.output  # the latest complete month, not the running one
    page_path = cashbook_home / "reports" / "report-2025-02.html"
    page = page_path.read_text()

    con = duckdb.connect()
    register_raw_tables(con, read_export(export_dir))
    build_all(con)
    mrr = {c: (p, n, e, ct, ch, r, m) for c, p, n, e, ct, ch, r, m in con.execute(
        "SELECT currency, previous_mrr, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr, mrr "
        "FROM marts.mrr_monthly WHERE month = DATE '2025-02-01'").fetchall()}
    waterfall = _data(page, "mrr-waterfall")
    assert set(waterfall) == set(mrr) == {"usd", "eur", "jpy"}
    for cur, w in waterfall.items():
        assert (w["previous_mrr"], w["new_mrr"], w["expansion_mrr"], w["contraction_mrr"], w["churned_mrr"],
                w["reactivation_mrr"], w["mrr"]) == mrr[cur]
        assert f'data-key="mrr" data-amount="{mrr[cur][-1]}"' in page  # the SVG bar itself carries the figure
    revenue = _data(page, "revenue-by-day")
    gross = dict(con.execute("SELECT day::VARCHAR, gross FROM marts.revenue_daily WHERE currency = 'usd'").fetchall())
    assert revenue["usd"] and all(p["gross"] == gross.get(p["day"], 0) for p in revenue["usd"])
    churn = _data(page, "churn-trend")
    assert [p["month"] for p in churn["usd"]] == ["2025-01", "2025-02"]
    assert page.count('class="chart waterfall"') == 3
    assert 'class="chart revenue"' in page and 'class="chart churn"' in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?:", page)  # self-contained: nothing fetched


def test_report_without_warehouse_says_what_to_do(cashbook_home: Path) -> None:
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 2
    assert "run the pipeline first" in result.output


def test_report_rejects_bad_month(export_dir: Path, cashbook_home: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--stripe", str(export_dir), "--month", "2025-13"])
    assert result.exit_code == 2


# --- issue 13: the report as finance reads it -------------------------------------------------------

@pytest.fixture(scope="module")
def built(export_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_raw_tables(con, read_export(export_dir))
    build_all(con)
    return con


def _report(export_dir: Path, *args: str, width: int = 80) -> str:
    result = CliRunner().invoke(app, ["report", "--stripe", str(export_dir), *args], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output


def test_report_numbers_equal_the_marts(export_dir: Path, cashbook_home: Path, built: duckdb.DuckDBPyConnection
                                        ) -> None:
    from cashbook.marts.report import KPI_ROWS, kpis
    from cashbook.money import to_major_str

    out = _report(export_dir)
    page = (cashbook_home / "reports" / "report-2025-02.html").read_text()
    table = _data(page, "kpis")
    rows = {r[0]: r for r in built.execute("""
        SELECT m.currency, m.mrr, m.arr, m.customers, m.arpa, m.churned_mrr, c.customer_churn_rate,
               c.net_mrr_churn_rate, r.gross, r.net, m.is_complete
        FROM marts.mrr_monthly m LEFT JOIN marts.churn_monthly c USING (month, currency)
        LEFT JOIN marts.revenue_monthly r USING (month, currency) WHERE m.month = DATE '2025-02-01'""").fetchall()}
    assert set(table) == set(rows)
    for cur, (_, mrr, arr, customers, arpa, churned, cust_churn, net_churn, gross, net, complete) in rows.items():
        t = table[cur]
        assert (t["mrr"], t["arr"], t["customers"], t["arpa"], t["churned_mrr"], t["gross"], t["net"]) == (
            mrr, arr, customers, arpa, churned, gross, net)
        assert t["customer_churn_rate"] == cust_churn and t["net_mrr_churn_rate"] == net_churn
        assert t["is_complete"] is complete is True
        # the terminal shows every value whole, at 80 columns
        assert to_major_str(mrr, cur) in out and to_major_str(arr, cur) in out
    attempts = dict(((c, (a, s)) for c, a, s in built.execute(
        "SELECT currency, sum(attempts), sum(succeeded) FROM marts.payment_health_daily "
        "WHERE day BETWEEN DATE '2025-02-01' AND DATE '2025-02-28' GROUP BY 1").fetchall()))
    for cur, t in table.items():
        a, s = attempts[cur]
        assert t["payment_success_rate"] == pytest.approx(s / a)
    assert "…" not in out and "..." not in out  # rich never truncated a value
    assert [k for k, _, _ in KPI_ROWS if k not in table["usd"]] == []
    assert len(kpis(built, dt.date(2025, 2, 1))) == len(rows)


def test_running_month_is_marked_provisional(export_dir: Path, cashbook_home: Path,
                                             built: duckdb.DuckDBPyConnection) -> None:
    complete = dict(built.execute("SELECT month, bool_and(is_complete) FROM marts.mrr_monthly GROUP BY 1").fetchall())
    assert complete[dt.date(2025, 3, 1)] is False and complete[dt.date(2025, 2, 1)] is True
    out = _report(export_dir, "--month", "2025-03")
    assert "PROVISIONAL" in out and "provisional*" in out
    page = (cashbook_home / "reports" / "report-2025-03.html").read_text()
    assert "<h1>cashbook: March 2025 (provisional)</h1>" in page
    assert all(not t["is_complete"] for t in _data(page, "kpis").values())
    churn = _data(page, "churn-trend")
    assert [p["is_complete"] for p in churn["usd"]] == [True, True, False]
    # the provisional churn point is drawn hollow and dashed, and the legend says what that means
    assert page.count('<circle class="provisional"') == 3 * 3 - sum(  # 3 series x 3 currencies, minus null rates
        1 for pts in churn.values() for p in pts if not p["is_complete"]
        for k in ("customer_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate") if p[k] is None)
    assert "provisional (month not over)" in page


def test_revenue_window_is_exactly_60_days(export_dir: Path, cashbook_home: Path,
                                           built: duckdb.DuckDBPyConnection) -> None:
    _report(export_dir, "--month", "2025-02")
    page = (cashbook_home / "reports" / "report-2025-02.html").read_text()
    window = _data(page, "revenue-window")
    assert window == {"from": "2024-12-31", "to": "2025-02-28", "days": 60}
    revenue = _data(page, "revenue-by-day")
    gross = {(c, d.isoformat()): g for c, d, g in built.execute(
        "SELECT currency, day, gross FROM marts.revenue_daily").fetchall()}
    for cur, pts in revenue.items():
        assert len(pts) == 60 and pts[0]["day"] == "2024-12-31" and pts[-1]["day"] == "2025-02-28"
        assert [p["gross"] for p in pts] == [gross.get((cur, p["day"]), 0) for p in pts]
    assert "Gross revenue by day, last 60 days (2024-12-31 to 2025-02-28" in page
    assert page.count('data-days="60"') == len(revenue)


def test_charts_have_axis_values_dates_and_a_clear_legend(export_dir: Path, cashbook_home: Path,
                                                          built: duckdb.DuckDBPyConnection) -> None:
    _report(export_dir, "--month", "2025-03")
    page = (cashbook_home / "reports" / "report-2025-03.html").read_text()
    for svg in re.findall(r'<svg class="chart (?:revenue|churn|waterfall).*?</svg>', page, re.S):
        y_ticks = re.findall(r'<text class="tick y"[^>]*>([^<]+)</text>', svg)
        x_ticks = re.findall(r'<text class="tick x"[^>]*>([^<]+)</text>', svg)
        assert len(y_ticks) >= 3 and len(x_ticks) >= 2, svg[:200]
    revenue_svg = re.search(r'<svg class="chart revenue" data-currency="usd".*?</svg>', page, re.S).group(0)
    dates = re.findall(r'<text class="tick x"[^>]*>(\d{4}-\d{2}-\d{2})</text>', revenue_svg)
    newest = built.execute("SELECT max(day) FROM marts.revenue_daily").fetchone()[0]
    assert newest <= dt.date(2025, 3, 31)
    # dated every 10 days from the first day; the window ends on the newest data day of the month
    assert dates[0] == (newest - dt.timedelta(days=59)).isoformat() and dates[-1] == newest.isoformat()
    y_labels = re.findall(r'<text class="tick y"[^>]*>([^<]+)</text>', revenue_svg)
    assert all(re.fullmatch(r"-?[\d,]+(\.\d\d)?", v) for v in y_labels), y_labels  # values in major units
    churn_svg = re.search(r'<svg class="chart churn" data-currency="usd".*?</svg>', page, re.S).group(0)
    assert re.findall(r'<text class="tick x"[^>]*>([^<]+)</text>', churn_svg) == ["2025-01", "2025-02", "2025-03*"]
    assert all(v.endswith("%") for v in re.findall(r'<text class="tick y"[^>]*>([^<]+)</text>', churn_svg))
    # the legend lives in its own band: every legend element is above the plot's top, every point below it
    legend = re.search(r'<g class="legend">(.*?)</g>', churn_svg).group(1)
    top = 34
    assert all(float(y) < top for y in re.findall(r'\by\d?="([\d.]+)"', legend))
    assert all(float(y) >= top for y in re.findall(r'<circle[^>]* cy="([\d.]+)"', churn_svg))
