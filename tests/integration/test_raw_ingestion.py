"""Raw ingestion through Dagster: partitions land, reruns overwrite, bad input fails and loses nothing."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from cashbook.dagster_instance import write_instance_yaml
from cashbook.lake import partition_path
from cashbook.settings import Settings, load_settings
from cashbook.sources.registry import STREAMS, STRIPE_STREAMS

D1 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
D2 = dt.datetime(2025, 3, 2, 23, 59, 59, tzinfo=dt.UTC)

# Each raw stream holding Stripe objects -> the `object` of its rows (Stripe's example object of that type).
STREAM_FIXTURE = {s: STREAMS[s].object for s in STRIPE_STREAMS if STREAMS[s].object}


def _write_export(fixtures_dir: Path, out: Path) -> None:
    """Two objects per stream from Stripe's own fixtures, one on each of two days."""
    fixtures = json.loads((fixtures_dir / "stripe" / "objects.json").read_text())["resources"]
    out.mkdir(parents=True)
    for stream, name in STREAM_FIXTURE.items():
        lines = []
        for i, when in enumerate((D1, D2)):
            obj = copy.deepcopy(fixtures[name])
            obj["id"] = f"{obj['id']}_{i}"
            obj["created"] = int(when.timestamp())
            lines.append(json.dumps(obj))
        (out / f"{stream}.jsonl").write_text("\n".join(lines) + "\n")
    membership = [{"payout": f"{fixtures['payout']['id']}_{i}", "balance_transaction": f"txn_{i}"} for i in (0, 1)]
    (out / "payout_balance_transactions.jsonl").write_text("\n".join(json.dumps(m) for m in membership) + "\n")


def pipeline_home(tmp_path: Path, fixtures_dir: Path, pg_url: str) -> tuple[Path, Settings, dict[str, str]]:
    """A home with the two-day export and ledger above and its dagster.yaml: (home, settings, env for Dagster
    processes). The pool limits are left to the caller (`init_pools`, or a `DagsterRuns` runner)."""
    export = tmp_path / "export"
    _write_export(fixtures_dir, export)
    ledger_csv = tmp_path / "ledger.csv"
    _ledger(ledger_csv)
    home = tmp_path / "home"
    settings = load_settings(cashbook_home=home, database_url=pg_url)
    write_instance_yaml(settings, pg_url)
    env = dict(os.environ, CASHBOOK_HOME=str(home), DAGSTER_HOME=str(settings.dagster_home), DATABASE_URL=pg_url,
               STRIPE_EXPORT_DIR=str(export), LEDGER_CSV_PATHS=str(ledger_csv))
    return home, settings, env


def _ledger(path: Path) -> None:
    path.write_text(
        "entry_id,occurred_at,type,amount,currency,stripe_id,customer_id,description\n"
        "le_1,2025-03-01T12:00:05+00:00,payment,1.00,USD,ch_1MoS30LgUG5tbmjcjfsQqpHI_0,cus_1,first\n"
        "le_2,2025-03-03T01:59:59+02:00,payment,4900,jpy,,cus_1,cross-midnight in UTC\n"
    )


# (settings, the code location's resources for them, the export directory)
RawSetup = tuple[Settings, dict[str, dg.ConfigurableResource], Path]


@pytest.fixture()
def setup(tmp_path: Path, fixtures_dir: Path, pg_url: str) -> RawSetup:
    export = tmp_path / "export"
    _write_export(fixtures_dir, export)
    ledger_csv = tmp_path / "ledger.csv"
    _ledger(ledger_csv)
    settings = load_settings(
        cashbook_home=tmp_path / "home", stripe_export_dir=export, ledger_csv_paths=str(ledger_csv),
        database_url=pg_url,
    )
    from pipelines.definitions import build_resources

    return settings, build_resources(settings), export


def _raw_assets():
    from assets.ledger.raw import ledger_entries
    from assets.stripe.raw import stripe_raw_assets

    return [*stripe_raw_assets, ledger_entries]


def test_single_partition_lands_every_stream(setup: RawSetup) -> None:
    settings, resources, _ = setup
    result = dg.materialize(_raw_assets(), partition_key="2025-03-02", resources=resources)
    assert result.success
    for table in ("stripe_balance_transactions", "stripe_charges", "stripe_invoices", "stripe_payout_balance_transactions"):
        part = pq.read_table(partition_path(settings.lake_dir, table, dt.date(2025, 3, 2)))
        assert part.num_rows == 1, table
    ledger = pq.read_table(partition_path(settings.lake_dir, "ledger_entries", dt.date(2025, 3, 2))).to_pylist()
    # 2025-03-03T01:59:59+02:00 is 2025-03-02T23:59:59Z: it belongs to the 2nd in UTC, in minor units.
    assert [(r["entry_id"], r["amount"], r["currency"]) for r in ledger] == [("le_2", 4900, "jpy")]
    assert not partition_path(settings.lake_dir, "stripe_charges", dt.date(2025, 3, 1)).exists()


def test_range_run_is_one_run_and_rerun_is_idempotent(setup: RawSetup) -> None:
    settings, resources, _ = setup
    instance = dg.DagsterInstance.ephemeral()
    tags = {"dagster/asset_partition_range_start": "2025-03-01", "dagster/asset_partition_range_end": "2025-03-03"}
    for _ in range(2):
        result = dg.materialize(_raw_assets(), resources=resources, instance=instance, tags=tags)
        assert result.success
    runs = instance.get_runs()
    assert len(runs) == 2
    counts = {d: pq.read_table(partition_path(settings.lake_dir, "stripe_charges", d)).num_rows
              for d in (dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3))}
    assert counts == {dt.date(2025, 3, 1): 1, dt.date(2025, 3, 2): 1, dt.date(2025, 3, 3): 0}
    # Each day's materialization carries that day's own row count (the UI's partition view), plus the run's window.
    for key, want in ((dg.AssetKey(["raw", "stripe_charges"]), {"2025-03-01": 1, "2025-03-02": 1, "2025-03-03": 0}),
                      (dg.AssetKey(["raw", "ledger_entries"]), {"2025-03-01": 1, "2025-03-02": 1, "2025-03-03": 0})):
        records = instance.fetch_materializations(key, limit=100).records
        latest = {r.partition_key: r.asset_materialization.metadata for r in records if r.run_id == runs[0].run_id}
        assert {p: m["dagster/row_count"].value for p, m in latest.items()} == want
        newest = latest["2025-03-03"]  # the run's facts ride on its newest day (the asset page's latest)
        assert (newest["run_rows"].value, newest["first_day"].value, newest["last_day"].value) == (
            2, "2025-03-01", "2025-03-03")
        assert "run_rows" not in latest["2025-03-01"]


def test_malformed_line_fails_with_file_and_line_and_keeps_old_partition(setup: RawSetup) -> None:
    settings, resources, export = setup
    assert dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=resources).success
    path = partition_path(settings.lake_dir, "stripe_charges", dt.date(2025, 3, 1))
    before = path.read_bytes()

    charges = export / "charges.jsonl"
    charges.write_text(charges.read_text() + '{"id": "ch_broken", "created": \n')
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=resources, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    messages = " ".join(str(e.event_specific_data.error.message) for e in failures)
    assert f"{charges}:3" in messages and "malformed JSON" in messages
    assert path.read_bytes() == before


def test_unknown_currency_is_refused_with_location(setup: RawSetup) -> None:
    settings, resources, export = setup
    bts = export / "balance_transactions.jsonl"
    lines = bts.read_text().splitlines()
    obj = json.loads(lines[0])
    obj["currency"] = "zzz"
    lines[0] = json.dumps(obj)
    bts.write_text("\n".join(lines) + "\n")
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=resources, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any(f"{bts}:1" in e.event_specific_data.error.message and "zzz" in e.event_specific_data.error.message
               for e in failures)
    assert not partition_path(settings.lake_dir, "stripe_balance_transactions", dt.date(2025, 3, 1)).exists()


def test_bad_ledger_amount_names_file_and_line(setup: RawSetup, tmp_path: Path) -> None:
    _settings, resources, _ = setup
    bad = Path(resources["ledger"].csv_patterns[0])
    bad.write_text(bad.read_text() + "le_3,2025-03-01T10:00:00+00:00,payment,12.345,usd,,cus_2,three decimals\n")
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=resources, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any(f"{bad}:4" in e.event_specific_data.error.message for e in failures)


def test_ledger_from_csv_and_postgres_refuses_shared_entry_ids(setup: RawSetup, pg_url: str) -> None:
    import psycopg

    from cashbook.db.migrate import migrate

    settings, resources, _ = setup
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id) "
                     "VALUES ('le_api_1', '2025-03-01T09:00:00Z', 'credit_purchase', 500, 'usd', 'pi_1')")
    from assets.resources import LedgerSourceResource

    both = {**resources, "ledger": LedgerSourceResource(source="both", csv_patterns=resources["ledger"].csv_patterns)}
    assert dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=both).success
    rows = pq.read_table(partition_path(settings.lake_dir, "ledger_entries", dt.date(2025, 3, 1))).to_pylist()
    assert sorted((r["entry_id"], r["source"].split(":")[0]) for r in rows) == [("le_1", "csv"), ("le_api_1", "postgres")]

    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id) "
                     "VALUES ('le_1', '2025-03-01T10:00:00Z', 'payment', 100, 'usd', 'ch_x')")
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=both, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("entry_id 'le_1' appears in more than one ledger source" in e.event_specific_data.error.message
               for e in failures)


def test_no_ledger_file_is_an_error_not_an_empty_ledger(setup: RawSetup, tmp_path: Path) -> None:
    from assets.resources import LedgerSourceResource

    settings, resources, _ = setup
    assert dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=resources).success
    path = partition_path(settings.lake_dir, "ledger_entries", dt.date(2025, 3, 1))
    before = path.read_bytes()
    nothing = {**resources, "ledger": LedgerSourceResource(csv_patterns=[str(tmp_path / "none" / "*.csv")])}
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=nothing, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("no ledger CSV file matches" in e.event_specific_data.error.message for e in failures)
    assert path.read_bytes() == before  # yesterday's ledger is not replaced by nothing


def test_postgres_ledger_without_table_is_an_error(setup: RawSetup, pg_url: str) -> None:
    from assets.resources import LedgerSourceResource

    _settings, resources, _ = setup
    pg_only = {**resources, "ledger": LedgerSourceResource(source="postgres")}
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=pg_only, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("ledger_entries: table does not exist" in e.event_specific_data.error.message for e in failures)


def test_quarantine_reports_rejected_rows(setup: RawSetup, tmp_path: Path) -> None:
    from assets.resources import LedgerSourceResource

    settings, resources, _ = setup
    csv = Path(resources["ledger"].csv_patterns[0])
    csv.write_text(csv.read_text() + "le_3,2025-03-01T10:00:00+00:00,payment,12.345,usd,,cus_2,three decimals\n"
                   ",,,,,,,\n")
    quarantine = tmp_path / "rejects"
    q = {**resources, "ledger": LedgerSourceResource(csv_patterns=[str(csv)], quarantine_dir=str(quarantine))}
    result = dg.materialize(_raw_assets(), partition_key="2025-03-01", resources=q)
    meta = next(m for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey(["raw", "ledger_entries"])).materialization.metadata
    assert meta["rejected_rows"].value == 2  # the bad amount and the row of empty fields: neither silently dropped
    rejects = list(quarantine.glob("*.rejects.csv"))
    assert len(rejects) == 1 and "le_3" in rejects[0].read_text()
    rows = pq.read_table(partition_path(settings.lake_dir, "ledger_entries", dt.date(2025, 3, 1))).to_pylist()
    assert [r["entry_id"] for r in rows] == ["le_1"]
