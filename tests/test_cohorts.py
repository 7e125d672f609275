"""Programme membership in data/cohorts.csv: counts, codes, timing and the unknowns."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import cohorts
from analysis.errors import DataError


@pytest.fixture(scope="module")
def table(las):
    return cohorts.load_cohorts(las)


def test_counts_match_the_published_numbers(table):
    sv = table[table["programme"] == "safety_valve"]
    assert len(sv) == 38
    assert (sv["membership"] == "unidentified").sum() == 2
    assert {"Slough", "Torbay", "Wokingham"} <= set(sv.loc[sv["cohort"] == "2022-23", "la_name"])
    assert sv.loc[sv["membership"] == "inferred", "la_name"].tolist() == ["North Tyneside"]
    assert len(table[table["programme"] == "dbv"]) == 55


def test_unidentified_members_are_not_guessed(table):
    unknown = table[table["membership"] == "unidentified"]
    assert unknown["la_code"].isna().all() and (unknown["cohort"] == "2022-23").all()


def test_suspended_agreements(table):
    sv = table[table["programme"] == "safety_valve"]
    assert sorted(sv.loc[sv["suspended"] != "", "la_name"]) == ["Bath and North East Somerset", "Cambridgeshire", "Dorset", "Hillingdon", "Norfolk"]


def test_timing_in_panel_years(table):
    first = table.dropna(subset=["la_code"]).set_index(["programme", "la_name"])["first_treated_year"]
    assert first["safety_valve", "Bury"] == 2022 and first["safety_valve", "Kent"] == 2024
    assert first["dbv", "Suffolk"] == 2023 and first["dbv", "Wirral"] == 2024


def test_las_in_both_programmes(table):
    both = cohorts.membership(table).query("in_both")
    assert set(both["la_code"]) == {"E06000036", "E06000023", "E06000054"}  # Bracknell Forest, Bristol, Wiltshire


def test_every_row_has_evidence(table):
    assert (table["evidence"].str.len() > 10).all() and table["source"].str.startswith("https://").all()


def test_a_code_that_does_not_match_its_name_is_caught(las, tmp_path):
    from analysis import paths

    bad = pd.read_csv(paths.COHORTS, dtype=str, keep_default_na=False)
    bad.loc[bad["la_name"] == "Kent", "la_code"] = "E10000014"  # Hampshire's code
    bad.to_csv(tmp_path / "cohorts.csv", index=False)
    with pytest.raises(DataError, match="Kent"):
        cohorts.load_cohorts(las, tmp_path / "cohorts.csv")


def test_the_unidentified_members_sort_after_norfolk():
    names = pd.Series(["Newham", "Norfolk", "North Tyneside", "Wokingham", "York", "Barnet"])
    assert cohorts.could_be_unidentified(names).tolist() == [False, False, True, True, True, False]


def test_the_chapter_shows_the_cohorts_in_words(table):
    from analysis.report.programme_effects import cohort_table

    shown = cohort_table(table)
    assert list(shown.columns) == ["Programme", "Cohort", "First panel year treated", "Confirmed", "Inferred", "Not identified", "Total"]
    assert list(shown["Programme"].unique()) == ["Safety Valve", "Delivering Better Value"]
    assert shown["Total"].sum() == len(table)
    assert all(part["First panel year treated"].is_monotonic_increasing for _, part in shown.groupby("Programme"))
