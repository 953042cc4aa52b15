"""The answer key: what a correct reconciliation engine must find, plus MRR and totals.

Discrepancies are recorded at the moment they are injected, with exactly the ids DESIGN.md's
Contract 3 reports for that kind (null where not applicable). MRR is accumulated from the invoice
lines as they are written (see engine.MrrBook).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cashbook.discrepancies import IDENTITY, KINDS
from cashbook.simulator.catalog import CURRENCIES


class Truth:
    def __init__(self, months: int) -> None:
        self.discrepancies: list[dict[str, str | None]] = []
        self.mrr: list[dict[str, int]] = [dict.fromkeys(CURRENCIES, 0) for _ in range(months)]
        self.bt_count = 0
        self.bt_by_currency: dict[str, dict[str, int]] = {}

    def add(self, kind: str, *, bt: str | None = None, obj: str | None = None, entry: str | None = None,
            payout: str | None = None) -> None:
        assert kind in KINDS, kind
        self.discrepancies.append(dict(zip(IDENTITY, (kind, bt, obj, entry, payout), strict=True)))

    def count(self, kind: str) -> int:
        return sum(1 for d in self.discrepancies if d["kind"] == kind)

    def bt(self, currency: str, amount: int, fee: int, net: int) -> None:
        self.bt_count += 1
        tot = self.bt_by_currency.setdefault(currency, {"amount": 0, "fee": 0, "net": 0, "count": 0})
        tot["amount"] += amount
        tot["fee"] += fee
        tot["net"] += net
        tot["count"] += 1

    def write(self, path: Path, header: dict[str, Any], month_labels: list[str], ledger_rows: int) -> None:
        doc = {
            **header,
            "discrepancies": sorted(self.discrepancies, key=lambda d: (d["kind"], *[str(v) for v in d.values()])),
            "mrr": {label: self.mrr[i] for i, label in enumerate(month_labels)},
            "balance_transactions": {"count": self.bt_count,
                                     "by_currency": dict(sorted(self.bt_by_currency.items()))},
            "ledger": {"rows": ledger_rows},
        }
        path.write_text(json.dumps(doc, indent=1) + "\n")
