"""The reporting-break rule: what it flags on constructed series and on the real panel, and how models use it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import breaks, panel
from analysis.models import ehcp


def _series(n_las: int = 12, years=range(2016, 2026)) -> pd.DataFrame:
    """Smooth counts growing 8 % a year in every LA (no break anywhere)."""
    rows = []
    for i in range(n_las):
        for k, year in enumerate(years):
            total = 1000 * (1 + i / 10) * 1.08**k
            rows.append({"la_code": f"E0600{i:04d}", "la_name": f"LA {i}", "year": year, "ehcp_total": round(total),
                         "ehcp_mainstream": round(0.4 * total), "ehcp_special_state": round(0.3 * total),
                         "ehcp_special_independent": round(0.06 * total), "ehcp_post16": round(0.1 * total)})
    return pd.DataFrame(rows).astype({c: float for c in ["ehcp_total", "ehcp_mainstream", "ehcp_special_state",
                                                           "ehcp_special_independent", "ehcp_post16"]})


def _set(frame: pd.DataFrame, la: int, year: int, column: str, value: float) -> None:
    frame.loc[(frame["la_code"] == f"E0600{la:04d}") & (frame["year"] == year), column] = value


def test_smooth_series_have_no_breaks():
    assert breaks.detect(_series()).empty


def test_a_dip_that_comes_back_is_flagged_at_the_dip_only():
    frame = _series()
    row = frame[(frame["la_code"] == "E06000003") & (frame["year"] == 2020)]
    _set(frame, 3, 2020, "ehcp_special_state", float(row["ehcp_special_state"].iloc[0]) / 2)
    flags = breaks.detect(frame)
    assert flags[["la_code", "year", "variable", "kind"]].values.tolist() == [["E06000003", 2020, "ehcp_special_state", "dip or spike"]]


def test_a_step_in_the_total_is_flagged_and_masks_the_placements_too():
    frame = _series()
    _set(frame, 5, 2025, "ehcp_total", 900.0)  # about 2,500 expected
    flags = breaks.detect(frame)
    assert flags[["la_code", "year", "variable", "kind"]].values.tolist() == [["E06000005", 2025, "ehcp_total", "step"]]
    masked = breaks.mask(frame, flags).set_index(["la_code", "year"])
    assert masked.loc[("E06000005", 2025), ["ehcp_total", "ehcp_mainstream", "ehcp_post16"]].isna().all()
    assert masked.drop(index=("E06000005", 2025)).notna().all().all()


def test_small_counts_and_national_moves_are_not_flagged():
    frame = _series()
    frame.loc[frame["year"] >= 2022, "ehcp_special_independent"] *= 2.5  # every LA at once: a national reclassification
    _set(frame, 0, 2019, "ehcp_special_independent", 20.0)  # 70 → 20 → 80: under MIN_COUNT
    assert breaks.detect(frame).empty


def test_a_step_in_a_school_type_needs_a_factor_of_two():
    frame = _series()
    for year in range(2021, 2026):
        _set(frame, 2, year, "ehcp_special_state", float(frame.loc[(frame["la_code"] == "E06000002") & (frame["year"] == year),
                                                                   "ehcp_special_state"].iloc[0]) * 1.8)
    assert breaks.detect(frame).empty
    for year in range(2021, 2026):
        _set(frame, 2, year, "ehcp_special_state", float(frame.loc[(frame["la_code"] == "E06000002") & (frame["year"] == year),
                                                                   "ehcp_special_state"].iloc[0]) * 1.3)
    flags = breaks.detect(frame)
    assert flags[["la_code", "year", "kind"]].values.tolist() == [["E06000002", 2021, "step"]]


@pytest.fixture(scope="module")
def real():
    panel.ensure()
    return panel.load()


def test_on_the_panel_newham_2025_is_the_one_flagged_total(real):
    flags = breaks.detect(real)
    totals = flags[flags["variable"] == "ehcp_total"]
    assert totals[["la_name", "year", "previous", "value"]].values.tolist() == [["Newham", 2025, 2705.0, 1199.0]]
    # the other flags are school-type counts, each a handful per year at most
    assert 10 <= len(flags) <= 40
    assert set(flags["variable"]) <= set(breaks.VARIABLES)


def test_models_leave_out_flagged_counts(real):
    model = ehcp.EHCPModel(real)
    frame = model.data().set_index(["la_code", "year"])
    assert ("E09000025", 2025) not in frame.index and ("E09000025", 2024) in frame.index
    assert len(frame) == len(ehcp.model_frame(real)) - 1


def test_a_january_after_a_missing_one_has_no_previous_count():
    frame = ehcp.synthetic_panel(n_las=6, years=(2016, 2023), n_regions=2)
    gap = (frame["la_code"] == frame["la_code"].iloc[0]) & (frame["year"] == 2019)
    frame.loc[gap, "ehcp_total"] = np.nan
    model_frame = ehcp.model_frame(frame)
    la = model_frame[model_frame["la_code"] == frame["la_code"].iloc[0]].set_index("year")
    assert 2019 not in la.index
    assert la.loc[2020, "first"] and la.loc[2016, "first"] and not la.loc[2021, "first"]
