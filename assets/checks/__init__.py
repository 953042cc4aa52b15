"""Asset checks: GX suites on raw partitions and marts, SQL invariants, raw freshness."""
