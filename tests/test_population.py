"""ONS mid-year population reader: real published figures, coverage, national totals, layout errors."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analysis.errors import SourceFormatError
from analysis.data.geography import la_units
from analysis.data.population import AGE_BANDS, read_population
from analysis.data.sources import Store, sha256_of
from analysis.data.table import SourceTable

BANDS = list(AGE_BANDS)


@pytest.fixture(scope="module")
def pop(store: Store, las: pd.DataFrame) -> SourceTable:
    return read_population(store, las)


def _value(pop: SourceTable, la_code: str, year: int) -> dict[str, int]:
    row = pop.la[(pop.la["la_code"] == la_code) & (pop.la["year"] == year)]
    assert len(row) == 1, (la_code, year)
    return row[BANDS].iloc[0].to_dict()


def test_shape_and_keys(pop: SourceTable) -> None:
    assert list(pop.la.columns) == ["la_code", "year", *BANDS]
    assert [v.name for v in pop.variables] == BANDS
    assert all(v.kind == "count" and "30 June of `year`-1" in v.period for v in pop.variables)
    assert not pop.la.duplicated(["la_code", "year"]).any()
    assert sorted(pop.la["year"].unique()) == list(range(2016, 2026))
    assert pop.la[BANDS].notna().all().all() and (pop.la[BANDS] > 0).all().all()


def test_published_figures(pop: SourceTable) -> None:
    england = pop.national.set_index("year")
    assert england.at[2025, "pop_0_25"] == 17_849_967  # mid-2024 CSV, England row, ages 0-25
    assert england.at[2016, "pop_2_18"] == 11_004_917  # mid-2015 xls
    assert _value(pop, "E10000016", 2016)["pop_2_18"] == 314_651  # Kent, mid-2015
    assert _value(pop, "E09000001", 2016)["pop_0_25"] == 1_929  # City of London kept
    assert _value(pop, "E06000053", 2025)["pop_0_25"] == 613  # Isles of Scilly kept
    # Sheffield mid-2024 is published under its old code E08000019; harmonised to E08000039.
    assert _value(pop, "E08000039", 2025)["pop_2_18"] == 111_804


def test_predecessors_summed_from_successors(pop: SourceTable) -> None:
    # Northamptonshire (Jan 2021) = North + West Northamptonshire in the mid-2020 file.
    assert _value(pop, "E10000021", 2021)["pop_2_18"] == 163_936
    # Cumbria (Jan 2023) = Cumberland + Westmorland and Furness in the mid-2022 file.
    assert _value(pop, "E10000006", 2023)["pop_0_25"] == 127_734
    assert not pop.la[(pop.la["year"] == 2023) & pop.la["la_code"].isin(["E06000063", "E06000064"])].shape[0]


def test_every_live_la_has_a_value_or_a_note(pop: SourceTable, las: pd.DataFrame) -> None:
    units = la_units(las)
    have = set(zip(pop.la["la_code"], pop.la["year"]))
    lacking = {}
    for year in range(2016, 2026):
        alive = units[(units["first_year"] <= year) & (units["last_year"].isna() | (units["last_year"] >= year))]
        assert {c for c, y in have if y == year} <= set(alive["la_code"]), year
        if gaps := {c for c in alive["la_code"] if (c, year) not in have}:
            lacking[year] = gaps
    # Only Bournemouth, Poole and old Dorset in January 2019: the mid-2018 file is on April 2019 boundaries.
    assert lacking == {2019: {"E06000028", "E06000029", "E10000009"}}
    assert all(any("population 2019:" in n and c in n and "missing" in n for n in pop.notes) for c in lacking[2019])
    assert len(pop.la) == 152 * 3 + 149 + 151 * 2 + 152 * 2 + 153 * 2


def test_la_sums_equal_published_england(pop: SourceTable) -> None:
    gap = pop.la.groupby("year")[BANDS].sum() - pop.national.set_index("year")[BANDS]
    # Exact in every year but 2019, whose gap is the Dorset stable area (BCP + new Dorset in the
    # mid-2018 file, on April 2019 boundaries), which Bournemouth, Poole and old Dorset cannot be split from.
    assert (gap.drop(2019) == 0).all().all()
    assert gap.loc[2019].to_dict() == {"pop_0_25": -210_251, "pop_2_18": -137_567, "pop_0_19": -160_343}
    assert any("S-DORSET" in n and "210,251" in n for n in pop.notes)


def test_missing_age_columns_raise(tmp_path, store: Store, las: pd.DataFrame) -> None:
    mirror = tmp_path / "mirror"
    registry = dict(store.registry)
    for key in (f"ons_mye_{y}" for y in range(2015, 2025)):
        target = mirror / registry[key].mirror_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(store.path(key))
    broken = mirror / registry["ons_mye_2024"].mirror_path
    frame = pd.read_csv(store.path("ons_mye_2024"), dtype=str, encoding="utf-8-sig")
    broken.unlink()
    frame.drop(columns=["17", "18"]).to_csv(broken, index=False)
    registry["ons_mye_2024"] = dataclasses.replace(registry["ons_mye_2024"], sha256=sha256_of(broken))
    bad = Store(registry=registry, raw=tmp_path / "raw", mirror=mirror, route="mirror")
    with pytest.raises(SourceFormatError, match=r"mye24tablesew\.csv.*\[17, 18\]"):
        read_population(bad, las)
