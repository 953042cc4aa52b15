"""`cashbook reconcile` end to end through typer: files in, discrepancies.csv out, exit codes 0/2/3."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from cashbook.cli import app
from cashbook.reconcile.runner import DISCREPANCY_COLUMNS
from tests.unit.test_reconcile_rules import DAY, T0, Export

runner = CliRunner()


def run(export: Path, ledger: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["reconcile", "--stripe", str(export), "--ledger", str(ledger), "--out", str(out),
                                 "--as-of", "2026-04-01T00:00:00Z", *extra])
    return result.exit_code, result.output


def sample() -> Export:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.charge("ch_2", 1000, "jpy")
    ex.refund("re_1", "ch_1", 900, created=T0 + DAY)
    ex.entry("L1", T0, "payment", "49.00", stripe_id="ch_1")
    ex.entry("L2", T0, "payment", "999", "jpy", stripe_id="ch_2")
    ex.entry("L3", T0, "payment", "5.00", stripe_id="ch_unknown")
    return ex


def test_discrepancies_csv_and_exit_3(tmp_path: Path) -> None:
    export, ledger = sample().write(tmp_path)
    code, output = run(export, ledger, tmp_path / "out")
    assert code == 3, output
    assert "Reconciliation summary" in output
    with (tmp_path / "out" / "discrepancies.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == DISCREPANCY_COLUMNS
    got = sorted((r["kind"], r["stripe_object_id"], r["ledger_entry_id"], r["difference"]) for r in rows)
    assert got == [("amount_mismatch", "ch_2", "L2", "1"), ("missing_in_ledger", "re_1", "", "-900"),
                   ("missing_in_stripe", "ch_unknown", "L3", "-500")]
    assert all(r["occurred_at"].endswith("Z") for r in rows)


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    export, ledger = sample().write(tmp_path)
    run(export, ledger, tmp_path / "a")
    run(export, ledger, tmp_path / "b")
    a = (tmp_path / "a" / "discrepancies.csv").read_bytes()
    assert a == (tmp_path / "b" / "discrepancies.csv").read_bytes()
    assert a.count(b"\n") == 4


def test_clean_run_exits_0_with_header_only(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.entry("L1", T0, "payment", "49.00", stripe_id="ch_1")
    export, ledger = ex.write(tmp_path)
    code, output = run(export, ledger, tmp_path / "out")
    assert code == 0, output
    assert (tmp_path / "out" / "discrepancies.csv").read_text() == ",".join(DISCREPANCY_COLUMNS) + "\n"


def test_bad_ledger_row_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    ex = sample()
    ex.entry("L4", T0, "payment", "1.001", stripe_id="ch_1")
    export, ledger = ex.write(tmp_path)
    code, output = run(export, ledger, tmp_path / "out")
    assert code == 2
    assert f"{ledger}:5" in output and "decimals" in output
    assert not (tmp_path / "out" / "discrepancies.csv").exists()


def test_missing_export_file_exits_2(tmp_path: Path) -> None:
    export, ledger = sample().write(tmp_path)
    (export / "disputes.jsonl").unlink()
    code, output = run(export, ledger, tmp_path / "out")
    assert code == 2 and "disputes.jsonl" in output


def test_grace_days_turns_recent_into_pending(tmp_path: Path) -> None:
    export, ledger = sample().write(tmp_path)
    code, _ = run(export, ledger, tmp_path / "out", "--grace-days", "30")
    assert code == 3  # the amount mismatch is still there
    kinds = {r["kind"] for r in csv.DictReader((tmp_path / "out" / "discrepancies.csv").open())}
    assert kinds == {"amount_mismatch", "pending"}


def test_rejects_option_quarantines_bad_rows(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.entry("L1", T0, "payment", "49.00", stripe_id="ch_1")
    ex.entry("L2", "not-a-time", "payment", "1.00", stripe_id="ch_1")
    export, ledger = ex.write(tmp_path)
    rejects = tmp_path / "rejects.csv"
    code, output = run(export, ledger, tmp_path / "out", "--rejects", str(rejects))
    assert code == 0, output
    rows = list(csv.DictReader(rejects.open()))
    assert [(r["entry_id"], r["line"]) for r in rows] == [("L2", "3")]
    assert "ISO 8601" in rows[0]["reason"]
