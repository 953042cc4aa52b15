"""Benchmark: StripeApiSource against a slow, flaky, rate-limited replay server.

Target (issue 3): 100,000 balance transactions over 30 daily partitions, plus their charges, with 300 ms
latency per request, a 25 req/s limit and 2% injected 429s, in <= 60 s wall; the server must never count
more than 25 requests in any 1-second window, and no object may be lost or duplicated.
The BTs are listed with `expand[]=data.source`, so their charges arrive on the same pages.
A second phase lists the full `charges` stream (failed charges included) under the same conditions.

Run: .venv/bin/python -m tests.bench.bench_api_source [--bts 100000] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from cashbook.replay.synth import write_synthetic_export
from cashbook.sources.stripe_api import StripeApiSource
from tests.bench.report import write_section

START = dt.date(2026, 1, 1)
LATENCY_MS, RATE, ERROR_RATE = 300, 25, 0.02


def _start_server(export_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The replay server in its own process (as `cashbook stripe-replay`), so it does not share our GIL."""
    cmd = [sys.executable, "-c", "import sys; from cashbook.cli import app; app(sys.argv[1:])",
           "stripe-replay", str(export_dir), "--port", "0", "--latency-ms", str(LATENCY_MS),
           "--error-rate", str(ERROR_RATE), "--error-statuses", "429", "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"replay server did not start: {url!r}")
    return proc, url


def _expected(export_dir: Path, name: str) -> set[str]:
    return {orjson.loads(line)["id"] for line in (export_dir / f"{name}.jsonl").read_bytes().splitlines() if line}


def _phase(url: str, label: str, run: object) -> dict[str, object]:
    httpx.post(url + "/_replay/reset")
    src = StripeApiSource("sk_test_bench", url, rate_limit=RATE, max_workers=16)
    t0 = time.perf_counter()
    result = run(src)  # type: ignore[operator]
    wall = time.perf_counter() - t0
    stats = httpx.get(url + "/_replay/stats").json()["requests"]
    return {"label": label, "wall": wall, "stats": src.stats, "server": stats, "result": result}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        export_dir = Path(tmp)
        t0 = time.perf_counter()
        counts = write_synthetic_export(export_dir, balance_transactions=args.bts, days=args.days, start=START)
        print(f"synthetic export: {counts} in {time.perf_counter() - t0:.1f}s")
        proc, url = _start_server(export_dir)
        try:
            p1 = _phase(url, "balance transactions + their charges (expand[]=data.source)",
                        lambda s: s.read_days_expanded(days))
            p2 = _phase(url, "charges stream (all charges, incl. failed)", lambda s: s.read_days("charges", days))
        finally:
            proc.terminate()
            proc.wait(10)

        tables, sources = p1["result"]  # type: ignore[misc]
        bt_ids = [i for t in tables.values() for i in t.column("id").to_pylist()]
        want_bts = _expected(export_dir, "balance_transactions")
        charge_ids = [c["id"] for c in sources["charges"]]
        want_charges = {r["source"] for t in tables.values() for r in t.select(["source"]).to_pylist()
                        if r["source"].startswith("ch_")}
        full_charges = [i for t in p2["result"].values() for i in t.column("id").to_pylist()]  # type: ignore[union-attr]
        checks = {
            "BTs lost": len(want_bts - set(bt_ids)), "BTs duplicated": len(bt_ids) - len(set(bt_ids)),
            "BT charges lost": len(want_charges - set(charge_ids)),
            "charges (stream) lost": len(_expected(export_dir, "charges") - set(full_charges)),
            "charges (stream) duplicated": len(full_charges) - len(set(full_charges)),
        }

    rows = []
    for p, objects in ((p1, len(bt_ids) + len(charge_ids)), (p2, len(full_charges))):
        st, srv, wall = p["stats"], p["server"], p["wall"]
        rows.append(f"| {p['label']} | {objects:,} | {wall:.1f} | {objects / wall:,.0f} | {st.requests:,} | "  # type: ignore[attr-defined]
                    f"{st.requests / wall:.1f} | {st.retries} | {st.rate_limited} | {st.splits} | "  # type: ignore[attr-defined]
                    f"{srv['max_per_second']} / {srv['max_sliding_1s']} |")
    body = (
        f"Replay server in its own process: {LATENCY_MS} ms latency per request, {ERROR_RATE:.0%} injected 429s "
        f"(Retry-After 1 s); client limit {RATE} req/s, 16 workers; synthetic account: {counts['balance_transactions']:,} "
        f"balance transactions, {counts['charges']:,} charges over {args.days} daily partitions.\n\n"
        "| phase | objects | wall s | objects/s | requests | requests/s | retries | 429s | splits | "
        "max req in a 1 s window (aligned / sliding), server-side |\n|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nIntegrity: " + ", ".join(f"{k} {v}" for k, v in checks.items()) + ".\n"
    )
    write_section("api_source", "Stripe API source via the replay server", body)
    if any(checks.values()):
        raise SystemExit(f"integrity check failed: {checks}")


if __name__ == "__main__":
    main()
