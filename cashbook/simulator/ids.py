"""Stripe-looking ids with deterministic random suffixes.

Ids come from the simulator's own seeded generator, so the same seed gives the same ids, and their
shape (prefix + base62 suffix of Stripe's usual length) lets id-based parsers treat them like real ones.
"""

from __future__ import annotations

import random
import string

ALPHABET = string.digits + string.ascii_letters

# Suffix lengths as seen in real objects (fixtures3.json): short ones for cus_/si_/prod_.
_SHORT = {"cus", "si", "prod"}


class IdFactory:
    """Makes ids like `ch_3Qx…` from a private generator (independent of the simulation draws)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"ids:{seed}")
        self._seen: set[str] = set()

    def new(self, prefix: str) -> str:
        k = 14 if prefix in _SHORT else 24
        while True:
            ident = f"{prefix}_" + "".join(self._rng.choices(ALPHABET, k=k))
            if prefix in _SHORT or prefix in {"price", "di"}:
                # rare objects: guard uniqueness explicitly (cheap, small sets)
                if ident in self._seen:
                    continue
                self._seen.add(ident)
            return ident

    def coupon(self) -> str:
        return "".join(self._rng.choices(string.ascii_uppercase + string.digits, k=8))
