"""Benchmark: all marts for 24 months of a 50,000-customer account; GX checks on 50,000-row partitions.

    .venv/bin/python -m tests.bench.bench_marts [--customers N] [--months M]

The simulated export and its Parquet copy are cached under $CASHBOOK_HOME/bench/ so reruns time only
the marts. Marts run on DuckDB with threads=2 over Parquet files, as in the warehouse (raw views).
GX: per raw table, a one-day partition of 50,000 rows made from the simulated rows (new ids, created
spread over the day); the first validation pays GX's import and context, then the median of 3 runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cashbook.marts.build import MART_TABLES, build_mart, build_staging, configure_fx
from cashbook.sources.registry import LAKE_TABLES, STRIPE_STREAMS
from cashbook.sources.streams import lake_schema

PARTITION_ROWS = 50_000
DAY = dt.date(2025, 6, 1)


def _home() -> Path:
    return Path(os.environ.get("CASHBOOK_HOME", ".cashbook")).resolve()


def prepare(customers: int, months: int) -> tuple[Path, Path, float]:
    """Simulated export + one Parquet file per raw table (cached). Returns (export, parquet dir, seconds)."""
    from cashbook.simulator import SimConfig, simulate
    from cashbook.sources.ledger_csv import read_ledger_csv

    base = _home() / "bench" / f"marts-c{customers}-m{months}"
    export, lake = base / "export", base / "parquet"
    t0 = time.perf_counter()
    if not (export / "truth.json").exists():
        print(f"simulating {customers} customers x {months} months into {export} ...", flush=True)
        simulate(SimConfig(out=export, customers=customers, months=months, seed=42, start=dt.date(2024, 1, 1)))
    lake.mkdir(parents=True, exist_ok=True)
    for stream in STRIPE_STREAMS:
        path = lake / f"stripe_{stream}.parquet"
        if not path.exists():
            print(f"reading {stream} ...", flush=True)
            _stream_to_parquet(export, stream, path)
    if not (lake / "ledger_entries.parquet").exists():
        pq.write_table(read_ledger_csv(export / "ledger.csv"), lake / "ledger_entries.parquet", compression="zstd")
    return export, lake, time.perf_counter() - t0


def _stream_to_parquet(export: Path, stream: str, path: Path, batch: int = 100_000) -> None:
    """JSONL -> Parquet in batches through the same row builder as the lake (to_row / membership_row).

    Batched because a whole stream of a 50,000-customer account holds more than 2 GiB of `_raw` text,
    more than one Arrow string column can hold (the export reader sorts whole tables; see the report).
    """
    import orjson

    from cashbook.sources.streams import membership_row, schema_for, to_row

    created: dict[str, int] = {}
    if stream == "payout_balance_transactions":
        with (export / "payouts.jsonl").open("rb") as fh:
            for line in fh:
                o = orjson.loads(line)
                created[o["id"]] = o["created"]
    schema = schema_for(stream)
    src = export / f"{stream}.jsonl"
    with pq.ParquetWriter(path, schema, compression="zstd") as writer, src.open("rb") as fh:
        rows: list[dict] = []
        for lineno, line in enumerate(fh, 1):
            obj = orjson.loads(line)
            where = f"{src}:{lineno}"
            rows.append(membership_row(obj, where, created) if stream == "payout_balance_transactions"
                        else to_row(stream, obj, where))
            if len(rows) >= batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def time_marts(lake: Path) -> tuple[dict[str, float], dict[str, int], duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw")
    for table in LAKE_TABLES:
        con.execute(f"CREATE VIEW raw.{table} AS SELECT *, NULL::DATE AS day FROM read_parquet('{lake / table}.parquet')")
    timings: dict[str, float] = {}
    rows: dict[str, int] = {}
    t = time.perf_counter()
    build_staging(con)
    configure_fx(con, None)
    timings["staging"] = time.perf_counter() - t
    for mart in MART_TABLES:
        t = time.perf_counter()
        rows[mart] = build_mart(con, mart)
        timings[mart] = time.perf_counter() - t
    return timings, rows, con


def partition_of(table: str, lake: Path, n: int = PARTITION_ROWS) -> pa.Table:
    """n rows of one UTC day built from the simulated rows: unique ids, created spread over the day."""
    src = pq.read_table(lake / f"{table}.parquet")
    reps = -(-n // max(src.num_rows, 1))
    data = pa.concat_tables([src] * reps).slice(0, n)
    start = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp())
    offsets = pa.array([(i * 86399) // max(n - 1, 1) for i in range(n)], pa.int64())
    suffix = pa.array([f"_{i}" for i in range(n)])
    if table == "ledger_entries":
        data = data.set_column(data.schema.get_field_index("entry_id"), "entry_id",
                               pc.binary_join_element_wise(data.column("entry_id"), suffix, ""))
        ts = pc.add(pa.scalar(start * 1_000_000, pa.int64()), pc.multiply(offsets, 1_000_000))
        data = data.set_column(data.schema.get_field_index("occurred_at"), "occurred_at",
                               ts.cast(pa.timestamp("us", tz="UTC")))
    elif table == "stripe_payout_balance_transactions":
        data = data.set_column(1, "balance_transaction",
                               pc.binary_join_element_wise(data.column("balance_transaction"), suffix, ""))
        data = data.set_column(2, "payout_created", pc.add(offsets, start))
    else:
        data = data.set_column(0, "id", pc.binary_join_element_wise(data.column("id"), suffix, ""))
        data = data.set_column(1, "created", pc.add(offsets, start))
    return data.select(lake_schema(table).names).cast(lake_schema(table))


def time_gx(lake: Path) -> tuple[float, dict[str, tuple[float, bool]]]:
    from cashbook.quality import validate_frame
    from cashbook.quality.partitions import window_parameters

    params = window_parameters([DAY])
    frames = {t: partition_of(t, lake).to_pandas() for t in LAKE_TABLES}
    t = time.perf_counter()
    validate_frame(frames["stripe_balance_transactions"], "stripe_balance_transactions", params)
    first = time.perf_counter() - t
    out: dict[str, tuple[float, bool]] = {}
    for table, df in frames.items():
        runs, ok = [], True
        for _ in range(3):
            t = time.perf_counter()
            res = validate_frame(df, table, params)
            runs.append(time.perf_counter() - t)
            ok = ok and res.passed
        out[table] = (statistics.median(runs), ok)
        print(f"  gx {table}: {out[table][0]:.3f}s passed={ok}", flush=True)
    return first, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--months", type=int, default=24)
    args = ap.parse_args()
    export, lake, prep = prepare(args.customers, args.months)
    truth = json.loads((export / "truth.json").read_text())
    bt_count = truth["balance_transactions"]["count"]
    print(f"data ready in {prep:.1f}s: {bt_count:,} balance transactions", flush=True)

    timings, rows, con = time_marts(lake)
    total = sum(timings.values())
    got: dict[str, dict[str, int]] = {}
    for m, c, v in con.execute("SELECT strftime(month, '%Y-%m'), currency, mrr FROM marts.mrr_monthly").fetchall():
        if v:
            got.setdefault(m, {})[c] = v
    want = {m: {c: v for c, v in per.items() if v} for m, per in truth["mrr"].items()}
    mrr_ok = got == want
    sizes = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0] for t in
             ("stripe_balance_transactions", "stripe_charges", "stripe_invoices", "stripe_subscriptions")}
    lines = con.execute("SELECT count(*) FROM staging.stg_invoice_lines").fetchone()[0]
    print(f"all marts: {total:.2f}s  (MRR equals truth: {mrr_ok})", flush=True)

    first, gx = time_gx(lake)

    body = [f"Account: {args.customers:,} customers x {args.months} months (simulator seed 42): "
            f"{sizes['stripe_balance_transactions']:,} balance transactions, {sizes['stripe_charges']:,} charges, "
            f"{sizes['stripe_invoices']:,} invoices ({lines:,} invoice lines), "
            f"{sizes['stripe_subscriptions']:,} subscriptions. DuckDB {duckdb.__version__}, threads=2, "
            "raw tables read from Parquet.", "",
            f"**All marts (staging + {len(MART_TABLES)} marts, full rebuild): {total:.2f} s** (target <= 30 s). "
            f"mrr_monthly equals truth.json for every month and currency: {mrr_ok}.", "",
            "| step | seconds | rows |", "|---|---:|---:|",
            f"| staging (incl. invoice-line JSON unnest) | {timings['staging']:.2f} | {lines:,} |"]
    body += [f"| marts.{m} | {timings[m]:.2f} | {rows[m]:,} |" for m in MART_TABLES]
    body += ["", f"GX checks on a one-day partition of {PARTITION_ROWS:,} rows per raw table "
             f"(median of 3, after the first validation in the process, which took {first:.2f} s including "
             "GX import and the ephemeral context). Target <= 0.5 s each.", "",
             "| suite | seconds | passed |", "|---|---:|---|"]
    body += [f"| {t} | {s:.3f} | {ok} |" for t, (s, ok) in gx.items()]
    from tests.bench.report import write_section

    write_section("marts", "Marts and data-quality checks", "\n".join(body))


if __name__ == "__main__":
    main()
