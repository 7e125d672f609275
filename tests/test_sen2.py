"""SEN2 reader: published EHC plan figures, placement groups, the two releases' overlap, bad input."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data import sen2
from analysis.errors import SourceFormatError
from analysis.data.sources import Store, sha256_of
from analysis.data.table import SourceTable

KEYS = ["la_code", "year"]

#: England, active EHC plans (and statements before 2019), January of each year, as published.
ENGLAND_PLANS = {2010: 228_221, 2014: 237_111, 2018: 312_626, 2019: 353_995, 2022: 473_255, 2024: 576_474, 2025: 638_745}


@pytest.fixture(scope="module")
def caseload(store: Store, las: pd.DataFrame) -> SourceTable:
    return sen2.read_caseload(store, las)


@pytest.fixture(scope="module")
def flows(store: Store, las: pd.DataFrame) -> SourceTable:
    return sen2.read_flows(store, las)


@pytest.fixture(scope="module")
def compared(store: Store, las: pd.DataFrame) -> pd.DataFrame:
    return sen2.compare_releases(store, las)


def _cell(table: SourceTable, la_code: str, year: int, variable: str) -> float:
    row = table.la[(table.la["la_code"] == la_code) & (table.la["year"] == year)]
    assert len(row) == 1, (la_code, year)
    return float(row[variable].iloc[0])


def test_england_total_equals_la_sum_every_january(caseload: SourceTable) -> None:
    national = caseload.national.set_index("year")["ehcp_total"]
    la_sum = caseload.la.groupby("year")["ehcp_total"].sum()
    assert list(national.index) == list(range(2010, 2026))
    assert caseload.la["ehcp_total"].notna().all()
    pd.testing.assert_series_equal(la_sum, national, check_names=False)
    for year, plans in ENGLAND_PLANS.items():
        assert national[year] == plans, year


def test_keys_years_and_las(caseload: SourceTable, flows: SourceTable, las: pd.DataFrame) -> None:
    for table in (caseload, flows):
        assert list(table.la.columns) == [*KEYS, *(v.name for v in table.variables)]
        assert not table.la.duplicated(KEYS).any()
        assert sorted(table.la["year"].unique()) == list(range(2010, 2026))
        assert table.la["la_code"].isin(las["la_code"]).all()  # no England or region rows
        assert table.la.groupby("year").size().between(151, 153).all()
    per_year = caseload.la.groupby("year").size()
    assert per_year[2010] == 152 and per_year[2020] == 151 and per_year[2025] == 153


def test_published_la_figures(caseload: SourceTable, flows: SourceTable) -> None:
    assert _cell(caseload, "E10000016", 2025, "ehcp_total") == 20_635  # Kent, January 2025 (2025 release)
    assert _cell(caseload, "E06000001", 2010, "ehcp_total") == 332  # Hartlepool, January 2010 (2022 release)
    assert _cell(caseload, "E06000001", 2010, "ehcp_statements") == 332
    assert _cell(flows, "E10000016", 2025, "new_plans") == 2_890  # Kent, calendar 2024
    # Buckinghamshire published under its old county code E10000002 in 2023-24 and 2024-25: harmonised.
    assert _cell(caseload, "E06000060", 2025, "ehcp_total") == 7_217


def test_groups_are_exhaustive_and_exclusive(caseload: SourceTable) -> None:
    groups = caseload.la[sen2.GROUPS]
    complete = groups.notna().all(axis=1)
    assert np.array_equal(groups[complete].sum(axis=1), caseload.la.loc[complete, "ehcp_total"])
    national = caseload.national.set_index("year")
    assert (national.loc[:2023, sen2.GROUPS].sum(axis=1) == national.loc[:2023, "ehcp_total"]).all()
    # Only the LA-years whose placements DfE could not publish (footnoted) lack groups.
    gaps = set(map(tuple, caseload.la.loc[~complete, KEYS].to_numpy()))
    assert gaps == {("E06000031", 2024), ("E09000012", 2024), ("E06000012", 2025), ("E10000003", 2025)}
    assert national.at[2019, "ehcp_special_state"] == 84_033 + 35_065  # LA-maintained (incl. hospital) + academy/free
    assert national.at[2010, "ehcp_post16"] == 0  # statements did not cover FE
    # The 2025 release's own subtotals for January 2025: mainstream_total, special_total, ap_pru_total, fe_total.
    assert national.loc[2025, ["ehcp_mainstream", "ehcp_ap_pru", "ehcp_post16"]].tolist() == [278_236, 4_858, 88_158]
    assert national.at[2025, "ehcp_special_state"] + national.at[2025, "ehcp_special_independent"] == 193_880


def test_counts_inside_a_group_are_part_of_it_and_missing_with_it(caseload: SourceTable) -> None:
    """Independent mainstream and specialist post-16 plans, published inside mainstream and FE: never more than
    their group, missing exactly where it is, and as published nationally (both releases agree on January 2022)."""
    la, national = caseload.la, caseload.national.set_index("year")
    for inner, group in (("ehcp_mainstream_independent", "ehcp_mainstream"), ("ehcp_post16_specialist", "ehcp_post16")):
        assert (la[inner].isna() == la[group].isna()).all(), inner
        assert (la[inner].dropna() <= la[group].dropna()).all(), inner
    # 2022 release (January 2018) and 2025 release (January 2022, 2025): the published national figures
    assert national.loc[[2018, 2022, 2025], "ehcp_post16_specialist"].tolist() == [4_270, 8_230, 9_675]
    assert national.loc[[2022, 2025], "ehcp_mainstream_independent"].tolist() == [5_033, 7_174]


def test_suppressed_cells_are_missing_never_zero(caseload: SourceTable, flows: SourceTable) -> None:
    for table in (caseload, flows):
        s = table.suppressed
        assert list(s.columns) == ["la_code", "year", "variable", "code"] and len(s)
        cells = table.la.set_index(KEYS)
        values = [cells.at[(c, y), v] for c, y, v in zip(s["la_code"], s["year"], s["variable"])]
        assert pd.isna(values).all()
    # Cambridgeshire's January 2025 placements are published as 'x'.
    assert np.isnan(_cell(caseload, "E10000003", 2025, "ehcp_mainstream"))
    rows = caseload.suppressed.query("la_code == 'E10000003' and year == 2025")
    assert set(rows["variable"]) == set(sen2.GROUPS) | set(sen2.OF_WHICH_2025) and set(rows["code"]) == {"x"}
    # Three LAs' 2023 requests are 'x' in the 2025 release.
    x = flows.suppressed.query("variable == 'requests_received'")
    assert len(x) == 3 and (x["year"] == 2024).all() and set(x["code"]) == {"x"}
    assert flows.la.loc[flows.la["year"] == 2024, "requests_received"].isna().sum() == 3


def test_every_category_is_mapped(store: Store) -> None:
    found = sen2.caseload_categories(store)
    assert found[sen2.CASELOAD_2022] == set(sen2.CASELOAD_MAP_2022)
    assert found[sen2.CASELOAD_2025] == set(sen2.CASELOAD_MAP_2025)
    for mapping in (sen2.CASELOAD_MAP_2022, sen2.CASELOAD_MAP_2025):
        assert set(mapping.values()) == set(sen2.GROUPS)


def test_releases_agree_on_the_overlap(compared: pd.DataFrame) -> None:
    national = compared[compared["level"] == "national"]
    assert set(national["year"]) == {2019, 2020, 2021, 2022}
    assert (national["diff"] == 0).all(), national[national["diff"] != 0]
    la = compared[compared["level"] == "la"]
    assert (la.loc[la["variable"].str.startswith("ehcp_"), "diff"] == 0).all()
    differ = la[(la["diff"] != 0) & ~(la["release_2022"].isna() & la["release_2025"].isna())]
    # The only LA-level difference: the 2025 release omits the Isles of Scilly's (zero) new plans of 2019.
    assert differ[[*KEYS, "variable", "release_2022"]].values.tolist() == [["E06000053", 2020, "new_plans", 0.0]]


def test_flows_published_figures_and_coverage(flows: SourceTable) -> None:
    national = flows.national.set_index("year")
    assert national.at[2025, "new_plans"] == 97_747 and national.at[2010, "new_plans"] == 26_019
    assert national.at[2025, "requests_received"] == 154_489 and national.at[2017, "requests_received"] == 55_235
    assert national.at[2020, "requests_refused"] == 18_755 and national.at[2025, "ceased_plans"] == 44_862
    first = {v: int(flows.la.dropna(subset=[v])["year"].min()) for v in national.columns}
    assert first == {"new_plans": 2010, "requests_received": 2017, "requests_refused": 2016,
                     "timeliness_20wk_issued": 2016, "timeliness_20wk_within": 2016, "ceased_plans": 2023}
    la_sum = flows.la.groupby("year")[list(national.columns)].sum(min_count=1)
    exact = [(2010, "new_plans"), (2023, "new_plans"), (2025, "new_plans"), (2022, "requests_received"),
             (2019, "timeliness_20wk_within"), (2025, "ceased_plans")]
    for year, var in exact:
        assert la_sum.at[year, var] == national.at[year, var], (year, var)
    # Rows the 2025 release lacks (Leicester, Isle of Wight, calendar 2023) are listed, not invented.
    assert "sen2_flows: new_plans 2024 not published for E06000016, E06000046" in " ".join(flows.notes)
    assert _cell(flows, "E08000013", 2022, "requests_refused") == 0  # St Helens: published 0 (DfE: should be 107), kept
    assert any("should have been 107" in n for n in flows.notes)


def test_yorkshire_new_plans_2022_repaired(flows: SourceTable) -> None:
    # newplans.csv gives every Yorkshire and The Humber LA the regional 6,078 for calendar 2022.
    assert _cell(flows, "E08000039", 2023, "new_plans") == 955  # Sheffield, from its Sex breakdown
    assert _cell(flows, "E08000036", 2023, "new_plans") == 462  # Wakefield, aggregate-only: regional remainder
    assert flows.la.loc[flows.la["year"] == 2023, "new_plans"].sum() == 66_706
    assert any("publisher error" in n and "Wakefield 462" in n for n in flows.notes)


def test_timeliness_rate_matches_its_counts(flows: SourceTable) -> None:
    t = flows.la.dropna(subset=["timeliness_20wk_pct", "timeliness_20wk_issued"])
    t = t[t["timeliness_20wk_issued"] > 0]
    computed = 100 * t["timeliness_20wk_within"] / t["timeliness_20wk_issued"]
    assert len(t) > 1500 and (computed - t["timeliness_20wk_pct"]).abs().max() <= 0.05 + 1e-9
    kinds = {v.name: v.kind for v in flows.variables}
    assert kinds["timeliness_20wk_pct"] == "share" and "timeliness_20wk_pct" not in flows.national.columns
    assert all("calendar year `year`-1" in v.period for v in flows.variables)


def _broken_store(store: Store, tmp_path: Path, member: str, edit) -> Store:
    """A Store whose sen2_2025 zip holds only `member`, its text changed by `edit`."""
    source = store.registry["sen2_2025"]
    with zipfile.ZipFile(store.path("sen2_2025")) as zf:
        text = zf.read(member).decode("utf-8-sig")
    target = tmp_path / "mirror" / source.mirror_path
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, edit(text))
    registry = {**store.registry, "sen2_2025": dataclasses.replace(source, sha256=sha256_of(target))}
    return Store(registry=registry, raw=tmp_path / "raw", mirror=tmp_path / "mirror", route="mirror")


@pytest.mark.parametrize(
    ("reader", "member", "column"),
    [(sen2.read_caseload, "data/caseload.csv", "ehcplans"), (sen2.read_flows, "data/newplans.csv", "new_ehc_plans")],
)
def test_renamed_column_is_reported(store: Store, las: pd.DataFrame, tmp_path: Path, reader, member: str, column: str) -> None:
    def rename(text: str) -> str:
        header, rest = text.split("\n", 1)
        return header.replace(f",{column},", f",{column}_renamed,") + "\n" + rest

    broken = _broken_store(store, tmp_path, member, rename)
    with pytest.raises(SourceFormatError, match=rf"education-health-and-care-plans_2025\.zip:{member}.*'{column}'"):
        reader(broken, las)


def test_new_placement_category_is_reported(store: Store, las: pd.DataFrame, tmp_path: Path) -> None:
    def add_column(text: str) -> str:
        lines = text.splitlines()
        return "\n".join([lines[0] + ",hovercraft_school"] + [line + ",0" for line in lines[1:]])

    broken = _broken_store(store, tmp_path, "data/caseload.csv", add_column)
    with pytest.raises(SourceFormatError, match=r"caseload\.csv: placement categories not assigned.*hovercraft_school"):
        sen2.read_caseload(broken, las)
