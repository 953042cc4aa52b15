"""Replay server: serves a Stripe export directory over HTTP with Stripe list semantics (tests, benchmarks)."""

from cashbook.replay.server import ReplayConfig, ReplayServer, build_app, serve_forever
from cashbook.replay.store import ExportStore, StripeRequestError

__all__ = ["ExportStore", "ReplayConfig", "ReplayServer", "StripeRequestError", "build_app", "serve_forever"]
