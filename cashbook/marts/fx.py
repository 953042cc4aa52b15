"""Exchange rates for the optional reporting currency (REPORTING_CURRENCY + EXCHANGE_RATES_CSV).

The user supplies the rates; cashbook never fetches them. CSV header: `date,currency,rate` where
`rate` is how many major units of the reporting currency one major unit of `currency` buys on `date`
(a decimal string, e.g. `2025-01-31,eur,1.0842`). Marts convert with the latest rate on or before
the period's last day, rounding half-even in minor units. Without a reporting currency the table is
empty and every converted column is NULL, so figures in different currencies are never mixed.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import duckdb

from cashbook.money import MoneyError, normalize_currency
from cashbook.sources.errors import SourceError

HEADER = ["date", "currency", "rate"]
_RATE_RE = re.compile(r"^\d+(\.\d{1,12})?$")
Rate = tuple[str, dt.date, Decimal]


def read_exchange_rates(path: Path) -> list[Rate]:
    """Parse and validate the rates CSV; any bad row is a SourceError naming file:line and the reason."""
    if not path.exists():
        raise SourceError(str(path), "exchange-rate CSV not found")
    rates: list[Rate] = []
    seen: set[tuple[str, dt.date]] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != HEADER:
            raise SourceError(f"{path}:1", f"header must be {','.join(HEADER)}, got {header}")
        for lineno, row in enumerate(reader, start=2):
            where = f"{path}:{lineno}"
            if len(row) != 3:
                raise SourceError(where, f"expected 3 fields, got {len(row)}")
            try:
                day = dt.date.fromisoformat(row[0].strip())
            except ValueError:
                raise SourceError(where, f"date {row[0]!r} is not YYYY-MM-DD") from None
            try:
                cur = normalize_currency(row[1])
            except MoneyError as exc:
                raise SourceError(where, str(exc)) from None
            text = row[2].strip()
            if not _RATE_RE.match(text) or Decimal(text) == 0:
                raise SourceError(where, f"rate {row[2]!r} must be a positive decimal with at most 12 decimals")
            if (cur, day) in seen:
                raise SourceError(where, f"duplicate rate for {cur} on {day}")
            seen.add((cur, day))
            rates.append((cur, day, Decimal(text)))
    return rates


def set_exchange_rates(con: duckdb.DuckDBPyConnection, reporting_currency: str | None, rates: list[Rate]) -> int:
    """Replace `marts.exchange_rates`; the reporting currency converts to itself at 1."""
    con.execute("DELETE FROM marts.exchange_rates")
    if reporting_currency is None:
        return 0
    rows = [(c, d, str(r), reporting_currency) for c, d, r in rates if c != reporting_currency]
    rows.append((reporting_currency, dt.date(1970, 1, 1), "1", reporting_currency))
    con.executemany("INSERT INTO marts.exchange_rates VALUES (?, ?, CAST(? AS DECIMAL(38, 12)), ?)", rows)
    return len(rows)
