"""The programme evaluation as the chapter shows it: charts (balance, event studies, placebos,
synthetic controls), tables and plain-language findings, from an `Evaluation`."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from analysis.evaluation import programmes
from analysis.evaluation.experiment import (
    PARETO_K_MAX,
    PLACEBO_SHIFT,
    Evaluation,
    headline_table,
    in_units,
    model_checks,
    names,
)
from analysis.report import charts

_ORDER = list(programmes.OUTCOMES)


def _label(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=frame["outcome"].map(lambda o: f"{programmes.OUTCOMES[o].label} ({_unit(o)})"))


def _unit(outcome: str) -> str:
    return {"log": "%", "pp": "pp", "points": "points"}[programmes.OUTCOMES[outcome].scale]


def love_plot(balance: pd.DataFrame) -> alt.Chart:
    """|SMD| per covariate before and after matching, one panel per programme (`programme` column)."""
    long = balance.melt(id_vars=["programme", "covariate", "label"], value_vars=["before", "after"], var_name="sample", value_name="smd")
    long["abs_smd"] = long["smd"].abs().round(3)
    base = alt.Chart().encode(
        y=alt.Y("label:N", title=None, sort=None),
        x=alt.X("abs_smd:Q", title="|standardised mean difference|"),
    )
    points = base.mark_point(filled=True, size=70).encode(
        color=alt.Color("sample:N", title="Comparison LAs", sort=["before", "after"],
                        legend=alt.Legend(orient="bottom", labelExpr="datum.label == 'before' ? 'all eligible (before matching)' : 'matched pool (after)'")),
        tooltip=["label:N", "sample:N", alt.Tooltip("abs_smd:Q", format=".2f")],
    )
    rule = alt.Chart().mark_rule(strokeDash=[4, 4], color="grey").encode(x=alt.datum(0.1))
    return alt.layer(points, rule, data=long).properties(width=190, height=180).facet(column=alt.Column("programme:N", title=None))


def event_plot(att: pd.DataFrame, title: str) -> alt.FacetChart:
    """Pooled ATT (median, 90 % interval) by event time, one small panel per outcome."""
    data = _label(att).round({"median": 3, "lo": 3, "hi": 3})
    base = alt.Chart().encode(x=alt.X("event_time:O", title="Years since start", axis=alt.Axis(labelAngle=0)))
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("lo:Q", title=None), y2="hi:Q")
    points = base.mark_point(filled=True, size=40).encode(
        y="median:Q",
        tooltip=[alt.Tooltip("event_time:O", title="event time"), alt.Tooltip("median:Q", format=".2f"),
                 alt.Tooltip("lo:Q", format=".2f", title="5%"), alt.Tooltip("hi:Q", format=".2f", title="95%"), "n_treated:Q"],
    )
    zero = alt.Chart().mark_rule(color="grey").encode(y=alt.datum(0))
    return (
        alt.layer(zero, bars, points, data=data)
        .properties(width=140, height=120)
        .facet(facet=alt.Facet("label:N", title=None, sort=[f"{programmes.OUTCOMES[o].label} ({_unit(o)})" for o in _ORDER],
                                header=alt.Header(labelExpr=charts.wrap_label(), labelLimit=0, labelFontSize=11)), columns=3)
        .resolve_scale(y="independent")
        .properties(title=title)
    )


def placebo_plot(space: pd.DataFrame) -> alt.Chart:
    """Placebo-in-space pooled post-period estimates (dots) and the real estimate (red rule), by programme and outcome."""
    data = _label(space)[["programme", "label", "group", "median", "real"]].round({"median": 3, "real": 3})
    base = alt.Chart().encode(y=alt.Y("label:N", title=None, axis=alt.Axis(labelLimit=360)))
    dots = base.mark_tick(thickness=2, size=14, color=charts.OKABE_ITO[1]).encode(
        x=alt.X("median:Q", title="Average effect after the start (median)"), tooltip=["group:N", alt.Tooltip("median:Q", format=".2f")]
    )
    real = base.mark_tick(thickness=3, size=22, color=charts.OKABE_ITO[5]).encode(x="real:Q", tooltip=[alt.Tooltip("real:Q", format=".2f", title="real")])
    return alt.layer(dots, real, data=data).properties(width=300, height=60).facet(
        row=alt.Row("programme:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelFontWeight="bold"))
    )


def synth_plot(att: pd.DataFrame) -> alt.Chart:
    """Synthetic-control pooled gaps (median, 90 % interval) by event time, by programme and outcome."""
    data = _label(att).round({"median": 3, "lo": 3, "hi": 3})
    base = alt.Chart().encode(x=alt.X("event_time:O", title="Years since start", axis=alt.Axis(labelAngle=0)))
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("lo:Q", title="Gap (%)"), y2="hi:Q")
    points = base.mark_point(filled=True, size=40).encode(y="median:Q", tooltip=[alt.Tooltip("median:Q", format=".2f"), "n_treated:Q"])
    zero = alt.Chart().mark_rule(color="grey").encode(y=alt.datum(0))
    return (
        alt.layer(zero, bars, points, data=data)
        .properties(width=240, height=130)
        .facet(row=alt.Row("programme:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelFontWeight="bold")),
               column=alt.Column("label:N", title=None, header=alt.Header(labelExpr=charts.wrap_label(), labelLimit=0, labelFontSize=11)))
    )


# --------------------------------------------------------------------------- tables and text


def comparisons(ev: Evaluation, programme: str) -> pd.DataFrame:
    """Each treated LA with its cohort, status notes and its matched comparison LAs."""
    m = ev.matches(programme)
    label = names(ev)
    t = ev.treatment[ev.treatment["programme"] == programme].set_index("la_code")
    rows = []
    for (g, code), part in m.groupby(["cohort", "treated"], sort=True):
        notes = [n for n, flag in (("inferred member", t.at[code, "membership"] == "inferred"),
                                   ("agreement suspended", t.at[code, "suspended"] != ""),
                                   (f"censored from {t.at[code, 'censor_year']:.0f} (other programme)", not np.isnan(t.at[code, "censor_year"]))) if flag]
        rows.append({"cohort": g, "la_code": code, "la": label[code], "notes": "; ".join(notes),
                     "comparison_las": ", ".join(label[c] for c in part.sort_values("rank")["control"])})
    return pd.DataFrame(rows)



_UNIT_WORDS = {"%": "%", "pp": " percentage points", "points": " points"}


def effect_text(median: float, lo: float, hi: float, units: str) -> str:
    """'+1.2% (90% interval −0.3 to +2.6)': one decimal, signed."""
    return f"{median:+.1f}{_UNIT_WORDS[units]} (90% interval {lo:+.1f} to {hi:+.1f})"


def verdict(lo: float, hi: float) -> str:
    """Plain reading of a 90 % interval for a difference from comparison LAs."""
    return "higher than in" if lo > 0 else "lower than in" if hi < 0 else "not clearly different from"


def findings_text(ev: Evaluation, programme: str) -> str:
    """One plain-language bullet per outcome: the average effect after the start and the checks that qualify it."""
    lines = []
    for r in headline_table(ev, programme).itertuples():
        text = (f"- **{r.label}**: {effect_text(r.effect_median, r.effect_lo, r.effect_hi, r.units)} on average after the start, "
                f"{verdict(r.effect_lo, r.effect_hi)} comparison LAs.")
        warnings_ = []
        if r.pre_trend_lo > 0 or r.pre_trend_hi < 0:
            warnings_.append(f"the groups already differed before the start ({effect_text(r.pre_trend_median, r.pre_trend_lo, r.pre_trend_hi, r.units)})")
        if r.placebo_time_lo > 0 or r.placebo_time_hi < 0:
            warnings_.append(f"a fake start {PLACEBO_SHIFT} years early also shows a difference ({effect_text(r.placebo_time_median, r.placebo_time_lo, r.placebo_time_hi, r.units)})")
        if (r.deficit_sensitivity_lo > 0 or r.deficit_sensitivity_hi < 0) != (r.effect_lo > 0 or r.effect_hi < 0):
            warnings_.append(f"without deficit-like comparison LAs the estimate is {effect_text(r.deficit_sensitivity_median, r.deficit_sensitivity_lo, r.deficit_sensitivity_hi, r.units)}")
        lines.append(text + (" Caution: " + "; ".join(warnings_) + "." if warnings_ else " The checks below do not contradict this."))
    return "\n".join(lines)



def display_table(ev: Evaluation, programme: str) -> pd.DataFrame:
    """The headline table as text: average effect after the start and the three checks, per outcome."""
    t = headline_table(ev, programme)
    cell = lambda r, p: effect_text(getattr(r, f"{p}_median"), getattr(r, f"{p}_lo"), getattr(r, f"{p}_hi"), r.units)
    return pd.DataFrame({
        "Outcome": t["label"],
        "Average difference after the start": [cell(r, "effect") for r in t.itertuples()],
        "Before the start (should be ≈ 0)": [cell(r, "pre_trend") for r in t.itertuples()],
        f"Fake start {PLACEBO_SHIFT} years early (should be ≈ 0)": [cell(r, "placebo_time") for r in t.itertuples()],
        "Without deficit-like comparison LAs": [cell(r, "deficit_sensitivity") for r in t.itertuples()],
    })


def loo_table(ev: Evaluation) -> pd.DataFrame:
    """Leave-one-treated-LA-out: the range of the average post-period effect and the most influential LA."""
    rows, label = [], names(ev)
    for programme, name in programmes.PROGRAMMES.items():
        loo = ev.leave_one_out(programme)
        for o, part in loo.groupby("outcome", sort=False):
            med = in_units(o, part["att_median"].to_numpy())
            full = float(in_units(o, part["att_full"].to_numpy()[:1])[0])
            worst = int(np.argmax(np.abs(med - full)))
            rows.append({"Programme": name, "Outcome": programmes.OUTCOMES[o].label, "All LAs": f"{full:+.1f}",
                         "Range leaving one LA out": f"{med.min():+.1f} to {med.max():+.1f}",
                         "Most influential LA": label[part["la_code"].iloc[worst]],
                         f"LAs with Pareto k > {PARETO_K_MAX}": f"{int((part['pareto_k'] > PARETO_K_MAX).sum())} of {len(part)}"})
    order = {o.label: i for i, o in enumerate(programmes.OUTCOMES.values())}
    return pd.DataFrame(rows).sort_values(["Programme", "Outcome"], key=lambda s: s.map(order) if s.name == "Outcome" else s, kind="stable").reset_index(drop=True)


def checks_table(ev: Evaluation) -> pd.DataFrame:
    """Model checks for display: convergence and the posterior predictive coverage of each model."""
    t = model_checks(ev)
    coverage = []
    for programme, model in zip(t["programme"], t["model"]):
        if model.startswith("synthetic"):
            coverage.append(ev.synthetic_control(programme, model.split(": ")[1]).predictive_check())
        else:
            coverage.append(float(ev.event_study(programme, placebo_space=model == "placebo in space").predictive_check()["coverage"].mean()))
    return pd.DataFrame({
        "Programme": t["programme"].map(programmes.PROGRAMMES), "Model": t["model"],
        "Max R-hat": t["rhat_max"].map("{:.2f}".format), "Min bulk ESS": t["ess_bulk_min"].map(lambda v: f"{round(v, -2):,.0f}" if v >= 1000 else f"{round(v, -1):.0f}"),
        "Divergences": t["divergences"], "Passed": t["passed"].map({True: "yes", False: "NO"}),
        "90% predictive coverage": [f"{100 * c:.0f}%" for c in coverage],
    })


def placebo_text(space: pd.DataFrame) -> str:
    """Plain-language summary of the placebo-in-space draws (`programme`, `outcome`, `median`, `lo`, `hi`, `real`)."""
    big = space.assign(big=space["median"].abs() >= space["real"].abs()).groupby(["programme", "outcome"], sort=False)["big"].mean()
    cover = float(((space["lo"] <= 0) & (space["hi"] >= 0)).mean())
    parts = "; ".join(f"{p}, {programmes.OUTCOMES[o].label}: {100 * v:.0f}%" for (p, o), v in big.items())
    calibration = ("close to the 90% expected, so the intervals are about the right width"
                   if cover >= 0.8 else "well below the 90% expected, so the model's intervals are too narrow and "
                   "an effect should be read against the placebo spread, not its own interval")
    return (f"The share of placebo groups with an average 'effect' at least as large as the real one is {parts}. "
            f"The model's 90% intervals for the placebo groups covered zero in {100 * cover:.0f}% of cases, {calibration}.")
