"""Resources the assets declare: small ConfigurableResources, instantiated from settings in pipelines/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from cashbook import warehouse
from cashbook.settings import load_settings
from cashbook.snapshot import SnapshotInfo, publish_snapshot

# Dagster masks a field marked secret in the UI and GraphQL ("********") when it is given as a plain value;
# pipelines/ passes secrets that come from the environment as dg.EnvVar, which the UI shows by variable name.
SECRET = {"dagster__is_secret": True}


class LakeResource(dg.ConfigurableResource):
    """Where raw Parquet partitions live."""

    lake_dir: str

    @property
    def path(self) -> Path:
        return Path(self.lake_dir)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: the pipeline's build file, and the read-only copy it publishes for analysts.

    Steps that open the build file must run in the `duckdb` pool (one writer per file).
    """

    cashbook_home: str
    threads: int = 2
    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log  # lock waits show in the run's event log, not only on stderr

    def _warn(self, message: str) -> None:
        if self._log is not None:
            self._log.warning(message)
        else:
            warehouse.log.warning(message)

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        try:
            return warehouse.connect(load_settings(cashbook_home=self.cashbook_home), read_only=read_only,
                                     threads=self.threads, warn=self._warn)
        except warehouse.WarehouseMissingError as exc:
            raise dg.Failure(str(exc)) from None

    def publish_snapshot(self, run_id: str = "") -> SnapshotInfo:
        """Copy the build file to `$CASHBOOK_HOME/warehouse.duckdb` atomically (cashbook.snapshot)."""
        settings = load_settings(cashbook_home=self.cashbook_home)
        return publish_snapshot(warehouse.build_path(settings), warehouse.published_path(settings), run_id=run_id)


class PostgresResource(dg.ConfigurableResource):
    """The cashbook Postgres (embedded or DATABASE_URL) for publishing marts and reading the API's ledger."""

    database_url: str = Field(default="", json_schema_extra=SECRET,
                              description="DATABASE_URL; empty: the embedded server under cashbook_home/pg")
    cashbook_home: str = ".cashbook"

    def url(self) -> str:
        if self.database_url:
            return self.database_url.replace("postgresql+psycopg://", "postgresql://")
        from cashbook.db.embedded import embedded_url

        return embedded_url(Path(self.cashbook_home) / "pg")


class StripeSourceResource(dg.ConfigurableResource):
    """Stripe objects for a time window, from an export directory or the API (same rows either way)."""

    source: str = "export"  # "export" | "api"
    export_dir: str = ""
    api_key: str = Field(default="", json_schema_extra=SECRET, description="STRIPE_API_KEY")
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
        from cashbook.sources.export import read_window

        return read_window(Path(self.export_dir), stream, int(start.timestamp()), int(end.timestamp()))

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
    csv_patterns: list[str] = []  # noqa: RUF012 (pydantic copies field defaults per instance)
    quarantine_dir: str = ""  # set: bad CSV rows go to a rejects file there instead of failing the load

    def read_range(self, start: dt.datetime, end: dt.datetime, pg: PostgresResource | None = None) -> pa.Table:
        return self.read_range_with_info(start, end, pg)[0]

    def read_range_with_info(self, start: dt.datetime, end: dt.datetime, pg: PostgresResource | None = None
                             ) -> tuple[pa.Table, dict]:
        """Entries with start <= occurred_at < end, and what was read (files, rejected rows).

        Every configured source must be readable: no CSV matching the patterns, or no ledger table when Postgres
        is a source, is an error, because an empty read would overwrite the window's partitions with nothing.
        """
        from cashbook.settings import expand_globs
        from cashbook.sources.errors import SourceError
        from cashbook.sources.streams import LEDGER_SCHEMA

        parts: list[pa.Table] = []
        info: dict = {"source": self.source, "rejected_rows": 0}
        if self.source in ("csv", "both"):
            from cashbook.sources.ledger_csv import read_ledger_csv

            files = expand_globs(self.csv_patterns)
            if not files:
                raise SourceError("LEDGER_CSV_PATHS", f"no ledger CSV file matches {', '.join(self.csv_patterns)}")
            info["csv_files"] = ", ".join(str(f) for f in files)
            for path in files:
                rejects = None
                if self.quarantine_dir:
                    window = f"{start:%Y%m%d}-{end:%Y%m%d}"
                    rejects = Path(self.quarantine_dir) / f"{path.stem}.{window}.rejects.csv"
                table = read_ledger_csv(path, rejects=rejects)
                if rejects is not None and rejects.exists():
                    info["rejected_rows"] += max(0, sum(1 for _ in rejects.open()) - 1)
                    info.setdefault("rejects_files", []).append(str(rejects))
                col = table.column("occurred_at")
                lo = pa.scalar(start, type=col.type)
                hi = pa.scalar(end, type=col.type)
                parts.append(table.filter(pc.and_(pc.greater_equal(col, lo), pc.less(col, hi))).select(
                    LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA))
        if self.source in ("postgres", "both"):
            from cashbook.sources.ledger_pg import read_ledger_postgres

            if pg is None:
                raise SourceError("LEDGER_SOURCE", "the Postgres ledger needs the postgres resource")
            parts.append(read_ledger_postgres(pg.url(), start, end))
        if not parts:
            return pa.Table.from_pylist([], schema=LEDGER_SCHEMA), info
        table = pa.concat_tables(parts)
        _refuse_shared_entry_ids(table)
        if "rejects_files" in info:
            info["rejects_files"] = ", ".join(info["rejects_files"])
        return table.sort_by([("occurred_at", "ascending"), ("entry_id", "ascending")]), info


def _refuse_shared_entry_ids(table: pa.Table) -> None:
    """entry_id identifies a ledger entry across all sources; the same id in two places is ambiguous."""
    from cashbook.sources.errors import SourceError

    counts = table.group_by("entry_id").aggregate([("entry_id", "count")])
    dup = counts.filter(pc.greater(counts.column("entry_id_count"), 1))
    if dup.num_rows:
        entry_id = dup.column("entry_id")[0].as_py()
        where = table.filter(pc.equal(table.column("entry_id"), entry_id)).column("source").to_pylist()
        raise SourceError(" and ".join(where), f"entry_id {entry_id!r} appears in more than one ledger source "
                          f"({dup.num_rows} shared ids in all); give each source its own ids")
