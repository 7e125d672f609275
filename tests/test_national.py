"""Text helpers of the national picture: which LAs an England total covers, and shares too small to show."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report import coverage, national


def _frame() -> pd.DataFrame:
    """Three LAs in 2018; in 2025 one of them split in two, and one LA without a figure."""
    return pd.DataFrame({"year": [2018] * 3 + [2025] * 4, "la_name": ["A", "B", "C", "A", "B", "C1", "C2"],
                         "x": [1.0, 2.0, 3.0, 1.0, np.nan, 2.0, 2.0]})


def test_coverage_says_all_when_every_la_reports_and_counts_the_las_of_each_year():
    assert coverage.text(_frame(), "x", [2018]) == "all 3 LAs in 2018"
    assert coverage.text(_frame().fillna(0), "x", [2018, 2025], lambda y: f"FY{y}") == "all 3 LAs in FY2018 and all 4 in FY2025"


def test_coverage_names_the_few_las_missing_and_only_counts_many():
    assert coverage.text(_frame(), "x", [2018, 2025]) == "all 3 LAs in 2018 and 3 of 4 in 2025 (without B)"
    many = pd.DataFrame({"year": 2018, "la_name": list("ABCDEF"), "x": [1.0, 2.0] + [np.nan] * 4})
    assert coverage.text(many, "x", [2018]) == "2 of 6 LAs in 2018"


def test_a_share_too_small_to_show_is_under_a_tenth_of_a_percent_and_zero_is_zero():
    assert national.share_text(0.01) == "under 0.1%" and national.share_text(0.0) == "0.0%" and national.share_text(12.34) == "12.3%"
