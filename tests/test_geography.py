"""Pins the LA harmonisation policy stated in analysis.data.geography."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import geography
from analysis.errors import UnknownLAError


def test_same_boundary_recodes_are_chained_to_the_current_code(las):
    codes = pd.Series(["E10000002", "E10000023", "E10000027", "E06000048", "E08000020", "E08000016", "E08000019"])
    got = geography.harmonise_codes(codes, las, where="test").tolist()
    assert got == ["E06000060", "E06000065", "E06000066", "E06000057", "E08000037", "E08000038", "E08000039"]


def test_boundary_changes_are_separate_las_that_end_and_start(las):
    units = geography.la_units(las).set_index("la_code")
    spans = {c: (units.at[c, "first_year"], units.at[c, "last_year"]) for c in
             ["E06000028", "E06000029", "E10000009", "E06000058", "E06000059", "E10000021", "E06000061", "E10000006", "E06000063", "E06000064"]}
    assert spans["E06000028"] == (2010, 2019) and spans["E06000029"] == (2010, 2019) and spans["E10000009"] == (2010, 2019)
    assert spans["E06000058"][0] == 2020 and spans["E06000059"][0] == 2020
    assert spans["E10000021"] == (2010, 2021) and spans["E06000061"][0] == 2022
    assert spans["E10000006"] == (2010, 2023) and spans["E06000063"][0] == 2024 and spans["E06000064"][0] == 2024


def test_stable_areas_group_each_reorganisation(las):
    units = geography.la_units(las).set_index("la_code")
    assert set(units.index[units["stable_area"] == "S-CUMBRIA"]) == {"E10000006", "E06000063", "E06000064"}
    assert set(units.index[units["stable_area"] == "S-DORSET"]) == {"E06000028", "E06000029", "E10000009", "E06000058", "E06000059"}
    assert units.at["E06000060", "stable_area"] == "E06000060"


def test_las_alive_per_january_match_the_sen2_counts(las):
    units = geography.la_units(las)
    alive = lambda y: ((units["first_year"] <= y) & (units["last_year"].isna() | (units["last_year"] >= y))).sum()
    assert {y: alive(y) for y in (2019, 2020, 2022, 2024)} == {2019: 152, 2020: 151, 2022: 152, 2024: 153}


def test_names_pick_the_la_that_existed_in_the_year(las):
    names = pd.Series(["Dorset", "Dorset", "Bristol, City of", "Kingston upon Hull, City of", "St. Helens", "Windsor & Maidenhead"])
    years = pd.Series([2019, 2023, 2023, 2023, 2023, 2023])
    got = geography.codes_from_names(names, las, years, where="test").tolist()
    assert got == ["E10000009", "E06000059", "E06000023", "E06000010", "E08000013", "E06000040"]


def test_unknown_names_are_listed(las):
    with pytest.raises(UnknownLAError) as err:
        geography.codes_from_names(pd.Series(["Kent", "Atlantis", "Gondor"]), las, 2023, where="cohorts.csv")
    assert "cohorts.csv" in str(err.value) and "['Atlantis', 'Gondor']" in str(err.value)


def test_unknown_codes_are_listed(las):
    with pytest.raises(UnknownLAError, match="E99999999"):
        geography.harmonise_codes(pd.Series(["E10000016", "E99999999"]), las, where="test.csv")
