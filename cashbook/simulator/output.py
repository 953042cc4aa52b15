"""Streaming writers for the export directory and the ledger CSV.

Objects are written as soon as they are generated when they belong to the month being generated;
objects dated later (a refund scheduled for next month) wait in a small buffer until their month, so
every file is grouped by month of `created` (customer order inside a month) while memory stays bounded
by one month's spill-over, not by the stream's size.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

import orjson

from cashbook.sources.registry import STRIPE_STREAMS

LEDGER_HEADER = ["entry_id", "occurred_at", "type", "amount", "currency", "stripe_id", "customer_id",
                 "description"]


class ExportWriter:
    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[bytes]] = {s: (out / f"{s}.jsonl").open("wb") for s in STRIPE_STREAMS}
        self._ledger_fh = (out / "ledger.csv").open("w", newline="", encoding="utf-8")
        self._ledger = csv.writer(self._ledger_fh, lineterminator="\n")
        self._ledger.writerow(LEDGER_HEADER)
        self._future: dict[str, list[tuple[int, str, bytes]]] = {s: [] for s in STRIPE_STREAMS}
        self._future_ledger: list[tuple[int, str, list[str]]] = []
        self._month_end = 0
        self.ledger_rows = 0

    def begin_month(self, month_end: int) -> None:
        """Write buffered objects dated before `month_end` (sorted), then accept that month."""
        self._month_end = month_end
        for stream, items in self._future.items():
            due = sorted(x for x in items if x[0] < month_end)
            if due:
                self._future[stream] = [x for x in items if x[0] >= month_end]
                fh = self._files[stream]
                for _, _, line in due:
                    fh.write(line)
        due_rows = sorted(x for x in self._future_ledger if x[0] < month_end)
        if due_rows:
            self._future_ledger = [x for x in self._future_ledger if x[0] >= month_end]
            self._ledger.writerows(r for _, _, r in due_rows)

    def emit(self, stream: str, obj: dict[str, Any], created: int | None = None) -> None:
        line = orjson.dumps(obj) + b"\n"
        t = obj["created"] if created is None else created
        if t < self._month_end:
            self._files[stream].write(line)
        else:
            self._future[stream].append((t, obj["id"], line))

    def membership(self, payout: str, txn: str) -> None:
        self._files["payout_balance_transactions"].write(
            orjson.dumps({"payout": payout, "balance_transaction": txn}) + b"\n")

    def ledger(self, t: int, entry_id: str, row: list[str]) -> None:
        self.ledger_rows += 1
        if t < self._month_end:
            self._ledger.writerow(row)
        else:
            self._future_ledger.append((t, entry_id, row))

    def close(self) -> None:
        self.begin_month(2**62)
        for fh in self._files.values():
            fh.close()
        self._ledger_fh.close()
