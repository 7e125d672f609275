"""The EHCP model's data: one row per LA and January, with the lagged placement mix.

Data choices
------------
* Window 2016–2025: the panel has ONS populations for panel years 2016–2025
  only (mid-2015 … mid-2024), so 2016 is the first January with an offset;
  January 2015 was also only four months into the 2014 reforms, when the count
  was still mostly statements of SEN for 0–19-year-olds, so it measures a
  different thing. The placement mix enters lagged, so 2015 is still used (as
  the lag for 2016).
* Boundary changes: each harmonised LA is its own unit with its own (short)
  series, not spliced or apportioned (the study's geography policy): forecasts
  are wanted for the LAs that exist now, and the hierarchical prior shrinks
  the intercept and slope of a short series towards its region. In an LA's
  first modelled January (2016, or 2020 / 2022 / 2024 for the successors)
  there is no previous count and the mean is the trend line. Bournemouth,
  Poole and old Dorset have no population for January 2019 (ONS published
  mid-2018 on the 2019 boundaries), so those three LA-years are dropped and
  their series end in 2018.
* Reporting breaks: counts flagged by `analysis.data.breaks` are missing, as
  suppressed ones are (the model's constructor masks them). Newham's January
  2025 total (1,199 from 2,705) is the one flagged total: that January is not
  fitted, so Newham has no forecast from the model until a January after it
  confirms the new level. A January after a missing one is fitted with the
  trend line as its mean (no previous count).
* Lagged placement shares: the LA's own shares in January t−1; for a
  successor LA's first year, the shares of its stable area's predecessors
  pooled; suppressed cells (4 LA-years) carry the LA's previous share forward.
* Population beyond the panel (forecasts to 2029) is held at mid-2024: there
  is no population projection in the panel. The 0–25 population moves by
  ~1 % a year, an order of magnitude less than plans. Shares beyond 2025 are
  held at their January 2025 values.
* Census 2021 rebasing: populations for panel years ≤ 2021 are pre-census
  estimates and from 2022 census-based. The national part of the break is
  absorbed by γ_2022; the LA-specific part is a within-LA population change,
  which θ ≈ 0.1 all but ignores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models.fitting import SEED

FIRST_YEAR = 2016
CENTRE_YEAR = 2020
#: Januaries forecast beyond the last one the panel has (`last_january`).
FORECAST_YEARS = 4
MIX = ("share_special_state", "share_special_independent")
ENGLAND = ("E92000001", "England")

#: Columns of the model frame that the fit depends on (they form the data hash).
FRAME_COLUMNS = ["la_code", "region_code", "year", "y", "pop", "x_special_state", "x_special_independent"]


def placement_shares(panel: pd.DataFrame) -> pd.DataFrame:
    """Per LA and January: shares of plans in state special and in independent special schools.

    Suppressed placement cells carry the LA's previous share forward.
    """
    out = panel[["la_code", "year", "stable_area"]].copy()
    out["share_special_state"] = panel["ehcp_special_state"] / panel["ehcp_total"]
    out["share_special_independent"] = panel["ehcp_special_independent"] / panel["ehcp_total"]
    out = out.sort_values(["la_code", "year"])
    out[list(MIX)] = out.groupby("la_code")[list(MIX)].ffill()
    return out.reset_index(drop=True)


def lagged_shares(panel: pd.DataFrame) -> pd.DataFrame:
    """Shares in January t−1 for every LA-year t (successors' first year: predecessors pooled)."""
    shares = placement_shares(panel)
    own = shares.assign(year=shares["year"] + 1)[["la_code", "year", *MIX]]
    counts = panel.dropna(subset=["ehcp_special_state", "ehcp_special_independent"])
    area = counts.groupby(["stable_area", "year"])[["ehcp_total", "ehcp_special_state", "ehcp_special_independent"]].sum()
    area = pd.DataFrame(
        {
            "share_special_state": area["ehcp_special_state"] / area["ehcp_total"],
            "share_special_independent": area["ehcp_special_independent"] / area["ehcp_total"],
        }
    ).reset_index()
    area["year"] += 1
    frame = panel[["la_code", "year", "stable_area"]].merge(own, on=["la_code", "year"], how="left")
    fill = frame[["stable_area", "year"]].merge(area, on=["stable_area", "year"], how="left")
    for col in MIX:
        frame[col] = frame[col].fillna(fill[col])
    return frame[["la_code", "year", *MIX]]


def last_january(panel: pd.DataFrame) -> int:
    """The latest January for which any LA has both inputs of the model, a count of plans and a population: the
    panel, not the code, says which year is last, so a new release moves every default window and forecast with it
    (a SEN2 January that arrives before its population estimate waits for it)."""
    usable = panel.loc[panel["ehcp_total"].notna() & panel["pop_0_25"].notna(), "year"]
    if usable.empty:
        raise ValueError("EHCP model: no year of the panel has both a count of plans (ehcp_total) and a population (pop_0_25)")
    return int(usable.max())


def model_frame(panel: pd.DataFrame, first_year: int = FIRST_YEAR, last_year: int | None = None) -> pd.DataFrame:
    """One row per LA-year modelled: count, population offset, lagged shares, previous-row link.

    Columns: la_code, la_name, region_code, region_name, stable_area, year, s (= year − 2020),
    y (active EHC plans, January `year`), pop (ONS 0–25, mid-(year−1)), log_pop,
    share_special_state / share_special_independent (January year−1), their standardised
    versions x_*, first (True in the LA's first modelled January, and in a January after a
    missing one: with no previous count its mean is the trend line).
    """
    last_year = last_january(panel) if last_year is None else last_year
    lag = lagged_shares(panel)
    frame = panel[["la_code", "la_name", "region_code", "region_name", "stable_area", "year", "ehcp_total", "pop_0_25"]]
    frame = frame.merge(lag, on=["la_code", "year"], how="left")
    frame = frame[frame["year"].between(first_year, last_year)]
    frame = frame.dropna(subset=["ehcp_total", "pop_0_25"]).rename(columns={"ehcp_total": "y", "pop_0_25": "pop"})
    frame = frame.sort_values(["la_code", "year"]).reset_index(drop=True)
    missing = frame[list(MIX)].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"EHCP model: no lagged placement shares for {frame.loc[missing, ['la_code', 'year']].values.tolist()}")
    frame["y"] = frame["y"].astype(int)
    frame["s"] = frame["year"] - CENTRE_YEAR
    frame["log_pop"] = np.log(frame["pop"])
    for col in MIX:
        frame["x_" + col.removeprefix("share_")] = (frame[col] - frame[col].mean()) / frame[col].std()
    frame["first"] = frame.groupby("la_code")["year"].diff() != 1
    return frame


def synthetic_panel(n_las: int = 20, years: tuple[int, int] = (2016, 2023), n_regions: int = 4, seed: int = SEED) -> pd.DataFrame:
    """A small panel with the real panel's columns (counts are placeholders to be simulated).

    Populations and placement counts are drawn at realistic sizes; `ehcp_total` is a
    plausible series but any test should replace it with `EHCPModel.simulate`.
    """
    rng = np.random.default_rng(seed)
    first, last = years
    rows = []
    for i in range(n_las):
        pop0 = rng.uniform(40_000, 300_000)
        share_s, share_i = rng.uniform(0.2, 0.45), rng.uniform(0.03, 0.12)
        log_pop = np.log(pop0) + np.cumsum(rng.normal(0.005, 0.02, last - first + 2))  # a wandering population
        for year in range(first - 1, last + 1):
            total = pop0 * 0.03 * 1.09 ** (year - first)
            share_s = float(np.clip(share_s + rng.normal(0, 0.03), 0.05, 0.8))
            share_i = float(np.clip(share_i + rng.normal(0, 0.01), 0.005, 0.3))
            rows.append(
                {
                    "la_code": f"E0{i:07d}",
                    "year": year,
                    "la_name": f"LA {i}",
                    "region_code": f"E1200000{i % n_regions}",
                    "region_name": f"Region {i % n_regions}",
                    "stable_area": f"E0{i:07d}",
                    "ehcp_total": round(total),
                    "ehcp_special_state": round(total * share_s),
                    "ehcp_special_independent": round(total * share_i),
                    "pop_0_25": round(float(np.exp(log_pop[year - first + 1]))) if year >= first else np.nan,
                }
            )
    return pd.DataFrame(rows).astype({"ehcp_total": float, "ehcp_special_state": float, "ehcp_special_independent": float})
