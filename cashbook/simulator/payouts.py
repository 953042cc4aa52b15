"""Automatic daily payouts per settlement currency.

A balance transaction becomes payable on its `available_on` (T+2 at UTC midnight); each day's payout
takes every unpaid transaction available by that midnight. A day whose sum is not positive pays nothing
and carries its transactions forward (Stripe does not pay out a negative balance automatically).
"""

from __future__ import annotations

import heapq


class PayoutBook:
    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[int, int, str, int]]] = {}

    def add(self, currency: str, available_on: int, created: int, txn: str, net: int) -> None:
        heapq.heappush(self._heaps.setdefault(currency, []), (available_on, created, txn, net))

    def currencies(self) -> list[str]:
        return sorted(self._heaps)

    def take(self, currency: str, day_start: int) -> list[tuple[int, int, str, int]]:
        """Remove and return the transactions available by `day_start` if their sum is positive."""
        heap = self._heaps.get(currency, [])
        due: list[tuple[int, int, str, int]] = []
        while heap and heap[0][0] <= day_start:
            due.append(heapq.heappop(heap))
        if due and sum(x[3] for x in due) <= 0:
            for x in due:
                heapq.heappush(heap, x)
            return []
        return due
