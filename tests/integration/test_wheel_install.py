"""A normal install works: build the wheel, `pip install` it (not editable) into a brand-new virtualenv, and run
the commands a user runs from a directory that has nothing to do with the checkout.

What this catches: SQL, expectation suites or alert thresholds read from the source tree instead of the
package, runtime imports missing from [project.dependencies] (the new virtualenv has only what the wheel
declares), console scripts that only resolve inside an editable checkout. The commands run as separate
processes with a minimal environment (no PYTHONPATH, cwd outside the repository), so nothing can quietly fall
back to the checkout; the test also asserts the modules load from the new virtualenv's site-packages.

Cost: one `pip install` (pip's normal cache, not disabled) plus about a dozen CLI starts; the measured wall
time is in docs/BENCHMARKS.md (tests/bench/bench_wheel_install.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest

from tests.integration.api_fixtures import free_port

# Slow by design; the install depends on the package index, so more room than the suite-wide 600 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
START = "2025-03-01"  # the simulated account covers two months from here
BACKFILL_END = "2025-03-03"  # a three-day range proves the single-run backfill; more days only add time
IN_PROCESS = '{"execution": {"config": {"in_process": {}}}}'
JWT_SECRET = "wheel-install-jwt-secret-0123456789abcdef"  # ≥ 32 bytes: accepted outside dev mode
KEYS = ("kind", "stripe_balance_transaction_id", "stripe_object_id", "ledger_entry_id", "payout_id")


class Installed:
    """The new virtualenv and an unrelated working directory to run its commands from."""

    def __init__(self, venv: Path, cwd: Path, env: dict[str, str]) -> None:
        self.venv, self.cwd, self.env = venv, cwd, env
        self.bin = venv / "bin"

    def run(self, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 300,
            **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.cwd, env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode in ok, f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(self.bin / args[0]), *args[1:]], cwd=self.cwd, env={**self.env, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return (proc.stderr.read() if proc.stderr else "")[-3000:]


def _wait_http(url: str, proc: subprocess.Popen[str], deadline_s: float = 90) -> httpx.Response:
    """Poll until the server answers (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {_stop(proc)}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {deadline_s}s: {_stop(proc)}") from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel-install")
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = dist.glob("cashbook-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"cashbook/_data/sql/postgres/0001_billing_core.sql", "cashbook/_data/expectations/stripe_charges.json",
            "cashbook/_data/sql/duckdb/staging/recon/020_stg_charges.sql", "cashbook/_data/docs/metrics.md",
            "cashbook/alerts/thresholds.yaml", "pipelines/definitions.py", "api/main.py"} <= names
    assert not any(n.startswith(("tests/", "sql/", "expectations/")) for n in names)

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # Non-editable, pinned like CI, pip's normal cache. --no-compile: modules compile when first imported.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
                    "-c", str(ROOT / "constraints.txt"), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=1200)

    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    keep = {k: v for k, v in os.environ.items()
            if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CACHE_HOME") or k.startswith("PIP_")}
    env = {**keep, "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1",
           "CASHBOOK_HOME": str(elsewhere / "home")}
    yield Installed(venv, elsewhere, env)


def test_installed_wheel_runs_every_command_from_an_unrelated_directory(installed: Installed, pg_url: str) -> None:
    # The package is the installed copy, and its data folders are the wheel's.
    where = installed.run("python", "-c", "import api, assets, cashbook.paths as p, pipelines; "
                                          "print(p.SQL_DIR); print(p.EXPECTATIONS_DIR); print(pipelines.__file__)")
    site = str(installed.venv / "lib")
    assert all(line.startswith(site) for line in where.stdout.split()), where.stdout
    assert str(ROOT) not in where.stdout

    # simulate → files in the working directory
    installed.run("cashbook", "simulate", "--out", "export", "--customers", "30", "--months", "2", "--start", START)
    export = installed.cwd / "export"
    assert {"balance_transactions.jsonl", "charges.jsonl", "payouts.jsonl", "ledger.csv", "truth.json"} <= {
        p.name for p in export.iterdir()}
    truth = json.loads((export / "truth.json").read_text())
    assert truth["discrepancies"]

    # reconcile (SQL from the wheel) → exit 3 and exactly the injected discrepancies
    rec = installed.run("cashbook", "reconcile", "--stripe", "export", "--ledger", "export/ledger.csv",
                        "--out", "out", "--as-of", truth["as_of"], ok=(3,))
    assert "discrepancies" in rec.stdout
    with (installed.cwd / "out" / "discrepancies.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(truth["discrepancies"])
    assert {tuple(r[k] or None for k in KEYS) for r in rows} == {
        tuple(d.get(k) for k in KEYS) for d in truth["discrepancies"]}

    # migrate → the billing and analytics tables exist in Postgres
    mig = installed.run("cashbook", "migrate", DATABASE_URL=pg_url)
    assert "0001_billing_core" in mig.stdout
    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables")}
    assert {"public.webhook_events", "public.ledger_entries", "analytics.discrepancies", "analytics.alerts"} <= tables

    # stripe-replay → a Stripe list endpoint over HTTP
    replay = installed.start("cashbook", "stripe-replay", "export", "--port", "0")
    try:
        url = replay.stdout.readline().strip() if replay.stdout else ""
        assert url.startswith("http://127.0.0.1:"), _stop(replay)
        page = httpx.get(f"{url}/v1/charges", params={"limit": 3}, headers={"Authorization": "Bearer sk_test_x"})
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["object"] == "list" and len(body["data"]) == 3 and body["has_more"] is True
        assert all(c["object"] == "charge" and c["id"].startswith("ch_") for c in body["data"])
    finally:
        _stop(replay)

    # Dagster: the instance in Postgres, one partition through the `dagster` script, then a backfill + warehouse
    pipeline_env = {"DATABASE_URL": pg_url, "STRIPE_EXPORT_DIR": str(export),
                    "LEDGER_CSV_PATHS": str(export / "ledger.csv")}
    home = installed.run("cashbook", "dagster-home", **pipeline_env).stdout.strip().splitlines()[-1]
    assert (Path(home) / "dagster.yaml").is_file()
    installed.run("dagster", "asset", "materialize", "-m", "pipelines.definitions",
                  "--select", "group:stripe or group:ledger", "--partition", "2025-03-02",
                  "--config-json", IN_PROCESS, DAGSTER_HOME=home, **pipeline_env)
    lake = installed.cwd / "home" / "lake"
    assert (lake / "stripe_charges" / "day=2025-03-02" / "data.parquet").is_file()
    installed.run("cashbook", "backfill", "--start", START, "--end", BACKFILL_END, timeout=600, **pipeline_env)
    con = duckdb.connect(str(installed.cwd / "home" / "warehouse.duckdb"), read_only=True)
    try:
        staged = con.execute("SELECT count(*) FROM staging.stg_balance_transactions").fetchone()[0]
        found = con.execute("SELECT count(*) FROM marts.discrepancies").fetchone()[0]
    finally:
        con.close()
    first = dt.datetime.fromisoformat(START).replace(tzinfo=dt.UTC).timestamp()
    after = (dt.datetime.fromisoformat(BACKFILL_END).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)).timestamp()
    with (export / "balance_transactions.jsonl").open() as fh:
        in_range = sum(first <= json.loads(line)["created"] < after for line in fh)
    assert staged == in_range > 0
    assert found > 0
    with psycopg.connect(pg_url) as conn:
        published = conn.execute("SELECT count(*) FROM analytics.discrepancies").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'").fetchone()[0]
    assert published > 0 and runs == 3  # the partition run, then the backfill's raw and warehouse runs

    # alerts: the packaged thresholds are read and evaluated against what was just published
    alerts = installed.run("cashbook", "alerts", DATABASE_URL=pg_url)
    assert "open alerts" in alerts.stdout

    # api → /healthz, and an admin list served from Postgres (the wheel's admin SQL) with a minted token
    port = free_port()
    api_env = {"DATABASE_URL": pg_url, "JWT_SECRET": JWT_SECRET, "STRIPE_WEBHOOK_SECRET": "whsec_wheel_install",
               "CASHBOOK_API_ENV": "test", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    token = installed.run("cashbook", "token", "--user", "ops", "--admin", **api_env).stdout.strip()
    installed.run("cashbook", "admin-role", "ops", **api_env)  # admin rights are the database role (issue 12)
    api = installed.start("cashbook", "api", "--port", str(port), **api_env)
    try:
        health = _wait_http(f"http://127.0.0.1:{port}/healthz", api)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        listed = httpx.get(f"http://127.0.0.1:{port}/api/admin/discrepancies",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert listed.status_code == 200, listed.text
        assert listed.json() and all("kind" in d for d in listed.json())
    finally:
        _stop(api)
