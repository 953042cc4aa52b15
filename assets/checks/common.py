"""Shared pieces of the checks: which days a run wrote, and results turned into check metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from cashbook.lake import existing_days
from cashbook.quality import QualityResult

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def days_from_tags(tags: dict[str, str]) -> list[dt.date] | None:
    """The partition window of a run from its tags (single partition or single-run backfill range)."""
    if PARTITION_TAG in tags:
        return [dt.date.fromisoformat(tags[PARTITION_TAG])]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        start = dt.date.fromisoformat(tags[RANGE_START_TAG])
        end = dt.date.fromisoformat(tags[RANGE_END_TAG])
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return None


def run_days(context: dg.AssetCheckExecutionContext, lake_dir: Path, table: str) -> list[dt.date]:
    """Days to check: the run's partition window; a check run on its own checks the newest day."""
    days = days_from_tags(dict(context.run.tags))
    if days:
        return days
    existing = existing_days(lake_dir, table)
    return existing[-1:]


def quality_check_result(result: QualityResult, extra: dict[str, object] | None = None) -> dg.AssetCheckResult:
    """Error-level failures fail with ERROR (blocking); warn-level ones only warn (reported, not blocking)."""
    metadata: dict[str, object] = {
        "row_count": result.row_count,
        "summary": result.summary(),
        "failing_rows": dg.MetadataValue.json(result.failing_rows()),
        "failed_expectations": dg.MetadataValue.json(
            [{"expectation": o.expectation, "column": o.column, "severity": o.severity,
              "unexpected_count": o.unexpected_count} for o in result.failures]),
        **(extra or {}),
    }
    if not result.passed:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)
    if result.warnings:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
    return dg.AssetCheckResult(passed=True, metadata=metadata)
