"""Types shared by the response models of several routers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator


def _utc(v: dt.datetime) -> dt.datetime:
    """Every instant leaves in UTC (`...Z`), whatever the database session's TimeZone."""
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)


Instant = Annotated[dt.datetime, AfterValidator(_utc)]
