"""Staging an export's streams in worker processes: same files as in-process, all or nothing on failure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cashbook.lake import commit, partition_path
from cashbook.replay.synth import write_synthetic_export
from cashbook.sources.export_stage import StreamStageError, stage_export_streams
from cashbook.sources.registry import STRIPE_STREAMS

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
LO = int(dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC).timestamp())
HI = LO + 3 * 86400


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export")
    write_synthetic_export(d, balance_transactions=300, days=3, start=START, seed=5)
    return d


def _land(export: Path, lake: Path, workers: int) -> dict[str, int]:
    staged = stage_export_streams(export, list(STRIPE_STREAMS), LO, HI, lake, DAYS, workers=workers)
    assert not any(partition_path(lake, w.table, DAYS[0]).exists() for w in staged.values())  # not yet visible
    commit(staged.values())
    return {s: w.rows for s, w in staged.items()}


def test_workers_land_the_same_files_as_one_process(export: Path, tmp_path: Path) -> None:
    one = _land(export, tmp_path / "one", workers=1)
    two = _land(export, tmp_path / "two", workers=2)
    assert one == two and one["balance_transactions"] == 300
    for stream in STRIPE_STREAMS:
        for day in DAYS:
            a = pq.read_table(partition_path(tmp_path / "one", f"stripe_{stream}", day))
            b = pq.read_table(partition_path(tmp_path / "two", f"stripe_{stream}", day))
            assert a.equals(b), (stream, day)


def test_a_bad_line_in_one_stream_stages_nothing_and_names_file_and_line(export: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in export.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    lines = (bad / "refunds.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = b'{"id": "re_broken"\n'
    (bad / "refunds.jsonl").write_bytes(b"".join(lines))
    lake = tmp_path / "lake"
    _land(export, lake, workers=1)
    before = {p: p.read_bytes() for p in lake.rglob("*.parquet")}
    for workers in (1, 2):
        with pytest.raises(StreamStageError) as err:
            stage_export_streams(bad, list(STRIPE_STREAMS), LO, HI, lake, DAYS, workers=workers)
        assert err.value.stream == "refunds"
        assert str(err.value.error) == f"{bad / 'refunds.jsonl'}:2: " + err.value.error.reason
        assert err.value.error.reason.startswith("malformed JSON")
        assert {p: p.read_bytes() for p in lake.rglob("*.parquet")} == before
        assert not list(lake.rglob(".data.*"))
