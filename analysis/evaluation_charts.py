"""Charts for the programme evaluation chapter: balance, event studies, placebos, synthetic controls."""

from __future__ import annotations

import altair as alt
import pandas as pd

from . import charts, programmes

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
