"""cashbook: Stripe reconciliation and revenue analytics.

The kernel package: no Dagster, no FastAPI. `pipelines`, `assets` and `api` build on it.
"""

__version__ = "0.1.0"
