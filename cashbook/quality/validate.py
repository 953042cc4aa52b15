"""Validate a pandas DataFrame against a table's suite with an ephemeral GX context.

One ephemeral context per process (GX's import and context cost ~4 s once; a validation of a
50,000-row day is a fraction of a second). Every validation registers its suite and validation
definition under a unique name (GX raises on duplicate suite names) and removes them afterwards.
Results are reduced to what a check needs: pass/fail, severity, and the first 20 failing rows
named by the suite's `row_id_columns`.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cashbook.money import KNOWN_CURRENCIES
from cashbook.quality.suites import load_suite_spec

MAX_FAILING_ROWS = 20
_lock = threading.Lock()
_context: Any = None


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int
    failing_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class QualityResult:
    table: str
    row_count: int
    outcomes: list[ExpectationOutcome]

    @property
    def passed(self) -> bool:
        """No error-severity expectation failed (warn-level failures are reported, not blocking)."""
        return all(o.success for o in self.outcomes if o.severity == "error")

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def failing_rows(self, limit: int = MAX_FAILING_ROWS) -> list[dict[str, Any]]:
        """The first `limit` failing rows across expectations, each naming what it broke."""
        rows: list[dict[str, Any]] = []
        for o in self.failures:
            for r in o.failing_rows:
                rows.append({"expectation": o.expectation, "column": o.column, **r})
                if len(rows) >= limit:
                    return rows
        return rows

    def summary(self) -> str:
        if not self.failures:
            return f"{self.table}: {len(self.outcomes)} expectations passed on {self.row_count} rows"
        parts = [f"{o.expectation}({o.column or ''}) x{o.unexpected_count}" for o in self.failures]
        return f"{self.table}: failed " + ", ".join(parts)


def _get_context() -> Any:
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        warnings.filterwarnings("ignore", module="great_expectations")
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        _context = ctx
    return _context


def warm_up() -> None:
    """Import GX and build the context now (a few seconds, once per process), e.g. while waiting on other work.

    Never raises: a GX that cannot load is reported by the first check that uses it, with its real error."""
    try:
        with _lock:
            _get_context()
    except Exception:
        pass


def _plain(v: Any) -> Any:
    """JSON-friendly scalars for check metadata (numpy ints, NaN, pandas NA)."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v if isinstance(v, int | float | str | bool) else str(v)


def _referenced_columns(spec: dict[str, Any], derived: dict[str, dict[str, Any]]) -> set[str]:
    cols: set[str] = set()
    for exp in spec["expectations"]:
        kw = exp["kwargs"]
        cols.update(kw[k] for k in ("column", "column_A", "column_B") if isinstance(kw.get(k), str))
        cols.update(kw.get("column_list") or [])
    for op in derived.values():
        (_, arg), = op.items()
        cols.update([arg] if isinstance(arg, str) else arg)
    return cols


def _add_derived(df: pd.DataFrame, derived: dict[str, dict[str, Any]]) -> pd.DataFrame:
    if not derived:
        return df
    df = df.copy(deep=False)
    for name, op in derived.items():
        (kind, arg), = op.items()
        if kind == "sum":
            total = df[arg[0]]
            for col in arg[1:]:
                total = total + df[col]
            df[name] = total
        elif kind == "epoch_seconds":
            ts = pd.to_datetime(df[arg], utc=True)
            seconds = (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
            df[name] = seconds.astype("Int64") if ts.isna().any() else seconds.astype("int64")
    return df


def suite_columns(table: str) -> set[str]:
    """The columns `validate_frame` reads for `table` (expectations, derived inputs, row ids)."""
    spec = load_suite_spec(table)
    meta = spec.get("meta") or {}
    return _referenced_columns(spec, meta.get("derived_columns") or {}) | set(meta["row_id_columns"])


def validate_frame(df: pd.DataFrame, table: str, parameters: dict[str, Any] | None = None) -> QualityResult:
    """Run `expectations/<table>.json` on `df`.

    Parameters fill `{"$PARAMETER": name}` placeholders: `known_currencies` is always provided (from
    cashbook.money); partition checks pass `window_start` / `window_last` (Unix seconds, inclusive).
    """
    import great_expectations as gx

    spec = load_suite_spec(table)
    meta = spec.get("meta") or {}
    id_cols = [c for c in meta["row_id_columns"] if c in df.columns]
    derived = meta.get("derived_columns") or {}
    # Only the columns the suite reads: `_raw` and other wide columns cost GX time for nothing.
    needed = _referenced_columns(spec, derived) | set(id_cols)
    frame = _add_derived(df[[c for c in df.columns if c in needed]], derived)
    params = {"known_currencies": sorted(KNOWN_CURRENCIES), **(parameters or {})}
    suffix = uuid.uuid4().hex[:12]
    with _lock:
        ctx = _get_context()
        ds = ctx.data_sources.add_pandas(f"{table}_{suffix}")
        batch_def = ds.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(gx.ExpectationSuite(**{**spec, "name": f"{table}_{suffix}"}))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{table}_{suffix}", data=batch_def,
                                                                    suite=suite))
        try:
            result = vd.run(
                batch_parameters={"dataframe": frame},
                expectation_parameters=params,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": id_cols,
                               "partial_unexpected_count": MAX_FAILING_ROWS},
            )
        finally:
            ctx.validation_definitions.delete(vd.name)
            ctx.suites.delete(suite.name)
            ctx.data_sources.delete(ds.name)
    outcomes = []
    for res in result.results:
        # GX may reorder results: read the severity back from each result's own config.
        severity = (res.expectation_config.meta or {}).get("severity", "error")
        kwargs = res.expectation_config.kwargs
        column = kwargs.get("column") or kwargs.get("column_A") or ",".join(kwargs.get("column_list") or []) or None
        info = res.result or {}
        rows = [{k: _plain(v) for k, v in r.items()} for r in (info.get("unexpected_index_list") or [])
                [:MAX_FAILING_ROWS] if isinstance(r, dict)]
        if not res.success and not rows and info.get("observed_value") is not None:
            rows = [{"observed_value": _plain(info.get("observed_value"))}]  # table-level, e.g. a column's type
        if not res.success and not rows and res.exception_info and res.exception_info.get("raised_exception"):
            rows = [{"error": str(res.exception_info.get("exception_message"))[:500]}]
        outcomes.append(ExpectationOutcome(
            expectation=res.expectation_config.type, column=column, severity=severity, success=bool(res.success),
            unexpected_count=int(info.get("unexpected_count") or 0), failing_rows=rows))
    return QualityResult(table=table, row_count=len(df), outcomes=outcomes)
