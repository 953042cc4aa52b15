"""The engine against the simulator's answer key: per kind, precision and recall must both be 1.0.

Runs the simulator (real files on disk), then `cashbook reconcile` through typer, and compares the
discrepancies' (kind, bt, object, ledger entry, payout) tuples with truth.json.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cashbook.cli import app
from cashbook.simulator import SimConfig, simulate

KEY = ("kind", "stripe_balance_transaction_id", "stripe_object_id", "ledger_entry_id", "payout_id")


@pytest.mark.parametrize(
    ("customers", "months", "seed", "start"),
    [(300, 6, 7, "2025-01-01"), (600, 12, 1, "2024-06-01"), (400, 9, 2024, "2025-02-01")],
)
def test_engine_matches_truth(tmp_path: Path, customers: int, months: int, seed: int, start: str) -> None:
    export = tmp_path / "sim"
    simulate(SimConfig(out=export, customers=customers, months=months, seed=seed,
                       start=dt.date.fromisoformat(start)))
    truth = json.loads((export / "truth.json").read_text())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["reconcile", "--stripe", str(export), "--ledger", str(export / "ledger.csv"),
                                      "--out", str(out), "--as-of", truth["as_of"]])
    want = {tuple(d[k] for k in KEY) for d in truth["discrepancies"]}
    with (out / "discrepancies.csv").open(newline="") as fh:
        got = {tuple(r[k] or None for k in KEY) for r in csv.DictReader(fh)}
    assert want, "the simulator injected nothing; the test would prove nothing"
    assert result.exit_code == (3 if any(k[0] != "pending" for k in want) else 0), result.output
    for kind in sorted({k[0] for k in want | got}):
        w = {k for k in want if k[0] == kind}
        g = {k for k in got if k[0] == kind}
        assert g == w, f"{kind}: missed {sorted(w - g, key=str)[:5]}, extra {sorted(g - w, key=str)[:5]}"
