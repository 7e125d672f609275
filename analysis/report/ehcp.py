"""Tables and charts of the EHCP growth model for the book's chapter.

Every function takes fitted `EHCPModel`s (or what their methods return) and
turns them into a tidy frame or an Altair chart; the chapter only narrates.
Numbers meant for prose and tables are rounded here, to the precision the
model supports, so that a refit on another machine prints the same text.
"""

from __future__ import annotations

import altair as alt
import arviz as az
import numpy as np
import pandas as pd

from analysis.models.ehcp import ENGLAND, LOO_VARIANTS, MIX, EHCPModel, publish
from analysis.models.fitting import interval, quantile
from analysis.paths import ROOT
from analysis.report import charts
from analysis.report.precision import interval_places

#: How the book names each model variant.
VARIANT_LABELS = {
    "full": "Full model",
    "pooled": "Complete pooling (one national line)",
    "unpooled": "No pooling (each LA its own line)",
    "no_mix": "Full model without placement mix",
    "no_ar": "Full model without persistence (ρ = 0)",
    "offset": "Full model with a pure population offset (θ = 1)",
}
BASELINE_LABELS = {"last_count": "Last year's count", "last_growth": "Last year's growth carried forward"}
_YEAR = alt.X("year:O", title="January")


def pct(x: float, dp: int = 1) -> str:
    """A log-scale rate as a percentage change, e.g. 0.0953 → '10.0%'."""
    return f"{100 * np.expm1(x):.{dp}f}%"


def relative_change(mid: float, lo: float, hi: float) -> str:
    """A log-scale effect and its interval in words: "2.4% lower (90% interval 1.4% to 3.3% lower)", signed if the interval spans 0."""
    if lo > 0 or hi < 0:
        word = "higher" if mid > 0 else "lower"
        a, b = sorted(abs(100 * np.expm1(v)) for v in (lo, hi))
        return f"{abs(100 * np.expm1(mid)):.1f}% {word} (90% interval {a:.1f}% to {b:.1f}% {word})"
    return f"{pct(mid)} (90% interval {pct(lo)} to {pct(hi)})"


# --------------------------------------------------------------------------- prior predictive


def prior_predictive_frame(model: EHCPModel, paths: pd.DataFrame) -> pd.DataFrame:
    """England totals per prior path and January, beside the observed totals (long format)."""
    sim = paths.groupby(["draw", "year"], as_index=False)["y"].sum().assign(series="prior path")
    obs = model.data().groupby("year", as_index=False)["y"].sum().assign(draw=-1, series="observed")
    return pd.concat([sim, obs], ignore_index=True)


def prior_predictive_chart(model: EHCPModel, paths: pd.DataFrame) -> alt.HConcatChart:
    """Left: England totals along whole series drawn from the prior. Right: LA rates in the last January."""
    frame = prior_predictive_frame(model, paths)
    sparse = alt.X("year:O", title="January", axis=alt.Axis(labelAngle=0, values=model.years[::3]))
    lines = (
        alt.Chart(frame[frame["series"] == "prior path"])
        .mark_line(opacity=0.25, strokeWidth=1, color=charts.OKABE_ITO[1])
        .encode(sparse, alt.Y("y:Q", title="Active EHC plans, England (log scale)", scale=alt.Scale(type="log")), detail="draw:N")
    )
    observed = alt.Chart(frame[frame["series"] == "observed"]).mark_line(color="black", strokeWidth=2.5).encode(sparse, y="y:Q")
    last = model.last_year
    rates = paths[paths["year"] == last].assign(rate=lambda d: 1000 * d["y"] / d["pop"], series="prior")
    observed_rates = model.data().query("year == @last").assign(rate=lambda d: 1000 * d["y"] / d["pop"], series="observed")
    edges = np.arange(0, 205, 5)
    shares = []
    for series, values in (("prior", rates["rate"]), ("observed", observed_rates["rate"])):
        counts, _ = np.histogram(values.clip(upper=edges[-1] - 1), bins=edges)
        shares.append(pd.DataFrame({"rate": edges[:-1], "share": counts / counts.sum(), "series": series}))
    hist = (
        alt.Chart(pd.concat(shares, ignore_index=True))
        .mark_line(interpolate="step-after")
        .encode(
            alt.X("rate:Q", title=[f"Plans per 1,000 aged 0–25, January {last}", "(200 or more in the last bin)"]),
            alt.Y("share:Q", title="Share of LAs", axis=alt.Axis(format=charts.PCT)),
            alt.Color("series:N", title=None, scale=alt.Scale(domain=["prior", "observed"], range=[charts.OKABE_ITO[1], "black"]),
                      legend=alt.Legend(orient="bottom")),
        )
    )
    return alt.hconcat(
        (lines + observed).properties(width=240, height=240, title="England, whole series from the prior"),
        hist.properties(width=240, height=240, title="LA rates in the last January"),
    )


def prior_predictive_summary(model: EHCPModel, paths: pd.DataFrame) -> dict:
    """Prior paths' England total in the last January (5%, 50%, 95%) and each as a ratio to the observed total."""
    frame = prior_predictive_frame(model, paths)
    last = frame[frame["year"] == model.last_year]
    observed = float(last.loc[last["series"] == "observed", "y"].iloc[0])
    lo, mid, hi = np.quantile(last.loc[last["series"] == "prior path", "y"], [0.05, 0.5, 0.95])
    return {"paths": int(paths["draw"].nunique()), "observed": observed, "q05": lo, "median": mid, "q95": hi,
            "ratio_q05": lo / observed, "ratio_q95": hi / observed}


# --------------------------------------------------------------------------- fits


#: The one fit chapter 3 shows failing its checks, on purpose: separate lines with nothing shared overfit, and the
#: chapter says its results must not be used. Any other fit failing fails the tests.
EXPECTED_TO_FAIL = {"unpooled"}


#: How chapter 3 names its hold-out fits (the full model refitted without its last January, with and without persistence).
WITHHELD = "Full model, January {year} withheld"
WITHHELD_NO_AR = "Full model without persistence, January {year} withheld"


def book_fits(frame: pd.DataFrame, model: EHCPModel) -> dict[str, EHCPModel]:
    """Every fit chapter 3 shows, by label: `model` (the full model on `frame`), its hold-out fits with and without
    persistence (its last January withheld) and the comparison variants."""
    last = model.last_year
    return {
        VARIANT_LABELS["full"]: model,
        WITHHELD.format(year=last): EHCPModel(frame, holdout=last),
        WITHHELD_NO_AR.format(year=last): EHCPModel(frame, holdout=last, variant="no_ar"),
        **{VARIANT_LABELS[v]: model.variant_model(v) for v in LOO_VARIANTS[1:]},
    }


def diagnostics_table(models: dict[str, EHCPModel]) -> pd.DataFrame:
    """One row per fitted model: window, R-hat max, bulk ESS min, divergences and whether all pass."""
    rows = []
    for label, m in models.items():
        d = m.diagnostics()
        rows.append(
            {
                "model": label,
                "Januaries fitted": f"{m.first_year}–{m.last_year}",
                "R-hat (max)": f"{d.rhat_max:.3f}",
                "bulk ESS (min)": int(round(d.ess_bulk_min, -2)),
                "divergences": d.divergences,
                "passes": "yes" if d.passed else "NO",
            }
        )
    return pd.DataFrame(rows)


def parameter_table(model: EHCPModel) -> pd.DataFrame:
    """The model's national parameters: posterior median and 90% interval, with what each means."""
    post = az.extract(model.fit())
    slopes = post["region_mean"].sel(effect="slope").mean("region").values
    rows = [
        ("θ", "elasticity of plans to within-LA population change", post["theta"].values, 2),
        ("ρ", "persistence of an LA's deviation from its trend line", post["rho"].values, 2),
        ("δ state special", "log plans per SD of last year's state-special share", post["delta"].sel(mix=MIX[0]).values, 3),
        ("δ independent special", "log plans per SD of last year's independent-special share", post["delta"].sel(mix=MIX[1]).values, 3),
        ("mean trend", "average of the regions' log growth rates per year", slopes, 3),
        ("τ intercept", "SD of LA intercepts within a region (log scale)", post["tau"].sel(effect="intercept").values, 2),
        ("τ slope", "SD of LA growth rates within a region (log scale per year)", post["tau"].sel(effect="slope").values, 3),
        ("σ_γ", "SD of national year effects (log scale)", post["sigma_gamma"].values, 3),
        ("σ_obs", "overdispersion: SD of LA-year noise beyond Poisson (log scale)", post["sigma_obs"].values, 3),
    ]
    return pd.DataFrame(
        [
            {"parameter": name, "meaning": meaning, "median": round(mid, dp), "5%": round(lo, dp), "95%": round(hi, dp)}
            for name, meaning, values, dp in rows
            for mid, lo, hi in [interval(values)]
        ]
    )


def trend_growth(model: EHCPModel) -> dict[str, float]:
    """LAs' mean trend growth (the average of the regions' log growth rates, as a % a year): median, 5%, 95%,
    unrounded (rounding the log rate first would shift the percentage by up to 0.05 points)."""
    slopes = az.extract(model.fit(), var_names="region_mean").sel(effect="slope").mean("region").values
    mid, lo, hi = interval(np.expm1(slopes) * 100)
    return {"median": mid, "5%": lo, "95%": hi}


def region_growth(model: EHCPModel) -> pd.DataFrame:
    """Each region's mean LA growth rate (% a year, trend line) with its 90% interval."""
    post = az.extract(model.fit(), var_names="region_mean").sel(effect="slope")
    names = model.las.drop_duplicates("region_code").set_index("region_code")["region_name"]
    rows = []
    for code in model.regions:
        mid, lo, hi = interval(np.expm1(post.sel(region=code).values) * 100)
        rows.append({"region": names[code], "median": round(mid, 1), "5%": round(lo, 1), "95%": round(hi, 1)})
    return pd.DataFrame(rows).sort_values("median", ascending=False, ignore_index=True)


def interval_chart(frame: pd.DataFrame, y: str, title: str, x_title: str, fmt: str = ".1f") -> alt.LayerChart:
    """Point (median) and bar (90% interval) per row of a frame with `median`, `5%`, `95%`."""
    base = alt.Chart(frame).encode(alt.Y(f"{y}:N", sort=None, title=None))
    bars = base.mark_rule(strokeWidth=2, color=charts.OKABE_ITO[0]).encode(
        alt.X("5%:Q", title=x_title, axis=alt.Axis(format=fmt)), x2="95%:Q"
    )
    points = base.mark_point(filled=True, size=50, color="black").encode(alt.X("median:Q"), tooltip=[y, "median", "5%", "95%"])
    return (bars + points).properties(width=360, height=alt.Step(22), title=title)


def year_effects(model: EHCPModel) -> pd.DataFrame:
    """National year effects γ_t as % departures from the trend line, with 90% intervals."""
    gamma = az.extract(model.fit(), var_names="gamma")
    rows = [
        dict(zip(["median", "5%", "95%"], [round(v, 2) for v in interval(np.expm1(gamma.sel(year=year).values) * 100)]), year=year)
        for year in model.years
    ]
    return pd.DataFrame(rows)


def year_effects_chart(model: EHCPModel) -> alt.LayerChart:
    frame = year_effects(model)
    base = alt.Chart(frame).encode(_YEAR)
    band = base.mark_rule(strokeWidth=2, color=charts.OKABE_ITO[0]).encode(
        alt.Y("5%:Q", title="Departure from the LA trend lines (%)"), y2="95%:Q"
    )
    point = base.mark_point(filled=True, color="black").encode(alt.Y("median:Q"))
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(strokeDash=[4, 4], color="grey").encode(y="y:Q")
    return (zero + band + point).properties(width=420, height=220, title="National year effects (median, 90% interval)")


# --------------------------------------------------------------------------- checks


def ppc_chart(model: EHCPModel) -> alt.HConcatChart:
    """Left: PIT histogram of the LA-year one-step predictions. Right: England, observed vs predicted."""
    pp = model.posterior_predictive()
    la = pp[pp["la_code"] != ENGLAND[0]]
    edges = np.linspace(0, 1, 11)
    counts, _ = np.histogram(la["pit"], bins=edges)
    pit = pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "share": counts / counts.sum()})
    hist = alt.Chart(pit).mark_bar(color=charts.OKABE_ITO[0], stroke="white").encode(
        alt.X("lo:Q", bin="binned", title="PIT (share of predictive draws below the observed count)"),
        x2="hi:Q",
        y=alt.Y("share:Q", title="Share of LA-years", axis=alt.Axis(format=charts.PCT)),
    )
    uniform = alt.Chart(pd.DataFrame({"y": [0.1]})).mark_rule(strokeDash=[4, 4], color="black").encode(y="y:Q")
    nat = pp[pp["la_code"] == ENGLAND[0]]
    base = alt.Chart(nat).encode(alt.X("year:O", title="January", axis=alt.Axis(labelAngle=0, values=model.years[::3])))
    band = base.mark_rule(strokeWidth=6, opacity=0.5, color=charts.OKABE_ITO[0]).encode(
        alt.Y("q05:Q", title="Active EHC plans, England", axis=alt.Axis(format=charts.COUNT), scale=alt.Scale(zero=False)), y2="q95:Q"
    )
    obs = base.mark_point(shape="diamond", filled=True, size=60, color="black").encode(alt.Y("observed:Q"))
    return alt.hconcat(
        (hist + uniform).properties(width=230, height=220, title="Calibration of LA-year predictions"),
        (band + obs).properties(width=230, height=220, title=["England: observed (◆)", "and 90% predictive interval"]),
    )


def loo_table(model: EHCPModel, variants: tuple[str, ...]) -> pd.DataFrame:
    """PSIS-LOO of `variants` against `model` (one-step terms), in the order given, rounded to the nearest 10, and
    whether each fit passed its convergence checks (a score from a fit that did not is not to be read)."""
    table = model.loo_compare(variants)
    fits = {v: model if v == model.variant else model.variant_model(v) for v in table.index}
    return pd.DataFrame(
        {
            "model": [VARIANT_LABELS[v] for v in table.index],
            "passes its checks": ["yes" if fits[v].diagnostics().passed else "no: not to be read" for v in table.index],
            "elpd_loo": table["elpd_loo"].round(-1).astype(int),
            "elpd below the full model": table["elpd_diff"].round(-1).astype(int),
            "SE of difference": table["dse"].round(-1).astype(int),
            "p_loo": table["p_loo"].round(-1).astype(int),
            "terms with Pareto k > 0.7": table["n_k_over_0.7"].astype(int),
        }
    ).reset_index(drop=True)


#: What a variant's loss (or not) in PSIS-LOO against the full model says, for the chapter's prose.
LOO_READINGS = {
    "pooled": ("one national line ignores how much LAs differ in level and growth",
               "LAs' own levels and growth rates add little"),
    "unpooled": ("separate lines with nothing shared overfit the short series of new LAs and the noise of small ones",
                 "sharing information within regions adds little"),
    "no_mix": ("the lagged placement mix carries information about next January's count beyond the trend and persistence",
               "the trend lines and persistence absorb what the slowly changing mix could add, so the placement-mix "
               "coefficients in @tbl-ehcp-parameters are no evidence of an effect of placements on plans"),
    "offset": ("forcing θ = 1 reads population drift and the Census 2021 rebasing as changes in plans",
               "fixing θ = 1 costs little in fit"),
    "no_ar": ("without persistence the model cannot follow an LA's recent departures from its line",
              "persistence adds little to in-sample fit"),
}


def loo_verdicts(table: pd.DataFrame) -> list[str]:
    """One sentence per alternative in a `loo_table` (first row: the full model): how far its elpd is below, and what that says.

    A difference counts as clear when it exceeds twice its standard error; a negative
    difference means the alternative predicts better than the full model.
    """
    variant = {label: key for key, label in VARIANT_LABELS.items()}
    out = []
    for _, row in table.iloc[1:].iterrows():
        label, diff, se = row["model"], row["elpd below the full model"], row["SE of difference"]
        worse, same = LOO_READINGS[variant[label]]
        if row.get("passes its checks", "yes") != "yes":
            out.append(f"**{label}** failed its convergence checks (@tbl-ehcp-diagnostics), so its score is not read.")
        elif diff > 2 * se:
            out.append(f"**{label}** is clearly worse (elpd {diff:,} lower, standard error {se:,}): {worse}.")
        elif diff < -2 * se:
            out.append(f"**{label}** is clearly better (elpd {-diff:,} higher, standard error {se:,}): the full model's extra terms overfit.")
        else:
            out.append(f"**{label}** is not clearly different (elpd difference {diff:,}, standard error {se:,}): {same}.")
    return out


# --------------------------------------------------------------------------- held-out January


def holdout_table(scores: dict) -> pd.DataFrame:
    """CRPS (plans) and interval coverage of the model and the two naive baselines for the held-out January."""
    rows = [{"forecast": "Model", "CRPS (plans)": scores["crps"]["model"], "CRPS (% of count)": 100 * scores["crps_relative"]["model"],
             "50% interval coverage": scores["coverage_50"], "90% interval coverage": scores["coverage_90"]}]
    for key, label in BASELINE_LABELS.items():
        b = scores["baselines"][key]
        rows.append({"forecast": label, "CRPS (plans)": b["crps"], "CRPS (% of count)": 100 * b["crps_relative"],
                     "50% interval coverage": b["coverage_50"], "90% interval coverage": b["coverage_90"]})
    out = pd.DataFrame(rows)
    out["CRPS (plans)"] = out["CRPS (plans)"].round().astype(int)
    out["CRPS (% of count)"] = out["CRPS (% of count)"].round(1)
    for col in ("50% interval coverage", "90% interval coverage"):
        out[col] = (100 * out[col]).round().astype(int).astype(str) + "%"
    return out


def holdout_chart(scores: dict, names: pd.Series) -> alt.LayerChart:
    """Each LA's held-out count relative to the model's median, with the 90% interval (sorted)."""
    per = scores["per_la"].copy()
    per["la_name"] = per["la_code"].map(names)
    for col in ("q05", "q95", "observed"):
        per[col + "_rel"] = per[col] / per["median"]
    per["inside"] = np.where((per["observed"] >= per["q05"]) & (per["observed"] <= per["q95"]), "inside", "outside")
    per = per.sort_values("observed_rel", ignore_index=True)
    per["rank"] = np.arange(len(per))
    base = alt.Chart(per).encode(alt.X("rank:Q", title="LAs, sorted by observed ÷ predicted median", axis=None))
    band = base.mark_rule(color=charts.OKABE_ITO[0], opacity=0.6).encode(
        alt.Y("q05_rel:Q", title="Count ÷ predicted median", axis=alt.Axis(format=charts.PCT)), y2="q95_rel:Q"
    )
    pts = base.mark_point(filled=True, size=18).encode(
        alt.Y("observed_rel:Q"),
        alt.Color("inside:N", title="Observed vs 90% interval", scale=alt.Scale(domain=["inside", "outside"], range=["black", charts.OKABE_ITO[5]]),
                  legend=alt.Legend(orient="bottom")),
        tooltip=["la_name", "observed", alt.Tooltip("median:Q", format=charts.COUNT)],
    )
    year = scores["holdout"]
    return (band + pts).properties(width=560, height=260, title=f"January {year} withheld: each LA against its prediction")


def largest_misses(scores: dict, names: pd.Series, n: int = 5) -> pd.DataFrame:
    """Up to `n` LAs whose held-out count fell outside the 90% interval, furthest (on the log scale) from the median first."""
    per = scores["per_la"].assign(la_name=lambda d: d["la_code"].map(names))
    per = per[(per["observed"] < per["q05"]) | (per["observed"] > per["q95"])]
    per = per.assign(miss=np.abs(np.log(per["observed"] / per["median"]))).nlargest(n, "miss")
    return pd.DataFrame(
        {
            "LA": per["la_name"],
            "observed": per["observed"].astype(int),
            "last year": per["last_count"].astype(int),
            "predicted median": per["median"].round(-1).astype(int),
            "5%": per["q05"].round(-1).astype(int),
            "95%": per["q95"].round(-1).astype(int),
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- forecasts


def forecast_chart(model: EHCPModel, forecast: pd.DataFrame) -> alt.LayerChart:
    """England: observed Januaries and the forecast median with 50% and 90% bands."""
    obs = model.data().groupby("year", as_index=False)["y"].sum()
    fc = forecast[forecast["la_code"] == ENGLAND[0]]
    last = pd.DataFrame({"year": [model.last_year], "q05": obs["y"].iloc[-1], "q25": obs["y"].iloc[-1], "median": obs["y"].iloc[-1],
                         "q75": obs["y"].iloc[-1], "q95": obs["y"].iloc[-1]})
    fc = pd.concat([last, fc[["year", "q05", "q25", "median", "q75", "q95"]]], ignore_index=True)
    x = alt.X("year:Q", title="January", axis=alt.Axis(format=charts.YEAR), scale=alt.Scale(domain=[model.first_year, int(fc["year"].max())]))
    y_axis = alt.Axis(format=charts.COUNT)
    b90 = alt.Chart(fc).mark_area(opacity=0.25, color=charts.OKABE_ITO[0]).encode(x, alt.Y("q05:Q", title="Active EHC plans, England", axis=y_axis), y2="q95:Q")
    b50 = alt.Chart(fc).mark_area(opacity=0.45, color=charts.OKABE_ITO[0]).encode(x, y="q25:Q", y2="q75:Q")
    med = alt.Chart(fc).mark_line(color=charts.OKABE_ITO[0], strokeDash=[5, 3]).encode(x, y="median:Q")
    seen = alt.Chart(obs).mark_line(color="black", point=True).encode(x, alt.Y("y:Q"))
    return (b90 + b50 + med + seen).properties(width=520, height=280, title="EHC plans in England: observed and forecast (50% and 90% intervals)")


def forecast_text(model: EHCPModel, forecast: pd.DataFrame) -> str:
    """England's forecast for the last forecast January against the last count, the LAs left out of the sum (in the
    panel's last January but not forecast: their last count is a flagged break) and where the next January's
    forecast is stored for scoring."""
    england = forecast[(forecast["la_code"] == ENGLAND[0]) & (forecast["year"] == model.forecast_to)].iloc[0]
    observed = model.data().query("year == @model.last_year")["y"].sum()
    left_out = list(publish.not_forecast(model, forecast)["la_name"])
    less = f" (less {', '.join(left_out)})" if left_out else ""
    path = publish.path_for(model.last_year + 1)
    # to the nearest 1,000, or coarser where the Monte Carlo error of England's sum says so (as the key findings show it)
    _, draws = model.predictive_draws(model.forecast_to)[model.forecast_to]
    mid, ends = interval_places(*(quantile(draws.sum(axis=0), model.settings.chains, p)[1] for p in (0.5, 0.05, 0.95)), most=-3)
    at = lambda x, d: charts.fmt_count(round(x, d))  # noqa: E731
    change = england["median"] / observed - 1
    stored = (f"The forecast of January {model.last_year + 1} for every LA is stored, with the date it was made and the data "
              f"it was made from, in `{path.relative_to(ROOT)}`" if path.exists() else
              f"The forecast of January {model.last_year + 1} for every LA is not stored yet: `python -m analysis forecast` "
              f"(or `update`) writes it to `{path.relative_to(ROOT)}`")
    return (f"If the trends continue, England{less} will have about {at(england['median'], mid)} active EHC plans in January "
            f"{model.forecast_to} (90% interval {at(england['q05'], ends)} to {at(england['q95'], ends)}), "
            f"{abs(change):.0%} {'more' if change >= 0 else 'fewer'} than the {charts.fmt_count(observed)} of January "
            f"{model.last_year}.\n\n{stored}, so that it can be scored when DfE publishes January {model.last_year + 1}.")


def forecast_table(model: EHCPModel, forecast: pd.DataFrame, year: int) -> pd.DataFrame:
    """Per LA (and England): plans in the last January, the forecast for `year` and the implied growth, rounded."""
    obs = model.data().query("year == @model.last_year").set_index("la_code")["y"]
    fc = forecast[forecast["year"] == year].set_index("la_code")
    obs[ENGLAND[0]] = obs.sum()
    out = pd.DataFrame(
        {
            "LA": fc["la_name"],
            f"January {model.last_year}": obs.reindex(fc.index).astype(int),
            f"{year} median": fc["median"].round(-1).astype(int),
            "5%": fc["q05"].round(-1).astype(int),
            "95%": fc["q95"].round(-1).astype(int),
        }
    )
    out["growth (median)"] = (100 * (out[f"{year} median"] / out[f"January {model.last_year}"] - 1)).round().astype(int).astype(str) + "%"
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- rolling-origin backtests

BACKTEST_LABELS = {"model": "Model", "ets": "Exponential smoothing (AutoETS)", "last_growth": "Last year's growth carried forward",
                   "last_count": "Last year's count"}


def backtest_table(results: dict) -> pd.DataFrame:
    """Per horizon: coverage of the model's and ETS's 50 % and 90 % intervals, and every method's CRPS (plans)."""
    from analysis.models.ehcp import backtest

    t = backtest.by_horizon(results)
    wide = t.pivot(index="horizon", columns="method", values="crps")
    cov = t[t["method"].isin(["model", "ets"])].pivot(index="horizon", columns="method", values=["coverage_50", "coverage_90"])
    origins = t.groupby("horizon")["origins"].first()
    return pd.DataFrame({
        "years ahead": wide.index,
        "origins": origins.to_numpy(),
        "model: 50% / 90% coverage": [f"{100 * cov.loc[h, ('coverage_50', 'model')]:.0f}% / {100 * cov.loc[h, ('coverage_90', 'model')]:.0f}%" for h in wide.index],
        "ETS: 50% / 90% coverage": [f"{100 * cov.loc[h, ('coverage_50', 'ets')]:.0f}% / {100 * cov.loc[h, ('coverage_90', 'ets')]:.0f}%" for h in wide.index],
        **{f"CRPS: {BACKTEST_LABELS[m]}": wide[m].round().astype(int).to_numpy() for m in backtest.METHODS},
    })


def backtest_chart(results: dict) -> alt.HConcatChart:
    """Left: 90 % interval coverage by horizon (model, ETS). Right: CRPS by horizon, every method."""
    from analysis.models.ehcp import backtest

    t = backtest.by_horizon(results).assign(label=lambda d: d["method"].map(BACKTEST_LABELS))
    order = [BACKTEST_LABELS[m] for m in backtest.METHODS]
    color = alt.Color("label:N", title=None, sort=order, legend=alt.Legend(orient="bottom", columns=2))
    x = alt.X("horizon:O", title="Years ahead", axis=alt.Axis(labelAngle=0))
    cov = alt.Chart(t.dropna(subset=["coverage_90"]).round({"coverage_90": 3})).mark_line(point=True).encode(
        x, alt.Y("coverage_90:Q", title="Share inside the 90% interval", scale=alt.Scale(domain=[0.5, 1]), axis=alt.Axis(format=charts.PCT)),
        color, tooltip=["label:N", "horizon:O", alt.Tooltip("coverage_90:Q", format=".0%")])
    nominal = alt.Chart(pd.DataFrame({"y": [0.9]})).mark_rule(strokeDash=[4, 4], color="black").encode(y="y:Q")
    crps = alt.Chart(t.round({"crps": 1})).mark_line(point=True).encode(
        x, alt.Y("crps:Q", title="Mean CRPS (plans)"), color, tooltip=["label:N", "horizon:O", alt.Tooltip("crps:Q", format=",.0f")])
    return alt.hconcat((cov + nominal).properties(width=230, height=220, title="Calibration"),
                       crps.properties(width=230, height=220, title="Accuracy (lower is better)"))


def england_backtest_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The England backtests as a reader sees them: published total, forecast median and 90% interval, error."""
    return pd.DataFrame({
        "last January seen": frame["origin"], "forecast January": frame["year"], "years ahead": frame["horizon"],
        "published": frame["observed"].map("{:,.0f}".format),
        "forecast (90% interval)": [f"{m:,.0f} ({lo:,.0f} to {hi:,.0f})" for m, lo, hi in zip(frame["median"], frame["q05"], frame["q95"])],
        "forecast − published": frame["error"].map(lambda e: f"{100 * e:+.1f}%".replace("-", "−")),
        "inside 90% interval": frame["inside"].map({True: "yes", False: "**no**"}),
    })


def england_backtest_text(frame: pd.DataFrame, forecast_to: int) -> str:
    """What the England backtests say about the national forecasts (the book's run to January `forecast_to`), in a
    sentence or two."""
    n, above, outside = len(frame), int((frame["error"] > 0).sum()), int((~frame["inside"]).sum())
    outside_above = int((~frame["inside"] & (frame["error"] > 0)).sum())
    by_h = frame.groupby("horizon")["error"].mean()
    drift = ", ".join(f"{100 * e:+.1f}% {h} year{'s' if h > 1 else ''} ahead".replace("-", "−") for h, e in by_h.items())
    text = (f"For England as a whole (the sum over the LAs forecast), the median forecast was above the published total in "
            f"{above} of {n} backtest forecasts (on average {drift}), and the published total fell outside the 90% interval in "
            f"{outside} of {n}")
    if outside:
        text += " (each time below it)." if outside_above == outside else f" ({outside_above} of them below it)."
    else:
        text += "."
    from analysis.models.ehcp import backtest

    if backtest.runs_high(frame):
        text += (" Over these origins national growth ran below the trend the model carries forward, and its national intervals, "
                 "which only LAs' own noise and national shocks around that trend widen, did not allow for it: the national "
                 f"forecasts, January {forecast_to} included, are more likely too high than too low, and their intervals too narrow.")
    return text
