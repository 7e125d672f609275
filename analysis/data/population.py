"""ONS mid-year population estimates by LA: the 0–25, 2–18 and 0–19 year-old populations.

Source: the MYE2 "persons by single year of age" table of each mid-year release
(mid-2015 … mid-2024, as first published; keys `ons_mye_2015` … `ons_mye_2024`).
The mid-(Y-1) estimate, the latest before January Y, goes to panel year Y.

Each file is on its own geography vintage. The reader takes the upper-tier rows
(counties, unitaries, metropolitan districts, London boroughs: codes E10, E06,
E08, E09; never the districts inside counties) and places them in the panel
year with `geography.la_units`:

- an LA alive in the year and published in the file takes the file's value;
- an LA alive in the year but published only as its successors (Northamptonshire
  in the mid-2020 file, Cumbria in the mid-2022 file) is the sum of the file's
  rows inside its stable area, which is exact when it is the only LA of that
  stable area alive in the year (a stable area's outer boundary never changes);
- otherwise (Bournemouth, Poole and old Dorset in the mid-2018 file, which is on
  April 2019 boundaries) the LA is left out and listed in `SourceTable.notes`:
  splitting BCP and the new Dorset back into them would be apportioning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.data.geography import harmonise_codes, la_units
from analysis.data.parsing import numeric
from analysis.data.sources import Store
from analysis.data.table import SourceTable, Variable
from analysis.errors import SourceFormatError

#: Mid-year of each estimate → (source key, sheet of persons by single year of age; None for a CSV).
FILES: dict[int, tuple[str, str | None]] = {
    2015: ("ons_mye_2015", "Persons UK"),
    2016: ("ons_mye_2016", "MYE2 - All"),
    2017: ("ons_mye_2017", "MYE2 - All"),
    2018: ("ons_mye_2018", "MYE2-All"),
    2019: ("ons_mye_2019", "MYE2 - Persons"),
    2020: ("ons_mye_2020", "MYE2 - Persons"),
    2021: ("ons_mye_2021", "MYE2 - Persons"),
    2022: ("ons_mye_2022", "MYE2 - Persons"),
    2023: ("ons_mye_2023", "MYE2 - Persons"),
    2024: ("ons_mye_2024", None),
}

#: Variable name → (first age, last age), both inclusive.
AGE_BANDS: dict[str, tuple[int, int]] = {"pop_0_25": (0, 25), "pop_2_18": (2, 18), "pop_0_19": (0, 19)}

ENGLAND = "E92000001"
UPPER_TIER = ("E06", "E08", "E09", "E10")

_PERIOD = "ONS mid-year estimate for 30 June of `year`-1"
_SOURCE = "ONS mid-year population estimates, MYE2 persons (ons_mye_2015 … ons_mye_2024)"

CENSUS_BREAK = (
    "population: series break between panel years 2021 and 2022. Each estimate is as first published: "
    "up to mid-2020 (panel year 2021) rolled forward from the 2011 Census, from mid-2021 (panel year 2022) "
    "based on Census 2021. England's 0-25 population falls 2.1% across the break. ONS's rebased "
    "mid-2012 to mid-2020 series is not in the data mirror."
)

VARIABLES = [
    Variable(
        name,
        f"Resident population aged {lo}–{hi} inclusive",
        "persons",
        _PERIOD,
        _SOURCE,
        "count",
    )
    for name, (lo, hi) in AGE_BANDS.items()
]


def read_population(store: Store, las: pd.DataFrame) -> SourceTable:
    """Population by age band for every LA and panel year 2016–2025, with England's published totals."""
    units = la_units(las).set_index("la_code")
    la_frames, national, notes = [], [], []
    for mid_year, (key, sheet) in FILES.items():
        path = store.path(key)
        where = path.name if sheet is None else f"{path.name}, sheet '{sheet}'"
        bands = _age_bands(_read_table(path, sheet, where=where), where=where)
        year = mid_year + 1
        national.append(bands.loc[[ENGLAND]].assign(year=year))
        upper = _upper_tier(bands, las, where=where)
        values, year_notes = _place_in_year(upper, units, year, where=where)
        la_frames.append(values.assign(year=year))
        notes += year_notes
    names = list(AGE_BANDS)
    la = pd.concat(la_frames, ignore_index=True)[["la_code", "year", *names]]
    england = pd.concat(national, ignore_index=True)[["year", *names]]
    notes.append(CENSUS_BREAK)
    return SourceTable(name="population", la=la, variables=VARIABLES, national=england, notes=notes)


def _read_table(path: Path, sheet: str | None, *, where: str) -> pd.DataFrame:
    """The MYE2 table with its own header row (the row whose first cell is 'Code')."""
    if sheet is None:
        raw = pd.read_csv(path, header=None, dtype=str, encoding="utf-8-sig")
    else:
        try:
            raw = pd.read_excel(path, sheet_name=sheet, header=None)
        except ValueError as exc:
            raise SourceFormatError(
                f"{where}: cannot read the sheet ({exc}). ONS may have renamed it: "
                "update analysis.data.population.FILES with the sheet of persons by single year of age."
            ) from exc
    first = raw[0].astype("string").str.strip().str.lower()
    header = first.index[first == "code"]
    if header.empty:
        raise SourceFormatError(
            f"{where}: no header row starting with 'Code' in the first column; "
            "the table layout has changed: update analysis.data.population._read_table."
        )
    table = raw.iloc[header[0] + 1 :].reset_index(drop=True)
    table.columns = [_label(c) for c in raw.iloc[header[0]]]
    return table


def _label(cell: object) -> object:
    """Header cell → int age for single years ('0', 0.0, '25'), else its text stripped and lower-cased."""
    text = str(cell).strip()
    return int(float(text)) if re.fullmatch(r"\d+(\.0+)?", text) else text.lower()


def _age_bands(table: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """Sum single years of age into `AGE_BANDS` for the English rows, indexed by ONS code."""
    wanted = range(min(lo for lo, _ in AGE_BANDS.values()), max(hi for _, hi in AGE_BANDS.values()) + 1)
    missing = [age for age in wanted if age not in table.columns]
    if missing:
        raise SourceFormatError(
            f"{where}: single-year age columns {missing} not found in the header row "
            f"(it has {list(table.columns)[:12]} …). Check the sheet name and layout in analysis.data.population.FILES."
        )
    codes = table["code"].astype("string").str.strip()
    is_english = codes.str.fullmatch(r"E\d{8}").fillna(False).astype(bool)
    english = table[is_english].set_axis(pd.Index(codes[is_english], name="code"))
    ages = pd.DataFrame({age: numeric(english[age], where=f"{where}, age column {age}")[0] for age in wanted})
    blank = ages.isna().any(axis=1)
    if blank.any():
        raise SourceFormatError(f"{where}: missing population counts for {list(ages.index[blank][:5])}; fix the reader.")
    return pd.DataFrame({name: ages.loc[:, lo:hi].sum(axis=1) for name, (lo, hi) in AGE_BANDS.items()}).astype("int64")


def _upper_tier(bands: pd.DataFrame, las: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """The file's upper-tier rows keyed by harmonised `la_code`; they must add up to England."""
    if ENGLAND not in bands.index:
        raise SourceFormatError(f"{where}: no England row ({ENGLAND}); the table layout has changed.")
    upper = bands[bands.index.str[:3].isin(UPPER_TIER)]
    gap = upper.sum() - bands.loc[ENGLAND]
    if (gap != 0).any():
        raise SourceFormatError(
            f"{where}: the upper-tier rows ({'/'.join(UPPER_TIER)}) differ from the England row by "
            f"{gap.to_dict()}; areas are missing or double counted: check the code prefixes."
        )
    codes = harmonise_codes(upper.index.to_series(), las, where=where)
    if codes.duplicated().any():
        raise SourceFormatError(f"{where}: codes {sorted(codes[codes.duplicated()])} appear twice after harmonisation.")
    return upper.set_axis(pd.Index(codes, name="la_code"))


def _place_in_year(upper: pd.DataFrame, units: pd.DataFrame, year: int, *, where: str) -> tuple[pd.DataFrame, list[str]]:
    """Values for the LAs alive on 1 January `year`: published, summed over a stable area, or noted missing."""
    alive = units[(units["first_year"] <= year) & (units["last_year"].isna() | (units["last_year"] >= year))]
    rows, notes = [upper.loc[upper.index.intersection(alive.index)]], []
    area_of = units["stable_area"]
    for area, members in alive[~alive.index.isin(upper.index)].groupby("stable_area"):
        inside = upper[upper.index.map(area_of) == area]
        listed = ", ".join(f"{units.at[c, 'la_name']} ({c})" for c in members.index)
        parts = " + ".join(f"{units.at[c, 'la_name']} ({c})" for c in inside.index)
        if (alive["stable_area"] == area).sum() == 1 and len(inside):
            rows.append(inside.sum().to_frame(members.index[0]).T)
            notes.append(f"population {year}: {listed} = {parts} from {where} (same outer boundary).")
        else:
            totals = ", ".join(f"{k} {v:,}" for k, v in inside.sum().items())
            notes.append(
                f"population {year}: {listed} missing: {where} publishes only {parts or 'no rows'} for "
                f"stable area {area} ({totals}), which cannot be split without apportioning."
            )
    values = pd.concat(rows).rename_axis("la_code").reset_index()
    return values.astype({"la_code": "string"}), notes
