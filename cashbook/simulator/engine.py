"""The month-by-month simulation of a SaaS Stripe account and its billing ledger.

Memory is bounded by per-customer state (state.py) plus one month's spill-over: every object is
written to its stream as it is generated (output.py). Each object is created in its final state as of
the as-of instant, so outcomes that happen later (a refund next week, a retry that succeeds) are
decided when their origin is generated; their own objects are still dated when they happen.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cashbook.money import to_major_str
from cashbook.simulator import stripe_objects as so
from cashbook.simulator.catalog import (
    COUPON_PERCENTS,
    CREDIT_PACKS,
    CURRENCIES,
    CURRENCY_WEIGHTS,
    DISPUTE_FEE,
    MONTHLY_PRICE,
    TIERS,
    YEARLY_FACTOR,
    Plan,
    charge_fee,
    rhe,
    to_settlement,
)
from cashbook.simulator.ids import IdFactory
from cashbook.simulator.ledger import Ledger, Movement
from cashbook.simulator.output import ExportWriter
from cashbook.simulator.payouts import PayoutBook
from cashbook.simulator.state import Cust, Sub
from cashbook.simulator.timeutil import (
    DAY,
    add_months,
    calendar_month_last_second,
    day_floor,
    iso_utc,
    month_label,
    month_starts,
)
from cashbook.simulator.truth import Truth

Obj = dict[str, Any]
INF = 2**62
_FIRST = ("Ada", "Ben", "Chloe", "Dai", "Emil", "Fatima", "Goro", "Hana", "Ivan", "Julia", "Kenji", "Lea")
_LAST = ("Smith", "Müller", "Tanaka", "Garcia", "Rossi", "Dubois", "Sato", "Novak", "Berg", "Silva")
_TZ = (0, 0, 0, 3600, 7200, -18000, -28800, 19800)
_REFUND_REASONS = (None, "requested_by_customer", "duplicate")
_DISPUTE_REASONS = ("fraudulent", "product_not_received", "subscription_canceled", "general")


@dataclass(frozen=True)
class SimConfig:
    out: Path
    customers: int = 2000
    months: int = 12
    seed: int = 42
    start: dt.date = dt.date(2025, 1, 1)


class Simulator:
    def __init__(self, cfg: SimConfig, progress: Callable[[int], None] | None = None) -> None:
        self.cfg = cfg
        self.progress = progress or (lambda _n: None)
        self.rng = random.Random(cfg.seed)
        self.ids = IdFactory(cfg.seed)
        self.bounds = month_starts(cfg.start, cfg.months)
        self.as_of = self.bounds[-1]
        # month-end MRR instants: the last second of the calendar month each simulated month starts in
        # (equal to the window's end − 1 s when --start is the 1st; one per window otherwise too)
        self.instants = [calendar_month_last_second(b) for b in self.bounds[:-1]]
        self.out = ExportWriter(cfg.out)
        self.truth = Truth(cfg.months)
        self.ledger = Ledger(self.rng, self.ids, self.truth, self.out, self.as_of)
        self.payouts = PayoutBook()
        self._seq = 0
        self._payout_mismatches = 0
        self._disputes = 0
        self._build_catalog()

    # -- setup --------------------------------------------------------------------------------------
    def _build_catalog(self) -> None:
        t0 = self.bounds[0] - 400 * DAY
        products = [self.ids.new("prod") for _ in TIERS]
        self.plans: dict[tuple[str, int, str], Plan] = {}
        self.price_objs: dict[str, tuple[Obj, Obj]] = {}
        for cur in CURRENCIES:
            for tier in range(len(TIERS)):
                for interval in ("month", "year"):
                    amount = MONTHLY_PRICE[cur][tier] * (YEARLY_FACTOR if interval == "year" else 1)
                    p = Plan(cur, tier, interval, amount, self.ids.new("price"), products[tier], t0 + 86_400)
                    self.plans[(cur, tier, interval)] = p
                    self.price_objs[p.price_id] = (so.price_obj(p), so.plan_obj(p))
        self.coupons = [(pct, so.coupon_obj(self.ids.coupon(), pct, t0)) for pct in COUPON_PERCENTS]
        self.bank = self.ids.new("ba")

    def _customers(self) -> list[Cust]:
        rng, start, end = self.rng, self.bounds[0], self.as_of
        first_month_end = self.bounds[1]
        out = []
        for i in range(self.cfg.customers):
            t = rng.randrange(start, first_month_end) if rng.random() < 0.6 else rng.randrange(start, end - DAY)
            created = day_floor(t) + rng.randint(600, 86_000)
            cur = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            out.append(Cust(self.ids.new("cus"), name, f"customer{i}@example.com", cur,
                            32_400 if cur == "jpy" else rng.choice(_TZ), created, self.ids.new("pm"),
                            self.ids.coupon()))
        return out

    # -- main loop ----------------------------------------------------------------------------------
    def run(self) -> Truth:
        customers = self._customers()
        for mi in range(self.cfg.months):
            ms, me = self.bounds[mi], self.bounds[mi + 1]
            self.out.begin_month(me)
            done = 0
            for c in customers:
                self._month(c, mi, ms, me)
                done += 1
                if done % 1000 == 0:
                    self.progress(1000)
            self.progress(done % 1000)
            self._payout_days(ms, me)
        for c in customers:
            if c.sub is not None:
                self._emit_sub(c)
        self.out.close()
        return self.truth

    def write_truth(self) -> None:
        header = {"seed": self.cfg.seed, "customers": self.cfg.customers, "months": self.cfg.months,
                  "start": self.cfg.start.isoformat(), "end": iso_utc(self.as_of), "as_of": iso_utc(self.as_of)}
        self.truth.write(self.cfg.out / "truth.json", header, [month_label(b) for b in self.bounds[:-1]],
                         self.out.ledger_rows)

    def _push(self, c: Cust, t: int, kind: str, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(c.events, (t, self._seq, kind, payload))

    def _mi(self, t: int) -> int:
        return min(max(bisect.bisect_right(self.bounds, t) - 1, 0), self.cfg.months - 1)

    def _month(self, c: Cust, mi: int, ms: int, me: int) -> None:
        if c.created >= me:
            return
        if c.created >= ms:
            self._signup(c)
        if c.pool:
            c.pool = [x for x in c.pool if x[0] >= ms - 6 * DAY]
        sub, rng = c.sub, self.rng
        if sub is not None and sub.status != "canceled":
            lo = max(ms, c.created + 3600)
            if lo < me:
                # credit purchases: 0–4 per active customer-month, mean 2.1
                for _ in range(rng.choices((0, 1, 2, 3, 4), (15, 20, 25, 20, 20))[0]):
                    self._push(c, rng.randrange(lo, me), "cp")
                if sub.plan.interval == "month" and rng.random() < 0.035:
                    self._push(c, rng.randrange(lo, me), "change")
                if rng.random() < 0.006:
                    self._push(c, rng.randrange(lo, me), "cancel_now")
                elif rng.random() < 0.02:
                    self._push(c, rng.randrange(lo, me), "cancel_end")
                if rng.random() < 0.003:
                    self._push(c, rng.randrange(lo, me), "adj")
        while True:
            sub = c.sub
            t_ren = sub.period[1] if sub is not None and sub.status in ("active", "trialing") else INF
            t_ev = c.events[0][0] if c.events else INF
            if min(t_ren, t_ev) >= me:
                break
            if t_ren <= t_ev:
                self._renew(c)
            else:
                t, _, kind, payload = heapq.heappop(c.events)
                self._event(c, t, kind, payload)
        items = c.mrr.pop(mi, None)
        if items and (c.ended_at is None or c.ended_at >= self.instants[mi]):
            month = self.truth.mrr[mi]
            for cur, v in items:
                month[cur] += v

    # -- subscriptions ------------------------------------------------------------------------------
    def _signup(self, c: Cust) -> None:
        rng = self.rng
        self.out.emit("customers", so.customer_obj(c.id, c.created, c.currency, c.name, c.email, c.prefix))
        t = c.created + rng.randint(5, 120)
        tier = rng.choices((0, 1, 2), (50, 35, 15))[0]
        interval = "month" if rng.random() < 0.8 else "year"
        plan = self.plans[(c.currency, tier, interval)]
        qty = 1 if rng.random() < 0.85 else rng.randint(2, 5)
        sid = self.ids.new("sub")
        discount, pct = None, 0
        if rng.random() < 0.06:
            pct, coupon = rng.choice(self.coupons)
            discount = so.discount_obj(self.ids.new("di"), coupon, c.id, sid, t)
        step = 12 if interval == "year" else 1
        if rng.random() < 0.25:
            trial = (t, t + 14 * DAY)
            sub = Sub(sid, self.ids.new("si"), t, plan, qty, discount, pct, "trialing", trial, trial[1], -1, trial)
            c.sub = sub
            if rng.random() < 0.2:
                asked = t + rng.randint(DAY, 10 * DAY)
                if asked < self.as_of:
                    sub.cancel_at_period_end, sub.canceled_at = True, asked
            self._bill(c, t, "subscription_create", trial_zero=True)
        else:
            sub = Sub(sid, self.ids.new("si"), t, plan, qty, discount, pct, "active", None, t, 0,
                      (t, add_months(t, step)))
            c.sub = sub
            self._bill(c, t, "subscription_create")

    def _renew(self, c: Cust) -> None:
        sub = c.sub
        assert sub is not None
        t = sub.period[1]
        if sub.cancel_at_period_end:
            self._end(c, t, "cancellation_requested")
            return
        if sub.status == "trialing":
            sub.status, sub.anchor, sub.k = "active", t, 0
        else:
            sub.k += 1
        step = 12 if sub.plan.interval == "year" else 1
        sub.period = (add_months(sub.anchor, sub.k * step), add_months(sub.anchor, (sub.k + 1) * step))
        sub.changed_in_period = False
        self._bill(c, t, "subscription_cycle")

    def _end(self, c: Cust, t: int, reason: str) -> None:
        sub = c.sub
        assert sub is not None
        sub.status, sub.ended_at, sub.cancel_reason = "canceled", t, reason
        if sub.canceled_at is None:
            sub.canceled_at = t
        c.ended_at = t
        self._emit_sub(c)
        c.sub = None

    def _emit_sub(self, c: Cust) -> None:
        sub = c.sub
        assert sub is not None
        price, plan_o = self.price_objs[sub.plan.price_id]
        item = so.subscription_item_obj(sub.item_id, sub.created, sub.id, price, plan_o, sub.qty, sub.period)
        self.out.emit("subscriptions", so.subscription_obj(
            sub.id, c.id, sub.created, c.currency, sub.status, item, sub.period, sub.anchor,
            sub.cancel_at_period_end, sub.canceled_at, sub.ended_at, sub.cancel_reason, sub.trial, sub.discount,
            sub.latest_invoice), created=-1)

    def _change(self, c: Cust, t: int) -> None:
        sub = c.sub
        if (sub is None or sub.status != "active" or sub.cancel_at_period_end or sub.changed_in_period
                or sub.plan.interval != "month"):
            return
        ps, pe = sub.period
        if t < ps + DAY or t >= pe:
            return
        old = sub.plan
        tier = old.tier + (1 if self.rng.random() < 0.6 else -1)
        if not 0 <= tier < len(TIERS):
            return
        new = self.plans[(old.currency, tier, "month")]
        rem, span = pe - t, pe - ps
        day = dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%d %b %Y")
        for plan, sign, what in ((old, -1, "Unused"), (new, 1, "Remaining")):
            price, plan_o = self.price_objs[plan.price_id]
            amount = sign * rhe(plan.unit_amount * sub.qty * rem, span)
            sub.prorations.append(so.line_obj(
                self.ids.new("il"), amount, c.currency,
                f"{what} time on {sub.qty} × {TIERS[plan.tier].title()} after {day}", [], (t, pe), plan,
                sub.qty, True, sub.id, sub.item_id, self.ids.new("ii"), price, plan_o))
        sub.plan, sub.changed_in_period = new, True

    # -- invoices -----------------------------------------------------------------------------------
    def _bill(self, c: Cust, t: int, reason: str, trial_zero: bool = False) -> None:
        rng, sub = self.rng, c.sub
        assert sub is not None
        plan = sub.plan
        price, plan_o = self.price_objs[plan.price_id]
        amount = 0 if trial_zero else plan.unit_amount * sub.qty
        disc = []
        if sub.discount is not None and amount:
            disc = [{"amount": rhe(amount * sub.pct, 100), "discount": sub.discount["id"]}]
        inv = self.ids.new("in")
        c.inv_seq += 1
        number = f"{c.prefix}-{c.inv_seq:04d}"
        label = f"{sub.qty} × {TIERS[plan.tier].title()} ({'Trial' if trial_zero else plan.interval + 'ly'})"
        line = so.line_obj(self.ids.new("il"), amount, c.currency, label, disc, sub.period, plan, sub.qty, False,
                           sub.id, sub.item_id, None, price, plan_o)
        lines = [line, *sub.prorations]
        sub.prorations = []
        total = sum(x["amount"] for x in lines) - sum(d["amount"] for d in disc)
        sub.latest_invoice = inv
        status, charge, pi, paid_at, attempts, ended, next_attempt = "paid", None, None, t, 0, None, None
        if total > 0:
            pi = self.ids.new("pi")
            t_ch = min(t + rng.randint(60, 3600), self.as_of - 1)
            desc = f"Subscription update ({number})" if reason == "subscription_cycle" else f"Subscription creation ({number})"
            attempts = 1
            if rng.random() >= 0.07:
                charge = self._charge(c, t_ch, total, pi, inv, desc, "payment", pi_unique=True, inv_unique=True,
                                      number=number)
                paid_at = t_ch
            else:
                charge = self._failed_charge(c, t_ch, total, pi, inv, desc)
                paid_at = None
                sub.status = "past_due"
                if rng.random() < 0.65:
                    rt = t_ch + rng.randint(3 * DAY, 6 * DAY)
                    if rt < self.as_of:
                        charge = self.ids.new("ch")
                        self._push(c, rt, "retry", (charge, pi, inv, total, desc, number))
                        status, paid_at, attempts = "paid", rt, 2
                    else:
                        status, next_attempt = "open", rt
                else:
                    ct = t_ch + rng.randint(7 * DAY, 10 * DAY)
                    if ct < self.as_of:
                        self._push(c, ct, "dunning_cancel")
                        status = rng.choice(("open", "uncollectible", "void"))
                        ended = ct
                    else:
                        status = "open"
        self.out.emit("invoices", so.invoice_obj(
            inv, number, t, c.id, c.name, c.email, c.currency, sub.id, lines, status, charge, pi, reason,
            sub.period, attempts, paid_at, ended, sub.discount, next_attempt))
        if status in ("paid", "open"):
            self._mrr_lines(c, lines)

    def _mrr_lines(self, c: Cust, lines: list[Obj]) -> None:
        """Invoice-line MRR (DESIGN metric definitions), from the line objects exactly as written."""
        for line in lines:
            if line["type"] != "subscription" or line["proration"]:
                continue
            value = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
            if value == 0:
                continue
            rec = line["price"]["recurring"]
            div = {"month": 1, "year": 12}[rec["interval"]] * rec["interval_count"]
            mrr = rhe(value, div)
            start, end = line["period"]["start"], line["period"]["end"]
            lo, hi = bisect.bisect_left(self.instants, start), bisect.bisect_right(self.instants, end)
            for i in range(lo, hi):
                c.mrr.setdefault(i, []).append((line["currency"], mrr))

    # -- events -------------------------------------------------------------------------------------
    def _event(self, c: Cust, t: int, kind: str, payload: Any) -> None:
        sub = c.sub
        if kind == "retry":
            ch, pi, inv, total, desc, number = payload
            self._charge(c, t, total, pi, inv, desc, "payment", pi_unique=False, inv_unique=False, ch=ch,
                         number=number)
            if sub is not None and sub.status == "past_due":
                sub.status = "active"
        elif kind == "dunning_cancel":
            if sub is not None:
                self._end(c, t, "payment_failed")
        elif kind == "adj":
            self.ledger.manual_adjustment(t, c.id, c.currency, c.tz)
        elif sub is None or sub.status == "canceled":
            return
        elif kind == "cp":
            self._credit_purchase(c, t)
        elif kind == "change":
            self._change(c, t)
        elif kind == "cancel_now" and sub.status == "active":
            self._end(c, t, "cancellation_requested")
        elif kind == "cancel_end" and sub.status == "active" and not sub.cancel_at_period_end:
            sub.cancel_at_period_end, sub.canceled_at = True, t

    def _credit_purchase(self, c: Cust, t: int) -> None:
        rng = self.rng
        pack = rng.choice(CREDIT_PACKS[c.currency])
        desc = f"Credit pack {to_major_str(pack, c.currency)} {c.currency.upper()}"
        t_led = t + rng.randint(1, 300)
        if rng.random() < 0.03 and day_floor(t) > c.created + 60:
            # booked by our system at 23:59:5x, captured by Stripe at 00:00:0x the next day
            t = day_floor(t) + rng.randint(0, 9)
            t_led = t - rng.randint(1, 12)
        if rng.random() < 0.03:
            self._failed_charge(c, t, pack, self.ids.new("pi"), None, desc)
            return
        key = ("charge", c.currency, pack)
        t2 = t + rng.randint(3600, 20 * 3600)
        if t2 < self.as_of and self.ledger.want_pair() and self.ledger.pair_possible(t, t2, key, c.pool):
            mv1 = self._charge(c, t, pack, self.ids.new("pi"), None, desc, "credit_purchase", record=False)
            mv2 = self._charge(c, t2, pack, self.ids.new("pi"), None, desc, "credit_purchase", record=False)
            assert isinstance(mv1, Movement) and isinstance(mv2, Movement)
            self.ledger.ambiguous_pair(mv1, mv2, t_led, t2 + rng.randint(1, 300), c.tz, c.pool)
            return
        self._charge(c, t, pack, self.ids.new("pi"), None, desc, "credit_purchase", pi_unique=True, t_led=t_led)

    # -- money movements ----------------------------------------------------------------------------
    def _bt(self, txn: str, t: int, amount: int, fee: int, cur: str, rate: float | None, typ: str, cat: str,
            source: str, desc: str, avail: int | None = None, payable: bool = True) -> Obj:
        avail = day_floor(t) + 2 * DAY if avail is None else avail
        bt = so.bt_obj(txn, t, avail, amount, fee, cur, rate, typ, cat, source, desc,
                       "available" if avail <= self.as_of else "pending")
        self.out.emit("balance_transactions", bt)
        self.truth.bt(cur, amount, fee, bt["net"])
        if payable:
            self.payouts.add(cur, avail, t, txn, bt["net"])
        return bt

    def _failed_charge(self, c: Cust, t: int, amount: int, pi: str, inv: str | None, desc: str) -> str:
        ch = self.ids.new("ch")
        rnd = self.rng.randrange(1_000_000)
        self.out.emit("charges", so.charge_obj(ch, t, amount, c.currency, c.id, c.name, c.email, pi, inv, None,
                                               desc, rnd % 3, [], False, c.pm, rnd))
        return ch

    def _charge(self, c: Cust, t: int, amount: int, pi: str, inv: str | None, desc: str, ledger_type: str, *,
                pi_unique: bool = False, inv_unique: bool = False, ch: str | None = None, record: bool = True,
                t_led: int | None = None, number: str | None = None) -> str | Movement:
        rng, cur, as_of = self.rng, c.currency, self.as_of
        ch = ch or self.ids.new("ch")
        txn = self.ids.new("txn")
        s_amt, s_cur, rate, _ = to_settlement(amount, cur, self._mi(t))
        fee = charge_fee(s_amt, s_cur, rate is not None)
        self._bt(txn, t, s_amt, fee, s_cur, rate, "charge", "charge", ch, desc)
        moves: list[tuple[Movement, int]] = []
        refunds: list[Obj] = []
        disputed = False
        if record and rng.random() < 0.04:
            parts = [amount] if rng.random() < 0.6 or amount < 8 else [amount // 4] * rng.randint(1, 2)
            rt = t
            for part in parts:
                rt += rng.randint(DAY, 10 * DAY)
                if rt >= as_of:
                    break
                re_id, rtxn = self.ids.new("re"), self.ids.new("txn")
                r_amt, r_cur, r_rate, _ = to_settlement(-part, cur, self._mi(rt))
                r_fee = -rhe(fee * part, amount) if rng.random() < 0.1 else 0
                self._bt(rtxn, rt, r_amt, r_fee, r_cur, r_rate, "refund", "refund", re_id,
                         f"REFUND FOR CHARGE ({desc})")
                robj = so.refund_obj(re_id, rt, part, cur, ch, pi, rtxn, rng.choice(_REFUND_REASONS))
                self.out.emit("refunds", robj)
                refunds.append(robj)
            single = len(refunds) == 1 and pi_unique
            for robj in refunds:
                mv = Movement(robj["balance_transaction"], robj["id"], "refund", robj["created"], cur,
                              -robj["amount"], c.id, "refund", (robj["id"], pi) if single else (robj["id"],),
                              f"Refund of {desc}")
                moves.append((mv, robj["created"] + rng.randint(1, 600)))
        elif record and (self._disputes < 2 or rng.random() < 0.006):
            forced = self._disputes < 2  # small runs still show one won and one lost dispute
            d0 = t + (rng.randint(7 * DAY, 10 * DAY) if forced else rng.randint(7 * DAY, 40 * DAY))
            if d0 < as_of:
                self._disputes += 1
                disputed = True
                moves.extend(self._dispute(c, ch, pi, d0, amount, desc, won=self._disputes == 1 if forced else None))
        self.out.emit("charges", so.charge_obj(ch, t, amount, cur, c.id, c.name, c.email, pi, inv, txn, desc, None,
                                               refunds, disputed, c.pm, rng.randrange(1_000_000)))
        keys: tuple[str, ...] = (ch,)
        if pi_unique:
            keys += (pi,)
        if inv_unique and inv:
            keys += (inv,)
        if ledger_type == "credit_purchase" and rng.random() < 0.5:
            keys = (keys[-1], *keys[:-1])  # this integration records the PaymentIntent
        ledger_desc = f"Invoice {number}" if number else desc
        mv = Movement(txn, ch, "charge", t, cur, amount, c.id, ledger_type, keys, ledger_desc)
        if not record:
            return mv
        self.ledger.record(mv, t + rng.randint(1, 300) if t_led is None else t_led, c.tz, c.pool)
        self.ledger.ledger_only(t + 300, c.id, cur, amount, c.tz)
        for m, tl in moves:
            self.ledger.record(m, tl, c.tz, c.pool)
        return ch

    def _dispute(self, c: Cust, ch: str, pi: str, d0: int, amount: int, desc: str,
                 won: bool | None = None) -> list[tuple[Movement, int]]:
        rng, cur = self.rng, c.currency
        dp = self.ids.new("dp")
        if won is None:
            won = rng.random() < 0.55
            close = d0 + rng.randint(20 * DAY, 50 * DAY)
        else:
            close = d0 + rng.randint(20 * DAY, 25 * DAY)
        a1, s_cur, rate1, _ = to_settlement(-amount, cur, self._mi(d0))
        bts = [self._bt(self.ids.new("txn"), d0, a1, DISPUTE_FEE, s_cur, rate1, "adjustment", "dispute", dp,
                        f"Chargeback withdrawal for {ch}")]
        moves = [(Movement(bts[0]["id"], dp, "dispute", d0, cur, -amount, c.id, "dispute", (dp,),
                           f"Chargeback on {desc}"), d0 + rng.randint(60, 6 * 3600))]
        if close < self.as_of:
            status = "won" if won else "lost"
            if won:
                a2, _, rate2, _ = to_settlement(amount, cur, self._mi(close))
                bts.append(self._bt(self.ids.new("txn"), close, a2, -DISPUTE_FEE, s_cur, rate2, "adjustment",
                                    "dispute_reversal", dp, f"Chargeback reversal for {ch}"))
                moves.append((Movement(bts[1]["id"], dp, "dispute_reversal", close, cur, amount, c.id,
                                       "dispute_reversal", (dp,), f"Chargeback won on {desc}"),
                              close + rng.randint(60, 6 * 3600)))
        else:
            status = "under_review" if rng.random() < 0.5 else "needs_response"
        self.out.emit("disputes", so.dispute_obj(dp, d0, amount, cur, ch, pi, status, rng.choice(_DISPUTE_REASONS),
                                                 bts))
        return moves

    # -- payouts ------------------------------------------------------------------------------------
    def _payout_days(self, ms: int, me: int) -> None:
        for day in range(ms, me, DAY):
            created = day + 2 * 3600
            if created >= self.as_of:
                return
            for cur in self.payouts.currencies():
                due = self.payouts.take(cur, day)
                if due:
                    self._payout(cur, day, created, due)

    def _payout(self, cur: str, day: int, created: int, due: list[tuple[int, int, str, int]]) -> None:
        rng = self.rng
        amount = sum(x[3] for x in due)
        members = [x[2] for x in sorted(due, key=lambda x: (x[1], x[2]))]
        po, ptxn = self.ids.new("po"), self.ids.new("txn")
        listed = members
        if created < self.as_of - 4 * DAY and (self._payout_mismatches < 3 or rng.random() < 0.01):
            self._payout_mismatches += 1
            if len(members) >= 2 and rng.random() < 0.5:
                drop = rng.randrange(len(members))  # a member the membership listing lost
                listed = members[:drop] + members[drop + 1:]
            else:
                amount += rng.choice((-1, 1)) * rng.randint(1, min(500, max(1, amount - 1)))
            self.truth.add("payout_mismatch", payout=po)
        arrival = day + 2 * DAY
        self._bt(ptxn, created, -amount, 0, cur, None, "payout", "payout", po, "STRIPE PAYOUT", avail=created,
                 payable=False)
        self.out.emit("payouts", so.payout_obj(po, created, arrival, amount, cur, ptxn,
                                               "paid" if arrival <= self.as_of else "in_transit", self.bank))
        for txn in listed:
            self.out.membership(po, txn)
        self.out.membership(po, ptxn)


def simulate(cfg: SimConfig, progress: Callable[[int], None] | None = None) -> Truth:
    """Generate the export directory, ledger.csv and truth.json under cfg.out."""
    sim = Simulator(cfg, progress)
    truth = sim.run()
    sim.write_truth()
    return truth
