"""Threshold alerts: rules evaluated on published results, deduplicated in Postgres, paged through sinks."""
