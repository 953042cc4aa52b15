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
from cashbook.sources.export import read_stream
from cashbook.sources.registry import STRIPE_STREAMS
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
    assert "cashbook KPIs 2025-03" in result.output
    page_path = cashbook_home / "reports" / "report-2025-03.html"
    page = page_path.read_text()

    con = duckdb.connect()
    register_raw_tables(con, {f"stripe_{s}": read_stream(export_dir, s) for s in STRIPE_STREAMS})
    build_all(con)
    mrr = {c: (p, n, e, ct, ch, r, m) for c, p, n, e, ct, ch, r, m in con.execute(
        "SELECT currency, previous_mrr, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr, mrr "
        "FROM marts.mrr_monthly WHERE month = DATE '2025-03-01'").fetchall()}
    waterfall = _data(page, "mrr-waterfall")
    assert set(waterfall) == set(mrr) == {"usd", "eur", "jpy"}
    for cur, w in waterfall.items():
        assert (w["previous_mrr"], w["new_mrr"], w["expansion_mrr"], w["contraction_mrr"], w["churned_mrr"],
                w["reactivation_mrr"], w["mrr"]) == mrr[cur]
        assert f'data-key="mrr" data-amount="{mrr[cur][-1]}"' in page  # the SVG bar itself carries the figure
    revenue = _data(page, "revenue-by-day")
    gross = dict(con.execute("SELECT day::VARCHAR, gross FROM marts.revenue_daily WHERE currency = 'usd'").fetchall())
    assert revenue["usd"] and all(p["gross"] == gross[p["day"]] for p in revenue["usd"])
    churn = _data(page, "churn-trend")
    assert [p["month"] for p in churn["usd"]] == ["2025-01", "2025-02", "2025-03"]
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
