"""Outcome readers (LAIT, MoJ SEND Tribunal) and statistical neighbours, on the real mirror."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from analysis.errors import SourceFormatError
from analysis.data.geography import la_units
from analysis.data.neighbours import N_NEIGHBOURS, read_statistical_neighbours
from analysis.data.outcomes import (
    LAIT_MEANS,
    LAIT_MEASURES,
    _with_means,
    compare_tribunal_releases,
    lait_england,
    read_lait,
    read_tribunals,
)

KENT, BRADFORD, CAMDEN, DURHAM = "E10000016", "E08000032", "E09000007", "E06000047"
OLD_DORSET, NEW_DORSET, CUMBERLAND = "E10000009", "E06000059", "E06000063"


@pytest.fixture(scope="module")
def lait(store, las):
    return read_lait(store, las)


@pytest.fixture(scope="module")
def tribunals(store, las):
    return read_tribunals(store, las)


def _value(table, la_code: str, year: int, variable: str) -> float:
    row = table.la[(table.la["la_code"] == la_code) & (table.la["year"] == year)]
    assert len(row) == 1, f"no single row for {la_code} {year}"
    return float(row[variable].iloc[0])


def _assert_one_row_per_live_la_year(table, las) -> None:
    assert not table.la.duplicated(["la_code", "year"]).any()
    units = la_units(las).set_index("la_code")
    first = table.la["la_code"].map(units["first_year"])
    last = table.la["la_code"].map(units["last_year"]).astype("Float64").fillna(9999)
    assert first.notna().all(), "unknown la_code"
    assert ((table.la["year"] >= first) & (table.la["year"] <= last)).all()


# --- LAIT ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("la_code", "year", "variable", "published"),
    [
        (KENT, 2024, "ks4_attainment8_ehcp", 13.3),  # 2023/24, LAIT '2024'
        (CAMDEN, 2024, "ks4_attainment8_ehcp", 18.9),
        (KENT, 2025, "pct_pupils_ehcp", 5.8),  # January 2025 census
        (KENT, 2025, "lait_tribunal_appeal_rate", 6.6),  # calendar 2024, LAIT '2024'
        (KENT, 2024, "ks4_sustained_destination_ehcp", 88.7),  # leavers 2023, LAIT '2023'
        (BRADFORD, 2020, "ks4_sustained_destination_ehcp", 91.6),  # leavers 2019, LAIT '2019'
        (KENT, 2025, "send_16_17_in_education_training", 90.22),  # March 2025, LAIT '2025'
        (KENT, 2023, "ks2_reading_progress_ehcp", -6.04),  # 2022/23, LAIT '2023'
        (KENT, 2023, "ks2_maths_progress_ehcp", -6.01),
        (KENT, 2023, "ks2_progress_ehcp", (-6.04 - 5.11 - 6.01) / 3),  # the mean of the three subjects
    ],
)
def test_lait_reads_published_values_into_panel_years(lait, la_code, year, variable, published):
    assert _value(lait, la_code, year, variable) == pytest.approx(published)


def test_lait_england_values(store):
    england = lait_england(store).set_index("year")
    assert england.at[2024, "ks4_attainment8_ehcp"] == pytest.approx(14.2)
    assert england.at[2025, "pct_pupils_ehcp"] == pytest.approx(5.3)
    assert england.at[2025, "lait_tribunal_appeal_rate"] == pytest.approx(3.2)
    # '2023/24'-style labels map to their end year
    assert england.at[2024, "special_school_pupils_suspended"] == pytest.approx(5.06047)
    assert np.isnan(england.at[2021, "ks2_rwm_expected_ehcp"])  # no KS2 tests in 2020/21
    assert england.at[2023, "ks2_reading_progress_ehcp"] == pytest.approx(-4.36)
    assert england.at[2023, "ks2_progress_ehcp"] == pytest.approx((-4.36 - 4.41 - 4.12) / 3)  # LAIT's three England figures
    assert 2024 not in england["ks2_progress_ehcp"].dropna().index  # no KS1 results for the 2023/24 cohort


def test_a_lait_mean_is_missing_where_any_part_is():
    parts = [m for m in LAIT_MEASURES if m.name in LAIT_MEANS[0].parts]
    wide = pd.DataFrame({"la_code": ["a", "b"], "year": [2023, 2023], parts[0].name: [1.0, 2.0],
                         parts[1].name: [2.0, np.nan], parts[2].name: [6.0, 4.0]})
    out = _with_means(wide, tuple(parts))
    assert out[LAIT_MEANS[0].name].iloc[0] == pytest.approx(3.0)
    assert np.isnan(out[LAIT_MEANS[0].name].iloc[1])  # not the mean of the two subjects published
    assert LAIT_MEANS[0].name not in _with_means(wide, tuple(parts[:2])).columns  # a mean needs all its parts read


def test_lait_shape_and_ranges(lait, las):
    _assert_one_row_per_live_la_year(lait, las)
    assert lait.national is None
    assert [v.name for v in lait.variables] == [c for c in lait.la.columns if c not in ("la_code", "year")]
    for m in LAIT_MEASURES:
        values = lait.la[m.name].dropna()
        assert values.between(*m.bounds).all(), m.name
        if m.unit.startswith("%"):
            assert values.between(0, 100).all(), m.name
        per_year = lait.la.groupby("year")[m.name].count()
        # KS2 progress has five years (none in 2020, 2021, 2024 and 2025); the others six or more
        assert (per_year >= 140).sum() >= (5 if m.name in LAIT_MEANS[0].parts else 6), f"{m.name}: thin coverage {per_year.to_dict()}"
    for mean in LAIT_MEANS:
        assert lait.la[mean.name].notna().equals(lait.la[list(mean.parts)].notna().all(axis=1)), mean.name


def test_lait_drops_values_published_before_an_la_existed(lait):
    bcp_2019 = lait.la[(lait.la["la_code"] == "E06000058") & (lait.la["year"] == 2019)]
    assert bcp_2019.empty
    assert any("Bournemouth, Christchurch and Poole" in n and "[2019]" in n for n in lait.notes)


def test_lait_appeal_rate_matches_moj_on_every_la_year(lait, tribunals):
    both = lait.la.merge(tribunals.la, on=["la_code", "year"])
    both = both.dropna(subset=["lait_tribunal_appeal_rate", "tribunal_appeal_rate"])
    assert len(both) > 1300
    np.testing.assert_allclose(both["lait_tribunal_appeal_rate"], both["tribunal_appeal_rate"], atol=1e-9)


def test_lait_missing_measure_key_names_key_and_file(store, las):
    bogus = dataclasses.replace(LAIT_MEASURES[0], key="SEN_NoSuchMeasure")
    with pytest.raises(SourceFormatError, match=r"bds_long_0\.parquet.*SEN_NoSuchMeasure"):
        read_lait(store, las, measures=(bogus,))


def test_lait_period_type_change_is_caught(store, las):
    appeal = next(m for m in LAIT_MEASURES if m.key == "SEN_AppealableDec")
    wrong = dataclasses.replace(appeal, year_type="Academic Year")
    with pytest.raises(SourceFormatError, match="Year_Type"):
        read_lait(store, las, measures=(wrong,))


# --- MoJ SEND Tribunal ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("la_code", "year", "appeals", "decisions", "rate"),
    [
        (KENT, 2025, 1559, 23692, 6.6),  # calendar 2024
        (DURHAM, 2024, 211, 4833, 4.4),  # calendar 2023
        ("E06000001", 2015, 0, 401, 0.0),  # Hartlepool 2014, published '-' (nil)
        (OLD_DORSET, 2019, 44, 2592, 1.7),  # 'Dorset' in 2018 is the old county
        (NEW_DORSET, 2020, 57, 2681, 2.1),  # 'Dorset' in 2019 is the new unitary
        (CUMBERLAND, 2024, 29, 2803, 1.0),
    ],
)
def test_tribunals_published_values(tribunals, la_code, year, appeals, decisions, rate):
    assert _value(tribunals, la_code, year, "tribunal_appeals") == appeals
    assert _value(tribunals, la_code, year, "tribunal_decisions") == decisions
    assert _value(tribunals, la_code, year, "tribunal_appeal_rate") == pytest.approx(rate)


def test_tribunals_shape_national_and_rates(tribunals, las):
    _assert_one_row_per_live_la_year(tribunals, las)
    assert sorted(tribunals.la["year"].unique()) == list(range(2015, 2026))
    assert (tribunals.la.groupby("year")["la_code"].count() >= 150).all()
    national = tribunals.national.set_index("year")
    assert national.loc[2025].tolist() == [22276, 689739]
    assert national.loc[2015].tolist() == [4108, 251096]
    sums = tribunals.la.groupby("year")[["tribunal_appeals", "tribunal_decisions"]].sum()
    gap = (sums - national).abs() / national
    assert (gap <= tribunals.tolerance).all().all()
    assert gap.loc[2022, "tribunal_appeals"] == pytest.approx(85 / 9184)  # Northamptonshire, abolished 2021
    la = tribunals.la.dropna()
    recomputed = 100 * la["tribunal_appeals"] / la["tribunal_decisions"]
    assert (recomputed - la["tribunal_appeal_rate"]).abs().max() <= 0.05 + 1e-9


def test_tribunal_releases_agree_on_overlap(store, las):
    both = compare_tribunal_releases(store, las)
    assert set(both["year"]) == set(range(2015, 2024))
    assert (both.groupby("year")["la_code"].nunique() >= 150).all()
    counts = both[both["variable"] != "tribunal_appeal_rate"]
    assert (counts["difference"] == 0).all()
    rates = both[both["variable"] == "tribunal_appeal_rate"]  # 2025 file rounds to 0.1
    assert rates["difference"].abs().max() <= 0.05 + 1e-9


# --- Statistical neighbours ----------------------------------------------------------------------

def test_statistical_neighbours(store, las):
    sn = read_statistical_neighbours(store, las)
    per_la = sn.groupby("la_code")
    assert (per_la.size() == N_NEIGHBOURS).all()
    assert per_la["rank"].apply(lambda r: sorted(r) == list(range(1, N_NEIGHBOURS + 1))).all()
    assert not (sn["la_code"] == sn["neighbour_code"]).any()
    assert not sn.duplicated(["la_code", "neighbour_code"]).any()
    known = set(las["la_code"])
    assert set(sn["la_code"]) <= known and set(sn["neighbour_code"]) <= known
    units = la_units(las)
    live = set(units.loc[units["last_year"].isna(), "la_code"])
    assert set(sn.loc[~sn["old_group"], "la_code"]) == live
    assert set(sn.loc[sn["old_group"], "la_code"]) == {"E06000028", "E06000029", OLD_DORSET, "E10000021", "E10000006"}
    barnsley = sn[(sn["la_code"] == "E08000038") & (sn["rank"] == 1)]
    assert barnsley["neighbour_code"].tolist() == ["E08000018"]  # Barnsley (recoded 2025) -> Rotherham
