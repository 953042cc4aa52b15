"""What the raw Stripe step needs from a source: one reader per run, whichever source it is.

Two implementations: `cashbook.sources.export.ExportReader` (an export directory, DESIGN Contract 1) and
`cashbook.sources.stripe_api.StripeApiSource` (the API, one token bucket for every stream of the run). Both
return the lake's rows (`cashbook.sources.streams`), so a partition does not depend on where it came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import pyarrow as pa


class StripeReader(Protocol):
    def read_range(self, stream: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
        """Every object of `stream` created in [start, end) (memberships: of payouts created then)."""
        ...

    def metadata(self) -> dict[str, Any]:
        """What the run read and cost (source, directory or requests/retries), for materialization metadata."""
        ...
