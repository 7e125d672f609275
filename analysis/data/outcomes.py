"""Child-centred outcomes: DfE LAIT measures and the MoJ SEND Tribunal appeal rate.

Two readers, both returning `SourceTable`s on the panel year convention (year
Y = the twelve months around January Y):

- `read_lait`: attainment, destinations, identification, timeliness and
  absence measures for pupils with EHC plans or SEN support, from DfE's Local
  Authority Interactive Tool (long parquet, `Values` as text, old 3-digit LA
  numbers). Each measure's `Years` label is turned into a panel year by the
  declarative table `LAIT_MEASURES`: academic-year labels name the end year
  ('2023' and '2022/23' both mean 2022/23 -> 2023); calendar-year flows move on
  one year (appeals in 2023 -> 2024); KS4 destinations are dated by the
  academic year in which the destination is sustained (leavers of summer
  2022 -> 2022/23 -> 2023). The dictionary's `Year_Type` for every measure is
  checked on read, so a change of period definition fails loudly. `LAIT_MEANS`
  adds plain means of published measures (KS2 progress: reading, writing and
  maths), where every part is published.
- `read_tribunals`: appeals registered, appealable decisions and the appeal
  rate by LA, calendar years 2014-2024 (panel years 2015-2025), from the MoJ
  table shipped with the SEN2 2025 release; `compare_tribunal_releases` checks
  it against MoJ's 2022 table on the overlap.

Both apply the geography policy strictly: a value is kept only for an LA that
existed on 1 January of the panel year. DfE and MoJ sometimes publish a
reorganised area's first academic year on the new geography (e.g. BCP's
2018/19 KS4 results) or file a predecessor's figures under its successor's
number (LAIT gives Dorset County's 2016-2018 appeal rates under the new
Dorset); such values are dropped and listed in `SourceTable.notes`.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.data.geography import codes_from_names, codes_from_old, la_units, name_key
from analysis.data.parsing import numeric, require_columns
from analysis.data.sources import Store
from analysis.data.table import Kind, SourceTable, Variable
from analysis.errors import SourceFormatError

_LAIT_COLUMNS = ["Short Desc", "Years", "Values", "LA Number"]
_ENGLAND_NUMBER = 970
_FIRST_AREA_NUMBER = 970  # LAIT numbers England and the regions from 970 up; LAs lie below


@dataclass(frozen=True)
class LaitMeasure:
    """One LAIT measure: its key, the panel variable it becomes, and how its years map.

    `lag` turns the year in LAIT's `Years` label (for 'YYYY/YY' labels, the end
    year) into the panel year; `year_type` must equal the dictionary's
    `Year_Type`; `bounds` are the values a correct file can hold.
    """

    key: str
    name: str
    description: str
    unit: str
    kind: Kind
    year_type: str
    period: str
    lag: int
    bounds: tuple[float, float]


_PCT = (0.0, 100.0)
#: A sanity bound on an LA's average KS2 progress score (published LA averages lie between about −22 and +12): an
#: average beyond ±40, twice the widest published, would mean a misread column or a changed unit, not a real LA.
_PROGRESS = (-40.0, 40.0)
_ACADEMIC = "academic year (Y-1)/Y"

LAIT_MEASURES: tuple[LaitMeasure, ...] = (
    LaitMeasure("SEN_TotStat", "pct_pupils_ehcp",
                "Pupils with a statement or EHC plan, all schools (school census)",
                "% of pupils", "share", "Academic Year", "January Y (school census)", 0, _PCT),
    LaitMeasure("SEN_TotSENSuP", "pct_pupils_sen_support",
                "Pupils with SEN support (no plan), all schools (school census)",
                "% of pupils", "share", "Academic Year", "January Y (school census)", 0, _PCT),
    LaitMeasure("EHCP_Initial_req_refused", "lait_requests_refused_pct",
                "Initial requests for an EHC needs assessment that were refused (SEN2; "
                "aggregate return to 2021, person-level from 2022: a series break)",
                "% of initial requests", "share", "Calendar Year", "calendar year Y-1", 1, _PCT),
    LaitMeasure("SEN_EHC_All_20wks", "lait_ehcp_within_20_weeks_pct",
                "New EHC plans issued within 20 weeks, including exception cases (SEN2)",
                "% of new plans", "share", "Calendar Year", "calendar year Y-1", 1, _PCT),
    LaitMeasure("SEN_AppealableDec", "lait_tribunal_appeal_rate",
                "SEND Tribunal appeals as a share of appealable decisions (MoJ, as carried by LAIT)",
                "% of appealable decisions", "rate", "Calendar Year", "calendar year Y-1", 1, _PCT),
    LaitMeasure("KS1P_EHCP", "phonics_expected_ehcp",
                "Year 1 pupils with an EHC plan meeting the phonics decoding standard "
                "(not run in 2020 and 2021; latest year provisional)",
                "% of pupils", "share", "Academic Year", _ACADEMIC, 0, _PCT),
    LaitMeasure("NEW_KS2_RWM_Sen_Withsta", "ks2_rwm_expected_ehcp",
                "KS2 pupils with an EHC plan reaching the expected standard in reading, writing "
                "and maths (no tests in 2020 and 2021)",
                "% of pupils", "share", "Academic Year", _ACADEMIC, 0, _PCT),
    LaitMeasure("NEW_KS2_RWM_Sen_W/Osta", "ks2_rwm_expected_sen_support",
                "KS2 pupils with SEN support reaching the expected standard in reading, writing "
                "and maths (no tests in 2020 and 2021)",
                "% of pupils", "share", "Academic Year", _ACADEMIC, 0, _PCT),
    LaitMeasure("KS2_SEN_Reading_Progress", "ks2_reading_progress_ehcp",
                "KS2 reading progress score (KS1 to KS2 value added) of pupils with an EHC plan; 0 is "
                "England's average for all pupils of like KS1 results (none for 2020 and 2021, nor "
                "for 2024 and 2025: those cohorts have no KS1 results)",
                "score", "index", "Academic Year", _ACADEMIC, 0, _PROGRESS),
    LaitMeasure("KS2_SEN_Writing_Progress", "ks2_writing_progress_ehcp",
                "KS2 writing progress score of pupils with an EHC plan (teacher-assessed writing; "
                "same years as reading)",
                "score", "index", "Academic Year", _ACADEMIC, 0, _PROGRESS),
    LaitMeasure("KS2_SEN_Maths_Progress", "ks2_maths_progress_ehcp",
                "KS2 maths progress score of pupils with an EHC plan (same years as reading)",
                "score", "index", "Academic Year", _ACADEMIC, 0, _PROGRESS),
    LaitMeasure("SEN_Stat_AVG_Attain8_Score", "ks4_attainment8_ehcp",
                "Average Attainment 8 score of KS4 pupils with an EHC plan (2020 and 2021 from "
                "centre/teacher-assessed grades; maximum 80 in 2016, 87 in 2017, 90 from 2018)",
                "points", "index", "Academic Year", _ACADEMIC, 0, (0.0, 90.0)),
    LaitMeasure("SEN_WoStat_AVG_Attain8_Score", "ks4_attainment8_sen_support",
                "Average Attainment 8 score of KS4 pupils with SEN support (same caveats as for "
                "pupils with an EHC plan)",
                "points", "index", "Academic Year", _ACADEMIC, 0, (0.0, 90.0)),
    LaitMeasure("SEN_Stat_AVG_Prog8_Score", "ks4_progress8_ehcp",
                "Average Progress 8 score of KS4 pupils with an EHC plan (none for 2020, 2021 "
                "and from 2025)",
                "score", "index", "Academic Year", _ACADEMIC, 0, (-5.0, 5.0)),
    LaitMeasure("SusEdOverall_SEN_Stat_incSpec", "ks4_sustained_destination_ehcp",
                "KS4 leavers with an EHC plan (mainstream and special schools) in a sustained "
                "education, apprenticeship or employment destination in the following year",
                "% of leavers", "share", "Academic Year",
                "KS4 leavers of summer Y-1, destination sustained over academic year (Y-1)/Y", 1, _PCT),
    LaitMeasure("16-17YroldSEN_ET", "send_16_17_in_education_training",
                "16-17 year olds with SEND recorded by the LA as in education or training (LA "
                "client caseload records, not DfE's official participation statistics)",
                "% of 16-17 year olds with SEND", "share", "Financial Year",
                "end of March Y (financial year (Y-1)-Y)", 0, _PCT),
    LaitMeasure("Age19_SEN-S_L2EM", "age19_level2_em_ehcp",
                "Young people with an EHC plan at 15 qualified to Level 2 including English and "
                "maths by age 19",
                "% of the cohort", "share", "Academic Year", "age 19 in academic year (Y-1)/Y", 0, _PCT),
    LaitMeasure("Age19_SEN-S_L3", "age19_level3_ehcp",
                "Young people with an EHC plan at 15 qualified to Level 3 by age 19",
                "% of the cohort", "share", "Academic Year", "age 19 in academic year (Y-1)/Y", 0, _PCT),
    LaitMeasure("SpecPerAbNew", "special_school_persistent_absence",
                "Pupils in state-funded special schools missing 10% or more of sessions "
                "(autumn term only in 2019/20, not published)",
                "% of pupils", "share", "Academic Year", _ACADEMIC, 0, _PCT),
    LaitMeasure("Spec_ Pup_FixedEx", "special_school_pupils_suspended",
                "Pupils in state-funded special schools with one or more suspensions",
                "% of pupils", "share", "Academic Year", _ACADEMIC, 0, _PCT),
)


@dataclass(frozen=True)
class LaitMean:
    """A panel variable that is the plain mean of LAIT measures (`parts`, panel names), for an LA-year where every
    part is published; missing where any part is, so a suppressed subject never leaves a mean of the others."""

    name: str
    description: str
    unit: str
    kind: Kind
    parts: tuple[str, ...]


LAIT_MEANS: tuple[LaitMean, ...] = (
    LaitMean("ks2_progress_ehcp",
             "KS2 progress of pupils with an EHC plan: mean of the reading, writing and maths progress scores "
             "(this study's mean of DfE's three published scores, which DfE does not combine)",
             "score", "index", ("ks2_reading_progress_ehcp", "ks2_writing_progress_ehcp", "ks2_maths_progress_ehcp")),
)

_YEAR_LABEL = re.compile(r"^(\d{4})(?:/(\d{2}))?(?: \((?:prov|Rev|Final)\))?$")


def _lait_rows(store: Store, measures: tuple[LaitMeasure, ...]) -> tuple[pd.DataFrame, str]:
    """The parquet rows of the wanted measures; every key must be in the file."""
    path = store.path("lait")
    where = f"{path.name}"
    rows = pd.read_parquet(path, columns=_LAIT_COLUMNS)
    require_columns(rows, _LAIT_COLUMNS, where=where)
    missing = sorted({m.key for m in measures} - set(rows["Short Desc"].unique()))
    if missing:
        raise SourceFormatError(
            f"{where}: measure key(s) {missing} not found in column 'Short Desc'. DfE may have "
            "renamed or retired them: look the measure up in lait_data_dictionary.csv and update "
            "analysis.data.outcomes.LAIT_MEASURES."
        )
    rows = rows[rows["Short Desc"].isin({m.key for m in measures})]
    dupes = rows.duplicated(["Short Desc", "LA Number", "Years"])
    if dupes.any():
        raise SourceFormatError(
            f"{where}: {int(dupes.sum())} repeated (Short Desc, LA Number, Years) rows, e.g. "
            f"{rows[dupes].head(3).to_dict('records')}. The reader expects one value per area and year."
        )
    return rows, where


def _check_year_types(store: Store, measures: tuple[LaitMeasure, ...]) -> None:
    """Fail if the dictionary's period type of a measure differs from the one the year mapping assumes."""
    path = store.path("lait_dictionary")
    dictionary = pd.read_csv(path, usecols=["Measure_short", "Year_Type"]).drop_duplicates("Measure_short")
    year_type = dictionary.set_index("Measure_short")["Year_Type"]
    wrong = {m.key: year_type.get(m.key) for m in measures if year_type.get(m.key) != m.year_type}
    if wrong:
        raise SourceFormatError(
            f"{path.name}: column 'Year_Type' gives {wrong}, not what analysis.data.outcomes.LAIT_MEASURES "
            "assumes. Check the measure's period and fix its `year_type` and `lag`."
        )


def _panel_years(labels: pd.Series, lags: pd.Series, *, where: str) -> pd.Series:
    """Panel year of each `Years` label: the (end) year it names plus the measure's lag."""
    parts = labels.astype("string").str.strip().str.extract(_YEAR_LABEL)
    bad = parts[0].isna()
    if bad.any():
        raise SourceFormatError(
            f"{where}: column 'Years' has labels {sorted(labels[bad].astype(str).unique())[:10]} that "
            "are neither 'YYYY' nor 'YYYY/YY'. Add the form to analysis.data.outcomes._YEAR_LABEL."
        )
    year = parts[0].astype(int) + parts[1].notna().astype(int)
    return (year + lags).astype(int)


def _parse_lait(rows: pd.DataFrame, measures: tuple[LaitMeasure, ...], *, where: str) -> pd.DataFrame:
    """Long table (number, variable, year, value, code) with values checked against each measure's bounds."""
    spec = {m.key: m for m in measures}
    value, code = numeric(rows["Values"], where=f"{where}, column 'Values'")
    out = pd.DataFrame(
        {
            "number": rows["LA Number"].astype(int),
            "variable": rows["Short Desc"].map(lambda k: spec[k].name),
            "year": _panel_years(rows["Years"], rows["Short Desc"].map(lambda k: spec[k].lag), where=where),
            "value": value,
            "code": code,
        }
    )
    for m in measures:
        v = out.loc[out["variable"] == m.name, "value"]
        outside = v[(v < m.bounds[0]) | (v > m.bounds[1])]
        if len(outside):
            raise SourceFormatError(
                f"{where}: measure '{m.key}' has {len(outside)} values outside {m.bounds} "
                f"(e.g. {outside.head(3).tolist()}): the unit may have changed; check the dictionary."
            )
    return out.reset_index(drop=True)


def _means(measures: tuple[LaitMeasure, ...]) -> list[tuple[LaitMean, str]]:
    """The `LAIT_MEANS` whose parts are all among `measures`, each with its parts' common period."""
    period = {m.name: m.period for m in measures}
    out = []
    for mean in LAIT_MEANS:
        if all(p in period for p in mean.parts):
            periods = {period[p] for p in mean.parts}
            if len(periods) != 1:
                raise ValueError(f"{mean.name}: its parts {mean.parts} have different periods {sorted(periods)}")
            out.append((mean, periods.pop()))
    return out


def _with_means(wide: pd.DataFrame, measures: tuple[LaitMeasure, ...]) -> pd.DataFrame:
    """`wide` with a column for each of `_means(measures)`."""
    return wide.assign(**{mean.name: wide[list(mean.parts)].mean(axis=1, skipna=False) for mean, _ in _means(measures)})


def _variables(measures: tuple[LaitMeasure, ...]) -> list[Variable]:
    return ([Variable(m.name, m.description, m.unit, m.period, "lait", m.kind) for m in measures]
            + [Variable(m.name, m.description, m.unit, period, "lait", m.kind) for m, period in _means(measures)])


def _within_life(long: pd.DataFrame, las: pd.DataFrame, *, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Keep cells of LAs that existed on 1 January of their panel year; say which values were dropped."""
    units = la_units(las).set_index("la_code")
    first = long["la_code"].map(units["first_year"])
    last = long["la_code"].map(units["last_year"]).astype("Float64").fillna(9999)
    alive = (long["year"] >= first) & (long["year"] <= last)
    dropped = long[~alive & long["value"].notna()]
    notes = [
        f"{source}: {variable} for {units.at[code, 'la_name']} ({code}) in panel year(s) "
        f"{sorted(group['year'].unique().tolist())} dropped: the LA did not exist on 1 January of "
        "that year (published on a changed geography)."
        for (code, variable), group in dropped.groupby(["la_code", "variable"])
    ]
    return long[alive.to_numpy()], notes


def _wide(long: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per (la_code, year) with any value, one column per variable, in `names` order."""
    present = long[long["value"].notna()]
    wide = present.pivot(index=["la_code", "year"], columns="variable", values="value")
    wide = wide.reindex(columns=names).reset_index()
    wide.columns.name = None
    wide["la_code"] = wide["la_code"].astype("string")
    wide["year"] = wide["year"].astype(int)
    return wide.sort_values(["la_code", "year"]).reset_index(drop=True)


def _suppressed(long: pd.DataFrame) -> pd.DataFrame:
    cells = long[long["code"].notna()]
    return cells[["la_code", "year", "variable", "code"]].reset_index(drop=True)


def read_lait(store: Store, las: pd.DataFrame, measures: tuple[LaitMeasure, ...] = LAIT_MEASURES) -> SourceTable:
    """LAIT outcome measures by LA and panel year (rates and scores, so no national totals)."""
    rows, where = _lait_rows(store, measures)
    _check_year_types(store, measures)
    rows = rows[rows["LA Number"] < _FIRST_AREA_NUMBER]
    long = _parse_lait(rows, measures, where=where)
    long["la_code"] = codes_from_old(long["number"].astype(str), las, where=f"{where}, column 'LA Number'")
    long, notes = _within_life(long, las, source=where)
    return SourceTable(
        name="outcomes",
        la=_with_means(_wide(long, [m.name for m in measures]), measures),
        variables=_variables(measures),
        national=None,
        suppressed=_suppressed(long),
        notes=notes,
    )


def lait_england(store: Store, measures: tuple[LaitMeasure, ...] = LAIT_MEASURES) -> pd.DataFrame:
    """England's published value of each LAIT measure by panel year (year, one column per variable)."""
    rows, where = _lait_rows(store, measures)
    long = _parse_lait(rows[rows["LA Number"] == _ENGLAND_NUMBER], measures, where=where)
    wide = long.pivot(index="year", columns="variable", values="value").reindex(columns=[m.name for m in measures])
    wide.columns.name = None
    return _with_means(wide.dropna(how="all").reset_index(), measures)


# --- MoJ SEND Tribunal appeal rate -------------------------------------------------------------

TRIBUNAL_MEMBER = "SEND Tribunals and appeal rate 2014-2024.csv"

#: Column headings of the MoJ table (footnote digits removed) and the variables they become.
_MOJ_METRICS = {
    "appeals registered": "tribunal_appeals",
    "total appealable decisions": "tribunal_decisions",
    "send tribunal appeal rate": "tribunal_appeal_rate",
}

TRIBUNAL_VARIABLES = [
    Variable("tribunal_appeals", "SEND Tribunal appeals registered against the LA (HMCTS)",
             "appeals", "calendar year Y-1", "sen2_2025", "count"),
    Variable("tribunal_decisions",
             "Appealable decisions: initial requests refused, assessments not leading to a plan and "
             "plans ceased as needs met (calendar year Y-1), plus EHC plans in January Y (SEN2)",
             "decisions", "calendar year Y-1 flows, plans at January Y", "sen2_2025", "count"),
    Variable("tribunal_appeal_rate", "Appeals registered per 100 appealable decisions, as published (0.1 dp)",
             "% of appealable decisions", "calendar year Y-1", "sen2_2025", "rate"),
]

_COUNTS = ["tribunal_appeals", "tribunal_decisions"]

#: LA sums equal MoJ's England totals exactly except in 2022, when England includes 85 appeals
#: against Northamptonshire (abolished April 2021) that belong to no panel LA (0.93%).
_TOLERANCE = 0.01


def _strip_footnote(text: str) -> str:
    """'Dorset6' -> 'Dorset'; 'Total Appealable Decisions1,9' -> 'Total Appealable Decisions'."""
    return re.sub(r"[\d,]+$", "", str(text).strip()).strip()


def _moj_long(grid: pd.DataFrame, *, where: str, rate_scale: float) -> pd.DataFrame:
    """MoJ's wide table (title rows, year row, metric row, region headers) as (name, cal_year, variable, value, code).

    '-' means zero in MoJ tables (the 2022 table's legend says so), '..' not available.
    """
    grid = grid.astype("string")
    first = grid.iloc[:, 0].str.strip()
    header = first[first == "Local Authority"].index
    end = first[first.str.startswith("Sources", na=False)].index
    if len(header) != 1 or len(end) != 1:
        raise SourceFormatError(
            f"{where}: cannot find the 'Local Authority' header row and the 'Sources:' row in the "
            "first column; the layout has changed: update analysis.data.outcomes._moj_long."
        )
    h = grid.index.get_loc(header[0])
    years = grid.iloc[h].str.strip().where(lambda s: s.str.fullmatch(r"\d{4}(\.0)?", na=False)).ffill()
    metrics = grid.iloc[h + 1].map(lambda t: _strip_footnote(t).lower() if pd.notna(t) else pd.NA)
    columns = {
        j: (int(float(years.iloc[j])), _MOJ_METRICS[metrics.iloc[j]])
        for j in range(1, grid.shape[1])
        if pd.notna(years.iloc[j]) and metrics.iloc[j] in _MOJ_METRICS
    }
    found = pd.Series(list(columns.values()), dtype=object)
    per_year = found.map(lambda c: c[0]).value_counts()
    if found.empty or (per_year != len(_MOJ_METRICS)).any():
        raise SourceFormatError(
            f"{where}: expected columns {sorted(_MOJ_METRICS)} under every year heading in row "
            f"{h + 1}; found {sorted(columns.values())}. Update analysis.data.outcomes._MOJ_METRICS."
        )
    body = grid.iloc[h + 2 : grid.index.get_loc(end[0])]
    body = body[body.iloc[:, 0].notna() & ~body.iloc[:, 0].str.strip().str.isupper()]
    body = body[~body.iloc[:, 0].str.contains("excluding suppressed", case=False)]
    parts = []
    for j, (year, variable) in columns.items():
        value, code = numeric(body.iloc[:, j], where=f"{where}, {year} '{variable}' column")
        if variable == "tribunal_appeal_rate":
            value = value * rate_scale
        parts.append(pd.DataFrame({"name": body.iloc[:, 0].map(_strip_footnote), "cal_year": year,
                                   "variable": variable, "value": value, "code": code}))
    long = pd.concat(parts, ignore_index=True)
    repeated = long.duplicated(["name", "cal_year", "variable"], keep=False)
    if repeated.any():
        raise SourceFormatError(
            f"{where}: the same LA and year appear more than once: "
            f"{long[repeated][['name', 'cal_year']].drop_duplicates().head().to_dict('records')}. "
            "The release may list an LA twice (check it); the reader cannot choose between the rows."
        )
    return _moj_zeros(long)


def _moj_zeros(long: pd.DataFrame) -> pd.DataFrame:
    """Appeals published as '-' or blank where the published rate is 0: MoJ's nil, so zero appeals."""
    key = ["name", "cal_year"]
    rates = long.loc[long["variable"] == "tribunal_appeal_rate", key + ["value"]].rename(columns={"value": "rate"})
    long = long.merge(rates, on=key, how="left", validate="many_to_one")
    nil = (
        (long["variable"] == "tribunal_appeals")
        & long["value"].isna()
        & (long["code"].isna() | (long["code"] == "-"))
        & (long["rate"] == 0)
    )
    long.loc[nil, "value"] = 0.0
    long.loc[nil, "code"] = pd.NA
    return long.drop(columns="rate")


def _alive_keys(las: pd.DataFrame, years: pd.Series) -> pd.Series:
    """For each year, the name keys of the LAs that existed on 1 January of it."""
    alive = {}
    for year in years.unique():
        on = pd.Timestamp(int(year), 1, 1)
        live = las[(las["start"] <= on) & (las["end"].isna() | (las["end"] >= on))]
        alive[year] = set(live["name"].map(name_key))
    return years.map(alive)


def _moj_table(long: pd.DataFrame, las: pd.DataFrame, *, where: str, source: str) -> SourceTable:
    """Panel years, LA codes (by name, for the LA alive on 1 January), England totals."""
    long = long.assign(year=long["cal_year"] + 1)
    is_england = long["name"].str.lower().str.startswith("england")
    england = long[is_england & long["variable"].isin(_COUNTS)]
    national = england.pivot(index="year", columns="variable", values="value").reindex(columns=_COUNTS)
    national.columns.name = None
    long = long[~is_england]
    known = set(las["name"].map(name_key))
    key = long["name"].map(name_key)
    alive = _alive_keys(las, long["year"])
    gone = key.isin(known) & ~pd.Series([k in a for k, a in zip(key, alive)], index=long.index)
    notes = [
        f"{where}: {r.variable} = {r.value:g} for {r.name} in calendar {r.cal_year} dropped: the LA did "
        f"not exist on 1 January {r.year} (it is in the England total)."
        for r in long[gone & long["value"].notna()].itertuples()
    ]
    long = long[~gone]
    pairs = long[["name", "year"]].drop_duplicates().reset_index(drop=True)
    pairs["la_code"] = codes_from_names(pairs["name"], las, pairs["year"], where=f"{where}, column 'Local Authority'")
    long = long.merge(pairs, on=["name", "year"], how="left", validate="many_to_one")
    dupes = long.duplicated(["la_code", "year", "variable"])
    if dupes.any():
        raise SourceFormatError(
            f"{where}: two rows map to the same LA and year: {long[dupes][['name', 'cal_year']].head().to_dict('records')}."
        )
    names = [v.name for v in TRIBUNAL_VARIABLES]
    return SourceTable(
        name="tribunals",
        la=_wide(long, names),
        variables=[Variable(v.name, v.description, v.unit, v.period, source, v.kind) for v in TRIBUNAL_VARIABLES],
        national=national.reset_index(),
        suppressed=_suppressed(long),
        tolerance=_TOLERANCE,
        notes=notes,
    )


def _read_zip_csv(path: Path, member: str) -> pd.DataFrame:
    with zipfile.ZipFile(path) as zf:
        matches = [n for n in zf.namelist() if n.endswith("/" + member) or n == member]
        if len(matches) != 1:
            raise SourceFormatError(
                f"{path.name}: expected one member named '{member}', found {matches}. "
                "Update analysis.data.outcomes.TRIBUNAL_MEMBER to the new file name."
            )
        text = zf.read(matches[0]).decode("utf-8-sig")
    return pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False).replace("", pd.NA)


def read_tribunals(store: Store, las: pd.DataFrame) -> SourceTable:
    """MoJ SEND appeal rate by LA, calendar 2014-2024 (panel years 2015-2025), from the SEN2 2025 zip.

    LAs are matched by name: the table's 'LA code' column is unreliable (it
    gives Northamptonshire 892, Nottingham 891 and Nottinghamshire 928).
    """
    path = store.path("sen2_2025")
    where = f"{path.name}: {TRIBUNAL_MEMBER}"
    long = _moj_long(_read_zip_csv(path, TRIBUNAL_MEMBER), where=where, rate_scale=1.0)
    table = _moj_table(long, las, where=where, source="sen2_2025")
    table.notes += [
        f"{where}: the 2024 'In development' appealable decisions and rate (a new SEN2-based definition) are not read.",
        f"{where}: MoJ advises caution comparing appealable decisions from 2023 on (new SEN2 collection).",
    ]
    return table


def read_tribunals_2022(store: Store, las: pd.DataFrame) -> SourceTable:
    """The same series from MoJ's 2022 table (calendar 2014-2022), for cross-checking."""
    path = store.path("tribunals_2022")
    where = f"{path.name}, sheet SEND_2"
    grid = pd.read_excel(path, sheet_name="SEND_2", header=None, engine="odf", dtype=object)
    long = _moj_long(grid, where=where, rate_scale=100.0)
    return _moj_table(long, las, where=where, source="tribunals_2022")


def _stacked(table: SourceTable) -> pd.DataFrame:
    names = [v.name for v in table.variables]
    return table.la.melt(id_vars=["la_code", "year"], value_vars=names, var_name="variable")


def compare_tribunal_releases(store: Store, las: pd.DataFrame) -> pd.DataFrame:
    """LA-year values of both MoJ releases on their overlap, long: la_code, year, variable, new, old, difference."""
    new, old = _stacked(read_tribunals(store, las)), _stacked(read_tribunals_2022(store, las))
    both = new.merge(old, on=["la_code", "year", "variable"], suffixes=("_new", "_old"))
    both = both.rename(columns={"value_new": "release_2025", "value_old": "release_2022"})
    both["difference"] = both["release_2025"] - both["release_2022"]
    return both.sort_values(["variable", "la_code", "year"]).reset_index(drop=True)
