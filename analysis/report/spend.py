"""Tables and charts of the spend model for the book's chapter 4.

Each function takes a fitted `SpendModel` (or what its methods return) and gives a
tidy frame or an Altair chart; the chapter only narrates. Money shown in prose and
tables is rounded here, to the
precision a refit reproduces (`sig`: 2 significant figures in prose and tables, 3 in chart
data), so a refit on another machine prints the same text.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import numpy as np
import pandas as pd

from analysis.data.finance import financial_year
from analysis.models.fitting import ESS_BULK_MIN, RHAT_MAX, Diagnostics, quantile
from analysis.models.spend import (
    BASE_PRIOR,
    BM_YEAR,
    ENGLAND,
    MIN_PLANS,
    PRIORS,
    TYPE_LABELS,
    TYPES,
    SpendModel,
    model_frame,
)
from analysis.models.spend.places import PlaceFundingModel, post16_frame
from analysis.models.spend.results import PLACE_FUNDING
from analysis.report import charts
from analysis.report.precision import interval_places
from analysis.report.tables import and_join
from analysis.report.unit_costs import PUBLISHED_COSTS, cost_text, unit_costs

_FY = alt.X("year:O", title="Financial year ending March", axis=alt.Axis(labelAngle=0))
_TYPE_ORDER = list(TYPE_LABELS.values())
_POWERS_OF_TEN = [0.01, 0.1, 1, 10, 100, 1000, 10000]  # log-axis labels that never crowd each other


def sig(x, digits: int = 2):
    """Round to `digits` significant figures (scalars or arrays): posterior summaries are shown at the
    precision a refit reproduces, in prose, tables and chart data alike."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (np.floor(np.log10(np.abs(np.where(x == 0, 1.0, x)))) - digits + 1)
    out = np.round(x / scale) * scale
    return float(out) if out.ndim == 0 else out


def gbp(x: float, to: int | None = None) -> str:
    """£ rounded to the nearest `to`, or to 2 significant figures (e.g. '£52,000')."""
    return charts.fmt_gbp(sig(x) if to is None else round(x / to) * to)


def gbp_interval(median: float, lo: float, hi: float, to: int | None = None) -> str:
    """'£52,000 (90 % interval £48,000 to £57,000)': 2 significant figures, or to the nearest `to`."""
    return f"{gbp(median, to)} (90% interval {gbp(lo, to)} to {gbp(hi, to)})"


def _rounded(frame: pd.DataFrame, columns: list[str], digits: int = 3) -> pd.DataFrame:
    """A copy with `columns` at `digits` significant figures (chart data that a refit reproduces)."""
    return frame.assign(**{c: sig(frame[c].to_numpy(), digits) for c in columns})


# --------------------------------------------------------------------------- data and priors


def spend_per_plan_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """LA spend per plan by year (box plots) and England's (line)."""
    la = frame.dropna(subset=["spend_per_plan"])
    la = la.loc[la["ehcp_total"] >= 100, ["year", "hn_spend", "ehcp_total", "spend_per_plan"]]  # City of London and Isles of Scilly: a few plans, ratios meaningless
    sums = la.groupby("year")[["hn_spend", "ehcp_total"]].sum()
    eng = (sums["hn_spend"] / sums["ehcp_total"]).rename("england").round().reset_index()
    box = alt.Chart(la[["year", "spend_per_plan"]].round(0)).mark_boxplot(extent=1.5, size=22, opacity=0.6).encode(
        x=_FY, y=alt.Y("spend_per_plan:Q", title="Spend per EHC plan (£, cash)", axis=alt.Axis(format=charts.GBP)),
    )
    line = alt.Chart(eng).mark_line(point=True, color=charts.OKABE_ITO[3]).encode(
        x=_FY, y="england:Q", tooltip=[alt.Tooltip("year:O"), alt.Tooltip("england:Q", format=charts.GBP, title="England")]
    )
    return (box + line).properties(width=480, height=280)


def prior_table() -> pd.DataFrame:
    """The priors on the national unit costs and base, in pounds (median and 90 % interval)."""
    rows = [(TYPE_LABELS[k], "£ per plan per year", *PRIORS[k]) for k in TYPES]
    rows.append(("Base (services not tied to a plan)", "£ per head aged 2–18", *BASE_PRIOR))
    out = []
    for label, unit, median, sd in rows:
        lo, hi = median * np.exp(-1.645 * sd), median * np.exp(1.645 * sd)
        to = 1 if median < 1000 else 100
        out.append({"component": label, "unit": unit, "prior median": gbp(median, to), "90% prior interval": f"{gbp(lo, to)} to {gbp(hi, to)}"})
    return pd.DataFrame(out)


def prior_predictive_frame(model: SpendModel, prior) -> pd.DataFrame:
    """England's spend by year: prior predictive quantiles (sums over LAs per draw) and observed."""
    f = model.data()
    with np.errstate(over="ignore"):  # the Student-t prior puts some mass beyond the float range
        draws = np.exp(prior.prior_predictive["log_spend"].stack(sample=("chain", "draw")).transpose("sample", "obs").values)
    rows = []
    for year in model.years:
        sel = (f["year"] == year).to_numpy()
        total = draws[:, sel].sum(axis=1)
        q = np.quantile(total, [0.05, 0.25, 0.5, 0.75, 0.95])
        rows.append({"year": year, "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4], "observed": f.loc[sel, "spend"].sum()})
    return _rounded(pd.DataFrame(rows), ["q05", "q25", "median", "q75", "q95"])


def _band_chart(frame: pd.DataFrame, y_title: str, label_unit: str = "bn", x: alt.X = _FY) -> alt.LayerChart:
    """90 % and 50 % bands, median line and observed points over financial years (axis `x`)."""
    axis = alt.Axis(labelExpr=charts.gbp_label(label_unit, 0))
    scale = alt.Scale(type="log")
    outer = alt.Chart(frame).mark_area(opacity=0.2, color=charts.OKABE_ITO[0]).encode(
        x=x, y=alt.Y("q05:Q", title=y_title, axis=axis, scale=scale), y2="q95:Q"
    )
    inner = alt.Chart(frame).mark_area(opacity=0.35, color=charts.OKABE_ITO[0]).encode(x=x, y="q25:Q", y2="q75:Q")
    mid = alt.Chart(frame).mark_line(color=charts.OKABE_ITO[0]).encode(x=x, y="median:Q")
    obs = alt.Chart(frame).mark_point(color=charts.OKABE_ITO[3], size=60, filled=True).encode(
        x=x, y="observed:Q", tooltip=[alt.Tooltip("year:O"), alt.Tooltip("observed:Q", format=charts.GBP, title="observed")]
    )
    return (outer + inner + mid + obs).properties(width=480, height=260)


def prior_predictive_chart(model: SpendModel, prior) -> alt.LayerChart:
    """England's spend implied by the priors alone (bands) against what was spent (points), log scale."""
    return _band_chart(prior_predictive_frame(model, prior), "England high-needs spend (£, log scale)")


# --------------------------------------------------------------------------- fit and checks


def diagnostics_table(diag: Diagnostics, model: SpendModel) -> pd.DataFrame:
    """The convergence checks of the fit, each against its threshold, with pass/FAIL."""
    rows = [
        ("R-hat (max over parameters)", f"{diag.rhat_max:.3f}", f"≤ {RHAT_MAX}", diag.rhat_max <= RHAT_MAX),
        ("bulk ESS (min over parameters)", f"{round(diag.ess_bulk_min, -2):,.0f}", f"≥ {ESS_BULK_MIN}", diag.ess_bulk_min >= ESS_BULK_MIN),
        ("divergent transitions", f"{diag.divergences}", "0", diag.divergences == 0),
    ]
    out = pd.DataFrame(rows, columns=["check", "value", "threshold", "passed"])
    out["passed"] = out["passed"].map({True: "pass", False: "FAIL"})
    out.attrs["settings"] = f"{model.settings.sampler}, {model.settings.chains} chains × ({model.settings.tune} tuning + {model.settings.draws} draws), seed {model.settings.seed}"
    return out


def ppc_chart(model: SpendModel) -> alt.HConcatChart:
    """Left: observed vs predicted spend per LA-year (log-log, 90 % intervals). Right: England by year."""
    pp = model.posterior_predictive()
    la = pp[pp["la_code"] != ENGLAND[0]]
    la = pd.DataFrame({
        "la_name": la["la_name"], "year": la["year"], "observed_m": sig(la["observed"].to_numpy() / 1e6, 3), "median_m": sig(la["median"].to_numpy() / 1e6, 3),
        "inside": np.where((la["observed"] >= la["q05"]) & (la["observed"] <= la["q95"]), "inside", "outside"),
    })
    scale = alt.Scale(type="log")
    points = alt.Chart(la).mark_point(size=14, opacity=0.7).encode(
        x=alt.X("observed_m:Q", title="Observed spend (£m, log scale)", scale=scale),
        y=alt.Y("median_m:Q", title="Predicted spend (£m, posterior predictive median)", scale=scale),
        color=alt.Color("inside:N", title="Observed vs 90% interval", scale=alt.Scale(domain=["inside", "outside"], range=[charts.OKABE_ITO[0], charts.OKABE_ITO[3]]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("year:O"), alt.Tooltip("observed_m:Q", format=".1f", title="observed £m"),
                 alt.Tooltip("median_m:Q", format=".1f", title="predicted £m")],
    )
    lo, hi = float(la[["observed_m", "median_m"]].min().min()), float(la[["observed_m", "median_m"]].max().max())
    diagonal = alt.Chart(pd.DataFrame({"x": [lo, hi]})).mark_line(color="#888888", strokeDash=[4, 3]).encode(x="x:Q", y="x:Q")
    left = (points + diagonal).properties(width=280, height=280, title="LA-years")
    nat = _rounded(pp[pp["la_code"] == ENGLAND[0]][["year", "observed", "median", "q05", "q25", "q75", "q95"]], ["median", "q05", "q25", "q75", "q95"])
    every_other = alt.X("year:O", title="Financial year ending March", axis=alt.Axis(labelAngle=0, values=model.years[::2]))
    right = _band_chart(nat, "England spend (£, log scale)", x=every_other).properties(width=200, height=280, title="England")
    return alt.hconcat(left, right)


# --------------------------------------------------------------------------- unit costs


def unit_cost_chart(trends: pd.DataFrame) -> alt.LayerChart:
    """England's plan-weighted unit cost by type and year with 90 % bands (log scale)."""
    trends = _rounded(trends[["label", "year", "median", "q05", "q95"]], ["median", "q05", "q95"])
    scale = alt.Scale(type="log")
    # full-colour swatches: the bands' pale ones made the two blues look alike
    color = alt.Color("label:N", title="Placement", sort=_TYPE_ORDER, legend=alt.Legend(orient="bottom", columns=3, symbolOpacity=1))
    band = alt.Chart(trends).mark_area(opacity=0.2).encode(
        x=_FY, y=alt.Y("q05:Q", title="£ per plan per year (log scale)", scale=scale, axis=alt.Axis(format=charts.GBP)), y2="q95:Q", color=color
    )
    line = alt.Chart(trends).mark_line(point=True).encode(
        x=_FY, y="median:Q", color=color,
        tooltip=[alt.Tooltip("label:N", title="placement"), alt.Tooltip("year:O"), alt.Tooltip("median:Q", format=charts.GBP),
                 alt.Tooltip("q05:Q", format=charts.GBP, title="5%"), alt.Tooltip("q95:Q", format=charts.GBP, title="95%")],
    )
    return (band + line).properties(width=480, height=300)


def unit_cost_table(costs: pd.DataFrame) -> pd.DataFrame:
    """National unit costs (plan-weighted, typical LA, full public cost) for one year (`unit_costs`), each at the
    precision its Monte Carlo error supports (to the £100 at most)."""
    out = []
    for k in TYPES:
        row = {"placement": TYPE_LABELS[k]}
        for measure, name in (("mean_la", "England average"), ("typical_la", "typical LA"), ("full_mean_la", "full cost")):
            r = costs[(costs["type"] == k) & (costs["measure"] == measure)].iloc[0]
            row[name] = gbp(r["median"], 10 ** -r["mid_places"])
            row[f"{name}, 90% interval"] = f"{gbp(r['q05'], 10 ** -r['end_places'])} to {gbp(r['q95'], 10 ** -r['end_places'])}"
        out.append(row)
    return pd.DataFrame(out)


def la_cost_chart(la: pd.DataFrame, label: str) -> alt.LayerChart:
    """Caterpillar plot: each LA's unit cost (median and 90 % interval), sorted."""
    la = _rounded(la[["la_name", "median", "q05", "q95", "plans"]], ["median", "q05", "q95"]).assign(rank=np.arange(len(la)))
    base = alt.Chart(la)
    rule = base.mark_rule(opacity=0.5).encode(
        x=alt.X("rank:O", title=f"LAs, ordered by {label.lower()} unit cost", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("q05:Q", title="£ per plan per year", axis=alt.Axis(format=charts.GBP)), y2="q95:Q",
    )
    point = base.mark_point(size=12, filled=True).encode(
        x="rank:O", y="median:Q",
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("median:Q", format=charts.GBP), alt.Tooltip("q05:Q", format=charts.GBP, title="5%"),
                 alt.Tooltip("q95:Q", format=charts.GBP, title="95%"), alt.Tooltip("plans:Q", format=charts.COUNT, title="plans in this placement")],
    )
    return (rule + point).properties(width=560, height=260)


# --------------------------------------------------------------------------- growth, allocations, cross-check

COMPONENT_LABELS = {
    "plans": "More plans",
    "mix": "Placement mix",
    "unit_costs": "Unit costs",
    "base": "Base services",
    "total": "Total change",
}


def decomposition_table(table: pd.DataFrame) -> pd.DataFrame:
    """The growth decomposition in £m (3 significant figures, so a narrow interval does not collapse to one value)
    and % of the total change (nearest 1 pp)."""
    out = pd.DataFrame({"component": table["component"].map(COMPONENT_LABELS)})
    out["change"] = table["median"].map(_millions)
    out["90% interval"] = [f"{_millions(a)} to {_millions(b)}" for a, b in zip(table["q05"], table["q95"])]
    out["share of change"] = [f"{percent(s)} ({percent(a)} to {percent(b)})" for s, a, b in zip(table["share"], table["share_q05"], table["share_q95"])]
    return out


def percent(share: float) -> str:
    """A share as a whole percentage with a typographic minus ('−4%'), never '−0%'."""
    return f"{round(100 * share) + 0:.0f}%".replace("-", "−")


def decomposition_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Bars: each component's contribution to the change in spend (£bn) with 90 % intervals."""
    data = _rounded(table[["component", "median", "q05", "q95"]], ["median", "q05", "q95"]).assign(label=table["component"].map(COMPONENT_LABELS))
    order = list(COMPONENT_LABELS.values())
    y = alt.Y("label:N", title=None, sort=order)
    bars = alt.Chart(data).mark_bar(opacity=0.8).encode(
        x=alt.X("median:Q", title="Contribution to the change in spend (£, cash)", axis=alt.Axis(labelExpr=charts.gbp_label("bn", 1))), y=y,
        color=alt.condition(alt.datum.component == "total", alt.value(charts.OKABE_ITO[7]), alt.value(charts.OKABE_ITO[0])),
    )
    err = alt.Chart(data).mark_rule(strokeWidth=2).encode(x="q05:Q", x2="q95:Q", y=y)
    return (bars + err).properties(width=460, height=200)


def allocation_chart(frame: pd.DataFrame, year: int) -> alt.LayerChart:
    """LA spend per head against high needs block (after deductions) per head, one financial year."""
    data = frame[(frame["year"] == year)].dropna(subset=["spend_per_head", "allocation_per_head"])
    data = data[["la_name", "spend_per_head", "allocation_per_head", "spend_per_plan"]].round(0)
    lo, hi = float(data[["spend_per_head", "allocation_per_head"]].min().min()), float(data[["spend_per_head", "allocation_per_head"]].max().max())
    points = alt.Chart(data).mark_point(opacity=0.7).encode(
        x=alt.X("allocation_per_head:Q", title="High needs block after deductions, £ per head aged 2–18", scale=alt.Scale(zero=False), axis=alt.Axis(format=charts.GBP)),
        y=alt.Y("spend_per_head:Q", title="High-needs spend (s251 1.2.x), £ per head aged 2–18", scale=alt.Scale(zero=False), axis=alt.Axis(format=charts.GBP)),
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("spend_per_head:Q", format=charts.GBP), alt.Tooltip("allocation_per_head:Q", format=charts.GBP),
                 alt.Tooltip("spend_per_plan:Q", format=charts.GBP)],
    )
    diagonal = alt.Chart(pd.DataFrame({"x": [lo, hi]})).mark_line(color="#888888", strokeDash=[4, 3]).encode(x="x:Q", y="x:Q")
    return (points + diagonal).properties(width=420, height=320)


CROSSCHECK_LABELS = {
    "base": "Base ↔ SEN support, AP, hospital and therapy services",
    "topups_maintained": "State-funded placements ↔ top-ups to maintained schools, academies and colleges",
    "topups_independent": "Independent placements ↔ top-ups to independent and non-maintained schools and colleges",
}


def direct_ratios(model: SpendModel, year: int = BM_YEAR) -> dict[str, float]:
    """Published special school spend ÷ plans of that type, England, `year` (LAs with both): the unit cost with no model."""
    f = model.data()
    f = f[f["year"] == year]
    out = {}
    for k in ("special_state", "special_independent"):
        both = f[f[f"cat_{k}"].notna()]
        out[k] = float(both[f"cat_{k}"].sum() / both[f"n_{k}"].sum())
    return out


def direct_agreement(direct: dict[str, float], modelled: pd.DataFrame) -> str:
    """' (both inside …)' or which no-model figure lies outside the model's 90% interval for the same year, and which way."""
    words = {"special_independent": "independent special", "special_state": "state special"}
    outside = [(k, v) for k, v in direct.items() if not modelled.loc[k, "q05"] <= v <= modelled.loc[k, "q95"]]
    if not outside:
        return " (both inside the model's 90% intervals)"
    return " (" + "; ".join(f"the {words[k]} figure {'above' if v > modelled.loc[k, 'q95'] else 'below'} the model's 90% interval"
                            for k, v in outside) + ")"


#: Plans of a type an LA needs for its booked spend per plan to be quoted (one placement more or less then moves it
#: by at most about 5%).
MIN_BOOKED_PLANS = 20


def booked_per_plan(model: SpendModel, placement: str, year: int = BM_YEAR, min_plans: int = MIN_BOOKED_PLANS) -> pd.Series:
    """Each LA's published category spend ÷ its plans of that type in `year` (LAs with at least `min_plans` such
    plans): what its books show, with no model."""
    f = model.data()
    f = f[(f["year"] == year) & f[f"cat_{placement}"].notna() & (f[f"n_{placement}"] >= min_plans)]
    return (f[f"cat_{placement}"] / f[f"n_{placement}"]).set_axis(f["la_name"])


def la_cost_text(model: SpendModel, la: pd.DataFrame, national: float, year: str) -> str:
    """What the chapter says of LAs' unit costs for independent special schools (`la`: `la_unit_costs`), against
    the England average `national`, and of how far what LAs book to the category differs from that."""
    above, below = int((la["q05"] > national).sum()), int((la["q95"] < national).sum())
    posterior = model.fit().posterior
    level_spread = float(posterior["sigma_la"].median())
    booked_spread = float(posterior["sigma_report"].sel(reported="special_independent").median())
    booked = booked_per_plan(model, "special_independent")
    text = (
        f"An LA's unit costs differ from England's by its price level, which is the same for every placement type. LAs' unit "
        f"costs for independent special schools in {year} range from {gbp(la['median'].min())} to {gbp(la['median'].max())} "
        f"(posterior medians; @fig-spend-la-indep, @fig-spend-la-map). For {above} LAs the whole 90% interval lies above the "
        f"England average and for {below} below it; the rest cannot be told apart from the average with these data."
    )
    if booked.empty:
        return text
    lo, hi = booked.quantile([0.05, 0.95])
    return text + (
        f" What LAs book to independent special schools is another matter: in {financial_year(BM_YEAR)} their spend per plan "
        f"there ran from {gbp(lo, 1000)} to {gbp(hi, 1000)} (the middle 90% of the {len(booked)} LAs with at least "
        f"{MIN_BOOKED_PLANS} such plans). Their spending totals do not bear those differences out, so the model reads them as "
        f"how each LA books its spend (@sec-spend-spec): the LAs' booking offsets there have a spread of {booked_spread:.2f} on "
        f"the log scale, against {level_spread:.2f} for their price levels. An LA whose independent special fees differ from "
        f"others' by more than its price level does is therefore not seen; its own fees would need data on its placements, "
        f"which the public sources do not give."
    )


def published_comparison(model: SpendModel, place_part: dict[str, np.ndarray]) -> pd.DataFrame:
    """Each published cost per plan beside the model's full cost (with `place_part`, `PlaceFundingModel.place_part`)
    for the same type and year (or the last year the model has, for forecasts beyond it): model median, 90 %
    interval and model ÷ published; and
    `direct`, the fitted data's own spend ÷ plans of that type in that year where the category data cover it
    (`direct_ratios`), which shows how far a gap is the model's and how far the data's."""
    years = {min(c.year, model.last_year) for c in PUBLISHED_COSTS}
    costs = {at: unit_costs(model, at, place_part).query("measure == 'full_mean_la'").set_index("type") for at in years}
    covered = set(model.data().dropna(subset=["cat_special_independent"])["year"])
    direct = {year: direct_ratios(model, year) for year in covered & {c.year for c in PUBLISHED_COSTS}}
    rows = []
    for c in PUBLISHED_COSTS:
        at = min(c.year, model.last_year)
        r = costs[at].loc[c.placement]
        rows.append({"source": c.source, "what": c.what, "where": c.where, "year": c.year, "model_year": at,
                     "placement": c.placement, "published": float(c.value), "median": r["median"], "q05": r["q05"],
                     "q95": r["q95"], "mid_places": r["mid_places"], "end_places": r["end_places"],
                     "ratio": r["median"] / c.value, "direct": direct[c.year][c.placement] if c.year in direct else float("nan")})
    return pd.DataFrame(rows)


def published_text(comparison: pd.DataFrame) -> str:
    """What the comparison with DfE's published cost per independent special plan and the councils' forecasts shows,
    split into the years the category data cover (through `BM_YEAR`) and the years the model extrapolates."""
    dfe = comparison[comparison["source"] == "dfe_pq_100030_2026"]
    seen, extrapolated = dfe[dfe["year"] <= BM_YEAR], dfe[dfe["year"] > BM_YEAR]
    under, over = int((dfe["published"] < dfe["q05"]).sum()), int((dfe["published"] > dfe["q95"]).sum())
    sides = [f"below it in {under}"] * bool(under) + [f"above it in {over}"] * bool(over)
    outside = and_join(sides) if sides else ""
    identified = financial_year(BM_YEAR)

    def span(part: pd.DataFrame, what: str) -> str:
        lo, hi = f"{part['ratio'].min():.2f}", f"{part['ratio'].max():.2f}"
        years = financial_year(part["year"].min()) + ("" if len(part) == 1 else f" to {financial_year(part['year'].max())}")
        return f"{lo} times {what} in {years}" if lo == hi else f"between {lo} and {hi} times {what} in {years}"

    data = seen["direct"] / seen["published"]
    closer = bool((seen["ratio"] - 1).abs().max() <= (data - 1).abs().max())
    text = (f"Against DfE's cost per plan in an independent or non-maintained special school, the model's full cost is "
            f"{span(seen, 'the published one')}, the years its category data cover, and {span(extrapolated, 'it')}, where it "
            f"extrapolates its trend (@sec-spend-limits). DfE's figure lies inside the model's 90% interval in "
            f"{len(dfe) - under - over} of {len(dfe)} years" + (f" ({outside})" if outside else "") + ". DfE's figure also "
            "includes the £10,000 place funding of non-maintained special schools, which the model's full cost leaves out. "
            "In the years the category data cover, the same division on the data the model is fitted to (the dashboard's "
            f"independent special school spend over the January plans there) gives {' and '.join(gbp(v, 100) for v in seen['direct'])}, "
            f"{data.min():.2f} to {data.max():.2f} times DfE's figures"
            + (": the data themselves sit at least as far from DfE's figures as the model does, so the gap comes from "
               "DfE's spend and plan counts differing from the dashboard's, which this study cannot reproduce." if closer else
               ": the data sit nearer DfE's figures than the model does, so part of the gap is the model's."))
    forecasts = comparison[comparison["model_year"] < comparison["year"]]
    if len(forecasts):
        ratios = "; ".join(f"{r:.2f} times the forecast for {TYPE_LABELS[k].lower()}{' schools ' + w if w else ''}"
                           for k, r, w in zip(forecasts["placement"], forecasts["ratio"], forecasts["where"]))
        above = (forecasts["ratio"] > 1).all()
        text += (f" The model's {financial_year(forecasts['model_year'].iloc[0])} figures are "
                 f"{'above' if above else 'set beside'} the councils' own forecasts for {financial_year(forecasts['year'].iloc[0])}, "
                 f"a year later ({ratios}; the councils are not a random sample).")
    high = overstated(comparison)
    if high:
        late = comparison[(comparison["year"] > BM_YEAR) & comparison["placement"].isin(high)]
        figures = "The one published figure" if len(late) == 1 else "Every published figure"
        text += (f" {figures} after {identified} for {and_join([TYPE_LABELS[k].lower() + ' schools' for k in high])} lies "
                 f"below the model's 90% interval, so the model's unit costs there, which rest on its trend, are more likely too "
                 f"high than too low; the {identified} ones are those the data identify.")
    return text


def overstated(comparison: pd.DataFrame) -> list[str]:
    """Placement types (of `published_comparison`) whose every published figure after `BM_YEAR`, the years the model
    extrapolates, lies below the model's 90% interval: there its unit costs are more likely too high than too low."""
    late = comparison[comparison["year"] > BM_YEAR]
    return [k for k, g in late.groupby("placement", sort=False) if (g["published"] < g["q05"]).all()]


def later_costs_reading(comparison: pd.DataFrame) -> str:
    """How @sec-spend-published reads the unit costs the model carries past `BM_YEAR`, as a clause."""
    high = overstated(comparison)
    if not high:
        return "which @sec-spend-published sets beside the published figures for those years"
    return (f"which @sec-spend-published finds more likely too high than too low for "
            f"{and_join([TYPE_LABELS[k].lower() + ' schools' for k in high])}")


def published_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """`published_comparison` for reading."""
    return pd.DataFrame({
        "source": comparison["what"] + " [@" + comparison["source"] + "]",
        "placement": comparison["placement"].map(TYPE_LABELS),
        "financial year": [financial_year(y) for y in comparison["year"]],
        "published": comparison["published"].map(lambda v: gbp(v, 100)),
        "model (full cost)": [cost_text(r).replace("90% interval ", "") + ("" if r["year"] == r["model_year"] else f", {financial_year(r['model_year'])}")
                              for _, r in comparison.iterrows()],
        "model ÷ published": comparison["ratio"].map("{:.2f}".format),
    })


def decomposition_coverage(model: SpendModel, growth: pd.DataFrame, label: Callable[[int], str] = str) -> str:
    """Which LAs `growth_decomposition` compares, in two sentences: those it leaves out because the model has them in
    one of the two years only (boundary changes), and those whose spend is published but the model does not fit
    (no population aged 2–18 or plans published for them, or fewer than `MIN_PLANS` plans)."""
    moved = [f"{and_join(names, '; ')} (in {label(year)} only)" for year, names in growth.attrs["left_out"].items() if names]
    text = ("To keep boundary changes out of the growth, it leaves out " + " and ".join(moved) + "." if moved else
            "It compares the same LAs in both years.")
    data, panel = model.data(), model.panel
    unused: dict[str, dict[str, list[int]]] = {}
    for year in (growth.attrs["start"], growth.attrs["end"]):
        rows = panel[(panel["year"] == year) & panel["hn_spend"].notna()]
        for r in rows[~rows["la_code"].isin(data.loc[data["year"] == year, "la_code"])].itertuples():
            why = ("no population aged 2–18 or plans published for them" if pd.isna(r.pop_2_18) or pd.isna(r.ehcp_total)
                   else f"fewer than {MIN_PLANS} plans")
            unused.setdefault(why, {}).setdefault(r.la_name, []).append(year)
    if unused:
        both = (growth.attrs["start"], growth.attrs["end"])
        parts = []
        for why, names in unused.items():
            by_years: dict[tuple[int, ...], list[str]] = {}
            for name, years in names.items():
                by_years.setdefault(tuple(years), []).append(name)
            for years, group in by_years.items():
                when = "in either year" if years == both else f"in {label(years[0])}"
                parts.append(f"{and_join(sorted(group), '; ')} {when} ({why})")
        text += " Nor does the model have " + " or ".join(parts) + ", whose spend is published."
    return text


#: The published rate of a place that each row of `place_table` is set beside [@esfa_hn_operational_guide].
STANDARD_RATES = {"mainstream": "£6,000 or £10,000 a unit place", "special_state": "£10,000",
                  "post16": "£6,000 (element 2)", "post16_specialist": "£6,000 (element 2)",
                  "other": "£10,000 an AP place", "per_head": "£10,000 an AP place"}


def place_table(places: PlaceFundingModel) -> pd.DataFrame:
    """The place funding model's estimates for reading: per placement type (and per head), the fitted place funding
    beside its prior, the published rate of a place (`STANDARD_RATES`) and how far the data narrowed the prior, each
    figure at the precision its Monte Carlo error supports (`place_precision`)."""
    t = places.table()
    shown = place_precision(places)
    at = lambda x, digits: charts.fmt_gbp(round(x, digits))  # noqa: E731
    prior = lambda r: f"{at(r.prior_q05, -2 if r.type != 'per_head' else 0)} to {at(r.prior_q95, -2 if r.type != 'per_head' else 0)}"  # noqa: E731
    return pd.DataFrame({
        "placement": t["label"],
        "fitted (£ a year)": [at(r.median, shown[r.type][0]) for r in t.itertuples()],
        "90% interval": [f"{at(r.q05, shown[r.type][1])} to {at(r.q95, shown[r.type][1])}" for r in t.itertuples()],
        "prior 90% interval": [prior(r) for r in t.itertuples()],
        "standard rate a place": t["type"].map(STANDARD_RATES),
        "prior variance the data removed": (100 * t["contraction"].clip(lower=0)).round().astype(int).astype(str) + "%",
    })


def _lower(label: str) -> str:
    """A label inside a sentence: 'State special' → 'state special', 'AP and other' unchanged."""
    return label if label[:2].isupper() else label[0].lower() + label[1:]


def place_precision(places: PlaceFundingModel) -> dict[str, tuple[int, int]]:
    """Per row of `places.table()`: the decimal places (`precision.interval_places`) its median and its interval's
    ends support given their Monte Carlo errors, never finer than £100 a plan or £1 a head."""
    chains = places.settings.chains
    return {k: interval_places(*(quantile(d, chains, p)[1] for p in (0.5, 0.05, 0.95)), most=0 if k == "per_head" else -2)
            for k, d in places.draws().items()}


def _against_rate(row: pd.Series, rate: float) -> str:
    """'close to' / 'below' / 'above' the standard rate `rate`, as the 90% interval of `row` (of `places.table`) puts it."""
    where = "close to" if row["q05"] <= rate <= row["q95"] else "below" if row["q95"] < rate else "above"
    return f"{where} the standard {charts.fmt_gbp(rate)} a place"


def place_text(places: PlaceFundingModel, panel: pd.DataFrame) -> str:
    """How the place funding model was fitted and checked, what it says a plan of each kind carries, and how
    England's post-16 deductions per plan moved over the years the model holds constant (from `panel`)."""
    diag, ppc, t = places.diagnostics(), places.predictive_check(), places.table().set_index("type")
    year, shown = financial_year(BM_YEAR), place_precision(places)
    at = lambda x, digits: charts.fmt_gbp(round(x, digits))  # noqa: E731
    said = lambda k: (f"{at(t.at[k, 'median'], shown[k][0])} (90% interval {at(t.at[k, 'q05'], shown[k][1])} to "  # noqa: E731
                      f"{at(t.at[k, 'q95'], shown[k][1])})")
    checks = (f"R-hat {diag.rhat_max:.3f}, at most {RHAT_MAX}; bulk ESS at least {diag.ess_bulk_min:,.0f}, at least "
              f"{ESS_BULK_MIN} needed; {diag.divergences} divergences")
    prior_led = [_lower(TYPE_LABELS[k]) for k in t.index if k != "per_head" and t.loc[k, "contraction"] < 0.5]
    post16 = post16_frame(panel, leave_out=None)
    per_plan = post16["ded_post16"] / post16[["n_post16", "n_post16_specialist"]].sum(axis=1)
    first, last = post16.index[0], post16.index[-1]
    return (
        f"Fitted to the place funding of {len(places.frame)} LAs in {year} and England's post-16 place funding in "
        f"{len(places.post16)} other years, the model {'passes' if diag.passed else '**fails**'} its convergence checks "
        f"({checks}). Its 90% predictive intervals hold {ppc['covered'].sum()} of the {len(ppc)} LAs' place funding "
        f"({100 * ppc['covered'].mean():.0f}%). A state special plan carries {said('special_state')} of place funding a "
        f"year, {_against_rate(t.loc['special_state'], PLACE_FUNDING['special_state'])}. A further education plan "
        f"carries {said('post16')}, {_against_rate(t.loc['post16'], PLACE_FUNDING['post16'])} of element 2"
        + (": colleges are funded for a number of high-needs places agreed ahead of the year, not one for each student "
           "with a plan, and apprenticeships and training have none. "
           if t.at["post16", "q95"] < PLACE_FUNDING["post16"] else ". ")
        + (f"For {and_join(prior_led)} the data remove less than half of the prior's variance (@tbl-spend-place), so "
           "those figures are mostly the priors' and should be read as such. " if prior_led else "")
        + f"The model holds each figure constant over the years; ESFA's post-16 deductions per post-16 plan went from "
        f"{gbp(per_plan[first], 10)} in {financial_year(post16.at[first, 'year'])} to {gbp(per_plan[last], 10)} in "
        f"{financial_year(post16.at[last, 'year'])} ({100 * (per_plan[last] / per_plan[first] - 1):+.0f}%), a drift the "
        "model leaves to its year-to-year error, so places per plan do move and the figures carried to other years "
        "are approximate. The full cost of a state mainstream plan adds the "
        f"{charts.fmt_gbp(PLACE_FUNDING['mainstream'])} element 2 that the school meets from its own budget, which no "
        "spend series held here records."
    )


def modelled_bill(bill: pd.DataFrame, panel: pd.DataFrame, model: SpendModel, places: PlaceFundingModel) -> pd.DataFrame:
    """`national_high_needs_cost` with England's place funding each year as the place funding model puts it, over the
    same LAs as far as the spend model fits them (`las_model`: it leaves out LA-years with fewer than 100 plans or a
    flagged total), and the whole bill and its gap to the allocation that implies: `place_model`, `total_model` and
    `gap_model`, each as median, `_q05` and `_q95` (£), which carry the parameters' uncertainty only
    (`PlaceFundingModel.predicted`). It fills the years whose LA-paid place funding the sources held here do not
    have, and sets the model beside the one year they do (in sample: it is fitted to that year)."""
    frame, both = model.data(), panel.dropna(subset=["hn_spend", "hn_block_before_deductions"])
    out = bill.copy()
    for i, year in zip(bill.index, bill["year"]):
        las = set(both.loc[both["year"] == year, "la_code"])
        if len(las) != bill.at[i, "las"]:
            raise ValueError(f"modelled bill: {len(las)} LAs with top-ups and an allocation in {year}, but the bill sums "
                             f"{bill.at[i, 'las']}; `national_high_needs_cost` chose them differently")
        rows = frame[(frame["year"] == year) & frame["la_code"].isin(las)]
        out.loc[i, "las_model"] = len(rows)
        place = places.predicted(rows[[f"n_{k}" for k in TYPES]].to_numpy(), rows["pop"].to_numpy())
        for name, draws in (("place_model", place), ("total_model", place + bill.at[i, "top_ups"]),
                            ("gap_model", place + bill.at[i, "top_ups"] - bill.at[i, "allocation"])):
            for suffix, q in (("", 0.5), ("_q05", 0.05), ("_q95", 0.95)):
                out.loc[i, name + suffix] = float(np.quantile(draws, q))
    return out


def high_needs_bill_table(bill: pd.DataFrame) -> pd.DataFrame:
    """`modelled_bill` for reading: £ billions to 2 decimals, '–' where not published, modelled figures with their
    90% intervals, and the LAs summed."""
    bn = lambda v: "–" if pd.isna(v) else f"£{v / 1e9:,.2f}bn".replace("£-", "−£")  # noqa: E731
    modelled = lambda name: [f"{bn(m)} ({lo / 1e9:.2f}–{hi / 1e9:.2f})".replace("-", "−") for m, lo, hi  # noqa: E731
                             in bill[[name, f"{name}_q05", f"{name}_q95"]].to_numpy()]
    return pd.DataFrame({
        "financial year": [financial_year(y) for y in bill["year"]],
        "LAs": [f"{n} of {m}" + (f" ({k:.0f} modelled)" if k != n else "") for n, m, k in zip(bill["las"], bill["las_in_year"], bill["las_model"])],
        "LA top-ups and services (s251 1.2.x)": bill["top_ups"].map(bn),
        "place funding paid by ESFA": bill["esfa_place_funding"].map(bn),
        "place funding paid by LAs": bill["maintained_place_funding"].map(bn),
        "whole bill": bill["total"].map(bn),
        "whole bill, modelled": modelled("total_model"),
        "high needs block allocation": bill["allocation"].map(bn),
        "bill − allocation": bill["gap"].map(bn),
        "modelled bill − allocation": modelled("gap_model"),
    })


def _millions(x: float) -> str:
    """'£1,810m': £ millions to 3 significant figures."""
    return charts.fmt_gbp(sig(x / 1e6, 3)) + "m"


def category_table(check: pd.DataFrame) -> pd.DataFrame:
    """Posterior predictive check of each category source, by year: coverage, and England's sum beside the model's."""
    return pd.DataFrame({
        "category": check["category"].map(CATEGORY_LABELS),
        "financial year": [financial_year(y) for y in check["year"]],
        "LAs": check["n"],
        "inside 50%": (100 * check["coverage_50"]).round().astype(int).astype(str) + "%",
        "inside 90%": (100 * check["coverage_90"]).round().astype(int).astype(str) + "%",
        "England observed": check["observed"].map(_millions),
        "England, model": [f"{_millions(m)} ({_millions(lo)} to {_millions(hi)})"
                              for m, lo, hi in zip(check["median"], check["q05"], check["q95"])],
    })


CATEGORY_LABELS = {"special_state": "State special (dashboard)", "special_independent": "Independent special (dashboard)",
                   "base": "Services not tied to a plan (benchmarking)",
                   "topups_maintained": "Top-ups to state-funded settings (benchmarking)",
                   "topups_independent": "Top-ups to independent settings (benchmarking)"}


def sbc_label(quantity: str) -> str:
    name, _, inner = quantity.partition("[")
    inner = inner.rstrip("]")
    words = {"log_cost": f"unit cost: {TYPE_LABELS.get(inner, inner)}", "trend": f"cost trend: {inner}",
             "log_base": "base per head", "gamma": "plan-rate slope (γ)",
             "log_q": f"place funding per plan: {TYPE_LABELS.get(inner, inner)}", "log_q_head": "place funding per head",
             "sigma": "LA error scale (σ)", "nu": "LA error tails (ν)", "sigma_post16": "England post-16 error scale"}
    return words[name]


def p_value(p: float) -> str:
    """A p-value to two significant figures, or more where two would put it on the other side of 0.05 ('0.0499',
    never '0.05' for one below it); '< 0.01' below the study's threshold."""
    if p < 0.01:
        return "< 0.01"
    shown = f"{p:.2g}"
    for digits in (3, 4, 5):
        if (float(shown) < 0.05) == (p < 0.05):
            break
        shown = f"{p:.{digits}g}"
    return shown


def _leans(row) -> str:
    """Which end an SBC quantity's ranks lean to, or '' where neither outer 5% holds at least twice the other and a
    tenth of the replicates (its departure from uniform is then in the middle of the ranks)."""
    hi, lo = row.high_5, row.low_5
    if max(hi, lo) < 0.1 or max(hi, lo) < 2 * min(hi, lo):
        return ""
    return "low" if hi > lo else "high"


def sbc_text(summary: pd.DataFrame, refs: str = "@tbl-spend-sbc, @fig-spend-sbc",
             recovered: str = "the unit cost of each placement type") -> str:
    """What the simulation-based calibration shows: gross miscalibration (χ² p < 0.01), and the quantities with
    p < 0.05, each said to lean only where its outer 5% at one end hold far more replicates than at the other.
    `refs`: the table and figure it points to; `recovered`: what a calibrated model recovers."""
    bad = summary[summary["chi2_p"] < 0.01]
    n_rep, n_failed = int(summary["replicates"].iloc[0]), int(summary["failed"].iloc[0])
    text = (f"Over {n_rep} simulated panels ("
            + (f"{n_failed} of whose refits missed a convergence check; they are counted), " if n_failed else
               "every refit passing its convergence checks), ")
            + (f"no quantity's ranks depart from uniform at the study's threshold (χ² p < 0.01, with {len(summary)} "
               f"quantities tested; smallest p-value {p_value(summary['chi2_p'].min())}, {refs}): on "
               f"data with this panel's structure, the model recovers {recovered} without gross "
               "miscalibration." if bad.empty else
               "the ranks are **not uniform** for " + ", ".join(sbc_label(q) for q in bad["quantity"])
               + f" (χ² p < 0.01, {refs}): the model's intervals for these are not calibrated "
               "on data with this panel's structure, and they should be read with that caution."))
    weak = summary[(summary["chi2_p"] >= 0.01) & (summary["chi2_p"] < 0.05)]
    parts = []
    for r in weak.itertuples():
        ends = (f"the true value above 95% of the draws in {100 * r.high_5:.0f}% of replicates and below 95% of them in "
                f"{100 * r.low_5:.0f}%, where 5% each is expected")
        lean = _leans(r)
        parts.append(f"{sbc_label(r.quantity)} (p = {p_value(r.chi2_p)}; {ends}) "
                     + (f"lean towards one end: where the true value sits {'high' if lean == 'low' else 'low'}, the "
                        f"posterior tends to run {lean}" if lean else "do not lean clearly towards either end"))
    if parts:
        text += (" The ranks of " + "; those of ".join(parts) + ". "
                 + ("Each is" if len(parts) > 1 else "That is") + " a mild miscalibration that this many replicates can "
                 "neither confirm nor rule out.")
    text += f" With {n_rep} replicates the test detects gross miscalibration only; mild over- or under-coverage would pass it."
    if n_failed > 0.1 * n_rep:
        text += (f" The {n_failed} refits that missed R-hat ≤ 1.01 or enough effective draws are more than the one in ten "
                 "this check allows, so the calibration is provisional until it is rerun with longer chains.")
    return text


def sbc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """SBC per quantity: uniformity test of the ranks and the shares at the extremes (5 % expected at each end)."""
    return pd.DataFrame({
        "quantity": summary["quantity"].map(sbc_label),
        "replicates": summary["replicates"],
        "χ² p (uniform ranks)": summary["chi2_p"].map(p_value),
        "rank ≤ 5%": (100 * summary["low_5"]).round().astype(int).astype(str) + "%",
        "rank ≥ 95%": (100 * summary["high_5"]).round().astype(int).astype(str) + "%",
        "mean rank": summary["mean_rank"].map("{:.2f}".format),
    })


def sbc_chart(ranks: pd.DataFrame) -> alt.FacetChart:
    """Histogram of SBC ranks per quantity (10 bins; rule: the count each bin expects if ranks are uniform)."""
    data = ranks.assign(label=ranks["quantity"].map(sbc_label), bin=np.minimum((ranks["rank"] * 10).astype(int), 9) / 10)
    expected = len(data) / data["label"].nunique() / 10
    bars = alt.Chart(data).mark_bar(color=charts.OKABE_ITO[0]).encode(
        x=alt.X("bin:Q", bin=alt.Bin(step=0.1, extent=[0, 1]), title="rank of the true value (0–1)"),
        y=alt.Y("count():Q", title="replicates"))
    rule = alt.Chart(data).mark_rule(color=charts.OKABE_ITO[1], strokeDash=[4, 3]).encode(y=alt.datum(expected))
    return alt.layer(bars, rule, data=data).properties(width=150, height=90).facet(
        facet=alt.Facet("label:N", title=None), columns=3)


def holdout_sum_text(summary: pd.DataFrame) -> str:
    """What the held-out LAs' England sums show: which lie outside their 90% predictive interval, and which way."""
    outside = summary[(summary["observed_sum"] < summary["predicted_q05"]) | (summary["observed_sum"] > summary["predicted_q95"])]
    if outside.empty:
        return " The held-out LAs' England sum lies inside its 90% interval for every category and half."
    rows = "; ".join(
        f"{CATEGORY_LABELS[r.category].split(' (')[0].lower()}, half {r.fold + 1}: observed {_millions(r.observed_sum)}, "
        f"predicted {_millions(r.predicted_q05)} to {_millions(r.predicted_q95)}" for r in outside.itertuples())
    over = outside["observed_sum"] < outside["predicted_q05"]
    way = ("above" if over.all() else "below" if not over.any() else "on both sides of")
    return (f" The held-out LAs' England sum lies outside its 90% interval in {len(outside)} of {len(summary)} rows ({rows}): "
            f"the model's sums there lie {way} what was spent. Some intervals of these sums reach far to the right "
            "probably because the heavy-tailed error of each LA-year adds up across LAs; their upper ends say little.")


def holdout_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Held-out category check by category and fold: coverage, typical error and England's held-out sum."""
    return pd.DataFrame({
        "category": summary["category"].map(CATEGORY_LABELS),
        "half held out": summary["fold"] + 1,
        "LA-years": summary["n"],
        "inside 50%": (100 * summary["coverage_50"]).round().astype(int).astype(str) + "%",
        "inside 90%": (100 * summary["coverage_90"]).round().astype(int).astype(str) + "%",
        "typical error": (100 * np.expm1(summary["median_abs_log_error"])).round().astype(int).astype(str) + "%",
        "held-out LAs' sum, observed": summary["observed_sum"].map(_millions),
        "predicted": [f"{_millions(m)} ({_millions(lo)} to {_millions(hi)})"
                      for m, lo, hi in zip(summary["predicted_median"], summary["predicted_q05"], summary["predicted_q95"])],
    })


def crosscheck_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Model vs benchmarking outturn, FY 2021-22: LAs, correlation (logs), national ratio with interval."""
    return pd.DataFrame(
        {
            "model category ↔ outturn category": summary["group"].map(CROSSCHECK_LABELS),
            "LAs": summary["n_las"],
            "correlation across LAs (logs)": summary["correlation_log"].map("{:.2f}".format),
            "England: model ÷ outturn": [f"{r:.2f} ({a:.2f} to {b:.2f})" for r, a, b in zip(summary["ratio"], summary["ratio_q05"], summary["ratio_q95"])],
        }
    )


def crosscheck_chart(table: pd.DataFrame) -> alt.FacetChart:
    """Model-implied vs outturn spend by LA for each category pairing (log-log, £m)."""
    data = table.dropna(subset=["outturn"]).query("outturn > 0")
    data = pd.DataFrame({
        "la_name": data["la_name"], "model_m": sig(data["model"].to_numpy() / 1e6, 3), "outturn_m": (data["outturn"] / 1e6).round(2),
        "label": data["group"].map({k: v.split(" ↔")[0] for k, v in CROSSCHECK_LABELS.items()}),
    })
    scale = alt.Scale(type="log")
    points = alt.Chart().mark_point(size=16, opacity=0.7).encode(
        x=alt.X("outturn_m:Q", title="Outturn 2021-22 (£m)", scale=scale, axis=alt.Axis(values=_POWERS_OF_TEN)),
        y=alt.Y("model_m:Q", title="Model-implied (£m)", scale=scale, axis=alt.Axis(values=_POWERS_OF_TEN)),
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("outturn_m:Q", format=".1f"), alt.Tooltip("model_m:Q", format=".1f")],
    )
    diagonal = alt.Chart().mark_line(color="#888888", strokeDash=[4, 3]).encode(x="outturn_m:Q", y="outturn_m:Q")
    return alt.layer(points, diagonal, data=data).properties(width=150, height=150).facet(
        column=alt.Column("label:N", title=None, sort=[v.split(" ↔")[0] for v in CROSSCHECK_LABELS.values()],
                          header=alt.Header(labelLimit=170, labelFontSize=11))
    ).resolve_scale(x="independent", y="independent")


# --------------------------------------------------------------------------- limits and computation


def shortcomings(model: SpendModel, crosscheck: pd.DataFrame, panel: pd.DataFrame) -> str:
    """The chapter's 'where the model falls short' section, with its numbers computed from the fit and from the
    `panel` it was fitted to (as published: which placement breakdowns were suppressed, which flagged as breaks)."""
    trends = model.unit_cost_trends().set_index(["type", "year"])["median"]
    last = model.last_year
    state_rate = (trends[("special_state", last)] / trends[("special_state", BM_YEAR)]) ** (1 / (last - BM_YEAR)) - 1
    c = crosscheck.set_index("group")
    data = model.data()
    imputed = data.loc[data["mix_imputed"], ["la_code", "year"]]
    published = model_frame(panel, model.first_year, model.last_year).set_index(["la_code", "year"])["mix_imputed"]
    suppressed = int(published.reindex(pd.MultiIndex.from_frame(imputed)).fillna(False).sum())
    bm = unit_costs(model, BM_YEAR).query("measure == 'mean_la'").set_index("type")
    pair = [f"{TYPE_LABELS[k].lower()} {gbp(bm.loc[k, 'q05'], 100)} to {gbp(bm.loc[k, 'q95'], 100)}"
            for k in ("mainstream_independent", "post16_specialist")]

    def ratio(group: str) -> str:
        return f"{c.loc[group, 'ratio']:.2f} ({c.loc[group, 'ratio_q05']:.2f} to {c.loc[group, 'ratio_q95']:.2f})"

    items = [
        "**Place funding per plan is fitted to one year.** Of the sources held here, only the 2021-22 benchmarking outturn "
        "has the LA-paid half of place funding by LA (DfE's s251 outturn publishes it every year, but the data mirror does "
        "not hold that file), so place funding per plan is fitted to that year (with England's post-16 deductions of the "
        "other three) and carried to the others unchanged: the rates a place have been flat in cash since 2013, but "
        "places per plan move (@sec-spend-place). Where one year of data says little, the figures are mostly their "
        "priors' (@tbl-spend-place). A state "
        "mainstream plan's £6,000 element 2 is the rule, not a measurement. Non-maintained special schools' £10,000 "
        "places, which ESFA funds outside the DSG, post-16 core funding, transport, and health and social care "
        "contributions are in no series held here, so full costs leave them out.",
        "**Unit costs are pinned by category data only up to 2021-22.** The dashboard's special school spend runs "
        "from 2018-19 to 2021-22 and the benchmarking split covers 2021-22 only. After that, the split between "
        "the base and the plans rests on spend totals and on the assumption that state-funded places and services "
        f"share one price trend ({100 * state_rate:.0f}% a year for a state special plan from 2021-22 to "
        f"{financial_year(last)}). The 2021-22 levels are the ones the data identify; the later ones are the "
        "model's extrapolation, and the growth decomposition is made only for the years the categories cover.",
        "**Every category we hold is fitted, so no category is left to check against.** The model's spend on state-funded "
        f"placements comes to {ratio('topups_maintained')} times the benchmarking tool's top-ups to maintained schools, "
        f"academies and colleges for England, and its spend on independent placements {ratio('topups_independent')} times "
        "the top-ups to independent and non-maintained schools and colleges (@tbl-spend-crosscheck): a fit, not a test. "
        "The held-out check (@sec-spend-identification) is the test out of sample. Independent mainstream schools and "
        "specialist post-16 institutions are seen apart only in that one year of independent top-ups, alongside the "
        f"independent special schools the dashboard covers, so their costs are the least certain (2021-22: {pair[0]}; "
        f"{pair[1]}) and trade off against each other. And the dashboard's 2021-22 special school figures are parts of "
        "the benchmarking top-ups, from the same section 251 return, but enter the fit as separate measurements with "
        "errors of their own: that year's split counts a little more than once, so its intervals may be somewhat too "
        "narrow.",
        "**The categories do not map exactly.** The dashboard's state special spend also holds top-ups to AP and PRUs "
        "(about 1% of plans), which the model counts under 'other'; the benchmarking tool's top-ups to independent "
        "providers also pay for independent AP and other arrangements, which the model counts on the state-funded side. "
        "York's 2021-22 dashboard rows are published as zero and are left out.",
        "**LAs share one set of relative costs.** An LA's unit cost is the national level times its price level and drift, the "
        "same for every placement type, learnt from eight yearly totals and four years of special school spend. An LA "
        "that pays far more or less than others for one type only (independent special school fees, say) is not seen: "
        "what LAs book to a category differs more than their totals bear out, and the model reads that as bookkeeping.",
        f"**Counts and spend are not measured at the same moment.** Plans are counted in January, month 10 of the "
        f"financial year, and plans grew by about 10% a year, so unit costs are per January plan, slightly below per "
        f"average plan. {len(imputed)} LA-years take their placement breakdown from the LA's latest earlier shares times its "
        f"total: {suppressed} whose breakdown was suppressed and {len(imputed) - suppressed} whose school-type counts are "
        "flagged as reporting breaks (@sec-breaks).",
        "**It is descriptive, not causal.** It says how spend is built up, not what would happen to spend if an LA "
        "changed its placements: independent placements may be made for the children with the most complex needs.",
    ]
    return "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1))
