"""Which LAs an England total adds up, in words: a total over the LAs that report a value is compared with another
year's only when the reader is told whether the two cover the same LAs.

It has no imports from the package, so a chapter that uses it names no panel column or source through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd


def text(panel: pd.DataFrame, column: str, years: Sequence[int], label: Callable[[int], str] = str) -> str:
    """Which LAs the England totals of `column` in `years` add up: 'all 152 LAs in 2017-18 and all 153 in 2024-25',
    or '149 of 151 LAs in 2019-20 and 151 of 153 in 2023-24 (without City of London, Isles of Scilly)' (the
    LAs missing named when there are at most three). A ratio of two totals then says whether it compares like with
    like, and a count of LAs that changes with boundary changes is not mistaken for a gap."""
    parts, missing = [], set()
    for i, year in enumerate(years):
        rows = panel[panel["year"] == year]
        gone = set(rows.loc[rows[column].isna(), "la_name"])
        missing |= gone
        n, las = len(rows), " LAs" if i == 0 else ""
        parts.append(f"{n - len(gone)} of {n}{las} in {label(year)}" if gone else f"all {n}{las} in {label(year)}")
    named = f" (without {', '.join(sorted(missing))})" if 0 < len(missing) <= 3 else ""
    return " and ".join(parts) + named
