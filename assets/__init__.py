"""Dagster assets by layer: raw (stripe, ledger), warehouse (staging, reconciliation, marts), serving."""
