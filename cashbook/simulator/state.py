"""Per-customer state kept between months: the only memory that grows with the customer count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cashbook.simulator.catalog import Plan

Obj = dict[str, Any]


@dataclass(slots=True)
class Sub:
    id: str
    item_id: str
    created: int
    plan: Plan
    qty: int
    discount: Obj | None
    pct: int
    status: str  # trialing | active | past_due | canceled
    trial: tuple[int, int] | None
    anchor: int
    k: int
    period: tuple[int, int]
    cancel_at_period_end: bool = False
    canceled_at: int | None = None
    ended_at: int | None = None
    cancel_reason: str | None = None
    changed_in_period: bool = False
    prorations: list[Obj] = field(default_factory=list)
    latest_invoice: str | None = None


@dataclass(slots=True)
class Cust:
    id: str
    name: str
    email: str
    currency: str
    tz: int  # ledger clock offset in seconds
    created: int
    pm: str
    prefix: str
    inv_seq: int = 0
    sub: Sub | None = None
    ended_at: int | None = None
    events: list[tuple[int, int, str, Any]] = field(default_factory=list)  # heap (t, seq, kind, payload)
    pool: list[tuple[int, tuple[str, str, int]]] = field(default_factory=list)
    mrr: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # month index → contributions
