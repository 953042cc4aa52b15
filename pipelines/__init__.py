"""The Dagster code location: definitions, jobs, schedules and sensors (wiring only)."""
