"""marts/* (revenue, MRR, churn, cohorts in DuckDB) and analytics/* (the same tables in Postgres)."""
