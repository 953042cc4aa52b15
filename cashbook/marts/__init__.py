"""Revenue, MRR and churn marts: running their SQL, exchange rates, and the analyst report.

Kernel code only (no Dagster): the Dagster assets in `assets/marts` and the `cashbook report`
command both call these functions, so the pipeline and the CLI cannot disagree.
"""

from cashbook.marts.build import MART_FILES, MART_TABLES, build_all, build_mart, build_staging

__all__ = ["MART_FILES", "MART_TABLES", "build_all", "build_mart", "build_staging"]
