"""The Stripe streams: each one's export file, Stripe object, list endpoint and lake table, in one table.

Every place that maps between these names reads them from here: the API source (`stripe_api`: endpoints, and
which stream an expanded balance-transaction source lands in), the events refresher (`stripe_refresh`: which
stream an event's object belongs to), the replay server (`replay/store`: resources and their list filters),
the lake (`lake.LAKE_TABLES`) and the tests. Columns and row building stay in `cashbook.sources.streams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class StripeStream:
    """One stream. `name` is the export file stem (`<name>.jsonl`) and the list resource (`/v1/<name>`)."""

    name: str
    object: str | None                # Stripe's `object` value of its rows; None: not a Stripe object
    listed: bool = True               # has its own list endpoint (the membership stream has not)
    list_params: Mapping[str, Any] = field(default_factory=dict)  # fixed params of every list call
    list_filters: frozenset[str] = frozenset()  # filters the list accepts besides paging/created/expand
    in_lake: bool = True              # landed as raw/stripe_<name>
    balance_source: bool = False      # a balance transaction's expanded `source` of this object lands here
    named_by_events: bool = False     # an event about this object re-ingests the day it was created

    @property
    def endpoint(self) -> str:
        return f"/v1/{self.name}"

    @property
    def lake_table(self) -> str:
        return f"stripe_{self.name}"


# Lake order: the membership stream next to the payouts it belongs to.
_STREAMS = [
    StripeStream("balance_transactions", "balance_transaction",
                 list_filters=frozenset({"payout", "type", "source", "currency"})),
    StripeStream("charges", "charge", list_filters=frozenset({"customer", "payment_intent"}),
                 balance_source=True, named_by_events=True),
    StripeStream("refunds", "refund", list_filters=frozenset({"charge", "payment_intent"}),
                 balance_source=True, named_by_events=True),
    StripeStream("disputes", "dispute", list_filters=frozenset({"charge", "payment_intent"}),
                 balance_source=True, named_by_events=True),
    StripeStream("payouts", "payout", list_filters=frozenset({"status", "arrival_date"}),
                 balance_source=True, named_by_events=True),
    # `GET /v1/balance_transactions?payout=po_…` per payout; one {"payout", "balance_transaction"} pair per line.
    StripeStream("payout_balance_transactions", None, listed=False),
    StripeStream("customers", "customer", list_filters=frozenset({"email"}), named_by_events=True),
    # Stripe hides canceled subscriptions from the list unless status=all.
    StripeStream("subscriptions", "subscription", list_params=MappingProxyType({"status": "all"}),
                 list_filters=frozenset({"status", "customer", "price"}), named_by_events=True),
    StripeStream("invoices", "invoice", list_filters=frozenset({"status", "customer", "subscription"}),
                 named_by_events=True),
    # Read by the refresher to find late changes; never landed.
    StripeStream("events", "event", list_filters=frozenset({"type", "types"}), in_lake=False),
]

STREAMS: Mapping[str, StripeStream] = MappingProxyType({s.name: s for s in _STREAMS})

# The raw streams, in lake order.
STRIPE_STREAMS: list[str] = [s.name for s in _STREAMS if s.in_lake]

# Raw lake tables: the Stripe streams, then the company ledger.
LAKE_TABLES: list[str] = [*(STREAMS[s].lake_table for s in STRIPE_STREAMS), "ledger_entries"]

# Streams with a list endpoint -> (path, fixed params).
ENDPOINTS: Mapping[str, tuple[str, dict[str, Any]]] = MappingProxyType(
    {s.name: (s.endpoint, dict(s.list_params)) for s in _STREAMS if s.listed})

# A listed stream -> its Stripe `object` name (the replay server's "No such <object>" messages).
LISTED_OBJECTS: Mapping[str, str] = MappingProxyType(
    {s.name: s.object for s in _STREAMS if s.listed and s.object})

# Stripe `object` of an expanded balance-transaction source -> the stream it lands in.
BALANCE_SOURCE_STREAMS: Mapping[str, str] = MappingProxyType(
    {s.object: s.name for s in _STREAMS if s.balance_source and s.object})

# Stripe `object` of an event's `data.object` -> the stream whose days the refresher re-ingests.
EVENT_OBJECT_STREAMS: Mapping[str, str] = MappingProxyType(
    {s.object: s.name for s in _STREAMS if s.named_by_events and s.object})

