"""Resources the assets declare: small ConfigurableResources, instantiated from settings in pipelines/."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cashbook import warehouse
from cashbook.settings import load_settings


class LakeResource(dg.ConfigurableResource):
    """Where raw Parquet partitions live."""

    lake_dir: str

    @property
    def path(self) -> Path:
        return Path(self.lake_dir)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse; writers must run in the `duckdb` pool (one writer per file)."""

    cashbook_home: str
    threads: int = 2

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(load_settings(cashbook_home=self.cashbook_home), read_only=read_only,
                                 threads=self.threads)


class PostgresResource(dg.ConfigurableResource):
    """The cashbook Postgres (embedded or DATABASE_URL) for publishing marts and reading the API's ledger."""

    database_url: str = ""
    cashbook_home: str = ".cashbook"

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        from cashbook.db.embedded import embedded_url

        return embedded_url(Path(self.cashbook_home) / "pg")


@lru_cache(maxsize=16)
def _export_stream(export_dir: str, stream: str, mtime_ns: int) -> pa.Table:
    from cashbook.sources.export import read_stream

    return read_stream(Path(export_dir), stream)


def _between(table: pa.Table, column: str, start: int, end: int) -> pa.Table:
    col = table.column(column)
    return table.filter(pc.and_(pc.greater_equal(col, start), pc.less(col, end)))


class StripeSourceResource(dg.ConfigurableResource):
    """Stripe objects for a time window, from an export directory or the API (same rows either way)."""

    source: str = "export"  # "export" | "api"
    export_dir: str = ""
    api_key: str = ""
    api_base: str = ""
    rate_limit: float = 0.0

    def session(self) -> StripeReadSession:
        """One reader per run: with the API, every stream shares its token bucket and counters."""
        if self.source == "api":
            from cashbook.sources.stripe_api import StripeApiSource

            if not self.api_key:
                raise dg.Failure("STRIPE_SOURCE=api needs STRIPE_API_KEY")
            return StripeReadSession(api=StripeApiSource(self.api_key, api_base=self.api_base or None,
                                                         rate_limit=self.rate_limit or None))
        return StripeReadSession(export_dir=self.export_dir)

    def read_range(self, stream: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
        return self.session().read_range(stream, start, end)


class StripeReadSession:
    """Reads streams for one run from the export directory or through one StripeApiSource."""

    def __init__(self, export_dir: str = "", api: object | None = None) -> None:
        self.export_dir, self.api = export_dir, api

    def read_range(self, stream: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
        if self.api is not None:
            return self.api.read_range(stream, start, end)  # type: ignore[attr-defined]
        path = Path(self.export_dir) / f"{stream}.jsonl"
        mtime = path.stat().st_mtime_ns if path.exists() else 0
        table = _export_stream(self.export_dir, stream, mtime)
        column = "payout_created" if stream == "payout_balance_transactions" else "created"
        return _between(table, column, int(start.timestamp()), int(end.timestamp()))

    def metadata(self) -> dict:
        """What the run cost: pages, objects, requests and retries for the API; the directory for exports."""
        if self.api is None:
            return {"source": "export", "export_dir": self.export_dir}
        stats = self.api.stats.as_metadata()  # type: ignore[attr-defined]
        meta = {f"api/{k}": v for k, v in stats.items() if k != "warnings"}
        if stats.get("warnings"):
            meta["api/warnings"] = "\n".join(stats["warnings"][:20])
        return {"source": "api", **meta}


class LedgerSourceResource(dg.ConfigurableResource):
    """The company ledger: CSV files and/or the billing API's Postgres table, as minor units."""

    source: str = "csv"  # csv | postgres | both
    csv_paths: list[str] = []  # noqa: RUF012 (pydantic copies field defaults per instance)
    quarantine_dir: str = ""  # set: bad CSV rows go to a rejects file there instead of failing the load

    def read_range(self, start: dt.datetime, end: dt.datetime, pg: PostgresResource | None = None) -> pa.Table:
        from cashbook.sources.streams import LEDGER_SCHEMA

        parts: list[pa.Table] = []
        if self.source in ("csv", "both"):
            from cashbook.sources.ledger_csv import read_ledger_csv

            for p in self.csv_paths:
                rejects = Path(self.quarantine_dir) / f"{Path(p).stem}.rejects.csv" if self.quarantine_dir else None
                table = read_ledger_csv(Path(p), rejects=rejects)
                col = table.column("occurred_at")
                lo = pa.scalar(start, type=col.type)
                hi = pa.scalar(end, type=col.type)
                parts.append(table.filter(pc.and_(pc.greater_equal(col, lo), pc.less(col, hi))).select(
                    LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA))
        if self.source in ("postgres", "both") and pg is not None:
            from cashbook.sources.ledger_pg import read_ledger_postgres

            parts.append(read_ledger_postgres(pg.url(), start, end))
        if not parts:
            return pa.Table.from_pylist([], schema=LEDGER_SCHEMA)
        return pa.concat_tables(parts).sort_by([("occurred_at", "ascending"), ("entry_id", "ascending")])
