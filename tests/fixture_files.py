"""Where the test data lives. Everything a test reads is under tests/fixtures/ (its README says what each
file is modelled on), so a clone on its own runs the whole suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
STRIPE_EVENTS_DIR = FIXTURES_DIR / "stripe" / "events"
STRIPE_OBJECTS = FIXTURES_DIR / "stripe" / "objects.json"


def stripe_objects() -> dict[str, dict[str, Any]]:
    """Stripe's own example object per resource type (from stripe/openapi fixtures3.json), keyed by `object`."""
    return json.loads(STRIPE_OBJECTS.read_text())["resources"]
