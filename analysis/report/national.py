"""The national picture: England series built from the LA panel, and their charts.

Ratios are computed over the LAs that report both numerator and denominator
in a year, so a suppressed or missing LA never counts as zero.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from analysis.report import charts

PLACEMENTS = {
    "ehcp_mainstream": "Mainstream (incl. SEN units and resourced provision)",
    "ehcp_special_state": "State special (LA-maintained, academy, free)",
    "ehcp_special_independent": "Independent and non-maintained special",
    "ehcp_ap_pru": "Alternative provision / PRU",
    "ehcp_post16": "Post-16 and FE",
    "ehcp_other": "Other (NEET, EHE, awaiting, early years …)",
}
SUMS = ["ehcp_total", "new_plans", "requests_received", "requests_refused", "ceased_plans", "hn_spend",
        "hn_block_before_deductions", "hn_block_after_deductions", "tribunal_appeals", "tribunal_decisions"]


def _ratio(panel: pd.DataFrame, num: str, den: str, scale: float = 1.0) -> pd.Series:
    both = panel.dropna(subset=[num, den])
    sums = both.groupby("year")[[num, den]].sum()
    return scale * sums[num] / sums[den]


def england(panel: pd.DataFrame) -> pd.DataFrame:
    """England by panel year: totals (NaN where no LA reports) and ratios over reporting LAs."""
    totals = panel.groupby("year")[SUMS].sum(min_count=1)
    totals["ehcp_per_10k_0_25"] = _ratio(panel, "ehcp_total", "pop_0_25", 1e4)
    totals["new_plans_per_10k_0_25"] = _ratio(panel, "new_plans", "pop_0_25", 1e4)
    totals["refused_pct"] = _ratio(panel, "requests_refused", "requests_received", 100)
    totals["within_20wk_pct"] = _ratio(panel, "timeliness_20wk_within", "timeliness_20wk_issued", 100)
    totals["appeal_rate_pct"] = _ratio(panel, "tribunal_appeals", "tribunal_decisions", 100)
    totals["spend_per_plan"] = _ratio(panel, "hn_spend", "ehcp_total")
    totals["spend_to_allocation_pct"] = _ratio(panel, "hn_spend", "hn_block_after_deductions", 100)
    return totals


def placement_shares(panel: pd.DataFrame) -> pd.DataFrame:
    """Share of plans in each placement group by year, over LAs with every group published."""
    full = panel.dropna(subset=list(PLACEMENTS))
    sums = full.groupby("year")[list(PLACEMENTS)].sum()
    shares = 100 * sums.div(sums.sum(axis=1), axis=0)
    long = shares.reset_index().melt(id_vars="year", var_name="group", value_name="share_pct")
    long["placement"] = long["group"].map(PLACEMENTS)
    return long.merge(full.groupby("year").size().rename("n_las").reset_index(), on="year")


def la_rates(panel: pd.DataFrame, year: int) -> pd.DataFrame:
    """Per LA in `year`: plans per 10,000 aged 0–25, share in independent special, spend per plan."""
    rows = panel[panel["year"] == year].copy()
    rows["ehcp_per_10k_0_25"] = 1e4 * rows["ehcp_total"] / rows["pop_0_25"]
    rows["independent_special_pct"] = 100 * rows["ehcp_special_independent"] / rows["ehcp_total"]
    rows["spend_per_plan"] = rows["hn_spend"] / rows["ehcp_total"]
    return rows[["la_code", "la_name", "region_name", "ehcp_total", "ehcp_per_10k_0_25", "independent_special_pct", "spend_per_plan", "hn_spend"]]


def growth(panel: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    """Per LA present in both years: percentage growth in active plans from `start` to `end`."""
    wide = panel.pivot(index="la_code", columns="year", values="ehcp_total")[[start, end]].dropna()
    out = (100 * (wide[end] / wide[start] - 1)).rename("growth_pct").reset_index()
    return out.merge(panel.drop_duplicates("la_code")[["la_code", "la_name"]], on="la_code")


def span(series: pd.Series) -> tuple[int, int]:
    """The first and last panel years in which `series` (indexed by year) has a value: what the chapter's text
    quotes, so that a new year of data moves it."""
    years = series.dropna().index
    return int(years.min()), int(years.max())


def share_text(pct: float) -> str:
    """A share in % to one decimal, and 'under 0.1%' for one that is not zero but would show as 0.0%."""
    return "under 0.1%" if 0 < pct < 0.05 else f"{pct:.1f}%"


# --- charts -------------------------------------------------------------------------------

def _year(years: pd.Series, title: str = "January (panel year)") -> alt.X:
    """The panel-year axis, labelled every third year from the first in `years`."""
    first, last = int(years.min()), int(years.max())
    return alt.X("year:O", title=title, axis=alt.Axis(labelAngle=0, values=list(range(first, last + 1, 3))))


def growth_chart(eng: pd.DataFrame) -> alt.HConcatChart:
    data = eng.reset_index()[["year", "ehcp_total", "ehcp_per_10k_0_25"]]
    base = alt.Chart(data).encode(x=_year(data["year"]))
    count = base.mark_line(point=True).encode(
        y=alt.Y("ehcp_total:Q", title="Active EHC plans", axis=alt.Axis(format=charts.COUNT)),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("ehcp_total:Q", format=charts.COUNT, title="plans")],
    ).properties(width=240, height=240, title="Active EHC plans, England")
    rate = base.mark_line(point=True, color=charts.OKABE_ITO[1]).encode(
        y=alt.Y("ehcp_per_10k_0_25:Q", title="Plans per 10,000 aged 0–25"),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("ehcp_per_10k_0_25:Q", format=charts.DECIMAL, title="per 10,000")],
    ).transform_filter("isValid(datum.ehcp_per_10k_0_25)").properties(width=240, height=240, title="Per 10,000 aged 0–25")
    return alt.hconcat(count, rate)


def placement_chart(shares: pd.DataFrame) -> alt.Chart:
    return alt.Chart(shares).mark_area().encode(
        x=_year(shares["year"]),
        y=alt.Y("share_pct:Q", stack="normalize", title="Share of active plans", axis=alt.Axis(format="%")),
        color=alt.Color("placement:N", sort=list(PLACEMENTS.values()), title="Placement", legend=alt.Legend(orient="bottom", columns=2, labelLimit=320)),
        order=alt.Order("group_order:Q"),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("placement:N"), alt.Tooltip("share_pct:Q", format=".1f", title="% of plans")],
    ).transform_calculate(group_order=f"indexof({list(PLACEMENTS.values())}, datum.placement)").properties(width=520, height=280)


def flows_chart(eng: pd.DataFrame) -> alt.HConcatChart:
    names = {"requests_received": "Requests for assessment", "new_plans": "New plans issued", "requests_refused": "Requests refused"}
    counts = eng.reset_index().melt(id_vars="year", value_vars=list(names), var_name="flow", value_name="n").dropna()
    counts["flow"] = counts["flow"].map(names)
    left = alt.Chart(counts).mark_line(point=True).encode(
        x=_year(eng.index.to_series(), "Panel year (flows in the calendar year before)"),
        y=alt.Y("n:Q", title="Per year", axis=alt.Axis(format=charts.COUNT)),
        color=alt.Color("flow:N", title=None, sort=list(names.values()), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("flow:N"), alt.Tooltip("n:Q", format=charts.COUNT)],
    ).properties(width=240, height=240, title="Requests, refusals and new plans")
    pct = eng.reset_index()[["year", "within_20wk_pct"]].dropna()
    right = alt.Chart(pct).mark_line(point=True, color=charts.OKABE_ITO[2]).encode(
        x=_year(eng.index.to_series(), "Panel year (plans issued in the calendar year before)"),
        y=alt.Y("within_20wk_pct:Q", title="% issued within 20 weeks", scale=alt.Scale(domain=[0, 100])),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("within_20wk_pct:Q", format=".1f", title="%")],
    ).properties(width=240, height=240, title="Timeliness (excluding exceptions)")
    return alt.hconcat(left, right)


def spend_chart(eng: pd.DataFrame) -> alt.Chart:
    names = {"hn_spend": "High-needs spend (s251 lines 1.2.x)", "hn_block_before_deductions": "High needs block (before deductions)",
             "hn_block_after_deductions": "High needs block (after academy/FE deductions)"}
    long = eng.reset_index().melt(id_vars="year", value_vars=list(names), var_name="series", value_name="gbp").dropna()
    long = long[long["year"] >= 2018]
    long["series"] = long["series"].map(names)
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("year:O", title="Financial year ending March", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("gbp:Q", title="£ per year (cash)", axis=alt.Axis(labelExpr=charts.gbp_label("bn", 1))),
        color=alt.Color("series:N", title=None, sort=list(names.values()), legend=alt.Legend(orient="bottom", columns=1)),
        tooltip=[alt.Tooltip("year:O"), alt.Tooltip("series:N"), alt.Tooltip("gbp:Q", format=charts.GBP)],
    ).properties(width=480, height=260)


def deficit_chart(panel: pd.DataFrame) -> alt.Chart:
    data = panel.dropna(subset=["dsg_deficit_pct"])[["la_name", "year", "dsg_deficit_pct"]]
    return alt.Chart(data).mark_tick(thickness=2, size=14, opacity=0.6).encode(
        x=alt.X("dsg_deficit_pct:Q", title="Cumulative DSG balance, % of DSG (positive = deficit)"),
        y=alt.Y("year:O", title="Financial year ending March"),
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("dsg_deficit_pct:Q", format=".1f", title="% of DSG")],
    ).properties(width=480, height=150)


def distribution_chart(rates: pd.DataFrame, value: str, title: str) -> alt.Chart:
    return alt.Chart(rates.dropna(subset=[value])).mark_bar().encode(
        x=alt.X(f"{value}:Q", bin=alt.Bin(maxbins=30), title=title),
        y=alt.Y("count():Q", title="LAs"),
    ).properties(width=420, height=200)
