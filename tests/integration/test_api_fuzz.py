"""Schemathesis (an independent OpenAPI fuzzer, pinned 4.32.5) against the running app (issue 12).

The app runs under real uvicorn against real Postgres and localstripe. The fuzzer runs as its own process
twice — with a user token over the billing, webhook and health routes, and with an admin token (and the
admin role) over the admin routes — through all its phases (coverage, fuzzing, stateful) and every check
except `positive_data_acceptance` (a well-formed payment can rightly be refused: a declined card, a risk
block, an unknown pack). Pass = zero 5xx, zero undocumented status codes, zero response-schema, content-type
or header violations, zero errors. The operation and request counts are printed and asserted to be real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import ApiFactory

RUNS = {
    "user": r"^/(api/billing|api/webhooks|healthz|readyz)",
    "admin": r"^/api/(admin|analytics)",
}


def fuzz(base_url: str, token: str, regex: str, report: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
           "-H", f"Authorization: {token}", "--include-path-regex", regex,
           "--checks", "all", "--exclude-checks", "positive_data_acceptance",
           "--seed", "20261129", "--max-examples", "25", "--workers", "1", "--request-timeout", "60",
           "--report", "json", "--report-json-path", str(report)]
    # run from the report folder: schemathesis keeps a cache (.schemathesis/) in its working directory
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=report.parent)
    if not report.exists():
        pytest.fail(f"schemathesis wrote no report:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    result = json.loads(report.read_text())
    result["_output"] = done.stdout
    return result


def test_schemathesis_finds_no_5xx_and_no_schema_violations(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str, tmp_path: Path) -> None:
    migrate(pg_url)
    rows = [discrepancy(f"fz{i}", difference=i, stripe_balance_transaction_id=f"txn_{i}", stripe_object_id=f"ch_{i}",
                        ledger_entry_id=f"le_{i}") for i in range(1, 4)]
    publish_discrepancies(pg_url, discrepancy_table(rows), run_id="fuzz")
    # rate limits on but out of reach: their counters tell how many requests the fuzzer really sent
    api = running_api_factory(localstripe_url, rate_limit_enabled=True, rate_limit_ip="1000000/minute",
                              rate_limit_user="1000000/minute", rate_limit_payment="1000000/minute",
                              rate_limit_webhook="1000000/second")
    from api.ratelimit import stats

    before = {k: v["allowed"] for k, v in stats().items()}
    tokens = {"user": api.token("fuzz_user", email="fuzz@example.test")["Authorization"],
              "admin": api.admin_token("fuzz_admin", email="ops@example.test")["Authorization"]}
    summary = []
    for name, regex in RUNS.items():
        result = fuzz(api.url, tokens[name], regex, tmp_path / f"{name}.json")
        ops, cases = result["operations"], result["test_cases"]
        summary.append(f"{name}: {ops['tested']}/{ops['selected']} operations, {cases['generated']} test cases,"
                       f" {result['running_time']:.0f} s")
        assert result["failures"] == [] and result["errors"] == [], result["_output"][-8000:]
        assert result["exit_code"] == 0, result["_output"][-8000:]
        assert ops["tested"] == ops["selected"] and ops["selected"] >= (6 if name == "admin" else 10)
        assert cases["generated"] >= 200
    after = {k: v["allowed"] for k, v in stats().items()}
    requests = sum(after.get(k, 0) - before.get(k, 0) for k in ("ip", "webhook"))
    print("schemathesis:", "; ".join(summary), f"; {requests} HTTP requests served")
    assert requests >= 400
