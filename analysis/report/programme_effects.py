"""The programme evaluation as the chapter shows it: charts (balance, event studies, placebos,
synthetic controls), tables and plain-language findings, from an `Evaluation`."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from analysis.data.finance import financial_year
from analysis.evaluation import balancing, crosschecks, imputation, matching, programmes, robustness, simulation, two_stage
from analysis.evaluation.programmes import in_units
from analysis.evaluation.experiment import (
    PARETO_K_MAX,
    PLACEBO_SHIFT,
    COVID_YEARS,
    TOP_COMPARISONS,
    STATS,
    Evaluation,
    fitted_models,
    headline_sensitivities,
    headline_table,
    model_checks,
    names,
    summarise,
)
from analysis.report import charts
from analysis.report import precision
from analysis.report.precision import signed_at

_ORDER = list(programmes.OUTCOMES)


def _label(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=frame["outcome"].map(lambda o: f"{programmes.OUTCOMES[o].label} ({_unit(o)})"))


def _unit(outcome: str) -> str:
    return programmes.UNITS[programmes.OUTCOMES[outcome].scale]


def cohort_table(cohorts: pd.DataFrame) -> pd.DataFrame:
    """`cohorts.summary` as the chapter shows it: programmes by name, Safety Valve first, headings in words."""
    from analysis.data.cohorts import summary

    t = summary(cohorts).sort_values(["programme", "first_treated_year"], key=lambda c: c.map({"safety_valve": 0, "dbv": 1})
                                     if c.name == "programme" else c, kind="stable")
    t["programme"] = t["programme"].map(programmes.PROGRAMMES)
    heads = {"programme": "Programme", "cohort": "Cohort", "first_treated_year": "First panel year treated",
             "confirmed": "Confirmed", "inferred": "Inferred", "unidentified": "Not identified", "total": "Total"}
    return t.rename(columns=heads)[[h for c, h in heads.items() if c in t.columns]].reset_index(drop=True)


def love_plot(balance: pd.DataFrame) -> alt.Chart:
    """|SMD| per covariate before and after matching, one panel per programme (`programme` column), with lines at
    0.1 (dashed: imbalance, by the usual rule) and at the study's target (`crosschecks.TARGET_SMD`, solid)."""
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
    target = alt.Chart().mark_rule(color="grey").encode(x=alt.datum(crosschecks.TARGET_SMD))
    return alt.layer(points, rule, target, data=long).properties(width=190, height=180).facet(column=alt.Column("programme:N", title=None))


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


_FAMILIES = {"random": "drawn at random", "deficit": "drawn by deficit"}


def placebo_plot(estimates: pd.DataFrame, real: pd.DataFrame) -> alt.FacetChart:
    """Matched placebo estimates (ticks, by how they were drawn) and the real estimate (red), by programme and outcome."""
    placebo = estimates.assign(family=estimates["family"].map(_FAMILIES))
    data = _label(pd.concat([placebo, real.assign(family="real", placebo="real")], ignore_index=True)
                  .assign(programme=lambda d: d["programme"].map(programmes.PROGRAMMES)))
    data = data[["programme", "label", "family", "placebo", "median"]].round({"median": 3})
    y = alt.Y("label:N", title=None, axis=alt.Axis(labelLimit=360))
    x = alt.X("median:Q", title="Average 'effect' after the start (median; % or points)")
    is_real = alt.datum.family == "real"
    dots = alt.Chart().mark_tick(thickness=1, size=10, opacity=0.6).encode(
        x=x, y=y, yOffset="family:N",
        color=alt.Color("family:N", title="Placebo LAs", scale=alt.Scale(range=[charts.OKABE_ITO[1], charts.OKABE_ITO[4]])),
        tooltip=["placebo:N", "family:N", alt.Tooltip("median:Q", format=".2f")]).transform_filter(~is_real)
    mark = alt.Chart().mark_tick(thickness=3, size=24, color=charts.OKABE_ITO[5]).encode(
        x="median:Q", y=y, tooltip=[alt.Tooltip("median:Q", format=".2f", title="real")]).transform_filter(is_real)
    return alt.layer(dots, mark, data=data).properties(width=260, height=80).facet(
        row=alt.Row("programme:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelFontWeight="bold")))


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
    """Each treated LA with its cohort, status notes and its matched comparison LAs, for display."""
    m = ev.matches(programme)
    label = names(ev)
    t = ev.treatment[ev.treatment["programme"] == programme].set_index("la_code")
    rows = []
    for (g, code), part in m.groupby(["cohort", "treated"], sort=True):
        notes = [n for n, flag in (("inferred member", t.at[code, "membership"] == "inferred"),
                                   ("agreement suspended", t.at[code, "suspended"] != ""),
                                   (f"censored from {t.at[code, 'censor_year']:.0f} (other programme)", not np.isnan(t.at[code, "censor_year"]))) if flag]
        rows.append({"First panel year treated": g, "LA": label[code], "Notes": "; ".join(notes),
                     # joined with semicolons: official names hold commas ("Herefordshire, County of")
                     "Matched comparison LAs": "; ".join(label[c] for c in part.sort_values("rank")["control"])})
    return pd.DataFrame(rows)



def later_waves_support(ev: Evaluation) -> pd.DataFrame:
    """What the design against the programme's own later members rests on, per programme and cohort: its programme
    LAs, the later joiners it compares them with, and the years after the start in which any of those is still
    outside both programmes (a cohort with none contributes nothing)."""
    label = names(ev)
    rows = []
    for programme, name in programmes.PROGRAMMES.items():
        lw = ev.later_waves(programme)
        for g in programmes.cohort_years(ev.treatment, programme):
            part = lw[lw["cohort"] == g]
            last = min(int(part["censor_year"].max()) - 1, programmes.horizon(g, ev.last_year)) - g if len(part) else -1
            rows.append({"programme": name, "cohort": int(g), "programme_las": len(ev.treated(programme, g)),
                         "comparisons": len(part), "names": "; ".join(label[c] for c in part["control"]),
                         "last_event_time": last})
    return pd.DataFrame(rows)


def later_waves_support_table(support: pd.DataFrame) -> pd.DataFrame:
    """`later_waves_support` for reading."""
    return pd.DataFrame({
        "Programme": support["programme"], "First panel year treated": support["cohort"],
        "Programme LAs": support["programme_las"], "Later joiners compared": support["comparisons"],
        "Years after the start compared": ["none" if e < 0 else "start year only" if e == 0 else f"0 to {e}" for e in support["last_event_time"]],
        # named where there are few, the case a reader needs to see
        "Later joiners (named where three or fewer)": [n if 0 < c <= 3 else "–" for n, c in zip(support["names"], support["comparisons"])],
    })


def later_waves_support_text(support: pd.DataFrame) -> str:
    """How thin the later-members design is, in words: per programme, the programme LAs whose cohort is compared
    with at most one later joiner or only in its start year."""
    said = []
    for name, part in support.groupby("programme", sort=False):
        thin = part[(part["comparisons"] <= 1) | (part["last_event_time"] <= 0)]
        said.append(f"{name}, {int(thin['programme_las'].sum())} of {int(part['programme_las'].sum())} programme LAs are in cohorts "
                    "compared with at most one later joiner, or in their start year only, or not at all")
    return ("The design against later members rests on few comparisons (@tbl-prog-later-support): later joiners already "
            "in the other programme before the cohort's start are left out, and each is dropped once it joins. For "
            + "; for ".join(said) + ". Its average after the start is therefore mostly a start-year figure, not the same "
            "quantity as the matched estimate's average over the years after the start, and it is read as a check, "
            "not an estimate.")


_UNIT_WORDS = {"%": "%", "pp": " percentage points", "points": " points"}


def stats(row, prefix: str = "") -> dict[str, float]:
    """A summary (median, lo, hi and any of their MCSEs) from a row of a table (a Series, dict or named tuple)
    whose columns are the statistics, each under `prefix` (e.g. 'effect_median' for prefix 'effect')."""
    get = row.get if hasattr(row, "get") else lambda k, d=None: getattr(row, k, d)
    out = {stat: get(f"{prefix}{'_' if prefix else ''}{stat}") for stat in STATS}
    return {k: v for k, v in out.items() if v is not None}


def _ends_mcse(s: dict[str, float]) -> float:
    """The Monte Carlo error an interval's two ends share: the larger of theirs (0 without MCSEs)."""
    return max((e for e in (s.get("lo_mcse", 0.0), s.get("hi_mcse", 0.0)) if e == e), default=0.0)


def interval_numbers(s: dict[str, float]) -> tuple[str, str, str]:
    """Median, lower and upper end of a summary as text, one decimal or fewer where the Monte Carlo error is too
    large for it (`signed_at`); the two ends share the coarser precision. No MCSE (least squares) gives one decimal."""
    ends = _ends_mcse(s)
    return signed_at(s["median"], s.get("median_mcse", 0.0)), signed_at(s["lo"], ends), signed_at(s["hi"], ends)


def effect_text(s: dict[str, float], units: str) -> str:
    """'+1.2% (90% interval -0.3 to +2.6)' from a summary (`stats`): signed, at the precision its MCSEs support."""
    median, lo, hi = interval_numbers(s)
    words = _UNIT_WORDS[units].removesuffix("s") if units != "%" and median.lstrip("+-−") == "1" else _UNIT_WORDS[units]
    return f"{median}{words} (90% interval {lo} to {hi})"


def reading(s: dict[str, float]) -> int:
    """+1 or −1 when a summary's 90% interval, as `interval_numbers` shows it, lies above or below no difference; 0
    when it includes it (an end shown as zero included). Every reading in the chapters (higher, lower, not clearly
    different; a check that qualifies an estimate or not) comes from here, so an interval reads as it is shown."""
    return precision.reading(s["lo"], s["hi"], _end_digits(s))


def _end_digits(s: dict[str, float]) -> int:
    """Decimal places an interval's ends are shown to (`interval_numbers`): one, or fewer where their MCSE is larger."""
    return min(1, precision.places(_ends_mcse(s)))


def is_clear(s: dict[str, float]) -> bool:
    """Whether a 90% interval excludes no difference by more than its Monte Carlo error: its end nearest zero,
    shown at the precision its MCSE supports (`interval_numbers`), is not zero and on the far side of it."""
    return reading(s) != 0


def _clarity(s: dict[str, float]) -> str:
    """'clear', 'only just …' (the interval excludes zero, but its end nearest zero shows as 0 at the precision its
    Monte Carlo error supports, one decimal at most) or 'includes no difference', for a quotable sentence."""
    if is_clear(s):
        return "clear"
    if s["lo"] > 0 or s["hi"] < 0:
        return "only just: the end nearest no difference shows as 0 at the precision shown"
    return "includes no difference"


def verdict(s: dict[str, float]) -> str:
    """Plain reading of a 90 % interval for a difference from comparison LAs, as the interval is shown (`reading`)."""
    return {1: "higher than in", -1: "lower than in", 0: "not clearly different from"}[reading(s)]


def _without_top(ev: Evaluation, programme: str) -> dict[str, dict[str, float]]:
    """Per outcome, the average difference after the start without the most-used comparison LAs (rematched), as a
    summary (`stats`); empty where that analysis is not fitted."""
    if "no_top_comparisons" not in ev.sensitivities(programme):
        return {}
    post = ev.sensitivity_study(programme).att_post()
    return {r["outcome"]: stats(r) for _, r in summarise(post[post["group"] == "no_top_comparisons"]).iterrows()}


def _cautions(r, without_top: dict[str, float] | None = None, breakdown: float | None = None) -> list[str]:
    """The checks that qualify one outcome's average effect (a row of `headline_table`), in words; `without_top`
    is its estimate without the most-used comparison LAs (`_without_top`), where fitted; `breakdown` its trend
    sensitivity's breakdown (`sensitivity`), where computed: below 1, a clear estimate is not robust to trends."""
    found, effect = [], stats(r, "effect")
    if breakdown is not None and pd.notna(breakdown) and breakdown < 1 and reading(effect):
        found.append(f"a departure from parallel trends {breakdown:.2f} times the largest year-to-year change before the start "
                     "would be enough to include no difference (@tbl-prog-trend-sensitivity)")
    if reading(stats(r, "pre_trend")):
        found.append(f"the groups already differed before the start ({effect_text(stats(r, 'pre_trend'), r.units)})")
    if reading(stats(r, "placebo_time")):
        found.append(f"a fake start {PLACEBO_SHIFT} years early also shows a difference ({effect_text(stats(r, 'placebo_time'), r.units)})")
    if reading(stats(r, "later_waves")) != reading(effect):
        found.append("against the programme's own later members, before they joined, the difference is "
                     f"{effect_text(stats(r, 'later_waves'), r.units)}")
    for name, other in (("without deficit-like comparison LAs", stats(r, "deficit_sensitivity")),
                        (f"without the {TOP_COMPARISONS} most-used comparison LAs", without_top)):
        if other is not None and reading(other) != reading(effect):
            found.append(f"{name} the estimate is {effect_text(other, r.units)}, " + _change_of_reading(effect, other))
    return found


def _change_of_reading(main: dict[str, float], other: dict[str, float]) -> str:
    """How a second estimate's reading differs from the main one's, in words (their readings differ)."""
    if not reading(main):
        return "clear where the main one is not"
    return "no longer clear" if not reading(other) else "clear in the other direction"


def findings_text(ev: Evaluation, programme: str) -> str:
    """One plain-language bullet per outcome: the average effect after the start and the checks that qualify it."""
    lines, top = [], _without_top(ev, programme)
    for r in headline_table(ev, programme).itertuples():
        text = (f"- **{r.label}**: {effect_text(stats(r, 'effect'), r.units)} on average after the start, "
                f"{verdict(stats(r, 'effect'))} comparison LAs.")
        found = _cautions(r, top.get(r.outcome))
        lines.append(text + (" Caution: " + "; ".join(found) + "." if found else " The checks below do not contradict this."))
    return "\n".join(lines)


#: What each outcome's average difference comes to in a typical programme LA: the panel column it scales (the
#: LA's value in the year before its start), what that column counts, and what the difference counts.
_IN_COUNTS = {
    "ehcp_rate": ("ehcp_total", "plans", "children with plans"),
    "new_plans_rate": ("new_plans", "new plans", "new plans a year"),
    "share_independent": ("ehcp_total", "plans", "of its children with plans placed in independent special schools"),
    "share_mainstream": ("ehcp_total", "plans", "of its children with plans in mainstream schools"),
    "refused_pct": ("requests_received", "requests for assessment", "requests for assessment refused a year"),
    "hn_spend_per_head": ("hn_spend", "£", "high-needs spend a year"),
    "timeliness_pct": ("new_plans", "new plans", "new plans a year issued within 20 weeks"),
}


def _typical_base(ev: Evaluation, programme: str, column: str) -> float:
    """The median over a programme's LAs of `column` in the year before each one's start."""
    t = ev.treatment[ev.treatment["programme"] == programme]
    p = ev.panel.set_index(["la_code", "year"])[column]
    values = [p.get((c, int(g) - 1), np.nan) for c, g in zip(t["la_code"], t["first_treated_year"])]
    return float(np.nanmedian(values))


def _amount(x: float, money: bool) -> str:
    """A count to two significant figures (0 below a half), or £ in millions to one decimal, without its sign."""
    x = abs(x)
    return f"£{x / 1e6:,.1f}m" if money else f"{float(f'{x:.2g}'):,.0f}" if x >= 0.5 else "0"


def _direction(x: float, money: bool) -> str:
    """'120 fewer', '£2.6m less', or 'no difference' when the amount rounds to nothing."""
    shown = _amount(x, money)
    if shown in ("0", "£0.0m"):
        return "no difference"
    return f"{shown} {'more' if x > 0 else 'less' if money else 'fewer'}"


def plain_text(ev: Evaluation, simulated: pd.DataFrame, sensitivity: pd.DataFrame | None = None) -> str:
    """For each programme and outcome, one sentence a reader can quote: the average difference after the start
    in children (or requests, or £) in a typical programme LA, with its 90% interval, whether it is clear
    (`is_clear`) and which checks qualify it (`_cautions`); then how many of the estimates are clear against how
    many chance alone would give, with calibrated intervals and with the event study's as the simulation study
    found them (`simulated`: `simulation.coverage`), and how many of the clear ones no check qualifies (the trend
    sensitivity among the checks where `sensitivity`, from `sensitivity`, is given)."""
    from scipy import stats as distributions

    lines, clear, only_just, firm, total = [], 0, 0, 0, 0
    breakdowns = {} if sensitivity is None else dict(zip(zip(sensitivity["programme"], sensitivity["outcome"]), sensitivity["breakdown"]))
    for programme, name in programmes.PROGRAMMES.items():
        top = _without_top(ev, programme)
        for r in headline_table(ev, programme).itertuples():
            total += 1
            found = _cautions(r, top.get(r.outcome), breakdowns.get((programme, r.outcome)))
            clarity = _clarity(stats(r, "effect"))
            clear += clarity == "clear"
            only_just += clarity.startswith("only just")
            firm += clarity == "clear" and not found
            cautions = (" Qualified by the checks above: " + "; ".join(found) + ".") if found else ""
            just = (" (its interval excludes no difference, but its end nearest it shows as 0)"
                    if clarity.startswith("only just") else "")
            if r.outcome not in _IN_COUNTS:
                lines.append(f"- **{name}, {r.label}**: {effect_text(stats(r, 'effect'), r.units)} on average after the start, "
                             f"{verdict(stats(r, 'effect'))} similar LAs{just} (no count to put it in).{cautions}")
                continue
            column, counted, words = _IN_COUNTS[r.outcome]
            money = counted == "£"
            base = _typical_base(ev, programme, column)
            if not np.isfinite(base):
                lines.append(f"- **{name}, {r.label}**: {effect_text(stats(r, 'effect'), r.units)} on average after the start, "
                             f"{verdict(stats(r, 'effect'))} similar LAs{just} (its programme LAs have no count the year "
                             f"before they joined).{cautions}")
                continue
            median, lo, hi = (base * v / 100 for v in (r.effect_median, r.effect_lo, r.effect_hi))
            span = (f"{_direction(lo, money)} to {_direction(hi, money)}" if lo < 0 < hi else
                    f"{_amount(min(abs(lo), abs(hi)), money)} to {_direction(hi if lo > 0 else lo, money)}")
            lines.append(f"- **{name}, {r.label}**: in a typical {name} LA ({_amount(base, money)}"
                         f"{'' if money else ' ' + counted} in the year before it joined, the median), "
                         + (f"about the same {'' if money else 'number of '}{words.removeprefix('of its ')} as if it had changed as "
                            "similar LAs did" if _direction(median, money) == "no difference"
                            else f"about {_direction(median, money)} {words} than if it had changed as similar LAs did")
                         + f" (90% interval: {span}; {clarity})."
                         + cautions)
    lo, hi = (int(v) for v in distributions.binom.ppf([0.05, 0.95], total, 0.1))
    event = simulated[simulated["estimator"] == "event study"]
    miss = 1 - float((event["coverage_90"] * event["n"]).sum() / event["n"].sum())
    lines.append(f"\nOf these {total} estimates, {clear} {'has' if clear == 1 else 'have'} a 90% interval that excludes no "
                 "difference as shown" + (f", and {only_just} more {'excludes' if only_just == 1 else 'exclude'} it only by less "
                                         "than the precision shown (an end shown as 0)" if only_just else "") + ". If "
                 f"neither programme had changed anything, calibrated intervals would exclude it about "
                 f"{0.1 * total:.0f} times by chance ({lo} to {hi} in nine cases out of ten, if the estimates were independent; "
                 f"they share LAs and years, so the range is wider), and intervals that miss as often as the event study's did "
                 f"in the simulation study ({100 * miss:.0f}% of the time) about {miss * total:.0f} times."
                 + ("" if not clear else
                    f" No check above leaves {'it' if clear == 1 else 'any of the ' + str(clear)} unqualified." if not firm else
                    f" {firm} of the {clear} {'has' if firm == 1 else 'have'} no check above qualifying {'it' if firm == 1 else 'them'}."))
    return ("Each line is the average difference after the start, put in children, requests or pounds for a typical "
            "programme LA: a difference in the figures between programme LAs and similar LAs, not shown to have been "
            "caused by the programme.\n\n" + "\n".join(lines))


def display_table(ev: Evaluation, programme: str) -> pd.DataFrame:
    """The headline table as text: average effect after the start and the three checks, per outcome."""
    t = headline_table(ev, programme)
    cell = lambda r, p: effect_text(stats(r, p), r.units)
    return pd.DataFrame({
        "Outcome": t["label"],
        "Average difference after the start": [cell(r, "effect") for r in t.itertuples()],
        "Before the start (should be ≈ 0)": [cell(r, "pre_trend") for r in t.itertuples()],
        f"Fake start {PLACEBO_SHIFT} years early (should be ≈ 0)": [cell(r, "placebo_time") for r in t.itertuples()],
        "Against later members before they joined": [cell(r, "later_waves") for r in t.itertuples()],
        "Without deficit-like comparison LAs": [cell(r, "deficit_sensitivity") for r in t.itertuples()],
    })


def loo_table(ev: Evaluation) -> pd.DataFrame:
    """Leave-one-treated-LA-out: the range of the average post-period effect and the most influential LA."""
    rows, label = [], names(ev)
    for programme, name in programmes.PROGRAMMES.items():
        loo = ev.leave_one_out(programme)
        mcse = headline_table(ev, programme).set_index("outcome")["effect_median_mcse"]
        for o, part in loo.groupby("outcome", sort=False):
            med = in_units(o, part["att_median"].to_numpy())
            full = float(in_units(o, part["att_full"].to_numpy()[:1])[0])
            worst = int(np.argmax(np.abs(med - full)))
            # The PSIS-reweighted medians' Monte Carlo error is at least the full fit's: shown no finer.
            rows.append({"Programme": name, "Outcome": programmes.OUTCOMES[o].label, "All LAs": signed_at(full, mcse[o]),
                         "Range leaving one LA out": f"{signed_at(med.min(), mcse[o])} to {signed_at(med.max(), mcse[o])}",
                         "Most influential LA": label[part["la_code"].iloc[worst]],
                         f"LAs with Pareto k > {PARETO_K_MAX}": f"{int((part['pareto_k'] > PARETO_K_MAX).sum())} of {len(part)}"})
    order = {o.label: i for i, o in enumerate(programmes.OUTCOMES.values())}
    return pd.DataFrame(rows).sort_values(["Programme", "Outcome"], key=lambda s: s.map(order) if s.name == "Outcome" else s, kind="stable").reset_index(drop=True)


def _analysis_labels(ev: Evaluation) -> dict[str, str]:
    n_suspended = len(ev.suspended("safety_valve"))
    return {"main": "Main: matched LAs", "later_waves": "Against later members before they joined",
            "deficit": "Without deficit-like comparison LAs", "no_suspended": f"Without the {n_suspended} suspended agreements",
            "no_covid": f"Pandemic years ({', '.join(map(str, COVID_YEARS))}) left out",
            "no_breaks": "Without LAs with a reporting break in that series", "no_top_comparisons": f"Without the {TOP_COMPARISONS} most-used comparison LAs"}


def concentration_text(ev: Evaluation) -> str:
    """How much each programme's matched comparison rests on its most-used comparison LAs (`matching.concentration`)."""
    label, parts, balance = names(ev), [], []
    for programme, name in programmes.PROGRAMMES.items():
        m = ev.matches(programme)
        top = matching.concentration(m).head(TOP_COMPARISONS)
        each = " and ".join(f"{label[r.control]} is a match of {r.treated}" for r in top.itertuples())
        parts.append(f"in the {name} design, {each} of its {m['treated'].nunique()} LAs (together {100 * top['pair_share'].sum():.0f}% of "
                     f"the {len(m)} matched pairs)")
        worst = lambda analysis: ev.balance(programme, analysis)["after"].abs().max()
        balance.append(f"{name} {worst('no_top_comparisons'):.2f}, against {worst('main'):.2f} with them")
    return ("Matching with replacement lets one comparison LA be the match of many programme LAs, and a few carry much "
            f"of the comparison: {'; '.join(parts)}. Each enters a cohort's comparison pool once, but a quirk in its "
            f"series would move every estimate it enters, so the analysis \u201c{_analysis_labels(ev)['no_top_comparisons']}\u201d "
            "leaves those LAs out of every pool and matches the programme LAs again; the largest |SMD| after matching is "
            f"then {'; '.join(balance)}.")


#: The sensitivity table's cell for an outcome no reporting break reaches (its data are the main analysis').
NO_BREAK = "as main: no break in this series"


def breaks_text(ev: Evaluation) -> str:
    """Which LAs the analysis without reporting breaks leaves out of which outcomes, per programme (`Evaluation.broken`)."""
    label, parts = names(ev), []
    for programme, name in programmes.PROGRAMMES.items():
        broken = ev.broken(programme)
        if broken.empty:
            parts.append(f"no {name} LA or comparison LA has a flagged break within its window in a count an outcome is computed "
                         f"from, so {name} has no such analysis")
            continue
        each = broken.drop_duplicates(["stack", "la_code", "outcome"]).assign(name=lambda d: d["la_code"].map(label))
        listed = ", ".join(
            f"{n} ({'programme' if t else 'comparison'}, {g} cohort: {'; '.join(programmes.OUTCOMES[o].label for o in part['outcome'])})"
            for (g, n, t), part in each.groupby(["stack", "name", "treated"], sort=True))
        parts.append(f"for {name} it leaves out {listed}")
    return ("Without LAs with a reporting break: an LA is left out of an outcome when its window holds a break in a count that "
            f"outcome is computed from, and stays in the others; {'; '.join(parts)}.")


def sensitivities_table(ev: Evaluation, table: pd.DataFrame) -> pd.DataFrame:
    """`headline_sensitivities` as the chapter shows it: one row per programme and analysis, a column per headline outcome."""
    labels = _analysis_labels(ev)
    cells = table.assign(cell=[_interval_cell(stats(r), r.n_treated) for r in table.itertuples()])
    wide = cells.pivot(index=["programme", "analysis"], columns="outcome", values="cell").reset_index()
    rank = {a: i for i, a in enumerate(labels)}
    wide = wide.sort_values(["programme", "analysis"], key=lambda c: c.map(rank) if c.name == "analysis" else c).reset_index(drop=True)
    unbroken = wide["analysis"] == "no_breaks"
    return pd.DataFrame({"Programme": wide["programme"].map(programmes.PROGRAMMES), "Analysis": wide["analysis"].map(labels),
                         **{f"{programmes.OUTCOMES[o].label} ({_unit(o)})": wide[o].mask(unbroken & wide[o].isna(), NO_BREAK)
                            for o in programmes.HEADLINE}})


def sensitivities_text(ev: Evaluation, table: pd.DataFrame) -> str:
    """How far the headline estimates move across the analyses, and whether any reverses the main reading."""
    labels = _analysis_labels(ev)
    lines = []
    for (programme, o), part in table.groupby(["programme", "outcome"], sort=False):
        main = part[part["analysis"] == "main"].iloc[0]
        others = part[part["analysis"] != "main"]
        differ = [labels[r.analysis] for r in others.itertuples() if reading(stats(r)) != reading(stats(main))]
        agreement = ("every analysis reads the same way as the main one (higher, lower or not clearly different)" if not differ
                     else f"the reading (higher, lower or not clearly different) differs in: {'; '.join(differ)}")
        lo, hi = others.loc[others["median"].idxmin()], others.loc[others["median"].idxmax()]
        at = lambda r: signed_at(r["median"], r.get("median_mcse", 0.0))  # no MCSE column: no Monte Carlo error, one decimal
        unit = _unit(o) if _unit(o) == "%" else f" {_unit(o)}"
        lines.append(f"- **{programmes.PROGRAMMES[programme]}, {programmes.OUTCOMES[o].label}**: from "
                     f"{at(lo)}{unit} to {at(hi)}{unit} across the other analyses, against {at(main)}{unit} in the main one; {agreement}.")
    return "\n".join(lines)


def _model_name(ev: Evaluation, label: str) -> str:
    """A fitted model's label (`fitted_models`) in words: its analyses, or its outcome, by the chapter's names."""
    if label.startswith("synthetic control: "):
        return "Synthetic control: " + programmes.OUTCOMES[label.removeprefix("synthetic control: ")].label
    words = _analysis_labels(ev) | {"time": f"Fake start {PLACEBO_SHIFT} years early"}
    return "Event study: " + "; ".join(words.get(a, a) for a in label[label.index("(") + 1:-1].split(", "))


def checks_table(ev: Evaluation) -> pd.DataFrame:
    """Model checks for display: convergence and the posterior predictive coverage of each model."""
    t = model_checks(ev)
    models = {programme: fitted_models(ev, programme) for programme in t["programme"].unique()}
    coverage = []
    for programme, label in zip(t["programme"], t["model"]):
        check = models[programme][label].predictive_check()
        coverage.append(check if isinstance(check, float) else float(check["coverage"].mean()))
    return pd.DataFrame({
        "Programme": t["programme"].map(programmes.PROGRAMMES), "Model": [_model_name(ev, m) for m in t["model"]],
        "Max R-hat": t["rhat_max"].map("{:.3f}".format), "Min bulk ESS": t["ess_bulk_min"].map(lambda v: f"{round(v, -2):,.0f}" if v >= 1000 else f"{round(v, -1):.0f}"),
        "Divergences": t["divergences"], "Passed": t["passed"].map({True: "yes", False: "NO"}),
        "90% predictive coverage": [f"{100 * c:.0f}%" for c in coverage],
    })


def placebo_text(summary: pd.DataFrame) -> str:
    """Plain-language summary of the matched placebos (`placebos.summary`)."""
    parts, covers = [], []
    for (p, o), g in summary.groupby(["programme", "outcome"], sort=False):
        shares = ", ".join(f"{100 * r.share_as_large:.0f}% of those {_FAMILIES[r.family]}" for r in g.itertuples())
        parts.append(f"{programmes.PROGRAMMES[p]}, {programmes.OUTCOMES[o].label}: {shares}")
    cover = summary.groupby("family")["coverage_90"].mean()
    n = summary.groupby("family")["n"].sum()
    covers = ", ".join(f"{100 * v:.0f}% for placebos {_FAMILIES[f]}" for f, v in cover.items())
    low = cover[cover < 0.8]
    narrow = cover[(cover >= 0.8) & (cover < 0.9 - _chance_range(n))]
    verdict_text = ("**well below the 90% a calibrated interval gives** for placebos " + " and ".join(_FAMILIES[f] for f in low.index)
               + ": under those conditions the design finds differences where there are none, so a real estimate should be "
               "read against the placebo spread (@fig-placebo-space), not against its own interval" if len(low) else
               "for placebos " + " and ".join(_FAMILIES[f] for f in narrow.index) + " that is further below 90% than chance "
               "alone would give, so there the model's intervals are somewhat too narrow, and an estimate near the edge of "
               "its interval should be read against the placebo spread" if len(narrow) else
               "within the range chance alone gives around 90%, so the model's own intervals can be taken at face value")
    per_draw = summary.drop_duplicates(["programme", "family"])
    failed, total = int(per_draw["failed_fits"].sum()), int(per_draw["n"].sum())
    checks = ("" if failed == 0 else f" {failed} of the {total} placebos come from fits that missed a convergence check; "
              "they are counted, not dropped.")
    return (f"The share of matched placebos with an average 'effect' at least as large in size as the real one (in either "
            f"direction) is: {'; '.join(parts)}. "
            f"The placebos' 90% intervals included zero (the truth, for them) in {covers}: {verdict_text}.{checks}")


def _chance_range(n: int | pd.Series) -> float | pd.Series:
    """Half-width of the binomial 90% range of the share of n calibrated 90% intervals that cover: 1.645·√(0.09/n).
    Placebo groups drawn from one pool share LAs, so their shares are correlated and the true range is somewhat wider."""
    return 1.645 * (0.09 / n) ** 0.5


def _pooled(coverage: pd.DataFrame) -> float:
    """Share of all the placebos in `coverage`'s cells whose 90% interval contains zero."""
    return float((coverage["coverage_90"] * coverage["n"]).sum() / coverage["n"].sum())


def _shared(coverage: pd.DataFrame) -> pd.Series:
    """Which rows of `coverage` are of an outcome every estimator in it covers (the headline outcomes)."""
    return coverage.groupby("outcome")["estimator"].transform("nunique") == coverage["estimator"].nunique()


def placebo_coverage_table(coverage: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 90% intervals on the placebo groups (true effect 0), the estimators side by side, on the
    outcomes every estimator covers; an estimator calibrated on fewer groups than the others says on how many."""
    shared = coverage[_shared(coverage)]
    wide = shared.pivot_table(index=["programme", "family", "outcome"], columns="estimator", values="coverage_90", sort=False)
    n = shared.pivot_table(index=["programme", "family", "outcome"], columns="estimator", values="n", sort=False)
    order = {k: i for i, k in enumerate([*programmes.PROGRAMMES, *_FAMILIES, *programmes.OUTCOMES])}
    wide = wide.sort_index(key=lambda level: level.map(order))
    rows = []
    for key, r in wide.iterrows():
        p, fam, o = key
        most = int(n.loc[key].max())
        rows.append({"Programme": programmes.PROGRAMMES[p], "Placebo LAs": _FAMILIES[fam], "Outcome": programmes.OUTCOMES[o].label,
                     "Placebo groups": most,
                     **{_estimator_name(est): f"{100 * v:.0f}%" + ("" if n.loc[key, est] == most else f" (of {int(n.loc[key, est])})")
                        for est, v in r.items()}})
    return pd.DataFrame(rows)


def placebo_coverage_others(coverage: pd.DataFrame) -> pd.DataFrame:
    """Coverage on the placebo groups of the outcomes only some estimators cover (least squares, today), one row per
    programme and outcome, a column per way of drawing the placebo LAs."""
    rest = coverage[~_shared(coverage)]
    order = {k: i for i, k in enumerate([*programmes.PROGRAMMES, *programmes.OUTCOMES])}
    rows = []
    for (p, o), part in sorted(rest.groupby(["programme", "outcome"]), key=lambda kv: (order[kv[0][0]], order[kv[0][1]])):
        by = part.set_index("family")
        rows.append({"Programme": programmes.PROGRAMMES[p], "Outcome": programmes.OUTCOMES[o].label,
                     "Estimator": _estimator_name(" and ".join(part["estimator"].unique())), "Placebo groups": int(by["n"].max()),
                     **{f"Placebo LAs {_FAMILIES[f]}": f"{100 * by.at[f, 'coverage_90']:.0f}%" for f in _FAMILIES if f in by.index}})
    return pd.DataFrame(rows)


def deficit_text(ev: Evaluation) -> str:
    """Whether the DSG deficit, the programmes' own target, is evaluated, and if not, why (`programmes.evaluated`
    reads the panel, so this follows later deficit data)."""
    reason = ev.not_evaluated.get("dsg_deficit_pct")
    last = int(ev.panel.dropna(subset=["dsg_deficit_pct"])["year"].max())
    if reason is None:
        return ("The DSG deficit, the programmes' own target, is evaluated with the other outcomes: the panel now "
                "carries it for enough programme LAs before and after their start.")
    return (f"**The DSG deficit itself, the programmes' own target, is not evaluated here**: {reason} "
            f"(panel year {last} is financial year {financial_year(last)}, the latest in the sources held). The evaluation takes it "
            "up by itself when later deficit data are added to the source registry.")


def followup_text(ev: Evaluation) -> str:
    """How many years after the start the earliest and the latest Safety Valve cohorts are followed: event times
    0 to POST, cut at the panel's last year, so the sentence follows the data."""
    starts = sorted(g for g in ev.treatment.loc[ev.treatment["programme"] == "safety_valve", "first_treated_year"].unique()
                    if g <= ev.last_year)  # a cohort that starts after the data has no year to follow yet
    years = [min(programmes.POST, ev.last_year - int(g)) + 1 for g in (starts[0], starts[-1])]
    said = [f"{n} year" + ("" if n == 1 else "s") for n in years]
    return (f"With data to {ev.last_year} the earliest Safety Valve LAs are followed for {said[0]} (event times "
            f"0–{years[0] - 1}) and the latest for {said[1]}.")


def _estimator_name(estimator: str) -> str:
    """'Least squares' from 'least squares (pyfixest)': a column header short enough to leave the outcome its width
    (the caption names the implementations)."""
    name = estimator.split(" (")[0]
    return name[0].upper() + name[1:]


def placebo_coverage_text(coverage: pd.DataFrame) -> str:
    """The range of each estimator's placebo coverage, pooled and by cell, on the outcomes every estimator covers
    (so the shares compare like with like), then least squares' on the outcomes only it covers, and what a
    shortfall would mean."""
    common = _shared(coverage)
    ranged = lambda part: (f"{100 * part['coverage_90'].min():.0f}% to {100 * part['coverage_90'].max():.0f}% "
                           f"({100 * _pooled(part):.0f}% over all {int(part['n'].sum())})")
    parts = [f"{est} {ranged(part)}" for est, part in coverage[common].groupby("estimator", sort=False)]
    rest = coverage[~common]
    others = ("" if rest.empty else
              f" On the other {rest['outcome'].nunique()} outcome{'s' if rest['outcome'].nunique() > 1 else ''}, which only "
              f"{' and '.join(rest['estimator'].unique())} covers, "
              f"the share is {ranged(rest)} (@tbl-prog-placebo-coverage-others).")
    sizes = coverage.groupby("estimator", sort=False)["n"].min()
    cells = " and ".join(f"{n} for the {est.split(' (')[0]}" for est, n in sizes.items() if n != sizes.max())
    ranges = " and ".join(f"{100 * _chance_range(n):.0f} points with {n}" for n in sorted(set(sizes), reverse=True))
    low = coverage[coverage["coverage_90"] < 0.9 - _chance_range(coverage["n"])]
    named = []
    for est, part in low.groupby("estimator", sort=False):
        if len(part) == (coverage["estimator"] == est).sum():
            named.append(f"every cell of the {est.split(' (')[0]} ({100 * part['coverage_90'].min():.0f}% to "
                         f"{100 * part['coverage_90'].max():.0f}%)")
        else:
            named += [f"the {est.split(' (')[0]} for {programmes.PROGRAMMES[r.programme]}, {programmes.OUTCOMES[r.outcome].label}, "
                      f"placebo LAs {_FAMILIES[r.family]} ({100 * r.coverage_90:.0f}%)" for r in part.itertuples()]
    below = "Below that range: " + "; ".join(named) + "." if named else "No share falls below that range."
    return (f"On the same placebo groups, where the true effect is zero, the share of 90% intervals that contain zero is, "
            f"on the headline outcomes, {'; '.join(parts)} (@tbl-prog-placebo-coverage).{others} There are {sizes.max()} placebos per cell"
            + (f" ({cells}, whose fits take longer: the first groups of each batch)" if cells else "")
            + f"; a calibrated interval would give 90% ± about {ranges} by chance alone if the placebos were independent. "
            "They are drawn from one pool and share LAs, so the range is somewhat wider than that, and a cell just outside "
            "it is weak evidence. Shares well below it mean intervals too narrow under these conditions, which include "
            "selection on deficits and the mean reversion that follows it (the placebos drawn by deficit), though only as "
            f"far as LAs outside the programmes reach: none had deficits as large as the Safety Valve LAs'. {below}")


def placebo_checks_text(results: dict[str, dict], estimator: str) -> str:
    """How many placebo groups of a grid that records each group's checks (`checks`) had a fit that missed one,
    and the coverage of those groups against the others', so a reader sees whether they move the share; when
    none did, how many passed only when sampled again for longer (the draws each group kept, `draws`)."""
    rows = [(c["passed"], c["rhat_max"], c["ess_bulk_min"], lo <= 0 <= hi) for r in results.values()
            for name, c in r["checks"].items() for lo, hi in ((v[1], v[2]) for v in r["placebos"][name].values())]
    failed = [row for row in rows if not row[0]]
    if not failed:
        draws = [c.get("draws") for r in results.values() for c in r["checks"].values()]
        longer = sum(d is not None and d > min(draws) for d in draws)
        return (f"Every fit of the {estimator} on the placebo groups passed its convergence checks"
                + (f", {longer} of the {len(draws)} groups after sampling again with {max(draws):,} draws a chain." if longer else "."))
    groups = sum(not c["passed"] for r in results.values() for c in r["checks"].values())
    passed = [row for row in rows if row[0]]
    return (f"For the {estimator}, {groups} of {sum(len(r['checks']) for r in results.values())} placebo groups had a fit "
            f"that missed a convergence check (R-hat up to {max(r[1] for r in failed):.3f}, bulk ESS down to "
            f"{min(r[2] for r in failed):.0f}); they are counted, and their intervals contain zero in "
            f"{100 * np.mean([r[3] for r in failed]):.0f}% of estimates against {100 * np.mean([r[3] for r in passed]):.0f}% "
            "for the groups whose fits passed.")


def _scenario_label(scenario: str, cal: simulation.Calibration) -> str:
    """'As in the real data (0.56)': the simulation scenario in words, with the deficit loading it uses."""
    return {"none": "No link", "calibrated": "As in the real data", "strong": "Strong"}[scenario] + \
        f" ({simulation.loading(scenario, cal):.2f})"


def simulation_table(coverage: pd.DataFrame, cal: simulation.Calibration) -> pd.DataFrame:
    """The simulation study (`simulation.coverage`): per scenario and outcome, each estimator's share of 90%
    intervals containing zero (with its binomial 90% interval) and its average estimate (the truth is 0)."""
    rows = []
    order = {k: i for i, k in enumerate([*simulation.SCENARIOS, *programmes.OUTCOMES])}
    for (sc, o), part in coverage.sort_values(["scenario", "outcome"], key=lambda c: c.map(order)).groupby(["scenario", "outcome"], sort=False):
        row = {"Deficits linked to outcomes (loading)": _scenario_label(sc, cal), "Outcome": programmes.OUTCOMES[o].label}
        for r in part.itertuples():
            row[_estimator_name(r.estimator)] = (f"{100 * r.coverage_90:.0f}% ({100 * r.coverage_lo:.0f}–{100 * r.coverage_hi:.0f}); "
                                                 + _minus(f"{r.mean:+.1f}"))
        rows.append(row)
    return pd.DataFrame(rows)


def _minus(text: str) -> str:
    """A signed number with a typographic minus."""
    return text.replace("-", "−")


def simulation_text(coverage: pd.DataFrame, cal: simulation.Calibration, estimates: pd.DataFrame, real: pd.DataFrame) -> str:
    """What the simulation study shows: what the simulation takes from the real data, each estimator's coverage
    across the scenarios (pooled over the two outcomes) read against the 90% a calibrated interval gives, how far
    its average estimate strays from zero, and how often the event study finds, with no effect and deficits as
    linked to the outcomes as in the real data, an 'effect' at least as large as the real one (`estimates`:
    `simulation.estimates`; `real`: `experiment.real_effects`)."""
    sizes = "; ".join(f"{n} for the {est.split(' (')[0]}" for est, n in coverage.groupby("estimator", sort=False)["n"].first().items())
    readings, usable, short, not_usable = [], [], [], []
    for est, part in coverage.groupby("estimator", sort=False):
        pooled = (part["coverage_90"] * part["n"]).groupby(part["scenario"]).sum() / part.groupby("scenario")["n"].sum()
        n = int(part.groupby("scenario")["n"].sum().iloc[0])
        worst = part.loc[part["mean"].abs().idxmax()]
        word = ("above 90% (its intervals are wider than they need be)" if pooled.min() > 0.9 + _chance_range(n) else
                "within the range chance gives around 90%" if pooled.min() >= 0.9 - _chance_range(n) else
                "somewhat short of 90% (its intervals are a little too narrow)" if pooled.min() >= 0.8 else "far short of 90%")
        low, high = pooled.get("strong", np.nan), pooled.get("none", np.nan)
        moves = high - low > 1.645 * np.sqrt((low * (1 - low) + high * (1 - high)) / n)  # one-sided 5% test of a fall
        name = f"the {est.split(' (')[0]}'s"
        if pooled.min() >= 0.9 - _chance_range(n):
            usable.append(name)
        elif pooled.min() >= 0.8:
            short.append(f"{name} 90% intervals cover {100 * pooled.min():.0f}% to {100 * pooled.max():.0f}%")
        else:
            not_usable.append(name)
        readings.append(f"the {est.split(' (')[0]}'s in {100 * pooled.min():.0f}% to {100 * pooled.max():.0f}%, {word}"
                        + (", and lower with the strongest link than with none" if moves else ", with no clear fall from no link to the strongest")
                        + f"; its average estimate strays from zero by up to {_minus(format(worst['mean'], '+.1f'))}%")
    real_at = real[real["programme"] == simulation.PROGRAMME].set_index("outcome")["median"]
    event = estimates[(estimates["estimator"] == "event") & (estimates["scenario"] == "calibrated")]
    as_large = "; ".join(f"{programmes.OUTCOMES[o].label}, {100 * (part['median'].abs() >= abs(real_at[o])).mean():.0f}% of "
                         f"{len(part)} (the real estimate: {_minus(format(real_at[o], '+.1f'))}%)" for o, part in event.groupby("outcome", sort=False))
    return (f"The simulation takes from the real data each LA's level and trend, the year means, and deviations that "
            f"persist as the real ones do once detrending's downward bias is undone (ρ = {cal.rho['ehcp_rate']:.2f} a year "
            f"for plans, {cal.rho['hn_spend_per_head']:.2f} for spend, found by simulating the detrending); the real "
            f"deficits correlate {cal.correlation:.2f} with the real detrended deviations, and the loading that reproduces "
            f"that in simulated data, detrending included, is {cal.loading:.2f}: the scenario \u201cas in the real data\u201d. "
            "Simulated "
            f"panels: {sizes}. The event study fits {simulation.BATCH} panels at a time, which share its noise scales and "
            "between-cohort spread, so those are pinned down better than in the chapter's own fits and its simulated "
            "intervals are, if anything, narrower than the chapter's; panels of one fit are not quite independent either, "
            "so the binomial ranges are a little too narrow. Across the three scenarios, pooled over the two outcomes, the "
            "90% intervals contained zero: "
            + "; ".join(readings) + " (@tbl-prog-simulation). "
            + (f"So {' and '.join(usable)} intervals can be read at face value under selection on deficits and the mean "
               "reversion that follows. " if usable else "")
            + (f"{'So t' if not usable else 'T'}{'; '.join(short)[1:]} under selection on deficits and the mean reversion "
               "that follows: read them as that, so a difference that only just excludes zero is weaker evidence than it looks. "
               if short else "")
            + (f"{' and '.join(not_usable)[:1].upper()}{' and '.join(not_usable)[1:]} intervals cannot be read at face value. "
               if not_usable else "")
            + "The simulation tests one mechanism, temporary deviations that fall back; deficits that signal lasting "
            "differences in trend are what the later-members design and the trend sensitivity bear on. With deficits as linked to the outcomes as in the real data and no effect at all, the event "
            f"study found a difference at least as large as the real {_SIMULATED} one in: " + as_large + ".")


_SIMULATED = programmes.PROGRAMMES[simulation.PROGRAMME]  # the programme whose selection the simulation imitates


def _interval_cell(s: dict[str, float], n: int | None = None) -> str:
    """'+1.2 (-0.3 to +2.6), 12 LAs' from a summary (`stats`), at the precision its MCSEs support."""
    median, lo, hi = interval_numbers(s)
    return f"{median} ({lo} to {hi})" + (f", {n} LAs" if n is not None else "")


def estimand_table(ev: Evaluation, coverage: pd.DataFrame) -> pd.DataFrame:
    """Event study and synthetic control side by side: change since the year before the start, treated minus
    comparison, by years since the start (headline outcomes; % for log outcomes). Under each outcome, a
    'placebo coverage' row gives the share of placebo groups (`placebo_crosschecks.coverage`, true effect zero)
    whose 90% interval for the average after the start contains zero, so the intervals above are read with it."""
    cells = coverage.groupby(["programme", "outcome", "estimator"])
    covered = pd.DataFrame({"share": cells[["coverage_90", "n"]].apply(_pooled), "n": cells["n"].sum()})
    rows = []
    for programme, name in programmes.PROGRAMMES.items():
        for o in programmes.HEADLINE:
            t = robustness.common_estimand(ev.event_study(programme), ev.synthetic_control(programme, o), o)
            wide = {est: part.set_index("event_time") for est, part in t.groupby("estimator")}
            row = {"Programme": name, "Outcome": programmes.OUTCOMES[o].label}
            for e in sorted(t["event_time"].unique()):
                cell = {est: (_interval_cell(stats(p.loc[e]), int(p.at[e, "n_treated"]))
                              if e in p.index else "–") for est, p in wide.items()}
                rows.append({**row, "Years since start": str(int(e)).replace("-", "−"),
                             "Event study (matched LAs)": cell.get("event study", "–"),
                             "Synthetic control (donor blend)": cell.get("synthetic control", "–")})
            placebo = {est: covered.loc[(programme, o, f"{est} (Bayesian)")] for est in ("event study", "synthetic control")}
            share = {est: f"{100 * c['share']:.0f}% of {int(c['n'])} placebo groups" for est, c in placebo.items()}
            rows.append({**row, "Years since start": "placebo coverage", "Event study (matched LAs)": share["event study"],
                         "Synthetic control (donor blend)": share["synthetic control"]})
    return pd.DataFrame(rows)


def sensitivity(ev: Evaluation) -> pd.DataFrame:
    """Trend sensitivity of every outcome's average effect after the start, per programme (numbers)."""
    return pd.concat([robustness.sensitivity_table(ev.event_study(p), [o for o in programmes.OUTCOMES if o in set(ev.event_study(p).outcomes)])
                      .assign(programme=p) for p in programmes.PROGRAMMES], ignore_index=True)


def _breakdown_words(m: float | None) -> str:
    if m is None or pd.isna(m):
        return f"more than {robustness.M_MAX:g}×"
    return "already includes 0" if m == 0 else f"{m:.2f}×"


def sensitivity_display(table: pd.DataFrame) -> pd.DataFrame:
    """`sensitivity` as the chapter shows it."""
    return pd.DataFrame({
        "Programme": table["programme"].map(programmes.PROGRAMMES),
        "Outcome": [programmes.OUTCOMES[o].label for o in table["outcome"]],
        "Average difference after the start": [f"{_interval_cell(stats(r))} {_unit(r.outcome)}" for r in table.itertuples()],
        "Largest pre-period year-to-year change": [f"{r.pre_change:.1f} {_unit(r.outcome)}" for r in table.itertuples()],
        "Robust interval, departures up to that size (M̄ = 1)": [" to ".join(interval_numbers(
            {"median": r.median, "lo": r.robust_lo_m1, "hi": r.robust_hi_m1, "lo_mcse": r.robust_lo_m1_mcse,
             "hi_mcse": r.robust_hi_m1_mcse})[1:]) for r in table.itertuples()],
        "Departure that reaches 0 (breakdown M̄)": [_breakdown_words(r.breakdown) if reading(stats(r)) else "already includes 0"
                                                   for r in table.itertuples()],
    })


def matched_checks(ev: Evaluation) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """Per (programme, headline outcome): the matched event study's own pre-start checks, as summaries (`stats`):
    the difference before the start and at a fake start."""
    out = {}
    for programme in programmes.PROGRAMMES:
        table = headline_table(ev, programme).set_index("outcome")
        for o in programmes.HEADLINE:
            r = table.loc[o]
            out[(programme, o)] = {"before the start": stats(r, "pre_trend"), "fake start": stats(r, "placebo_time")}
    return out


def preferred_text(table: pd.DataFrame, imputed: list[imputation.Imputation], headline: pd.DataFrame,
                   checks: dict[tuple[str, str], dict[str, dict[str, float]]] | None = None,
                   clustered: list[two_stage.TwoStage] | None = None, reweighted: list[balancing.Reweighted] | None = None) -> str:
    """One preferred estimate per programme and headline outcome, with the reason, how robust it is to a
    departure from parallel trends, whether the design against the programme's own later members
    (`headline`, from `experiment.headline_sensitivities`) disagrees, and whether the imputation cross-check (all
    eligible LAs) does and, if so, whether its own fake start shows a drift that accounts for it. That drift
    accounts for it only if the matched comparison's own pre-start checks (`checks`, from `matched_checks`) show
    none; a clear imputation estimate whose LA-clustered two-stage twin (`clustered`) is not clear says so; and
    where reweighting on pre-period trends (`reweighted`, from `balancing.reweight`) reads differently, it says that
    too. Where the two designs give clear differences in opposite directions, it says that the data do not settle
    the direction."""
    lines = []
    twins = {(t.programme, t.outcome): _two_stage(t) for t in clustered or []}
    by_trends = {(r.programme, o): _bootstrapped(r.effects.set_index(["outcome", "period"]).loc[(o, "after")])
                 for r in reweighted or [] if r.covariates == balancing.TRENDS and r.found for o in programmes.HEADLINE}
    cross = {(r.programme, r.outcome): (r.post, r.fake_start) for r in imputed}
    later = headline[headline["analysis"] == "later_waves"].set_index(["programme", "outcome"])
    for programme, name in programmes.PROGRAMMES.items():
        for o in programmes.HEADLINE:
            r = table[(table["programme"] == programme) & (table["outcome"] == o)].iloc[0]
            units = _unit(o)
            if not reading(stats(r)):
                robust = "the interval already includes no difference, so there is no conclusion for a trend to overturn"
            elif pd.notna(r["breakdown"]) and r["breakdown"] < 1:
                robust = (f"**not robust**: a departure from parallel trends {r['breakdown']:.2f} times the largest year-to-year "
                          "change already seen before the start would be enough to include no difference")
            else:
                robust = ("robust to departures from parallel trends as large as the largest year-to-year change seen before "
                          f"the start (breakdown {_breakdown_words(r['breakdown'])})")
            design = ""
            if (programme, o) in later.index:
                w = later.loc[(programme, o)]
                agree = _agreement(stats(r), stats(w), ("the matched comparison", "the comparison with later members"))
                if not (agree.startswith("the same direction, with intervals that overlap") or agree.startswith("neither is clear")):
                    design = f" Against the programme's own later members before they joined, who were chosen for their deficits too, it is {effect_text(stats(w), units)}"
                    design += (": **the two designs give clear differences in opposite directions, so these data do not settle even "
                               "the direction of the difference**." if agree == "opposite directions, both clear" else
                               f" ({agree}): **not robust to the choice of comparison LAs**.")
            other = ""
            if (programme, o) in cross:
                c, fake = cross[(programme, o)]
                agree = _agreement(stats(r), c, ("the event study", "the imputation"))
                if not (agree.startswith("the same direction, with intervals that overlap") or agree == "neither is clear"):
                    other = (f" The imputation cross-check, against all eligible LAs, gives {effect_text(c, units)}"
                             f" ({agree})")
                    twin = twins.get((programme, o))
                    if twin is not None and reading(c) and not reading(twin):
                        other += (f"; with LA-clustered intervals (two-stage DiD on the same LAs) it is {effect_text(twin, units)}, "
                                  "not clear")
                    drifted = reading(fake) * np.sign(c["median"]) > 0
                    own = {k: v for k, v in (checks or {}).get((programme, o), {}).items() if reading(v)}
                    if drifted and own:
                        other += (f", and its fake start shows programme LAs already drifting that way against those LAs before the "
                                  f"start ({effect_text(fake, units)}); but the matched comparison's own pre-start checks show a "
                                  "difference too (" + "; ".join(f"{k}: {effect_text(v, units)}" for k, v in own.items())
                                  + "), so neither estimate is free of a trend that predates the programme: **not robust**.")
                    else:
                        other += (f", but its fake start shows programme LAs already drifting that way against those LAs before the start "
                                  f"({effect_text(fake, units)}): that reading may carry a trend that "
                                  "predates the programme, which matching on pre-start growth is built to narrow"
                                  + (", and the matched comparison's own pre-start checks show no difference" if checks is not None else "")
                                  + ", so the preferred estimate rests on the matching."
                                  if drifted else
                                  ": **not robust to the choice of comparison LAs and baseline**"
                                  + (", so not even the direction is settled" if (r["median"] > 0) != (c["median"] > 0) else "") + ".")
            weighted = ""
            if (programme, o) in by_trends:
                w = by_trends[(programme, o)]
                agree = _agreement(stats(r), w, ("the event study", "reweighting"))
                if not (agree.startswith("the same direction, with intervals that overlap") or agree.startswith("neither is clear")):
                    weighted = (f" Reweighting the eligible LAs on pre-period trends instead of matching gives {effect_text(w, units)}"
                                f" ({agree}).")
            lines.append(f"- **{name}, {programmes.OUTCOMES[o].label}**: {effect_text(stats(r), units)} on average "
                         f"after the start; {robust}.{design}{other}{weighted}")
    return "\n".join(lines)


def crosscheck_table(ev: Evaluation, twin: list[two_stage.TwoStage]) -> pd.DataFrame:
    """The Bayesian event study's average effect after the start beside pyfixest's least-squares estimate of it on
    the same stacks and pyfixest's two-stage estimate on every not-yet-treated LA-year (`twin`), every outcome."""
    rows, by_key = [], {(t.programme, t.outcome): t for t in twin}
    for programme, name in programmes.PROGRAMMES.items():
        bayes = headline_table(ev, programme).set_index("outcome")
        ls = robustness.fixest_att(ev.frame(programme, "main")).query("block == 'after'").set_index("outcome")
        for o in bayes.index:
            b, f = bayes.loc[o], ls.loc[o]
            rows.append({"Programme": name, "Outcome": b["label"],
                         "Bayesian event study": effect_text(stats(b, "effect"), b["units"]),
                         "Least squares (pyfixest)": effect_text({"median": f["estimate"], "lo": f["lo"], "hi": f["hi"]}, b["units"]),
                         "Two-stage DiD (pyfixest)": effect_text(_two_stage(by_key[(programme, o)]), b["units"])})
    return pd.DataFrame(rows)


def _two_stage(t: two_stage.TwoStage) -> dict[str, float]:
    """A two-stage estimate as a summary `effect_text` reads (no Monte Carlo error: one decimal)."""
    return {"median": t.estimate, "lo": t.lo, "hi": t.hi}


def imputation_table(ev: Evaluation, results: list[imputation.Imputation], twin: list[two_stage.TwoStage]) -> pd.DataFrame:
    """The event study's average difference after the start beside CausalPy's imputation estimate of it and
    pyfixest's two-stage estimate on the same rows, the imputation's fake-start check, the LAs each rests on and
    the imputation fits' checks."""
    rows = []
    by_key = {(t.programme, t.outcome): t for t in twin}
    for r in results:
        b = headline_table(ev, r.programme).set_index("outcome").loc[r.outcome]
        d, f = r.diagnostics, r.fake_start_diagnostics
        rows.append({"Programme": programmes.PROGRAMMES[r.programme], "Outcome": b["label"],
                     "Event study (matched LAs, since year −1)": effect_text(stats(b, "effect"), b["units"]),
                     "Imputation (CausalPy; all eligible LAs)": effect_text(r.post, b["units"]),
                     "Two-stage DiD (pyfixest; same LAs, LA-clustered)": effect_text(_two_stage(by_key[(r.programme, r.outcome)]), b["units"]),
                     f"Imputation, fake start {PLACEBO_SHIFT} years early (≈ 0 if no drift)": effect_text(r.fake_start, b["units"]),
                     "LAs (programme / comparison)": f"{r.treated} / {r.comparisons}",
                     "R-hat, ESS, divergences (both fits)": f"{max(d.rhat_max, f.rhat_max):.3f}, "
                     f"{min(d.ess_bulk_min, f.ess_bulk_min):,.0f}, {d.divergences + f.divergences}"})
    return pd.DataFrame(rows)


def imputation_plot(ev: Evaluation, results: list[imputation.Imputation]) -> alt.FacetChart:
    """By years since the start: the event study (change since year −1, matched LAs) and the imputation
    estimate (gap from the LA and year effects fitted to LA-years not yet in the programme), headline outcomes."""
    parts = []
    for r in results:
        es = robustness.common_estimand(ev.event_study(r.programme), None, r.outcome)
        parts.append(es.assign(estimator="Event study (since year −1)", programme=programmes.PROGRAMMES[r.programme], outcome=r.outcome))
        parts.append(r.by_event_time.assign(estimator="Imputation (CausalPy)", programme=programmes.PROGRAMMES[r.programme], outcome=r.outcome))
    data = _label(pd.concat(parts, ignore_index=True))[["programme", "label", "estimator", "event_time", "median", "lo", "hi", "n_treated"]]
    data = data.round({"median": 2, "lo": 2, "hi": 2})
    colour = alt.Color("estimator:N", title=None, scale=alt.Scale(range=[charts.OKABE_ITO[1], charts.OKABE_ITO[4]]),
                       legend=alt.Legend(orient="bottom"))
    base = alt.Chart().encode(x=alt.X("event_time:O", title="Years since start", axis=alt.Axis(labelAngle=0)),
                              xOffset="estimator:N", color=colour)
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("lo:Q", title="Difference (%)"), y2="hi:Q")
    points = base.mark_point(filled=True, size=36).encode(
        y="median:Q", tooltip=["estimator:N", alt.Tooltip("event_time:O", title="years since start"), alt.Tooltip("median:Q", format=".1f"),
                               alt.Tooltip("lo:Q", format=".1f", title="5%"), alt.Tooltip("hi:Q", format=".1f", title="95%"),
                               alt.Tooltip("n_treated:Q", title="programme LAs")])
    zero = alt.Chart().mark_rule(color="grey").encode(y=alt.datum(0))
    return (
        alt.layer(zero, bars, points, data=data)
        .properties(width=240, height=130)
        .facet(row=alt.Row("programme:N", title=None, sort=list(programmes.PROGRAMMES.values()),
                           header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelFontWeight="bold")),
               column=alt.Column("label:N", title=None, header=alt.Header(labelExpr=charts.wrap_label(), labelLimit=0, labelFontSize=11)))
        .resolve_scale(y="independent")
    )


def _agreement(a: dict[str, float], b: dict[str, float], names: tuple[str, str] = ("the first", "the second")) -> str:
    """How two estimates (summaries, `stats`) of the same difference compare, in words, each read as it is shown
    (`reading`); `names` name a and b."""
    clear_a, clear_b = bool(reading(a)), bool(reading(b))
    (a_lo, a_hi), (b_lo, b_hi) = _shown_ends(a), _shown_ends(b)
    overlap = a_lo <= b_hi and b_lo <= a_hi
    if clear_a and clear_b:
        if reading(a) != reading(b):
            return "opposite directions, both clear"
        return "the same direction, with intervals that overlap" if overlap else "the same direction, with intervals that do not overlap"
    if clear_a or clear_b:
        return "a different reading: only " + (names[0] if clear_a else names[1]) + " is clear" + (
            "" if overlap else ", and the intervals do not overlap")
    sides = {float(interval_numbers(x)[0]) for x in (a, b)}
    return "neither is clear" + (", and their medians lie on opposite sides of zero" if min(sides) < 0 < max(sides) else "")


def _shown_ends(s: dict[str, float]) -> tuple[float, float]:
    """An interval's two ends as `interval_numbers` shows them, as numbers."""
    return round(s["lo"], _end_digits(s)), round(s["hi"], _end_digits(s))


def imputation_text(ev: Evaluation, results: list[imputation.Imputation], coverage: pd.DataFrame,
                    twin: list[two_stage.TwoStage]) -> str:
    """Where the imputation estimate agrees with the event study, where it does not, what its fake start
    says about a drift before the start, how its intervals compare with pyfixest's two-stage ones on the same
    rows (`twin`), and how they fared on the placebo groups (`coverage`, from `placebo_crosschecks.coverage`)."""
    lines, alike = [], 0
    for r in results:
        b = headline_table(ev, r.programme).set_index("outcome").loc[r.outcome]
        agree = _agreement(r.post, stats(b, "effect"),
                           ("the imputation", "the event study"))
        alike += agree.startswith("the same direction") or agree == "neither is clear"
        fake = effect_text(r.fake_start, b["units"])
        drift = r.fake_start["lo"] > 0 or r.fake_start["hi"] < 0
        lines.append(
            f"- **{programmes.PROGRAMMES[r.programme]}, {b['label']}**: the imputation estimate is "
            f"{effect_text(r.post, b['units'])} against the event study's {effect_text(stats(b, 'effect'), b['units'])}: "
            + agree + ". "
            + (f"A fake start {PLACEBO_SHIFT} years early, with each LA's effect fitted only to the years before it, already "
               f"shows a gap ({fake}): against all eligible LAs, programme LAs were drifting "
               f"{'upwards' if r.fake_start['median'] > 0 else 'downwards'} before the start, and an estimate after the start "
               "that assumes parallel trends with them carries some of that drift."
               if drift else
               f"A fake start {PLACEBO_SHIFT} years early shows no clear gap ({fake}): no sign, in the two years before the "
               "start, of a drift against all eligible LAs."))
    lines.append(
        f"\nIn {alike} of {len(results)} the two estimators give the same reading. They differ in design, and the data "
        "cannot say which difference parts them where they part: LA effects absorb differences in level, so what moves "
        "the imputation away from the event study is a difference in trend between programme LAs and the average "
        "eligible LA (which matching on pre-start growth narrows), and the baseline (every year before the start, not "
        "only the one before it). The imputation's intervals treat an LA's years as independent and understate its "
        "uncertainty. The preferred estimates below remain the event study's, and where the two disagree the preferred "
        "estimate says so.")
    by_key = {(t.programme, t.outcome): t for t in twin}
    pairs = [(r, by_key[(r.programme, r.outcome)]) for r in results]
    ratios = [(t.hi - t.lo) / (r.post["hi"] - r.post["lo"]) for r, t in pairs]
    gap = max(abs(t.estimate - r.post["median"]) for r, t in pairs)
    name = lambda r: f"{programmes.PROGRAMMES[r.programme]}, {programmes.OUTCOMES[r.outcome].label}"
    lost = [name(r) for r, t in pairs if is_clear(r.post) and not is_clear(_two_stage(t))]
    gained = [name(r) for r, t in pairs if is_clear(_two_stage(t)) and not is_clear(r.post)]
    width = (f"{min(ratios):.1f} to {max(ratios):.1f} times as wide" if min(ratios) > 1 else
             f"from {min(ratios):.1f} to {max(ratios):.1f} times as wide")
    lines.append(
        f"\npyfixest's two-stage difference-in-differences [@gardner2022] on the same rows estimates the same "
        f"least-squares imputation, which CausalPy's posterior medians match to within {gap:.2f} points; its intervals, "
        f"which allow for the correlation of an LA's years, are {width} (@tbl-prog-imputation). "
        + (f"With them, {'; '.join(lost)} {'is' if len(lost) == 1 else 'are'} no longer clear: that reading rests on "
           "treating an LA's years as independent. " if lost else "")
        + (f"{'; '.join(gained)} {'becomes' if len(gained) == 1 else 'become'} clear with them. " if gained else "")
        + ("Every reading the imputation gives is the same with them." if not lost and not gained else ""))
    mine = coverage[coverage["estimator"] == "imputation (CausalPy)"]
    n, pooled = int(mine["n"].sum()), _pooled(mine)
    lines.append(
        f"\nOn placebo groups, where the true effect is zero (@tbl-prog-placebo-coverage), the imputation's 90% intervals "
        f"contained zero in {100 * pooled:.0f}% of {n} cases ({100 * mine['coverage_90'].min():.0f}% to "
        f"{100 * mine['coverage_90'].max():.0f}% by cell), "
        + ("well short of 90%: its intervals are too narrow to be read at face value, and a clear difference by this "
           "estimator alone, its fake start included, is weak evidence." if pooled < 0.8 else
           "somewhat short of 90%, more than chance alone would give: its intervals are somewhat too narrow." if
           pooled < 0.9 - _chance_range(n) else
           "within the range chance alone gives around 90%, although its intervals leave out sources of uncertainty."))
    return "\n".join(lines)


def later_waves_table(ev: Evaluation) -> pd.DataFrame:
    """Balance of the two designs, levels and pre-period trends: SMD against matched LAs and against later members."""
    rows = []
    for programme, name in programmes.PROGRAMMES.items():
        b = ev.later_waves_balance(programme)
        for r in b.itertuples():
            rows.append({"Programme": name, "Covariate (year before the start)": r.label,
                         "Matched LAs": f"{r.matched:+.2f}", "Later members": f"{r.later_waves:+.2f}"})
    return pd.DataFrame(rows)


def reweighting_text(results: list[balancing.Reweighted], headline: pd.DataFrame) -> str:
    """What reweighting on pre-period trends gives beside the matched event study, and what no weights can do."""
    main = headline[headline["analysis"] == "main"].set_index(["programme", "outcome"])
    parts = []
    for programme, name in programmes.PROGRAMMES.items():
        mine = [r for r in results if r.programme == programme]
        trends = next(r for r in mine if r.covariates == balancing.TRENDS)
        if not trends.found:
            parts.append(f"For {name}, no weights balance even the pre-period trends.")
            continue
        e = trends.effects.set_index(["outcome", "period"])
        said = []
        for outcome in programmes.HEADLINE:
            m = main.loc[(programme, outcome)]
            said.append(f"{programmes.OUTCOMES[outcome].label}, "
                        f"{effect_text(_bootstrapped(e.loc[(outcome, 'after')]), '%')}"
                        f" against {effect_text(stats(m), '%')} from the matched event study")
        left = trends.balance[~trends.balance["covariate"].isin(trends.covariates)]
        worst = left.loc[left["after"].abs().idxmax()]
        failed = [r for r in mine if not r.found]
        parts.append(
            f"Reweighted on pre-period trends, {name} LAs' average change after the start differs from the comparison "
            f"LAs' by: {'; '.join(said)}. The weights leave levels apart (largest: {worst['label']}, SMD {worst['after']:+.2f})"
            + (f"; {trends.failed:.0%} of bootstrap resamples had no balancing weights and are left out of the interval" if trends.failed > 0.01 else "")
            + ". "
            + (" ".join(f"Balancing {balancing_name(r)} as well is impossible for {len(r.cohorts) - len(r.cohorts_found)} of its "
                        f"{len(r.cohorts)} cohorts: no weighting of the eligible LAs matches them." for r in failed)))
    return " ".join(parts)


def balance_target_text(ev: Evaluation, weighted: list[balancing.Reweighted]) -> str:
    """Per programme, which designs bring what they rely on within `crosschecks.TARGET_SMD`, and the worst gap
    of those that do not; then what a design that balances only trends leaves on levels."""
    target = crosschecks.TARGET_SMD
    def design(key: str) -> str:
        return {"matched": "matching", "later_waves": "the later members"}.get(key, key.replace("reweighted: ", "entropy balancing on "))

    parts = []
    for programme, name in programmes.PROGRAMMES.items():
        designs = {k: v for k, v in crosschecks.balance_by_design(ev, programme, weighted).items() if isinstance(v, dict) and k != "before"}
        met = [design(k) for k, v in designs.items() if v["meets_target"]]
        missed = [f"{design(k)} ({matching.COVARIATES[v['worst']].split(' (')[0]}, {v['max_abs_smd_relied_on']:.2f})"
                  for k, v in designs.items() if not v["meets_target"]]
        levels = max((v["max_abs_smd_levels"] for k, v in designs.items() if v["meets_target"]), default=None)
        parts.append(f"for {name}, " + (f"{' and '.join(met)} {'meets' if len(met) == 1 else 'meet'} it" if met else "no design meets it")
                     + (f"; {' and '.join(missed)} {'does' if len(missed) == 1 else 'do'} not" if missed else "")
                     + (f", and the designs that meet it leave pre-period levels up to {levels:.1f} standard deviations apart"
                        if levels is not None and levels >= target else ""))
    return (f"Against a target of {target} standard deviations on what each design relies on (every matching characteristic "
            "for matching; pre-period trends for the later members, since the changes are measured from the year before "
            "the start; what it balances for entropy balancing): " + "; ".join(parts) + ". Where only trends are balanced, "
            "the comparison assumes LAs with very different deficits and levels would have changed alike; the simulation "
            "study below asks what that can cost when high deficits signal outcomes that will fall back anyway.")


def balancing_name(result: balancing.Reweighted) -> str:
    """The specification's name without the trends every specification balances ('levels, mix and deficit')."""
    name = balancing.NAMES[result.covariates]
    return name.replace("trends, ", "").replace("trends and ", "")


def reweighting_table(results: list[balancing.Reweighted]) -> pd.DataFrame:
    """One row per programme and specification: what was balanced, whether weights exist, the comparison LAs'
    effective number, the largest imbalance left, and the headline changes after the start (and before it, a
    check) with their 90% intervals."""
    rows = []
    for r in results:
        e = r.effects.set_index(["outcome", "period"])
        cell = lambda o, p: _interval_cell(_bootstrapped(e.loc[(o, p)])) if r.found else "–"
        unbalanced = r.balance[~r.balance["covariate"].isin(r.covariates)]
        rows.append({
            "programme": programmes.PROGRAMMES[r.programme],
            "balanced on": balancing.NAMES.get(r.covariates, ", ".join(r.covariates)),
            "weights found": "every cohort" if r.found else f"{len(r.cohorts_found)} of {len(r.cohorts)} cohorts",
            "comparison LAs (effective)": f"{r.controls} ({r.effective:.0f})" if r.found else f"{r.controls}",
            "largest |SMD| left": (f"{unbalanced['after'].abs().max():.2f} ({unbalanced.loc[unbalanced['after'].abs().idxmax(), 'label']})"
                                   if r.found and len(unbalanced) else ("0.00" if r.found else "–")),
            "EHC plans per head, after (%)": cell("ehcp_rate", "after"),
            "spend per head, after (%)": cell("hn_spend_per_head", "after"),
            "spend per head, before (%)": cell("hn_spend_per_head", "before"),
        })
    return pd.DataFrame(rows)


def _bootstrapped(row: pd.Series) -> dict[str, float]:
    """A reweighted estimate (a point estimate, without Monte Carlo error) and its bootstrap interval as a summary."""
    return {"median": row["estimate"], **{k: row[k] for k in ("lo", "hi", "lo_mcse", "hi_mcse")}}
