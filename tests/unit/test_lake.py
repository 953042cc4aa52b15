"""The lake core: split by UTC day without dropping rows, stage then commit, a failure changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cashbook import lake
from cashbook.lake import LakeError, commit, discard, partition_path, split_by_day, stage_window, write_window

D1, D2, D3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
SCHEMA = pa.schema([("id", pa.string()), ("created", pa.int64())])


def _ts(day: dt.date, second: int) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()) + second


def _table(rows: list[tuple[str, int]]) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "created": c} for i, c in rows], schema=SCHEMA)


def test_split_keeps_order_within_a_day_for_unsorted_input() -> None:
    t = _table([("b", _ts(D2, 5)), ("a", _ts(D1, 9)), ("c", _ts(D2, 1)), ("d", _ts(D1, 0))])
    parts = split_by_day(t, "created", [D1, D2, D3])
    assert {d: p.column("id").to_pylist() for d, p in parts.items()} == {D1: ["a", "d"], D2: ["b", "c"], D3: []}


def test_split_handles_timestamps_and_days_before_1970() -> None:
    t = pa.table({"at": pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                                  dt.datetime(1970, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))})
    parts = split_by_day(t, "at", [dt.date(1969, 12, 31), dt.date(1970, 1, 1)])
    assert [p.num_rows for p in parts.values()] == [1, 1]


def test_rows_outside_the_window_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    t = _table([("a", _ts(D1, 1)), ("late", _ts(D3, 1))])
    with pytest.raises(LakeError, match="1 of 2 rows fall outside"):
        stage_window(tmp_path, "t", t, "created", [D1, D2])
    assert not list(tmp_path.rglob("*"))


def test_stage_is_invisible_until_commit_and_discard_keeps_the_old_day(tmp_path: Path) -> None:
    write_window(tmp_path, "t", _table([("old", _ts(D1, 1))]), "created", [D1])
    staged = stage_window(tmp_path, "t", _table([("new", _ts(D1, 2))]), "created", [D1, D2], SCHEMA)
    assert pq.read_table(partition_path(tmp_path, "t", D1)).column("id").to_pylist() == ["old"]
    assert not partition_path(tmp_path, "t", D2).exists()
    discard([staged])
    assert pq.read_table(partition_path(tmp_path, "t", D1)).column("id").to_pylist() == ["old"]
    assert not [p for p in tmp_path.rglob(".data.*")]
    staged = stage_window(tmp_path, "t", _table([("new", _ts(D1, 2))]), "created", [D1, D2], SCHEMA)
    assert staged.rows_per_day == {D1: 1, D2: 0}
    commit([staged])
    assert pq.read_table(partition_path(tmp_path, "t", D1)).column("id").to_pylist() == ["new"]
    assert pq.read_table(partition_path(tmp_path, "t", D2)).num_rows == 0  # an empty day is a file with the schema
    assert not [p for p in tmp_path.rglob(".data.*")]


def test_a_failed_day_write_removes_what_was_staged_and_keeps_old_days(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_window(tmp_path, "t", _table([("old1", _ts(D1, 1)), ("old2", _ts(D2, 1))]), "created", [D1, D2])
    real = lake._write_temp

    def flaky(path: Path, data: pa.Table) -> Path:
        if "2025-03-02" in str(path):
            raise OSError("disk full")
        return real(path, data)

    monkeypatch.setattr(lake, "_write_temp", flaky)
    with pytest.raises(OSError, match="disk full"):
        stage_window(tmp_path, "t", _table([("n1", _ts(D1, 3)), ("n2", _ts(D2, 3))]), "created", [D1, D2])
    assert [pq.read_table(partition_path(tmp_path, "t", d)).column("id")[0].as_py() for d in (D1, D2)] == ["old1", "old2"]
    assert not [p for p in tmp_path.rglob(".data.*")]


def test_cast_to_the_lake_schema_refuses_lossy_values(tmp_path: Path) -> None:
    t = pa.table({"id": ["a"], "created": pa.array([float(_ts(D1, 1)) + 0.5])})
    with pytest.raises(pa.ArrowInvalid):
        stage_window(tmp_path, "t", t, "created", [D1], SCHEMA)


def test_stager_lands_all_tables_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_window(tmp_path, "a", _table([("a_old", _ts(D1, 1))]), "created", [D1])
    write_window(tmp_path, "b", _table([("b_old", _ts(D1, 1))]), "created", [D1])

    def ids(table: str) -> list[str]:
        return pq.read_table(partition_path(tmp_path, table, D1)).column("id").to_pylist()

    with pytest.raises(LakeError), lake.LakeStager(tmp_path, [D1]) as stager:
        stager.stage("a", _table([("a_new", _ts(D1, 2))]), "created")
        stager.stage("b", _table([("b_new", _ts(D2, 2))]), "created")  # outside the window: refused
    assert (ids("a"), ids("b")) == (["a_old"], ["b_old"])

    real = lake._write_temp
    monkeypatch.setattr(lake, "_write_temp", lambda path, data: (_ for _ in ()).throw(OSError("disk full"))
                        if "/b/" in str(path) else real(path, data))
    with pytest.raises(OSError, match="disk full"), lake.LakeStager(tmp_path, [D1]) as stager:
        stager.stage("a", _table([("a_new", _ts(D1, 2))]), "created")
        stager.stage("b", _table([("b_new", _ts(D1, 2))]), "created")  # its background write fails
    assert (ids("a"), ids("b")) == (["a_old"], ["b_old"])
    assert not [p for p in tmp_path.rglob(".data.*")]

    monkeypatch.setattr(lake, "_write_temp", real)
    with lake.LakeStager(tmp_path, [D1]) as stager:
        stager.stage("a", _table([("a_new", _ts(D1, 2))]), "created")
        stager.stage("b", _table([("b_new", _ts(D1, 2))]), "created")
    assert (ids("a"), ids("b")) == (["a_new"], ["b_new"])


def test_stage_orders_each_day_by_sort_columns_without_sorting_the_table_first(tmp_path: Path) -> None:
    t = _table([("b", _ts(D2, 5)), ("z", _ts(D1, 9)), ("a", _ts(D2, 5)), ("c", _ts(D1, 0)), ("y", _ts(D1, 9))])
    with lake.LakeStager(tmp_path, [D1, D2, D3]) as stager:
        window = stager.stage("t", t, "created", SCHEMA, sort_by=["created", "id"])
    assert window.rows_per_day == {D1: 3, D2: 2, D3: 0}
    got = {d: pq.read_table(partition_path(tmp_path, "t", d)).column("id").to_pylist() for d in (D1, D2, D3)}
    assert got == {D1: ["c", "y", "z"], D2: ["a", "b"], D3: []}
    assert split_by_day(t, "created", [D1, D2], sort_by=["created", "id"])[D1].column("id").to_pylist() == ["c", "y", "z"]


def test_commit_flushes_staged_files_before_the_first_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability moved from an fsync per file to one flush of the file system at commit: it must come first."""
    write_window(tmp_path, "t", _table([("old1", _ts(D1, 1)), ("old2", _ts(D2, 1))]), "created", [D1, D2])
    seen: list[tuple[Path, list[str]]] = []
    real = lake._syncfs

    def spy(directory: Path) -> bool:
        ids = [pq.read_table(partition_path(tmp_path, "t", d)).column("id")[0].as_py() for d in (D1, D2)]
        seen.append((directory, ids))
        return real(directory)

    monkeypatch.setattr(lake, "_syncfs", spy)
    write_window(tmp_path, "t", _table([("new1", _ts(D1, 3)), ("new2", _ts(D2, 3))]), "created", [D1, D2])
    assert seen and all(ids == ["old1", "old2"] for _, ids in seen)  # flushed while the old days were still live
    assert seen[0][0].is_relative_to(tmp_path)
    assert [pq.read_table(partition_path(tmp_path, "t", d)).column("id")[0].as_py() for d in (D1, D2)] == ["new1", "new2"]


def test_without_syncfs_each_staged_file_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    monkeypatch.setattr(lake, "_LIBC", None)
    monkeypatch.setattr(lake, "_fsync", lambda path: synced.append(path.name))
    with lake.LakeStager(tmp_path, [D1, D2, D3]) as stager:
        stager.stage("t", _table([("a", _ts(D1, 1)), ("b", _ts(D3, 1))]), "created")
    assert len(synced) == 3 and all(n.startswith(".data.") for n in synced)  # every day file, empty ones too
    assert [pq.read_table(partition_path(tmp_path, "t", d)).num_rows for d in (D1, D2, D3)] == [1, 0, 1]


def test_a_failed_flush_renames_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_window(tmp_path, "t", _table([("old1", _ts(D1, 1))]), "created", [D1])

    def broken(directory: Path) -> bool:
        raise OSError(5, f"syncfs {directory}: Input/output error")

    monkeypatch.setattr(lake, "_syncfs", broken)
    with pytest.raises(OSError, match="Input/output error"), lake.LakeStager(tmp_path, [D1]) as stager:
        stager.stage("t", _table([("new1", _ts(D1, 3))]), "created")
    assert pq.read_table(partition_path(tmp_path, "t", D1)).column("id").to_pylist() == ["old1"]
    assert not [p for p in tmp_path.rglob(".data.*")]
