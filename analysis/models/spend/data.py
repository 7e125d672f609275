"""The spend model's data (one row per LA and financial year) and the descriptive spend series.

Data choices
------------
* Window: panel years 2018–2025 (the s251 series), LA-years with spend, total
  plans and 2–18 population, and at least 100 plans (`MIN_PLANS`: this leaves out
  the City of London and the Isles of Scilly, with 13–30 plans, whose spend per
  plan is dominated by one or two placements). Cumberland and Westmorland and Furness have no
  spend for 2024 (missing in the derived file) and are not fitted that year.
* Suppressed placement breakdowns (whole breakdown missing, total known; 4
  LA-years: Hackney and Peterborough 2024, Cambridgeshire and North East
  Lincolnshire 2025): the LA's latest earlier shares × the known total, flagged
  ``mix_imputed``. Shares move slowly, so this changes little.
* Reporting breaks: placement counts flagged by `analysis.data.breaks` (for
  example Redcar and Cleveland's January 2023 mainstream and state special
  counts, each half the year before and after) are missing, so that LA-year's
  breakdown is imputed as a suppressed one is; a flagged total (Newham 2025)
  leaves the LA-year out.
* Boundary changes: each harmonised LA is its own unit (Northamptonshire to 2021,
  its successors from 2022; Cumbria to 2023, its successors from 2024; Bournemouth,
  Poole and old Dorset to 2019, BCP and Dorset from 2020). A successor's LA
  effects are drawn afresh from the national distribution.
* January counts are the stock at month 10 of the financial year; with plans
  growing ~10 % a year they exceed the year's average caseload by ~2–3 %, so
  unit costs are per January plan, slightly below per average plan.
"""

from __future__ import annotations

import pandas as pd

from analysis.errors import ValidationError

FIRST_YEAR = 2018
CENTRE_YEAR = 2022  #: FY 2021-22: national levels refer to this year (the benchmarking year)
BM_YEAR = 2022
ENGLAND = ("E92000001", "England")

#: Placement type → the panel's placement columns summed into it.
TYPES: dict[str, tuple[str, ...]] = {
    "mainstream": ("ehcp_mainstream",),
    "mainstream_independent": ("ehcp_mainstream_independent",),
    "special_state": ("ehcp_special_state",),
    "special_independent": ("ehcp_special_independent",),
    "post16": ("ehcp_post16",),
    "post16_specialist": ("ehcp_post16_specialist",),
    "other": ("ehcp_ap_pru", "ehcp_other"),
}
#: Type → the type whose panel columns already count it (SEN2 publishes independent mainstream schools inside
#: mainstream, specialist post-16 institutions inside further education): its plans are taken out of that type's,
#: so that every plan is counted once.
CARVED_FROM = {"mainstream_independent": "mainstream", "post16_specialist": "post16"}
TYPE_LABELS = {
    "mainstream": "State mainstream",
    "mainstream_independent": "Independent mainstream",
    "special_state": "State special",
    "special_independent": "Independent special",
    "post16": "Post-16 (FE)",
    "post16_specialist": "Specialist post-16",
    "other": "AP and other",
}
PLACEMENT_COLUMNS = [c for cols in TYPES.values() for c in cols]
PANEL_COLUMNS = ["la_code", "la_name", "region_code", "year", "hn_spend", "ehcp_total", "pop_2_18", *PLACEMENT_COLUMNS]
#: Spend by category, observed for some LA-years: category → (panel columns summed, the model terms whose sum it measures).
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # DfE dashboard, FY 2018-19 … 2021-22: s251 top-ups (1.2.1 + 1.2.2) in the special and AP/PRU columns
    "special_state": (("special_state_spend",), ("special_state",)),
    # the same, line 1.2.3 (non-maintained and independent providers)
    "special_independent": (("special_independent_spend",), ("special_independent",)),
    # benchmarking outturn 2021-22: services not tied to a plan
    "base": (("bm_sen_support", "bm_alternative_provision", "bm_hospital", "bm_therapies"), ("base",)),
    # the same: top-ups to maintained schools, academies, free schools and colleges (every state-funded setting)
    "topups_maintained": (("bm_topup_maintained",), ("mainstream", "special_state", "post16", "other")),
    # the same: top-ups to non-maintained and independent schools and colleges
    "topups_independent": (("bm_topup_independent",), ("mainstream_independent", "special_independent", "post16_specialist")),
}
CATEGORY_COLUMNS = [c for cols, _ in CATEGORIES.values() for c in cols]
#: LA-years with fewer plans are not fitted (the City of London and the Isles of Scilly: spend per plan is noise).
MIN_PLANS = 100

#: Columns of the model frame the fit depends on (they form the data hash).
FRAME_COLUMNS = ["la_code", "year", "spend", "pop", *[f"n_{k}" for k in TYPES], *[f"cat_{k}" for k in CATEGORIES]]


def _check_panel(panel: pd.DataFrame) -> None:
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValidationError(
            f"spend model: the panel has no column(s) {missing}. Rebuild it with `python -m analysis data --force` "
            "(or, for a hand-made frame, add them: see analysis.models.spend.PANEL_COLUMNS)."
        )
    bad = panel[(panel["hn_spend"] <= 0) | (panel["ehcp_total"] < 0) | (panel["pop_2_18"] <= 0)]
    if len(bad):
        rows = bad[["la_code", "year"]].head(5).values.tolist()
        raise ValidationError(
            f"spend model: {len(bad)} LA-years have non-positive spend or population or negative plans "
            f"(e.g. {rows}); suppressed values must be NaN, not 0 — check the reader that produced them."
        )


def last_financial_year(panel: pd.DataFrame) -> int:
    """The latest panel year (financial year ending in March of it) for which any LA has every input of the model —
    high-needs spend, plans and population: the panel, not the code, says which year is last, so a new outturn
    release moves the default window with it."""
    usable = panel.loc[panel[["hn_spend", "ehcp_total", "pop_2_18"]].notna().all(axis=1), "year"]
    if usable.empty:
        raise ValidationError("spend model: no year of the panel has high-needs spend, plans and population together")
    return int(usable.max())


def type_counts(panel: pd.DataFrame) -> pd.DataFrame:
    """Plans by placement type for each panel row (columns n_<type>, in `TYPES` order): the type's panel columns
    summed, a type in `CARVED_FROM` taken out of its whole; missing where any column is (a carved type also where
    its whole is, as a reporting break masks the group's count only)."""
    counts = pd.DataFrame({f"n_{k}": panel[list(cols)].sum(axis=1, min_count=len(cols)) for k, cols in TYPES.items()})
    for part, whole in CARVED_FROM.items():
        counts[f"n_{part}"] = counts[f"n_{part}"].where(counts[f"n_{whole}"].notna())
        counts[f"n_{whole}"] -= counts[f"n_{part}"]
    return counts


def model_frame(panel: pd.DataFrame, first_year: int = FIRST_YEAR, last_year: int | None = None) -> pd.DataFrame:
    """One row per LA-year fitted: spend, 2–18 population and plans by placement type.

    Columns: la_code, la_name, region_code, year, s (= year − 2022), spend (£), pop (2–18),
    total (all plans), n_<type> for each of `TYPES` (a type in `CARVED_FROM` taken out of its whole), mix_imputed (the breakdown was suppressed
    and is the LA's latest earlier shares × the total), cat_<category> for each of `CATEGORIES`
    (£; missing where not published, and where published as 0 for an LA with plans of that
    kind, as York's 2021-22 dashboard rows are; a panel without the category columns has none).
    """
    _check_panel(panel)
    present = [c for c in CATEGORY_COLUMNS if c in panel.columns]
    frame = panel[PANEL_COLUMNS + present].sort_values(["la_code", "year"]).copy()
    for k, (cols, _) in CATEGORIES.items():
        values = frame[list(cols)].sum(axis=1, min_count=len(cols)) if set(cols) <= set(present) else pd.Series(float("nan"), index=frame.index)
        frame[f"cat_{k}"] = values.where(values > 0)
    counts = type_counts(frame)
    n_cols = list(counts.columns)
    frame[n_cols] = counts
    frame["mix_imputed"] = frame[n_cols].isna().any(axis=1) & frame["ehcp_total"].notna()
    shares = frame[n_cols].div(frame[n_cols].sum(axis=1), axis=0).where(~frame["mix_imputed"])  # whole breakdowns only
    shares = shares.groupby(frame["la_code"]).ffill()
    fill = shares.mul(frame["ehcp_total"], axis=0)
    frame[n_cols] = frame[n_cols].where(~frame["mix_imputed"], fill)
    frame = frame[frame["year"].between(first_year, last_financial_year(panel) if last_year is None else last_year)]
    frame = frame.dropna(subset=["hn_spend", "ehcp_total", "pop_2_18"])
    frame = frame[frame["ehcp_total"] >= MIN_PLANS]
    unfilled = frame[frame[n_cols].isna().any(axis=1)]
    if len(unfilled):
        raise ValidationError(
            f"spend model: no placement breakdown, this year or earlier, for {unfilled[['la_code', 'year']].values.tolist()}; "
            "these LA-years cannot be split by type."
        )
    frame = frame.rename(columns={"hn_spend": "spend", "pop_2_18": "pop", "ehcp_total": "total"})
    frame["s"] = frame["year"] - CENTRE_YEAR
    cols = ["la_code", "la_name", "region_code", "year", "s", "spend", "pop", "total", *n_cols, "mix_imputed", *[f"cat_{k}" for k in CATEGORIES]]
    return frame[cols].reset_index(drop=True)


def spend_per_head(panel: pd.DataFrame) -> pd.DataFrame:
    """Per LA-year: spend per head aged 2–18 and per plan, and the high needs block per head.

    Allocations (after deductions: what the LA receives after academy recoupment and ESFA's
    direct place funding) exist for FY 2019-20 … 2023-24 only (panel years 2020–2024).
    Spend excludes place funding while the allocation pays for some of it, so the ratio
    overstates how far an LA's plan-related spend is covered; it is not a deficit measure.
    """
    _check_panel(panel)
    cols = ["la_code", "la_name", "year", "hn_spend", "ehcp_total", "pop_2_18", "hn_block_after_deductions"]
    f = panel[cols].dropna(subset=["hn_spend"]).copy()
    f["spend_per_head"] = f["hn_spend"] / f["pop_2_18"]
    f["spend_per_plan"] = f["hn_spend"] / f["ehcp_total"]
    f["allocation_per_head"] = f["hn_block_after_deductions"] / f["pop_2_18"]
    f["spend_to_allocation"] = f["hn_spend"] / f["hn_block_after_deductions"]
    return f.reset_index(drop=True)


def england_per_head(panel: pd.DataFrame) -> pd.DataFrame:
    """England by year: spend, plans, population and allocation summed over LAs with each value."""
    f = spend_per_head(panel)
    g = f.groupby("year")
    alloc = f.dropna(subset=["hn_block_after_deductions"]).groupby("year")
    out = pd.DataFrame(
        {
            "spend_per_head": g["hn_spend"].sum() / g["pop_2_18"].sum(),
            "spend_per_plan": g["hn_spend"].sum() / f.dropna(subset=["ehcp_total"]).groupby("year")["ehcp_total"].sum(),
            "allocation_per_head": alloc["hn_block_after_deductions"].sum() / alloc["pop_2_18"].sum(),
            "spend_to_allocation": alloc["hn_spend"].sum() / alloc["hn_block_after_deductions"].sum(),
        }
    )
    return out.reset_index()


def national_high_needs_cost(panel: pd.DataFrame) -> pd.DataFrame:
    """England by financial year: the whole public high-needs bill beside the high needs block allocation (£).

    `top_ups` is LAs' s251 lines 1.2.x (the spend this chapter models); `esfa_place_funding` the
    places ESFA funds directly (the deductions from the block); `maintained_place_funding` the place
    funding LAs pay their own special schools and units (s251 line 1.0.2), which of the sources held here only
    the 2021-22 benchmarking outturn has by LA (the s251 outturn file that has it every year is not in the mirror). `total` is their sum where all three are known; `allocation` the
    block before deductions and `gap` = total − allocation (positive: more spent than allocated).
    Every column sums the same LAs, those with both top-ups and an allocation that year (`las`, of
    `las_in_year`), so that the bill and the block compare like with like.
    """
    both = panel.dropna(subset=["hn_spend", "hn_block_before_deductions"])
    sums = both.groupby("year")[["hn_spend", "ded_total", "bm_place_funding", "hn_block_before_deductions"]].sum(min_count=1)
    out = pd.DataFrame({
        "year": sums.index,
        "las": both.groupby("year").size().reindex(sums.index).to_numpy(),
        "las_in_year": panel.groupby("year").size().reindex(sums.index).to_numpy(),
        "top_ups": sums["hn_spend"].to_numpy(),
        "esfa_place_funding": sums["ded_total"].to_numpy(),
        "maintained_place_funding": sums["bm_place_funding"].to_numpy(),
        "allocation": sums["hn_block_before_deductions"].to_numpy(),
    })
    out["total"] = out[["top_ups", "esfa_place_funding", "maintained_place_funding"]].sum(axis=1, min_count=3)
    out["gap"] = out["total"] - out["allocation"]
    return out[out[["top_ups", "allocation"]].notna().all(axis=1)].reset_index(drop=True)
