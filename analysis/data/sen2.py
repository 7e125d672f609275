"""SEN2 (DfE "Education, health and care plans"): EHC plan caseload and process flows by LA.

Two releases, read straight from their zips (`sen2_2022`, `sen2_2025`):

- caseload (active plans, January `year`) by placement group, January 2010–2025;
- flows during the calendar year before January `year`: new plans, requests for
  assessment and refusals, 20-week timeliness, ceased plans.

Overlap policy: the newest release wins for every cell it publishes (caseload
January 2019–2025, flows calendar 2019–2024 = panel years 2020–2025); the 2022
release fills the earlier years and the odd LA-year the 2025 release leaves out
(listed in the notes). `compare_releases` sets the two side by side on the
years both publish: they agree exactly on every cell both have.

Flows are taken as published with one exception: the 2025 release's new plans
for calendar 2022 give every Yorkshire and The Humber LA the regional total,
and are rebuilt from the file's own breakdowns (`_repair_regional_copies`).

Placement groups are exhaustive and exclusive: each published placement
category is mapped to exactly one group (`CASELOAD_MAP_2022`, `CASELOAD_MAP_2025`);
a category missing from the maps stops the reader. Two counts, each inside a
group, are published beside it: plans in independent mainstream schools, part of
``ehcp_mainstream``, and in specialist post-16 institutions, part of
``ehcp_post16`` (`OF_WHICH_2022`, `OF_WHICH_2025`). Before 2019 the caseload is
statements of SEN plus EHC plans (statements were converted to plans by 2018).

A placement cell published as a code (`x`) is taken as zero only where the
LA's other categories already add up to its published total, which proves it
zero (a category not yet collected that year, or Northamptonshire's free-school
SEN units in January 2021). Otherwise the LA-year's placement groups are all
missing, with the code recorded in `suppressed` ("incomplete" if none was
published): Hackney and Peterborough in January 2024 (totals only) and
Cambridgeshire and North East Lincolnshire in January 2025 (placements not
recorded), as DfE's footnotes say. England's groups are the published ones,
so in January 2024 they fall 3,645 plans short of the England total.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.geography import harmonise_codes
from analysis.data.parsing import numeric, require_columns
from analysis.data.sources import Store
from analysis.data.table import SourceTable, Variable
from analysis.errors import SourceFormatError, raise_if_interrupted

ENGLAND = "E92000001"
KEYS = ["la_code", "year"]
SUPPRESSED_COLUMNS = ["la_code", "year", "variable", "code"]

GROUPS = [
    "ehcp_mainstream",
    "ehcp_special_state",
    "ehcp_special_independent",
    "ehcp_ap_pru",
    "ehcp_post16",
    "ehcp_other",
]

#: Placement counts published inside a group ("of which"): count → its categories in each release. Independent
#: mainstream schools and specialist post-16 institutions are independent or non-maintained providers, whose
#: top-ups LAs book with independent special schools' (s251 line 1.2.3), unlike the rest of their groups.
OF_WHICH_2022: dict[str, set[tuple[str, str]]] = {
    "ehcp_mainstream_independent": {("Mainstream school", "Mainstream - Independent")},
    "ehcp_post16_specialist": {("Further education", "Specialist post-16 institutions"),
                               ("Further education", "Independent specialist providers")},
}
OF_WHICH_2025: dict[str, set[str]] = {"ehcp_mainstream_independent": {"mainstream_independent"},
                                      "ehcp_post16_specialist": {"specialist_post_16_institutions"}}

#: 2022 release, sen2_estab_caseload.csv: (establishment_group, establishment_type) → placement group.
#: Hospital schools sit with state special schools, as the 2025 release counts them
#: (its `special_la_maintained` for January 2019 = LA-maintained special + hospital schools);
#: sixth-form colleges and "Other FE" are in its general FE figure. The 2015–2016
#: work-based categories (apprenticeships, traineeships, supported internships) are post-16.
CASELOAD_MAP_2022: dict[tuple[str, str], str] = {
    ("Mainstream school", "Mainstream - LA maintained"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - LA maintained - SEN unit"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - LA maintained - Resourced provision"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Academy"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Academy - SEN unit"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Academy - Resourced Provision"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Free school"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Free school - SEN unit"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Free school - Resourced provision"): "ehcp_mainstream",
    ("Mainstream school", "Mainstream - Independent"): "ehcp_mainstream",
    ("Special school", "Special - LA maintained"): "ehcp_special_state",
    ("Special school", "Special - Academy"): "ehcp_special_state",
    ("Special school", "Special - Free school"): "ehcp_special_state",
    ("Special school", "Special - Academy/free"): "ehcp_special_state",
    ("Special school", "Hospital School"): "ehcp_special_state",
    ("Special school", "Special - Independent"): "ehcp_special_independent",
    ("Special school", "Special - Non-maintained"): "ehcp_special_independent",
    ("Alternative provision/Pupil referral unit", "AP/PRU - LA maintained"): "ehcp_ap_pru",
    ("Alternative provision/Pupil referral unit", "AP/PRU - Academy"): "ehcp_ap_pru",
    ("Alternative provision/Pupil referral unit", "AP/PRU - Free school"): "ehcp_ap_pru",
    ("Further education", "General FE and tertiary colleges/HE"): "ehcp_post16",
    ("Further education", "Sixth form college"): "ehcp_post16",
    ("Further education", "Other FE"): "ehcp_post16",
    ("Further education", "Specialist post-16 institutions"): "ehcp_post16",
    ("Further education", "Independent specialist providers"): "ehcp_post16",
    ("Unknown", "Work-based learning"): "ehcp_post16",
    ("Unknown", "Apprenticeship"): "ehcp_post16",
    ("Unknown", "Traineeship"): "ehcp_post16",
    ("Unknown", "Supported Internship"): "ehcp_post16",
    ("Non-maintained early years", "Non-maintained early years"): "ehcp_other",
    ("NEET", "NEET"): "ehcp_other",
    ("Other", "Other"): "ehcp_other",
    ("Educated elsewhere", "Elective home education"): "ehcp_other",
    ("Educated elsewhere", "Other arrangements by local authority"): "ehcp_other",
    ("Educated elsewhere", "Other arrangements by parents"): "ehcp_other",
    ("Educated elsewhere", "Permanently excluded"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - total"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - above compulsory school age and in education"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - above compulsory school age and not in education"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - compulsory school age and in education"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - compulsory school age and not in education"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - below compulsory school age and in education"): "ehcp_other",
    ("Educated elsewhere", "Awaiting provision - below compulsory school age and not in education"): "ehcp_other",
}

#: 2025 release, caseload.csv (and newplans.csv): placement column → placement group.
CASELOAD_MAP_2025: dict[str, str] = {
    "mainstream_la_maintained": "ehcp_mainstream",
    "mainstream_la_maintained_resourced_provision": "ehcp_mainstream",
    "mainstream_la_maintained_senunit": "ehcp_mainstream",
    "mainstream_academy": "ehcp_mainstream",
    "mainstream_academy_resourced_provision": "ehcp_mainstream",
    "mainstream_academy_senunit": "ehcp_mainstream",
    "mainstream_free_school": "ehcp_mainstream",
    "mainstream_free_school_resourced_provision": "ehcp_mainstream",
    "mainstream_free_school_senunit": "ehcp_mainstream",
    "mainstream_independent": "ehcp_mainstream",
    "special_la_maintained": "ehcp_special_state",
    "special_academy_free": "ehcp_special_state",
    "special_independent": "ehcp_special_independent",
    "special_non_maintained": "ehcp_special_independent",
    "ap_pru_academy": "ehcp_ap_pru",
    "ap_pru_free_school": "ehcp_ap_pru",
    "ap_pru_la_maintained": "ehcp_ap_pru",
    "general_fe_tertiary_colleges": "ehcp_post16",
    "specialist_post_16_institutions": "ehcp_post16",
    "ukrlp_provider": "ehcp_post16",
    "elective_home_education": "ehcp_other",
    "other_arrangements_la": "ehcp_other",
    "other_arrangements_parents": "ehcp_other",
    "online_provider": "ehcp_other",
    "w_settings": "ehcp_other",
    "other_schools": "ehcp_other",
    "other_placement_settings": "ehcp_other",
    "neet": "ehcp_other",
    "neet_ntci": "ehcp_other",
    "neet_other": "ehcp_other",
    "neet_other_csa": "ehcp_other",
    "nm_early_years": "ehcp_other",
    "placement_unknown": "ehcp_other",
    "await_prov_2022": "ehcp_other",
    "perm_ex_2022": "ehcp_other",
}

#: 2025 caseload.csv columns that are subtotals or percentages of the categories above, not categories.
#: (`ed_elsewhere` = elective home education + other arrangements + NEET + online/Welsh/other settings.)
CASELOAD_DERIVED_2025 = frozenset(
    {"mainstream_total", "special_total", "ap_pru_total", "fe_total", "ed_elsewhere"}
    | {"mainstream_total_pc", "special_total_pc", "AP_PRU_total_pc", "fe_total_pc", "ed_elsewhere_pc"}
    | {"nm_early_years_pc", "placement_unknown_pc"}
)

#: Identifier columns of the 2025 release's tidy files.
ID_2025 = [
    "time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
    "region_name", "new_la_code", "old_la_code", "la_name", "breakdown_topic", "breakdown",
]
#: Identifier columns every file of both releases has.
ID_COMMON = ["time_period", "time_identifier", "geographic_level", "region_code", "old_la_code", "new_la_code", "la_name"]

CASELOAD_2022 = "data/sen2_estab_caseload.csv"
CASELOAD_2025 = "data/caseload.csv"
NEW_PLANS_2022 = "data/sen2_estab_new_plans.csv"
MI_2022 = "data/sen2_mi.csv"
NEW_PLANS_2025 = "data/newplans.csv"

_LEVELS = {"National": "national", "Regional": "region", "Local authority": "la"}
_JANUARY = "January census: active plans on the SEN2 census date in January `year`"
_CALENDAR = "calendar year `year`-1 (the SEN2 collection of January `year` reports it)"


@dataclass(frozen=True)
class Flow:
    """Where one flow variable is published in a release: file, rows, column, first calendar year used."""

    file: str
    column: str
    rows: tuple[tuple[str, str], ...]
    first_calendar_year: int = 0


#: Flow variable → its column in the 2022 release. EHC-process variables start in calendar 2015,
#: the first full year of EHC plans (September 2014): calendar 2014 counts EHC requests and plans
#: of four months only, beside statement figures in other columns.
FLOWS_2022: dict[str, Flow] = {
    "new_plans": Flow(NEW_PLANS_2022, "Total_new_all", (("establishment_group", "Total"), ("establishment_type", "Total"))),
    "requests_received": Flow(MI_2022, "InreqEHC", (), 2016),
    "requests_refused": Flow(MI_2022, "AssRefusedEHC", (), 2015),
    "timeliness_20wk_issued": Flow(MI_2022, "TotNoExcEHC", (), 2015),
    "timeliness_20wk_within": Flow(MI_2022, "NoExc20weekEHC", (), 2015),
    "timeliness_20wk_pct": Flow(MI_2022, "NoExc20weekRate", (), 2015),
}

#: Flow variable → its column in the 2025 release (headline rows of each file).
FLOWS_2025: dict[str, Flow] = {
    "new_plans": Flow(NEW_PLANS_2025, "new_ehc_plans", (("breakdown_topic", "New EHC plans"),)),
    "requests_received": Flow("data/requests.csv", "requests_received_in_year",
                              (("breakdown_topic", "All requests for EHC needs assessments"),)),
    "requests_refused": Flow("data/requests.csv", "requests_decided_not_to_assess",
                             (("breakdown_topic", "All requests for EHC needs assessments"),)),
    "timeliness_20wk_issued": Flow("data/timeliness_20_week.csv", "plans_issued_den_ex",
                                   (("breakdown_topic", "All EHC plans issued"),)),
    "timeliness_20wk_within": Flow("data/timeliness_20_week.csv", "plans_issued_20_weeks_ex",
                                   (("breakdown_topic", "All EHC plans issued"),)),
    "timeliness_20wk_pct": Flow("data/timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex",
                                (("breakdown_topic", "All EHC plans issued"),)),
    "ceased_plans": Flow("data/ceased_plans.csv", "total_ceased", (("breakdown_topic", "All ceased EHC plans"),)),
}

_SOURCES = "DfE Education, health and care plans (SEN2)"


def _var(name: str, description: str, unit: str, period: str, source: str, kind: str = "count") -> Variable:
    return Variable(name, description, unit, period, f"{_SOURCES}: {source}", kind)  # type: ignore[arg-type]


_CASE_SRC = "2025 release caseload.csv for January 2019-2025; 2022 release sen2_estab_caseload.csv (Total_all) for 2010-2018"
CASELOAD_VARIABLES = [
    _var("ehcp_total", "Children and young people with an EHC plan maintained by the LA (before 2019 also "
         "statements of SEN not yet converted)", "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_mainstream", "EHC plans placed in mainstream schools (LA-maintained, academy, free and independent "
         "mainstream, including their SEN units and resourced provision)", "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_mainstream_independent", "Of ehcp_mainstream: EHC plans placed in independent mainstream schools",
         "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_special_state", "EHC plans placed in state special schools (LA-maintained, academy and free "
         "special schools, hospital schools)", "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_special_independent", "EHC plans placed in independent and non-maintained special schools",
         "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_ap_pru", "EHC plans placed in alternative provision and pupil referral units",
         "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_post16", "EHC plans placed in further education (general FE, tertiary and sixth-form colleges, "
         "specialist post-16 institutions, other FE and UKRLP providers, work-based learning)",
         "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_post16_specialist", "Of ehcp_post16: EHC plans placed in specialist post-16 institutions (independent "
         "and non-maintained specialist colleges; before 2016 'independent specialist providers')", "plans (count)",
         _JANUARY, _CASE_SRC),
    _var("ehcp_other", "EHC plans in all other placements (NEET, elective home education, other arrangements, "
         "non-maintained early years, awaiting provision, permanently excluded, placement unknown, other settings)",
         "plans (count)", _JANUARY, _CASE_SRC),
    _var("ehcp_statements", "Statements of SEN still maintained (included in ehcp_total); published to January 2018, "
         "after which all had been converted", "statements (count)", _JANUARY,
         "2022 release sen2_estab_caseload.csv (Total_st), 2010-2018"),
]

FLOW_VARIABLES = [
    _var("new_plans", "New EHC plans issued (to calendar 2014 also new statements of SEN)", "plans (count)",
         _CALENDAR, "2025 release newplans.csv (new_ehc_plans) for calendar 2019-2024; 2022 release "
         "sen2_estab_new_plans.csv (Total_new_all) for 2009-2018"),
    _var("requests_received", "Initial requests for an EHC needs assessment received", "requests (count)", _CALENDAR,
         "2025 release requests.csv (requests_received_in_year) for calendar 2019-2024; 2022 release sen2_mi.csv "
         "(InreqEHC) for 2016-2018"),
    _var("requests_refused", "Initial requests for an EHC needs assessment where the LA decided not to assess",
         "requests (count)", _CALENDAR, "2025 release requests.csv (requests_decided_not_to_assess) for calendar "
         "2019-2024; 2022 release sen2_mi.csv (AssRefusedEHC) for 2015-2018"),
    _var("timeliness_20wk_issued", "New EHC plans issued, excluding those where an exception to the 20-week limit "
         "applied (denominator of timeliness_20wk_pct)", "plans (count)", _CALENDAR,
         "2025 release timeliness_20_week.csv (plans_issued_den_ex) for calendar 2019-2024; 2022 release "
         "sen2_mi.csv (TotNoExcEHC) for 2015-2018"),
    _var("timeliness_20wk_within", "New EHC plans issued within 20 weeks, excluding exceptions (numerator of "
         "timeliness_20wk_pct)", "plans (count)", _CALENDAR, "2025 release timeliness_20_week.csv "
         "(plans_issued_20_weeks_ex) for calendar 2019-2024; 2022 release sen2_mi.csv (NoExc20weekEHC) for 2015-2018"),
    _var("timeliness_20wk_pct", "Percentage of new EHC plans issued within 20 weeks, excluding exceptions "
         "(as published, one decimal)", "percent of plans issued (0-100)", _CALENDAR,
         "2025 release timeliness_20_week.csv (PC_plans_issued_20_weeks_ex) for calendar 2019-2024; 2022 release "
         "sen2_mi.csv (NoExc20weekRate) for 2015-2018", kind="share"),
    _var("ceased_plans", "EHC plans that ceased (all reasons)", "plans (count)", _CALENDAR,
         "2025 release ceased_plans.csv (total_ceased) for calendar 2022-2024"),
]


@dataclass
class _Part:
    """One release's contribution to a table: LA values, England values, suppressed cells, notes."""

    la: pd.DataFrame
    national: pd.DataFrame
    suppressed: pd.DataFrame
    notes: list[tuple[int, str]]  # (panel year, note)


# ---------------------------------------------------------------- public API


def read_caseload(store: Store, las: pd.DataFrame) -> SourceTable:
    """Active EHC plans in January of each year 2010–2025, in total and by placement group."""
    new, old = _caseload_2025(store, las), _caseload_2022(store, las)
    return _combine("sen2_caseload", new, old, CASELOAD_VARIABLES)


def read_flows(store: Store, las: pd.DataFrame) -> SourceTable:
    """New plans, requests, refusals, 20-week timeliness and ceased plans, panel years 2010–2025."""
    new, old = _flows(store, las, "sen2_2025", FLOWS_2025), _flows(store, las, "sen2_2022", FLOWS_2022)
    table = _combine("sen2_flows", new, old, FLOW_VARIABLES)
    table.notes += _flow_caveats(table.la)
    return table


def _flow_caveats(la: pd.DataFrame) -> list[str]:
    """Published values that are probably not what they seem: zero refusals, all-exception timeliness."""
    zero = la[(la["requests_refused"] == 0) & (la["requests_received"] > 50)]
    return [
        f"sen2_flows: requests_refused is 0 in {len(zero)} LA-years with over 50 requests "
        f"({', '.join(f'{c} {y}' for c, y in zip(zero['la_code'], zero['year']))}). DfE's 2022 data guidance says "
        "St Helens' calendar-2021 figure (panel year 2022), published as 0, should have been 107; a zero may mean "
        "refusals were not recorded. Values are kept as published.",
        "sen2_flows: in calendar 2024 (panel year 2025) Dorset and City of London classed every new plan as an "
        "exception to the 20-week limit (DfE footnote), so their timeliness_20wk_issued is 0 and the rate missing.",
    ]


def compare_releases(store: Store, las: pd.DataFrame) -> pd.DataFrame:
    """The two releases side by side on the years both publish.

    One row per (`level`, `la_code`, `year`, `variable`) for the caseload
    (January 2019–2022) and the flows (calendar 2019–2021 = panel years
    2020–2022); `level` is "la" or "national" (la_code E92000001).
    Columns `release_2022`, `release_2025`, `diff` (2025 − 2022) and
    `rel_diff` (diff / 2022 value).
    """
    pairs = [
        (_caseload_2022(store, las), _caseload_2025(store, las)),
        (_flows(store, las, "sen2_2022", FLOWS_2022), _flows(store, las, "sen2_2025", FLOWS_2025)),
    ]
    frames = []
    for old, new in pairs:
        for level, o, n in (("la", old.la, new.la), ("national", old.national, new.national)):
            o, n = (f.assign(la_code=ENGLAND) if level == "national" else f for f in (o, n))
            years = set(o["year"]) & set(n["year"])
            both = [c for c in o.columns if c in n.columns and c not in KEYS]
            melt = lambda f: f[f["year"].isin(years)].melt(KEYS, both, var_name="variable")  # noqa: E731
            merged = melt(o).merge(melt(n), on=[*KEYS, "variable"], how="outer", suffixes=("_2022", "_2025"))
            frames.append(merged.assign(level=level))
    out = pd.concat(frames, ignore_index=True).rename(
        columns={"value_2022": "release_2022", "value_2025": "release_2025"}
    )
    out["diff"] = out["release_2025"] - out["release_2022"]
    out["rel_diff"] = out["diff"] / out["release_2022"].where(out["release_2022"] != 0)
    cols = ["level", "la_code", "year", "variable", "release_2022", "release_2025", "diff", "rel_diff"]
    return out[cols].sort_values(["level", "variable", "year", "la_code"]).reset_index(drop=True)


def caseload_categories(store: Store) -> dict[str, set]:
    """The placement categories each release's caseload file publishes (to check the maps cover them)."""
    old = _read_member(store.path("sen2_2022"), CASELOAD_2022)
    new = _read_member(store.path("sen2_2025"), CASELOAD_2025)
    return {CASELOAD_2022: set(_categories_2022(old)[old["establishment_type"] != "Total"]),
            CASELOAD_2025: _categories_2025(new)}


def _categories_2022(raw: pd.DataFrame) -> pd.Series:
    """(establishment_group, establishment_type) of each row of sen2_estab_caseload.csv."""
    return pd.Series(list(zip(raw["establishment_group"], raw["establishment_type"])), index=raw.index)


def _categories_2025(raw: pd.DataFrame) -> set[str]:
    """Placement columns of caseload.csv: all but identifiers, the total, subtotals and percentages."""
    return set(raw.columns) - set(ID_2025) - {"ehcplans"} - CASELOAD_DERIVED_2025


# ---------------------------------------------------------------- reading files


def _read_member(path: Path, member: str) -> pd.DataFrame:
    """One CSV inside a release zip, every cell as text (blank cells stay empty strings)."""
    with zipfile.ZipFile(path) as zf:
        if member not in zf.namelist():
            raise SourceFormatError(
                f"{path.name}: no member '{member}' (the zip holds {zf.namelist()}). "
                "The publisher may have renamed the file: update the member name in analysis/data/sen2.py."
            )
        try:
            with zf.open(member) as fh:
                return pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (UnicodeDecodeError, pd.errors.ParserError, zipfile.BadZipFile) as exc:
            raise_if_interrupted(exc)
            raise SourceFormatError(
                f"{path.name}:{member} is not a readable UTF-8 CSV ({type(exc).__name__}: {exc}). "
                "The file may be corrupt: delete its copy in data/raw/ to fetch it again, or check the release."
            ) from exc


def _where(path: Path, member: str) -> str:
    return f"{path.name}:{member}"


def _levels(frame: pd.DataFrame, where: str) -> pd.Series:
    """Geographic level of each row as "la", "region" or "national"; anything else is an error."""
    level = frame["geographic_level"].map(_LEVELS)
    if level.isna().any():
        odd = sorted(frame.loc[level.isna(), "geographic_level"].unique())
        raise SourceFormatError(f"{where}:geographic_level: unexpected levels {odd}; expected {sorted(_LEVELS)}.")
    return level


def _years(frame: pd.DataFrame, where: str, *, shift: int, academic: bool = False) -> pd.Series:
    """Panel year of each row: calendar `time_period` + `shift`, or the second year of an academic 'YYYYZZ'."""
    text = frame["time_period"].str.strip()
    bad = ~text.str.fullmatch(r"\d{6}" if academic else r"\d{4}")
    if academic and not bad.any():
        bad = text.str[4:].astype(int) != (text.str[:4].astype(int) + 1) % 100
    if bad.any():
        raise SourceFormatError(
            f"{where}:time_period: unexpected values {sorted(text[bad].unique())[:5]} "
            f"(expected {'academic years like 202425' if academic else 'four-digit years'})."
        )
    first = text.str[:4].astype(int)
    return first + 1 if academic else first + shift


def _rows(frame: pd.DataFrame, rows: tuple[tuple[str, str], ...], where: str) -> pd.DataFrame:
    """The rows whose filter columns hold the given values (e.g. the headline 'All EHC plans' rows)."""
    keep = pd.Series(True, index=frame.index)
    for column, value in rows:
        keep &= frame[column] == value
    if rows and not keep.any():
        raise SourceFormatError(f"{where}: no rows with {dict(rows)}; the publisher may have renamed the filter.")
    return frame[keep]


def _keyed(frame: pd.DataFrame, las: pd.DataFrame, where: str, years: pd.Series) -> pd.DataFrame:
    """Row keys: level, la_code (harmonised; England code for national rows), year. Regions are dropped."""
    level = _levels(frame, where)
    keep = level != "region"
    out = pd.DataFrame({"level": level[keep], "year": years[keep]})
    codes = pd.Series(ENGLAND, index=out.index, dtype="string")
    is_la = out["level"] == "la"
    codes[is_la] = harmonise_codes(frame.loc[keep][is_la]["new_la_code"], las, where=f"{where}:new_la_code")
    out["la_code"] = codes
    dup = out[out.duplicated(["level", "la_code", "year"], keep=False)]
    if len(dup):
        raise SourceFormatError(f"{where}: several rows for the same LA and year: {dup.head(6).to_dict('records')}.")
    return out


# ---------------------------------------------------------------- caseload


def _caseload_2025(store: Store, las: pd.DataFrame) -> _Part:
    path = store.path("sen2_2025")
    where = _where(path, CASELOAD_2025)
    raw = _read_member(path, CASELOAD_2025)
    require_columns(raw, [*ID_2025, "ehcplans", *CASELOAD_MAP_2025], where=where)
    _check_mapped(_categories_2025(raw), CASELOAD_MAP_2025, where)
    raw = _rows(raw, (("breakdown_topic", "All EHC plans"),), where)
    keys = _keyed(raw, las, where, _years(raw, where, shift=0, academic=True))
    raw = raw.loc[keys.index]
    total, total_code = numeric(raw["ehcplans"], where=f"{where}:ehcplans")
    parsed = {c: numeric(raw[c], where=f"{where}:{c}") for c in CASELOAD_MAP_2025}
    values = pd.DataFrame({c: v for c, (v, _) in parsed.items()})
    codes = pd.DataFrame({c: k for c, (_, k) in parsed.items()})
    frame = keys.assign(ehcp_total=total)
    return _caseload_part(frame, values, codes, CASELOAD_MAP_2025, total_code, OF_WHICH_2025)


def _caseload_2022(store: Store, las: pd.DataFrame) -> _Part:
    path = store.path("sen2_2022")
    where = _where(path, CASELOAD_2022)
    raw = _read_member(path, CASELOAD_2022)
    require_columns(raw, [*ID_COMMON, "establishment_group", "establishment_type", "Total_all", "Total_st"], where=where)
    is_leaf = raw["establishment_type"] != "Total"
    categories = _categories_2022(raw)
    _check_mapped(set(categories[is_leaf]), CASELOAD_MAP_2022, where)
    value, code = numeric(raw["Total_all"], where=f"{where}:Total_all")
    statements, statement_code = numeric(raw["Total_st"], where=f"{where}:Total_st")
    # One row per area and year: the Total/Total row; the leaves are pivoted onto it by this key.
    area_year = raw[["geographic_level", "region_code", "new_la_code", "time_period"]].agg("|".join, axis=1)
    is_total = (raw["establishment_group"] == "Total") & ~is_leaf
    totals = raw[is_total].set_axis(area_year[is_total])
    keys = _keyed(totals, las, where, _years(totals, where, shift=0))
    on_keys = lambda column: column[is_total].set_axis(totals.index).loc[keys.index]  # noqa: E731
    frame = keys.assign(ehcp_total=on_keys(value), ehcp_statements=on_keys(statements))
    leaves = pd.DataFrame({"row": area_year, "category": categories.map(" | ".join), "value": value, "code": code})[is_leaf]
    wide = lambda col: leaves.pivot(index="row", columns="category", values=col).reindex(frame.index)  # noqa: E731
    mapping = {" | ".join(k): g for k, g in CASELOAD_MAP_2022.items()}
    of_which = {g: {" | ".join(k) for k in cats} for g, cats in OF_WHICH_2022.items()}
    part = _caseload_part(frame, wide("value"), wide("code"), mapping, on_keys(code), of_which)
    stated = pd.DataFrame({"ehcp_statements": on_keys(statement_code)})
    part.suppressed = _stack([part.suppressed, _suppressed(frame, stated)])
    return part


def _check_mapped(categories: set, mapping: dict, where: str) -> None:
    """Every published placement category must be assigned to a group."""
    unmapped = sorted(map(str, categories - set(mapping)))
    if unmapped:
        raise SourceFormatError(
            f"{where}: placement categories not assigned to a placement group: {unmapped}. "
            "Add each to the release's map in analysis/data/sen2.py (CASELOAD_MAP_2022 / CASELOAD_MAP_2025)."
        )


def _caseload_part(frame: pd.DataFrame, values: pd.DataFrame, codes: pd.DataFrame, mapping: dict,
                   total_code: pd.Series, of_which: dict[str, set[str]]) -> _Part:
    """Placement groups, and the counts published inside them (`of_which`: count → categories), from category
    values (all indexed like `frame`); LA-years that do not add up get none."""
    group_of = [mapping[c] for c in values.columns]
    groups = values.T.groupby(group_of).sum(min_count=0).T.reindex(columns=GROUPS, fill_value=0.0)
    inner = pd.DataFrame({g: values[[c for c in values.columns if c in cats]].sum(axis=1) for g, cats in of_which.items()})
    adds_up = np.isclose(values.sum(axis=1), frame["ehcp_total"])
    any_code = codes.bfill(axis=1).iloc[:, 0] if len(codes.columns) else pd.Series(pd.NA, index=frame.index)
    broken = (frame["level"] == "la") & ~adds_up
    group_codes = pd.DataFrame({g: any_code.fillna("incomplete").where(broken) for g in [*GROUPS, *of_which]})
    groups = pd.concat([groups, inner], axis=1).mask(broken)
    out = pd.concat([frame, groups], axis=1)
    suppressed = _suppressed(frame, group_codes.assign(ehcp_total=total_code))
    notes = [
        (r.year, f"sen2 caseload January {r.year}, {r.la_code}: placement groups missing; the published placements "
                 f"do not add up to the LA's total of {r.ehcp_total:,.0f} plans")
        for r in out[broken].itertuples()
    ] + [
        (r.year, f"sen2 caseload January {r.year}, England: the published placements add up to "
                 f"{r.placed:,.0f} of {r.ehcp_total:,.0f} plans (LAs that returned totals only)")
        for r in out.assign(placed=values.sum(axis=1))[(frame["level"] == "national") & ~adds_up].itertuples()
    ]
    return _Part(_la(out), _national(out), suppressed, notes)


# ---------------------------------------------------------------- flows


def _flows(store: Store, las: pd.DataFrame, key: str, spec: dict[str, Flow]) -> _Part:
    """All flow variables of one release, reading each file once."""
    path = store.path(key)
    columns, suppressed, notes = [], [], []
    for file in dict.fromkeys(f.file for f in spec.values()):
        where = _where(path, file)
        raw = _read_member(path, file)
        mine = {name: flow for name, flow in spec.items() if flow.file == file}
        rows = next(iter(mine.values())).rows  # the flows of one file share its headline rows
        require_columns(raw, [*ID_COMMON, *(c for c, _ in rows), *(f.column for f in mine.values())], where=where)
        head = _rows(raw, rows, where)
        keys = _keyed(head, las, where, _years(head, where, shift=1))
        fixed, fix_notes = _repair_regional_copies(raw, head, where) if file == NEW_PLANS_2025 else (None, [])
        notes += fix_notes
        for name, flow in mine.items():
            value, code = numeric(head.loc[keys.index, flow.column], where=f"{where}:{flow.column}")
            if name == "new_plans" and fixed is not None:
                value.update(fixed)
            frame = keys.assign(**{name: value})[keys["year"] - 1 >= flow.first_calendar_year]
            columns.append(frame.set_index(["level", "la_code", "year"])[name])
            suppressed.append(_suppressed(frame, pd.DataFrame({name: code[frame.index]})))
    wide = pd.concat(columns, axis=1).reset_index()
    return _Part(_la(wide), _national(wide), _stack(suppressed), notes)


def _repair_regional_copies(raw: pd.DataFrame, head: pd.DataFrame, where: str) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Undo a publisher error in newplans.csv: the LAs of a region each shown with the region's total.

    In the 2025 release every Yorkshire and The Humber LA has 6,078 new plans in
    calendar 2022, the regional figure. Each affected LA's own figure is rebuilt
    from its Sex breakdown (Female + Male + Unknown), which equals the headline
    in every other LA-year of the file. An affected LA without a placement
    breakdown (no placement counted) returned aggregate figures only (DfE footnote: Wakefield
    2022), so its breakdowns are partial; if it is the only one in its region it
    takes the region's remainder. The rebuilt region must add up to the published one.
    Returns the corrected values (indexed like `head`) and notes.
    """
    column = FLOWS_2025["new_plans"].column
    value = pd.to_numeric(head[column], errors="coerce")
    level = _levels(head, where)
    area = head["region_code"] + "|" + head["time_period"]
    regional = value[level == "region"].groupby(area[level == "region"]).first()
    la = level == "la"
    copied = la & value.eq(area.map(regional))
    affected = area[copied][area[copied].duplicated(keep=False)]
    if affected.empty:
        return pd.Series(dtype=float), []
    sex = raw[(raw["breakdown_topic"] == "Sex") & (_levels(raw, where) == "la")]
    by_sex = pd.to_numeric(sex[column], errors="coerce").groupby(sex["new_la_code"] + "|" + sex["time_period"]).sum()
    placements = [c for c in CASELOAD_MAP_2025 if c in head.columns]
    fixed, notes = [], []
    for key, rows in affected.groupby(affected):
        region, period = key.split("|")
        rebuilt = (head.loc[rows.index, "new_la_code"] + "|" + period).map(by_sex)
        aggregate_only = head.loc[rows.index, placements].apply(pd.to_numeric, errors="coerce").sum(axis=1).eq(0)
        unaffected = value[la & (area == key)].drop(rows.index).sum()
        if aggregate_only.sum() == 1:
            rebuilt[aggregate_only] = regional[key] - unaffected - rebuilt[~aggregate_only].sum()
        if rebuilt.isna().any() or rebuilt.sum() + unaffected != regional[key]:
            raise SourceFormatError(
                f"{where}:{column}: the LAs of region {region} show the regional total {regional[key]:,.0f} in {period}, "
                f"and rebuilding them from their Sex breakdown does not add up ({rebuilt.sum() + unaffected:,.0f}). "
                "Check the file and the release's footnotes, then adjust analysis.data.sen2._repair_regional_copies."
            )
        fixed.append(rebuilt)
        listed = ", ".join(f"{n} {v:,.0f}" for n, v in zip(head.loc[rows.index, "la_name"], rebuilt))
        notes.append((int(period) + 1, (
            f"sen2 new_plans calendar {period} (panel year {int(period) + 1}): newplans.csv gives each LA of region "
            f"{region} the regional total {regional[key]:,.0f} (publisher error); rebuilt from each LA's Sex breakdown"
            f"{', the aggregate-only LA taking the regional remainder' if aggregate_only.any() else ''}: {listed}."
        )))
    return pd.concat(fixed), notes


# ---------------------------------------------------------------- assembling


def _suppressed(frame: pd.DataFrame, codes: pd.DataFrame) -> pd.DataFrame:
    """Long table of coded cells of LA rows."""
    la = frame["level"] == "la"
    long = codes[la].assign(la_code=frame.loc[la, "la_code"], year=frame.loc[la, "year"]).melt(
        ["la_code", "year"], var_name="variable", value_name="code"
    )
    return long.dropna(subset=["code"])[SUPPRESSED_COLUMNS].reset_index(drop=True)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Suppressed-cell tables one under the other (empty ones skipped, so dtypes stay stable)."""
    full = [f for f in frames if len(f)]
    out = pd.concat(full, ignore_index=True) if full else pd.DataFrame(columns=SUPPRESSED_COLUMNS)
    return out.astype({"la_code": "string", "year": "int64", "variable": "string", "code": "string"})


def _la(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[frame["level"] == "la"].drop(columns="level")
    return out.astype({"la_code": "string", "year": "int64"}).reset_index(drop=True)


def _national(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["level"] == "national"].drop(columns=["level", "la_code"]).astype({"year": "int64"}).reset_index(drop=True)


def _combine(name: str, new: _Part, old: _Part, variables: list[Variable]) -> SourceTable:
    """The newest release for every cell it publishes; the older release for the rest.

    The older release thus fills the years before the newer one starts, and the
    rare LA-year the newer one leaves out (on the overlap the two agree on every
    cell both publish: see `compare_releases`). A cell still missing keeps its
    suppression code, the newer release's first.
    """
    names = [v.name for v in variables]
    counts = [v.name for v in variables if v.kind == "count"]
    later, earlier = new.la.set_index(KEYS), old.la.set_index(KEYS)
    la = later.combine_first(earlier).reindex(columns=names).astype("float64")
    first_new = int(new.la["year"].min())
    in_overlap = (la.index.get_level_values("year") >= first_new)[:, None]
    from_old = (la.notna() & later.reindex(index=la.index, columns=names).isna() & in_overlap).stack()
    filled = [f"{c} {y} {v}" for (c, y, v), f in from_old.items() if f]
    national = new.national.set_index("year").combine_first(old.national.set_index("year")).reindex(columns=counts)
    codes = _stack([new.suppressed, old.suppressed]).drop_duplicates(["la_code", "year", "variable"])
    long = la.reset_index().melt(KEYS, var_name="variable")
    codes = codes.merge(long.loc[long["value"].isna(), [*KEYS, "variable"]], on=[*KEYS, "variable"])
    notes = [
        f"{name}: the 2025 release for every cell it publishes (panel years {first_new}-{int(new.la['year'].max())}), "
        f"the 2022 release for earlier years and for the cells the 2025 release leaves empty ({len(filled)}: {filled}).",
        *(text for year, text in old.notes if year < first_new),
        *(text for _, text in new.notes),
        *_unpublished(name, long, codes),
    ]
    return SourceTable(name=name, la=la.reset_index().astype({"la_code": "string", "year": "int64"}), variables=variables,
                       national=national.reset_index(), suppressed=codes.reset_index(drop=True), notes=notes)


def _unpublished(name: str, long: pd.DataFrame, codes: pd.DataFrame) -> list[str]:
    """LA-years missing a value, without a code, in a year the variable is published: rows the file lacks."""
    years = long.dropna(subset=["value"]).groupby("variable")["year"].agg(set)
    gap = long[long["value"].isna()].merge(codes, on=[*KEYS, "variable"], how="left")
    published = np.array([y in years.get(v, set()) for v, y in zip(gap["variable"], gap["year"])], dtype=bool)
    gap = gap[gap["code"].isna().to_numpy() & published]
    return [
        f"{name}: {v} {y} not published for {', '.join(g['la_code'])} (no row in the file; its England figure "
        "leaves them out)" for (v, y), g in gap.groupby(["variable", "year"])
    ]
