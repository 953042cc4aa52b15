"""The company ledger as the billing system recorded it, and the discrepancies injected into it.

Every Stripe customer-money movement (charge, refund, dispute, dispute_reversal) normally gets one
ledger row. A few rows are deliberately wrong, missing or extra; each such injection is written to
the truth file with the ids DESIGN.md Contract 3 reports. Rows without `stripe_id` are only emitted
when no other unmatched movement or id-less row of the same customer, category, currency and amount
lies within ±5 days (wider than the engine's ±2 days), so no accidental ambiguity can arise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cashbook.money import to_major_str
from cashbook.simulator.catalog import LEDGER_ONLY_FLOOR
from cashbook.simulator.ids import IdFactory
from cashbook.simulator.output import ExportWriter
from cashbook.simulator.timeutil import DAY, iso_with_offset
from cashbook.simulator.truth import Truth

PoolKey = tuple[str, str, int]
Pool = list[tuple[int, PoolKey]]

CONFLICT_WINDOW = 5 * DAY
GRACE = 3 * DAY
# Injections stay clear of the grace-window edge so "missing" and "pending" cannot flip.
OLD_MARGIN = 4 * DAY
WINDOW_MARGIN = int(2.5 * DAY)

# Per eligible movement: probability of each injected kind (≈0.5 % of movements in all).
RATES = {"missing_in_ledger": 0.0012, "amount_mismatch": 0.0008, "currency_mismatch": 0.0005,
         "duplicate_in_ledger": 0.0008}
MINIMUM = 3  # every kind appears at least this often (when the data allows it)
FOREIGN = {"usd": "gbp", "eur": "cad", "jpy": "aud"}  # neither settlement nor presentment currency


@dataclass(slots=True)
class Movement:
    """One Stripe customer-money movement: a BT of category charge/refund/dispute/dispute_reversal."""

    bt: str
    source: str
    category: str
    created: int
    pres_cur: str
    pres_amount: int  # presentment amount, signed like the balance transaction
    customer: str
    ledger_type: str
    keys: tuple[str, ...]  # ids the ledger may record: canonical first, then unambiguous aliases
    description: str


def conflicts(pool: Pool, t: int, key: PoolKey) -> bool:
    return any(k == key and abs(pt - t) <= CONFLICT_WINDOW for pt, k in pool)


class Ledger:
    def __init__(self, rng: random.Random, ids: IdFactory, truth: Truth, out: ExportWriter, as_of: int) -> None:
        self.rng, self.ids, self.truth, self.out = rng, ids, truth, out
        self.as_of = as_of
        self.old_limit = as_of - OLD_MARGIN
        self.window_start = as_of - WINDOW_MARGIN
        self.injected: dict[str, int] = {}
        self._n = 0

    # -- rows ---------------------------------------------------------------------------------------
    def row(self, t: int, typ: str, amount: int, cur: str, stripe_id: str, customer: str, desc: str,
            tz: int, cur_text: str | None = None) -> str:
        self._n += 1
        entry = f"le_{self._n:010d}"
        t = min(t, self.as_of - 1)
        self.out.ledger(t, entry, [entry, iso_with_offset(t, tz), typ, to_major_str(amount, cur),
                                   cur_text or cur, stripe_id, customer, desc])
        return entry

    def _want(self, kind: str, rate: float) -> bool:
        if self.injected.get(kind, 0) < MINIMUM:
            return True
        return self.rng.random() < rate

    def _did(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def _key(self, mv: Movement) -> str:
        if len(mv.keys) > 1 and self.rng.random() < 0.15:
            return mv.keys[1 + self.rng.randrange(len(mv.keys) - 1)]
        return mv.keys[0]

    def _cur_text(self, cur: str) -> str:
        return cur.upper() if self.rng.random() < 0.05 else cur

    # -- movements ----------------------------------------------------------------------------------
    def record(self, mv: Movement, t_led: int, tz: int, pool: Pool) -> None:
        """Write the ledger row(s) for one movement, possibly injecting one discrepancy."""
        key: PoolKey = (mv.category, mv.pres_cur, mv.pres_amount)
        c = mv.created
        if c >= self.window_start:
            if self._want("pending", 0.03) and not conflicts(pool, c, key):
                self._did("pending")
                pool.append((c, key))
                self.truth.add("pending", bt=mv.bt, obj=mv.source)
                return
        elif c < self.old_limit and t_led < self.old_limit:
            kind = next((k for k in RATES if self.injected.get(k, 0) < MINIMUM), None)
            if kind is None:
                u = self.rng.random()
                for k, r in RATES.items():
                    if u < r:
                        kind = k
                        break
                    u -= r
            if kind and self._inject(kind, mv, key, t_led, tz, pool):
                self._did(kind)
                return
        if self.rng.random() < 0.03 and not conflicts(pool, c, key):
            pool.append((c, key))
            pool.append((t_led, key))
            self.row(t_led, mv.ledger_type, mv.pres_amount, mv.pres_cur, "", mv.customer, mv.description, tz,
                     self._cur_text(mv.pres_cur))
            return
        self.row(t_led, mv.ledger_type, mv.pres_amount, mv.pres_cur, self._key(mv), mv.customer,
                 mv.description, tz, self._cur_text(mv.pres_cur))

    def _inject(self, kind: str, mv: Movement, key: PoolKey, t_led: int, tz: int, pool: Pool) -> bool:
        if kind == "missing_in_ledger":
            if conflicts(pool, mv.created, key):
                return False
            pool.append((mv.created, key))
            self.truth.add(kind, bt=mv.bt, obj=mv.source)
            return True
        if kind in ("amount_mismatch", "currency_mismatch"):
            pool.append((mv.created, key))  # keep id-less rows away, whatever "matched" means to an engine
        if kind == "amount_mismatch":
            step = 1 if mv.pres_cur == "jpy" else 1 + self.rng.randrange(99)
            delta = step * (1 + self.rng.randrange(9)) * (1 if self.rng.random() < 0.5 else -1)
            entry = self.row(t_led, mv.ledger_type, mv.pres_amount + delta, mv.pres_cur, self._key(mv),
                             mv.customer, mv.description, tz)
            self.truth.add(kind, bt=mv.bt, obj=mv.source, entry=entry)
            return True
        if kind == "currency_mismatch":
            other = FOREIGN[mv.pres_cur]
            entry = self.row(t_led, mv.ledger_type, mv.pres_amount, other, self._key(mv), mv.customer,
                             mv.description, tz)
            self.truth.add(kind, bt=mv.bt, obj=mv.source, entry=entry)
            return True
        # duplicate_in_ledger: the original (earlier occurred_at) is clean, the later copy is the extra
        self.row(t_led, mv.ledger_type, mv.pres_amount, mv.pres_cur, mv.keys[0], mv.customer, mv.description, tz)
        extra = self.row(t_led + 60 + self.rng.randrange(3600), mv.ledger_type, mv.pres_amount, mv.pres_cur,
                         self._key(mv), mv.customer, mv.description + " (re-import)", tz)
        self.truth.add(kind, bt=mv.bt, obj=mv.source, entry=extra)
        return True

    def ledger_only(self, t: int, customer: str, cur: str, typical: int, tz: int) -> None:
        """Occasionally a row the billing system wrote for money Stripe never moved."""
        if t < self.old_limit:
            kind = "missing_in_stripe"
            if not self._want(kind, 0.0008):
                return
            self._did(kind)
        elif self.window_start <= t < self.as_of:
            kind = "pending"
            if not self._want("pending_ledger", 0.01):
                return
            self._did("pending_ledger")
        else:
            return
        if self.rng.random() < 0.5:
            sid = self.ids.new("ch")  # an id Stripe never issued (e.g. a test-mode id pasted by hand)
            entry = self.row(t, "payment", typical, cur, sid, customer, "Payment recorded by support", tz)
            self.truth.add(kind, entry=entry, obj=sid)
        else:
            amount = LEDGER_ONLY_FLOOR[cur] + self.rng.randrange(1, 100_000)
            entry = self.row(t, "credit_purchase", amount, cur, "", customer, "Offline credit purchase", tz)
            self.truth.add(kind, entry=entry)

    def manual_adjustment(self, t: int, customer: str, cur: str, tz: int) -> None:
        amount = (1 + self.rng.randrange(50)) * (100 if cur != "jpy" else 10) * (1 if self.rng.random() < 0.5 else -1)
        self.row(t, "manual_adjustment", amount, cur, "", customer if self.rng.random() < 0.7 else "",
                 "Goodwill credit" if amount > 0 else "Write-off", tz)

    # -- ambiguous pairs ----------------------------------------------------------------------------
    def pair_possible(self, t1: int, t2: int, key: PoolKey, pool: Pool) -> bool:
        return t2 < self.old_limit and not conflicts(pool, t1, key) and not conflicts(pool, t2, key)

    def want_pair(self) -> bool:
        return self._want("ambiguous_match", 0.0007)

    def ambiguous_pair(self, mv1: Movement, mv2: Movement, t1: int, t2: int, tz: int, pool: Pool) -> None:
        """Two same-amount purchases within hours, recorded without stripe_id: nothing can pick one.

        Variant A: both rows lack stripe_id → each sees both movements → two ambiguous_match rows.
        Variant B: the second row is missing → the one row sees two candidates → one ambiguous_match row.
        Either way the candidate movements are not missing_in_ledger.
        """
        key: PoolKey = (mv1.category, mv1.pres_cur, mv1.pres_amount)
        pool.extend([(mv1.created, key), (mv2.created, key), (t1, key), (t2, key)])
        variant_a = self.injected.get("ambiguous_match", 0) % 2 == 0
        self._did("ambiguous_match")
        e1 = self.row(t1, mv1.ledger_type, mv1.pres_amount, mv1.pres_cur, "", mv1.customer, mv1.description, tz)
        self.truth.add("ambiguous_match", entry=e1)
        if variant_a:
            e2 = self.row(t2, mv2.ledger_type, mv2.pres_amount, mv2.pres_cur, "", mv2.customer, mv2.description, tz)
            self.truth.add("ambiguous_match", entry=e2)
