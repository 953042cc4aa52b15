"""Raw checks read partitions with strings as categoricals: the same verdicts and failing rows as plain strings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from cashbook.lake import write_partition
from cashbook.quality.partitions import check_partitions, read_partitions, window_parameters
from cashbook.quality.validate import validate_frame
from tests.unit.test_marts_support import Account

DAY = dt.date(2025, 1, 1)


def _corrupt() -> pd.DataFrame:
    a = Account()
    for i in range(6):
        a.bt(f"2025-01-01T0{i}:00:00", 1000 + i, 59, "charge")
    df = a.tables()["stripe_balance_transactions"].to_pandas()
    df.loc[1, "id"] = df.loc[0, "id"]                     # duplicate id
    df.loc[3, "currency"] = "xyz"                         # unknown currency
    df.loc[4, "fee"] = 60                                 # amount != net + fee
    df.loc[5, "reporting_category"] = "brand_new_category"  # a warning
    df.loc[2, "status"] = None
    return df


def _outcomes(result) -> list[tuple]:
    return sorted((o.expectation, o.column, o.severity, o.success, o.unexpected_count, str(o.failing_rows))
                  for o in result.outcomes)


def test_categorical_strings_give_the_same_result_as_object_strings(tmp_path: Path) -> None:
    import pyarrow as pa

    from cashbook.sources.streams import lake_schema

    df = _corrupt()
    table = pa.Table.from_pandas(df, schema=lake_schema("stripe_balance_transactions"), preserve_index=False)
    write_partition(tmp_path, "stripe_balance_transactions", DAY, table)
    as_read = read_partitions(tmp_path, "stripe_balance_transactions", [DAY])
    assert isinstance(as_read["currency"].dtype, pd.CategoricalDtype)
    params = window_parameters([DAY])
    plain = validate_frame(table.to_pandas(), "stripe_balance_transactions", params)
    checked = check_partitions(tmp_path, "stripe_balance_transactions", [DAY])
    assert not checked.passed and checked.warnings
    assert _outcomes(checked) == _outcomes(plain)
    assert checked.failing_rows() == plain.failing_rows()
