"""Local authorities, their codes over time, and the harmonisation policy.

Policy (pinned by `tests/test_geography.py`):

1. The unit is the upper-tier LA responsible for SEND, identified by its
   9-character ONS code (`la_code`).
2. *Recodes* (same area, new code) are chained onto the current code, so one
   series runs through them: Buckinghamshire 2020 (E10000002 → E06000060),
   North Yorkshire and Somerset 2023, Northumberland and Gateshead 2013,
   Barnsley and Sheffield 2025. A recode is detected from the DfE LA list:
   a terminated code whose 3-digit DfE number is carried by exactly one live code.
3. *Boundary changes* end one set of LAs and start another; the series are not
   spliced or apportioned: Bournemouth, Poole and (old) Dorset run to January
   2019 and BCP and (new) Dorset from 2020; Northamptonshire to 2021 and
   North/West Northamptonshire from 2022; Cumbria to 2023 and Cumberland /
   Westmorland and Furness from 2024 (panel years: see `panel`).
4. Each LA also carries a `stable_area`: the smallest area whose boundary
   never changed over 2010–2025 (the LA itself, or the union of the LAs in one
   reorganisation). Summing counts by `stable_area` gives unbroken series.
"""

from __future__ import annotations

import re

import pandas as pd

from analysis.data.parsing import require_columns
from analysis.data.sources import Store
from analysis.errors import UnknownLAError

#: Reorganisations that changed boundaries: the LAs on either side form one stable area.
STABLE_AREAS: dict[str, tuple[str, list[str]]] = {
    "S-DORSET": ("Dorset and BCP (stable area)", ["E06000028", "E06000029", "E10000009", "E06000058", "E06000059"]),
    "S-NORTHANTS": ("Northamptonshire (stable area)", ["E10000021", "E06000061", "E06000062"]),
    "S-CUMBRIA": ("Cumbria (stable area)", ["E10000006", "E06000063", "E06000064"]),
}

_LA_ENTITIES = ("E06", "E08", "E09", "E10")


def load_las(store: Store) -> pd.DataFrame:
    """DfE's list of LAs (one row per code) with region, dates and stable area."""
    path = store.path("dfe_las")
    raw = pd.read_csv(path, dtype=str)
    require_columns(raw, ["new_la_code", "old_la_code", "la_name", "entity_code", "parent_geography_code",
                          "date_of_operation", "date_of_termination"], where=f"{path.name} (source 'dfe_las')")
    raw = raw[raw["new_la_code"].str.fullmatch(r"E\d{8}") & raw["entity_code"].isin(_LA_ENTITIES)]
    regions = pd.read_csv(store.path("dfe_regions"), dtype=str).set_index("region_code")["region_name"]
    las = pd.DataFrame(
        {
            "code": raw["new_la_code"],
            "old_la_code": raw["old_la_code"],
            "name": raw["la_name"],
            "region_code": raw["parent_geography_code"],
            "start": pd.to_datetime(raw["date_of_operation"], dayfirst=True),
            "end": pd.to_datetime(raw["date_of_termination"], dayfirst=True),
        }
    )
    las["region_name"] = las["region_code"].map(regions)
    # Areas abolished before the study window (2009 reorganisation) are out of scope.
    las = las[las["end"].isna() | (las["end"] >= "2010-01-01")].reset_index(drop=True)
    recode = _recodes(las)
    las["la_code"] = las["code"].map(lambda c: recode.get(c, c))
    area_of = {c: k for k, (_, codes) in STABLE_AREAS.items() for c in codes}
    las["stable_area"] = las["la_code"].map(lambda c: area_of.get(c, c))
    return las


def _recodes(las: pd.DataFrame) -> dict[str, str]:
    live = las[las["end"].isna()]
    live_by_old = live.groupby("old_la_code")["code"].agg(list)
    out = {}
    for row in las[las["end"].notna()].itertuples():
        successors = live_by_old.get(row.old_la_code, [])
        if len(successors) == 1:
            out[row.code] = successors[0]
    return out


def la_units(las: pd.DataFrame) -> pd.DataFrame:
    """One row per harmonised LA (`la_code`) with its name, region, first and last year."""
    units = las.sort_values("start").groupby("la_code").agg(
        la_name=("name", "last"),
        old_la_code=("old_la_code", "last"),
        region_code=("region_code", "last"),
        region_name=("region_name", "last"),
        start=("start", "min"),
        end=("end", lambda s: pd.NaT if s.isna().any() else s.max()),
        stable_area=("stable_area", "first"),
    )
    # A panel year Y is the twelve months around January Y: an LA belongs to year Y if it
    # existed on 1 January Y.
    units["first_year"] = units["start"].dt.year.where(units["start"].dt.month == 1, units["start"].dt.year + 1).clip(lower=2010)
    units["last_year"] = units["end"].dt.year.astype("Int64")
    return units.drop(columns=["start", "end"]).reset_index()


def harmonise_codes(codes: pd.Series, las: pd.DataFrame, *, where: str) -> pd.Series:
    """Map published 9-character codes (any vintage) to harmonised `la_code`s."""
    lookup = dict(zip(las["code"], las["la_code"]))
    lookup.update({c: c for c in las["la_code"]})
    clean = codes.astype("string").str.strip()
    out = clean.map(lookup)
    _raise_unmatched(clean[out.isna()], where, "codes")
    return out.astype("string")


def codes_from_old(old: pd.Series, las: pd.DataFrame, *, where: str) -> pd.Series:
    """Map DfE 3-digit LA numbers to harmonised `la_code`s (live code preferred)."""
    ranked = las.assign(live=las["end"].isna()).sort_values("live")
    lookup = dict(zip(ranked["old_la_code"], ranked["la_code"]))
    clean = old.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    out = clean.map(lookup)
    _raise_unmatched(clean[out.isna()], where, "3-digit LA numbers")
    return out.astype("string")


def name_key(name: str) -> str:
    """A spelling-proof key for an LA name ('Bristol, City of' == 'City of Bristol')."""
    key = name.lower().replace("&", " and ").replace("st.", "st ")
    key = re.sub(r"\b(city of|county of|council|metropolitan borough of|london borough of|royal borough of|borough of|the)\b", " ", key)
    key = re.sub(r"[^a-z ]", " ", key)
    key = re.sub(r"\s+", " ", key).strip()
    return _NAME_ALIASES.get(key, key)


_NAME_ALIASES = {
    "bcp": "bournemouth christchurch and poole",
    "durham": "county durham",
    "hull": "kingston upon hull",
    "kingston upon hull city": "kingston upon hull",
    "herefordshire county": "herefordshire",
    "bristol city": "bristol",
    "southend": "southend on sea",
    "windsor and maidenhead": "windsor and maidenhead",
    "richmond": "richmond upon thames",
    "kingston": "kingston upon thames",
    "hammersmith fulham": "hammersmith and fulham",
    "telford": "telford and wrekin",
    "st helens": "st helens",
    "isle of wight": "isle of wight",
    "the wrekin": "telford and wrekin",
}


def codes_from_names(names: pd.Series, las: pd.DataFrame, year: int | pd.Series, *, where: str) -> pd.Series:
    """Map LA names to `la_code`s, choosing the LA that existed on 1 January of `year`.

    Raises `UnknownLAError` listing every name it cannot place.
    """
    years = year if isinstance(year, pd.Series) else pd.Series(year, index=names.index)
    keyed = las.assign(key=las["name"].map(name_key))
    out = pd.Series(pd.NA, index=names.index, dtype="string")
    for idx, (name, yr) in enumerate(zip(names, years)):
        if pd.isna(name):
            continue
        cands = keyed[keyed["key"] == name_key(str(name))]
        on = pd.Timestamp(int(yr), 1, 1)
        alive = cands[(cands["start"] <= on) & (cands["end"].isna() | (cands["end"] >= on))]
        pick = alive if len(alive) else cands[cands["end"].isna()]
        if pick["la_code"].nunique() == 1:
            out.iloc[idx] = pick["la_code"].iloc[0]
    _raise_unmatched(names[out.isna() & names.notna()], where, "names")
    return out


def _raise_unmatched(unmatched: pd.Series, where: str, what: str) -> None:
    if len(unmatched):
        listed = sorted(map(str, unmatched.unique()))
        raise UnknownLAError(
            f"{where}: {len(listed)} LA {what} could not be matched to the DfE LA list: {listed}. "
            "Add an alias in analysis.data.geography._NAME_ALIASES (names) or check the code column."
        )
