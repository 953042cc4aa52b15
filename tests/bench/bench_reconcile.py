"""Benchmark: the reconciliation engine vs a bare DuckDB FULL OUTER JOIN on the same key and files.

Data is generated synthetically with DuckDB straight into the raw lake layout (Parquet): N charge balance
transactions + N charges, N ledger entries, 0.5% discrepancies (amount changes, entries missing, ledger-only
entries, duplicates, entries without stripe_id that go through the fuzzy pass). Each measurement runs in its
own process so peak RSS (VmHWM) is its own. The two are measured alternately, --repeat times each (bare,
engine, bare, engine, ...), and compared on their medians, so neither side is favoured by running first or by
a burst of load from other processes on a shared machine; every single run is printed too.

`--layouts lake` also measures the same rows laid out as a pipeline run over the account's window writes its lake
(`cashbook.lake.LakeStager`: one zstd Parquet file per table per UTC day of the window, empty days included, Stripe
streams ordered by (created, id) and the ledger by (occurred_at, entry_id) within a day):
the default layout (`bench`, always measured) is one snappy file per table written by DuckDB, on which the engine
fares better against the bare join (docs/reconciliation.md, round 7).

`--ledger-ids` also measures the engine on the same account with the ledger recording charges by PaymentIntent id
(`pi`, as the API records credit purchases) or by invoice id (`in`, as it records subscription payments, with
`charge.invoice` set): every such entry goes through key resolution. The bare join cannot match those ids, so
these rows are compared with the engine on charge ids (`ch`) in the same run, and must find the same discrepancies.

    .venv/bin/python -m tests.bench.bench_reconcile [--sizes 1000000,10000000] [--repeat 3] [--threads 2] \
        [--memory-limit 3GB] [--ledger-ids ch,pi,in] [--layouts bench,lake]

The defaults (shown) are issue 15 item 6's configuration: `make bench` measures it as the issue states it (≈ 7 minutes
on a 2-core machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cashbook.lake import LakeStager, unix_seconds
from cashbook.sources.registry import LAKE_TABLES
from cashbook.sources.streams import lake_schema, sort_columns, time_column

DAY_DIR = "day=2026-01-01"
START = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
AS_OF = "2026-05-01T00:00:00+00:00"

# Discrepancy mix, in rows per 1000 (sum 5 = 0.5%), chosen by i % 1000.
GEN_SQL = """
COPY (
    SELECT 'txn_' || i AS id, {start} + (i * 7919) % (90 * 86400) AS created, NULL::BIGINT AS available_on,
           1000 + (i % 5000) AS amount, 30 + (i % 50) AS fee, 1000 + (i % 5000) - 30 - (i % 50) AS net,
           CASE WHEN i % 10 = 0 THEN 'eur' ELSE 'usd' END AS currency, NULL::VARCHAR AS exchange_rate,
           'charge' AS type, 'charge' AS reporting_category, 'ch_' || i AS source, 'available' AS status,
           NULL::VARCHAR AS description, NULL::VARCHAR AS fee_details, '{{}}' AS _raw
    FROM range({n}) t(i)
) TO '{lake}/stripe_balance_transactions/{day}/data.parquet' (FORMAT parquet);
COPY (
    SELECT 'ch_' || i AS id, {start} + (i * 7919) % (90 * 86400) AS created, 1000 + (i % 5000) AS amount,
           1000 + (i % 5000) AS amount_captured, 0::BIGINT AS amount_refunded,
           CASE WHEN i % 10 = 0 THEN 'eur' ELSE 'usd' END AS currency, 'cus_' || (i % 199999) AS customer,
           'pi_' || i AS payment_intent, {invoice} AS invoice, 'txn_' || i AS balance_transaction,
           'succeeded' AS status, true AS paid, true AS captured, false AS refunded, false AS disputed,
           NULL::VARCHAR AS failure_code, NULL::VARCHAR AS failure_message, 'authorized' AS outcome_type,
           '{{}}' AS _raw
    FROM range({n}) t(i)
) TO '{lake}/stripe_charges/{day}/data.parquet' (FORMAT parquet);
COPY (
    WITH base AS (
        SELECT i, i % 1000 AS r FROM range({n}) t(i)
    )
    SELECT 'L' || i AS entry_id,
           to_timestamp({start} + (i * 7919) % (90 * 86400) + CASE WHEN r = 4 THEN 3600 ELSE 0 END) AS occurred_at,
           'payment' AS type,
           1000 + (i % 5000) + CASE WHEN r = 0 THEN 1 ELSE 0 END AS amount,
           CASE WHEN i % 10 = 0 THEN 'eur' ELSE 'usd' END AS currency,
           CASE WHEN r = 2 THEN 'ch_x' || i WHEN r = 4 THEN NULL ELSE '{prefix}' || i END AS stripe_id,
           'cus_' || (i % 199999) AS customer_id, NULL::VARCHAR AS description, 'bench' AS source
    FROM base WHERE r <> 1
    UNION ALL
    SELECT 'D' || i, to_timestamp({start} + (i * 7919) % (90 * 86400) + 60), 'payment', 1000 + (i % 5000),
           CASE WHEN i % 10 = 0 THEN 'eur' ELSE 'usd' END, '{prefix}' || i, 'cus_' || (i % 199999), NULL, 'bench'
    FROM base WHERE r = 3
) TO '{lake}/ledger_entries/{day}/data.parquet' (FORMAT parquet);
"""

BARE_SQL = """
CREATE OR REPLACE TABLE bare_discrepancies AS
SELECT * FROM (
    SELECT CASE WHEN b.id IS NULL THEN 'missing_in_stripe' WHEN l.entry_id IS NULL THEN 'missing_in_ledger'
                WHEN b.amount <> l.amount THEN 'amount_mismatch' END AS kind,
           b.id AS bt, b.source AS object, l.entry_id, b.amount AS stripe_amount, l.amount AS ledger_amount
    FROM raw.stripe_balance_transactions AS b
    FULL OUTER JOIN raw.ledger_entries AS l ON l.stripe_id = b.source
) WHERE kind IS NOT NULL
"""


LEDGER_IDS = {"ch": "ch_", "pi": "pi_", "in": "in_"}


def generate(lake: Path, n: int, ledger_ids: str = "ch") -> None:
    """The synthetic account; `ledger_ids` picks the id the ledger records each charge by (ch_, pi_ or in_)."""
    for table in LAKE_TABLES:
        (lake / table / DAY_DIR).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    invoice = "'in_' || i" if ledger_ids == "in" else "NULL::VARCHAR"
    con.execute(GEN_SQL.format(n=n, start=START, lake=lake, day=DAY_DIR, prefix=LEDGER_IDS[ledger_ids],
                               invoice=invoice))
    for table in LAKE_TABLES:
        path = lake / table / DAY_DIR / "data.parquet"
        if not path.exists():
            pq.write_table(pa.Table.from_pylist([], schema=lake_schema(table)), path)
    con.close()


def relayout(src: Path, dst: Path) -> int:
    """Write the generated tables again as the pipeline lays out its lake; returns the number of day files.

    As a pipeline run over the account's window does: one `LakeStager` for the whole window, every table staged for
    every day of it (a day with no rows gets an empty file), Stripe streams in (created, id) order within a day and
    the ledger in (occurred_at, entry_id) order, which `cashbook.sources.ledger.read_ledger_window` returns.
    """
    tables, days = {}, set()
    for table in LAKE_TABLES:
        data = pq.read_table(src / table / DAY_DIR / "data.parquet", schema=lake_schema(table))
        if table == "ledger_entries":
            column, sort_by = "occurred_at", ["occurred_at", "entry_id"]
        else:
            stream = table.removeprefix("stripe_")
            column, sort_by = time_column(stream), sort_columns(stream)
        tables[table] = (data, column, sort_by)
        days |= _days(data.column(column))
    first, last = min(days), max(days)
    window = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    with LakeStager(dst, window) as stager:
        for table, (data, column, sort_by) in tables.items():
            stager.stage(table, data, column, lake_schema(table), sort_by=sort_by)
    return len(window) * len(tables)


def _days(col: pa.ChunkedArray) -> set[dt.date]:
    """The UTC days a time column covers, floored as `LakeStager` splits rows (`cashbook.lake.unix_seconds`)."""
    day_numbers = np.unique(unix_seconds(col) // 86400) if len(col) else []
    return {dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in day_numbers}


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, workdir: Path, threads: int, memory_limit: str) -> None:
    """One measurement in this process: open a fresh warehouse file over the lake and run `mode`."""
    from cashbook.reconcile.runner import run_reconciliation
    from cashbook.warehouse import refresh_raw_views

    db = workdir / f"{mode}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute(f"SET threads = {threads}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{workdir / 'tmp'}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    refresh_raw_views(con, workdir / "lake")
    timings: dict[str, float] = {}
    t, cpu = time.perf_counter(), time.process_time()
    if mode == "engine":
        run_reconciliation(con, as_of=dt.datetime.fromisoformat(AS_OF), grace_days=3, timings=timings)
        kinds = dict(con.execute("SELECT kind, count(*) FROM marts.discrepancies GROUP BY ALL").fetchall())
    else:
        con.execute(BARE_SQL)
        kinds = dict(con.execute("SELECT kind, count(*) FROM bare_discrepancies GROUP BY ALL").fetchall())
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    con.close()
    db.unlink(missing_ok=True)
    print(json.dumps({"mode": mode, "seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mib": _peak_rss_mib(),
                      "kinds": kinds,
                      "files": timings}))


def measure(mode: str, workdir: Path, threads: int, memory_limit: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_reconcile", "--child", mode, "--workdir", str(workdir),
         "--threads", str(threads), "--memory-limit", memory_limit],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _per_file_table(per_file: dict[str, dict[str, float]]) -> str:
    """SQL file × measured column (a size, or a size on the lake layout), in the order they were measured."""
    columns = list(dict.fromkeys(c for by_column in per_file.values() for c in by_column))
    columns.sort(key=lambda c: "lake layout" in c)  # the default files' sizes first (a stable sort)
    lines = ["| SQL file | " + " | ".join(f"{c} s" for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, by_column in per_file.items():
        lines.append(f"| `{name}` | " + " | ".join(f"{by_column.get(c, float('nan')):.2f}" for c in columns) + " |")
    return "\n".join(lines)


def _runs(results: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


def _measure_lake_layout(workdir: Path, n: int, args: argparse.Namespace,
                         reference: dict[str, int]) -> tuple[str, dict[str, float]]:
    """Bare join and engine, alternately, on the generated rows written again as the pipeline's day files.

    `reference` is the discrepancy count per kind on the default files. Returns the table row and the engine's median
    seconds per SQL file."""
    laid = workdir / "lake_layout"
    t = time.perf_counter()
    files = relayout(workdir / "lake", laid / "lake")
    print(f"N={n:,} lake layout: {files} day files written in {time.perf_counter() - t:.1f}s")
    bares, engines = [], []
    for _ in range(args.repeat):
        bares.append(measure("bare", laid, args.threads, args.memory_limit))
        engines.append(measure("engine", laid, args.threads, args.memory_limit))
    same = all(e["kinds"] == reference for e in engines)
    e_s, b_s = statistics.median(e["seconds"] for e in engines), statistics.median(b["seconds"] for b in bares)
    e_c, b_c = (statistics.median(e["cpu_seconds"] for e in engines),
                statistics.median(b["cpu_seconds"] for b in bares))
    print(f"N={n:,} lake layout: engine {[round(e['seconds'], 2) for e in engines]}, "
          f"bare {[round(b['seconds'], 2) for b in bares]}, ratio {e_s / b_s:.2f}, same={same}")
    per_file = {name: statistics.median(e["files"][name] for e in engines) for name in engines[0]["files"]}
    return (f"| {n:,} | {files:,} | {e_s:.2f} | {b_s:.2f} | {e_s / b_s:.2f}× | {e_c:.2f} | {b_c:.2f} | "
            f"{e_c / b_c:.2f}× | {'yes' if same else 'NO'} | {max(e['peak_rss_mib'] for e in engines):,.0f} MiB | "
            f"{_runs(engines)} | {_runs(bares)} |"), per_file


def main() -> None:
    ap = argparse.ArgumentParser()
    # The defaults are issue 15 item 6's configuration, so `make bench` measures it as the issue states it.
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--child")
    ap.add_argument("--workdir")
    ap.add_argument("--ledger-ids", default="ch,pi,in", help="comma list of ch, pi, in (ch is always measured)")
    ap.add_argument("--layouts", default="bench,lake",
                    help="bench (one snappy file per table; always measured), lake (also the pipeline's daily zstd files)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.workdir), args.threads, args.memory_limit)
        return

    load_start = os.getloadavg()
    styles = ["ch", *[x for x in args.ledger_ids.split(",") if x and x != "ch"]]
    per_file: dict[str, dict[str, float]] = {}  # SQL file -> column -> median seconds
    lines = ["| balance transactions | ledger entries | discrepancies | engine s (median) | bare join s (median) | "
             "ratio | engine CPU s | bare join CPU s | CPU ratio | engine rows/s | engine peak RSS | "
             "bare join peak RSS | engine runs s | bare join runs s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    id_lines = ["| balance transactions | ledger records charges by | engine s (median) | engine CPU s | "
                "vs engine on ch_ ids | same discrepancies | engine peak RSS | engine runs s |",
                "|---:|---|---:|---:|---:|---|---:|---|"]
    layouts = {x for x in args.layouts.split(",") if x}
    if not layouts <= {"bench", "lake"}:
        ap.error(f"--layouts: unknown {sorted(layouts - {'bench', 'lake'})}")
    lake_lines = ["| balance transactions | day files | engine s (median) | bare join s (median) | ratio | "
                  "engine CPU s | bare join CPU s | CPU ratio | same discrepancies | engine peak RSS | engine runs s | "
                  "bare join runs s |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|"]
    for n in (int(s) for s in args.sizes.split(",")):
        by_style: dict[str, list[dict[str, Any]]] = {}
        for style in styles:
            workdir = Path(tempfile.mkdtemp(prefix="bench_reconcile_"))
            try:
                t = time.perf_counter()
                generate(workdir / "lake", n, style)
                gen_s = time.perf_counter() - t
                bares, engines = [], []
                for _ in range(args.repeat):
                    if style == "ch":
                        bares.append(measure("bare", workdir, args.threads, args.memory_limit))
                    engines.append(measure("engine", workdir, args.threads, args.memory_limit))
                ledger_rows = pq.ParquetFile(
                    workdir / "lake" / "ledger_entries" / DAY_DIR / "data.parquet").metadata.num_rows
                if style == "ch" and "lake" in layouts:
                    line, lake_files = _measure_lake_layout(workdir, n, args, engines[0]["kinds"])
                    lake_lines.append(line)
                    for name, seconds in lake_files.items():
                        per_file.setdefault(name, {})[f"N={n:,} lake layout"] = seconds
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            by_style[style] = engines
            if style != "ch":
                base = by_style["ch"]
                e_s, c_s = statistics.median(e["seconds"] for e in engines), statistics.median(e["cpu_seconds"] for e in engines)
                same = all(e["kinds"] == base[0]["kinds"] for e in engines)
                print(f"N={n:,} {style}_ ids: generated in {gen_s:.1f}s; engine {[round(e['seconds'], 2) for e in engines]}"
                      f" kinds={engines[0]['kinds']} same={same}")
                id_lines.append(
                    f"| {n:,} | {LEDGER_IDS[style]} | {e_s:.2f} | {c_s:.2f} | "
                    f"{e_s / statistics.median(e['seconds'] for e in base):.2f}× | {'yes' if same else 'NO'} | "
                    f"{max(e['peak_rss_mib'] for e in engines):,.0f} MiB | "
                    f"{_runs(engines)} |")
                continue
            engine = engines[-1]
            for b, e in zip(bares, engines, strict=True):
                print(f"N={n:,}: engine {e['seconds']:.2f}s ({e['peak_rss_mib']:.0f} MiB) kinds={e['kinds']}; "
                      f"bare {b['seconds']:.2f}s ({b['peak_rss_mib']:.0f} MiB) kinds={b['kinds']}; "
                      f"ratio {e['seconds'] / b['seconds']:.2f}")
            engine_s = statistics.median(e["seconds"] for e in engines)
            bare_s = statistics.median(b["seconds"] for b in bares)
            engine_rss = max(e["peak_rss_mib"] for e in engines)
            bare_rss = max(b["peak_rss_mib"] for b in bares)
            n_disc = sum(engine["kinds"].values())
            ratio = engine_s / bare_s
            engine_cpu = statistics.median(e["cpu_seconds"] for e in engines)
            bare_cpu = statistics.median(b["cpu_seconds"] for b in bares)
            print(f"N={n:,}: generated in {gen_s:.1f}s; median engine {engine_s:.2f}s, median bare {bare_s:.2f}s, "
                  f"ratio {ratio:.2f} (runs: engine {[round(e['seconds'], 2) for e in engines]}, "
                  f"bare {[round(b['seconds'], 2) for b in bares]})")
            for name in engines[0]["files"]:
                per_file.setdefault(name, {})[f"N={n:,}"] = statistics.median(e["files"][name] for e in engines)
            engine_runs, bare_runs = _runs(engines), _runs(bares)
            lines.append(f"| {n:,} | {ledger_rows:,} | {n_disc:,} | {engine_s:.2f} | {bare_s:.2f} | "
                         f"{ratio:.2f}× | {engine_cpu:.2f} | {bare_cpu:.2f} | {engine_cpu / bare_cpu:.2f}× | "
                         f"{n / engine_s:,.0f} | {engine_rss:,.0f} MiB | {bare_rss:,.0f} MiB | "
                         f"{engine_runs} | {bare_runs} |")
    body = (
        "Synthetic charges: N balance transactions + N charges (Parquet, raw lake layout) vs ≈N ledger entries "
        "with 0.5% discrepancies (amount changes, missing in ledger, ledger-only ids, duplicates, entries "
        "without stripe_id resolved by the fuzzy pass). *Engine* = `run_reconciliation`: the reconciliation "
        "staging views + every sql/duckdb/reconciliation file (TEMP intermediates, marts persisted) in a fresh "
        "DuckDB file over `raw.*` lake views; *bare join* = one `FULL OUTER JOIN` of balance transactions and "
        "ledger on `stripe_id = source` materialising the non-matching rows, same files, same settings. DuckDB "
        f"threads={args.threads}, memory_limit={args.memory_limit}; each measurement in its own process (peak "
        f"RSS = VmHWM, the largest of the runs); the two are run alternately {args.repeat}× and the ratio is of "
        "the medians. *CPU s* is the process's user + system time over the same section (DuckDB's threads "
        "included), median of the runs: on a machine other people load, wall time mostly measures the wait for a "
        "core, CPU time much less so. Targets (issue 15): engine ≤ 2× the bare join, ≤ 4 GiB at 10M. When the "
        "machine is shared, figures move with the other jobs' load (see docs/reconciliation.md). Load average (1, 5, 15 min) "
        f"at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, at end "
        "{:.2f} {:.2f} {:.2f}.\n\n".format(*os.getloadavg())
        + "\n".join(lines)
        + ("\n\nThe same account with the ledger recording each charge by another id (every entry then goes "
           "through key resolution; the bare join cannot match these ids, so the comparison is with the engine on "
           "ch_ ids in the same run; *same discrepancies* = the same count per kind as on ch_ ids):\n\n"
           + "\n".join(id_lines) if len(id_lines) > 2 else "")
        + ("\n\nThe same rows laid out as a pipeline run over the window writes its lake (`--layouts lake`: "
           "`cashbook.lake.LakeStager`, one zstd file per table per UTC day of the window, empty days included, "
           "Stripe streams in (created, id) and the ledger in (occurred_at, entry_id) order within a day; the default "
           "rows above are one snappy file per table written by DuckDB): bare join and engine again alternately, on "
           "these files; *same discrepancies* = the same count per kind as on the default layout:\n\n"
           + "\n".join(lake_lines) if len(lake_lines) > 2 else "")
        + "\n\nSeconds per SQL file inside the engine (median of the engine runs, ch_ ids; `cashbook.sql_runner` times "
        "each file; the `staging/recon` files only define views, their scans are paid by the files that read "
        "them):\n\n" + _per_file_table(per_file)
    )
    if not args.no_write:
        from tests.bench.report import write_section

        write_section("reconcile", "Reconciliation engine vs bare FULL OUTER JOIN", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
