"""How far the programme estimates can be trusted: one estimand for both estimators, and trend sensitivity.

*One estimand.* The event study measures each LA's change since event time −1 (the
year before the programme) against its comparison LAs' change; the synthetic
control as fitted measures gaps from each LA's pre-period mean, which builds any
pre-period drift into the effect. `common_estimand` puts both on the event study's
footing — the average change since e = −1, treated minus comparison, by event
time — so that the two can be read in one table and their differences come from
the comparison group (matched LAs against a weighted donor pool), not the base year.

*Trend sensitivity* in the manner of Rambachan and Roth's relative-magnitudes bounds
[@rambachan_2023_honest]. Parallel trends may fail after the start by as much as it
failed before it: suppose the bias in the change from e to e + 1 after the start is
at most M̄ times the largest year-to-year change of the pre-period differences (e = −4
… −1, with e = −1 zero by construction). The bias of the average over the post-period
event times observed is then at most M̄·D·k̄, with D that largest pre-period change
and k̄ the average number of years since e = −1. For each M̄ the robust 90 % interval
is the 5th percentile of (ATT − M̄·D·k̄) to the 95th of (ATT + M̄·D·k̄), over the joint
posterior of ATT and D (so the noise in the pre-period estimates counts). The
*breakdown* M̄ is the smallest for which that interval includes zero: below 1, a
departure from parallel trends no larger than one already seen before the start
would overturn the conclusion. This is a Bayesian analogue of their bounds, not
their frequentist procedure (HonestDiD is an R package; there is no maintained
Python implementation).

*A frequentist cross-check.* `fixest_att` estimates the same average effect by
least squares with stack fixed effects and LA-clustered standard errors
(pyfixest), on the event study's own stacked data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.evaluation import programmes
from analysis.evaluation.event_study import POST_AVERAGE, PRE_AVERAGE, EventStudy
from analysis.evaluation.programmes import in_units
from analysis.evaluation.synthetic_control import SyntheticControl

#: Values of M̄ tabulated, and the resolution of the breakdown value.
M_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
M_STEP = 0.05
M_MAX = 5.0


def common_estimand(es: EventStudy, synth: SyntheticControl | None, outcome: str) -> pd.DataFrame:
    """ATT by event time against e = −1 from the event study (main analysis) and the synthetic control.

    Columns: estimator, event_time, n_treated, median, lo, hi (90 %) and their Monte Carlo standard errors,
    in reporting units (% for log outcomes). The base year itself (0 by construction) is left out.
    """
    by_e = es.att_by_event_time()
    parts = [by_e[(by_e["group"] == "main") & (by_e["outcome"] == outcome)].assign(estimator="event study")]
    if synth is not None:
        parts.append(synth.att_from_base(-1).assign(estimator="synthetic control"))
    rows = []
    for part in parts:
        for r in part.itertuples():
            rows.append({"estimator": r.estimator, "event_time": int(r.event_time), "n_treated": int(r.n_treated),
                         **programmes.summary(outcome, r.draws, r.chains)})
    return pd.DataFrame(rows).sort_values(["estimator", "event_time"], ignore_index=True)


def _pre_and_post(es: EventStudy, outcome: str, group: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Draws of D (largest year-to-year change of the pre-period ATTs, e = −1 included as 0), of the
    post-period average ATT, and k̄ (treated-weighted mean of e + 1 over the post-period cells)."""
    by_e = es.att_by_event_time()
    cells = by_e[(by_e["group"] == group) & (by_e["outcome"] == outcome)].sort_values("event_time")
    pre = cells[cells["event_time"] < -1]
    if len(pre) < 1:
        raise ValueError(f"trend sensitivity: no pre-period event times for {outcome} ({group})")
    path = np.column_stack([*pre["draws"], np.zeros_like(pre["draws"].iloc[0])])
    d = np.abs(np.diff(path, axis=1)).max(axis=1)
    post = cells[cells["event_time"] >= 0]
    k_bar = float(np.average(post["event_time"] + 1, weights=post["n_treated"]))
    att = es.att_post()
    att = att[(att["group"] == group) & (att["outcome"] == outcome)]["draws"].iloc[0]
    return d, att, k_bar


def trend_sensitivity(es: EventStudy, outcome: str, group: str = "main") -> dict:
    """Robust 90 % intervals of the post-period average ATT for each M̄ in `M_GRID`, and the breakdown M̄.

    Returns {"intervals": [{"m": M̄, "lo", "hi", "lo_mcse", "hi_mcse"} in reporting units], "breakdown": M̄*
    (0 when the main interval already includes zero; None when even `M_MAX` does not reach zero),
    "pre_change": median D in reporting units, "k_bar": k̄, "att": the unadjusted average effect's median and
    90 % interval with their Monte Carlo standard errors (`programmes.summary`)}.
    """
    d, att, k_bar = _pre_and_post(es, outcome, group)
    chains = es.fit().posterior.sizes["chain"]

    def bounds(m: float) -> tuple[float, float]:
        lo = np.quantile(in_units(outcome, att - m * d * k_bar), 0.05)
        hi = np.quantile(in_units(outcome, att + m * d * k_bar), 0.95)
        return float(lo), float(hi)

    breakdown = None
    for m in np.arange(0.0, M_MAX + M_STEP / 2, M_STEP):
        lo, hi = bounds(m)
        if lo <= 0 <= hi:
            breakdown = round(float(m), 2)
            break

    def robust(m: float) -> dict:
        lower, upper = (programmes.summary(outcome, att + sign * m * d * k_bar, chains) for sign in (-1, 1))
        return {"m": m, "lo": lower["lo"], "hi": upper["hi"], "lo_mcse": lower["lo_mcse"], "hi_mcse": upper["hi_mcse"]}

    intervals = [robust(m) for m in M_GRID]
    return {"intervals": intervals, "breakdown": breakdown, "pre_change": float(np.median(in_units(outcome, d))), "k_bar": k_bar,
            "att": programmes.summary(outcome, att, chains)}


def sensitivity_table(es: EventStudy, outcomes: list[str]) -> pd.DataFrame:
    """Per outcome: the post-period average ATT, the largest pre-period change, the breakdown M̄ and the
    robust interval at M̄ = 1 (reporting units), with the Monte Carlo standard errors of the intervals' ends."""
    rows = []
    for o in outcomes:
        s = trend_sensitivity(es, o)
        at_one = next(i for i in s["intervals"] if i["m"] == 1.0)
        rows.append({"outcome": o, **s["att"], "pre_change": s["pre_change"], "k_bar": s["k_bar"],
                     "breakdown": s["breakdown"], "robust_lo_m1": at_one["lo"], "robust_hi_m1": at_one["hi"],
                     "robust_lo_m1_mcse": at_one["lo_mcse"], "robust_hi_m1_mcse": at_one["hi_mcse"]})
    return pd.DataFrame(rows)


def fixest_att(frame: pd.DataFrame) -> pd.DataFrame:
    """The same comparison by least squares with pyfixest [@pyfixest]: a frequentist cross-check of the event study.

    On the main analysis' collapsed blocks (each LA's average change after the start, and over
    e ≤ −2, since the year before), per outcome and block: Δy ~ treated | stack, weighted by
    1/reuse as in the Bayesian model, with standard errors clustered by LA (an LA in several
    stacks is one cluster). Stack fixed effects weight cohorts by the variance of treatment
    within them, not by their treated LAs as the Bayesian pooling does, so the two can differ
    a little even on the same data. Columns: outcome, block ("after" / "before"), estimate,
    lo, hi (90 % confidence interval from pyfixest, with t(G − 1) critical values for G
    LA clusters; reporting units), n_treated, n.
    """
    import pyfixest as pf

    rows = []
    main = frame[frame["group"] == "main"]
    for block, e in (("after", POST_AVERAGE), ("before", PRE_AVERAGE)):
        for o, d in main[main["event_time"] == e].groupby("outcome", sort=False):
            d = d.assign(treat=d["treated"].astype(int), w=1.0 / d["reuse"])
            fit = pf.feols("dy ~ treat | stack", data=d, weights="w", vcov={"CRV1": "la_code"})
            ci = fit.confint(alpha=0.10).loc["treat"]
            lo, mid, hi = (float(in_units(o, np.array([v]))[0]) for v in (ci.iloc[0], fit.coef()["treat"], ci.iloc[1]))
            rows.append({"outcome": o, "block": block, "estimate": mid, "lo": lo, "hi": hi,
                         "n_treated": int(d["treat"].sum()), "n": len(d)})
    return pd.DataFrame(rows)
