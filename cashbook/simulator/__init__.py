"""A seeded simulator of a SaaS Stripe account: export directory, company ledger, and the answer key.

`simulate(SimConfig(out=...))` writes DESIGN.md Contract 1 streams, a Contract 2 `ledger.csv` and
`truth.json` (docs/architecture.md) with injected discrepancies and month-end MRR. See docs/simulator.md.
"""

from cashbook.simulator.engine import SimConfig, Simulator, simulate

__all__ = ["SimConfig", "Simulator", "simulate"]
