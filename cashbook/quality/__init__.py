"""Data quality: Great Expectations 1.x suites from `expectations/<table>.json`, validated in memory.

Kernel code (no Dagster): the asset checks in `assets/checks` wrap these functions.
"""

from cashbook.quality.suites import EXPECTATIONS_DIR, SuiteError, load_suite_spec, suite_names
from cashbook.quality.validate import QualityResult, validate_frame

__all__ = ["EXPECTATIONS_DIR", "QualityResult", "SuiteError", "load_suite_spec", "suite_names", "validate_frame"]
