"""Gardner's two-stage difference-in-differences, by pyfixest, on the LA-year panel: the frequentist twin of
CausalPy's imputation estimate.

Stage one fits LA and year effects to every LA-year not yet in the programme: the same rows as the
imputation estimator's (`imputation.panel`: comparison LAs before they join either programme, programme LAs
before their start). Stage two regresses what is left of the outcome in the programme LAs' years from their
start (event times 0 to `programmes.POST`) on a treatment indicator, with standard errors that allow for the
first stage's estimation and cluster by LA [@gardner2022; @pyfixest]. Each programme LA-year is weighted by
one over that LA's years after the start, so each LA counts once, as in the event study and in
`imputation.average`: the estimate is the programme LAs' average gap over the years after the start.

Why it is here: its point estimate is, by construction, the imputation estimator's least-squares one
[@borusyak2024], while its interval comes from other machinery (a sandwich estimator, not a posterior), so it
checks CausalPy's Bayesian interval on the same rows with an established frequentist implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.evaluation import imputation, programmes
from analysis.evaluation.experiment import Evaluation


@dataclass(frozen=True)
class TwoStage:
    """One programme and outcome: the average gap after the start and its 90% confidence interval (reporting
    units), the programme LAs it rests on and the LAs in the first stage."""

    programme: str
    outcome: str
    estimate: float
    lo: float
    hi: float
    treated: int
    las: int


def usable(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without LAs that have a single LA-year not yet in the programme (today three former Dorset
    comparison LAs with spend for 2018 only). pyfixest drops such singleton LA effects from the first stage and
    then misaligns its weights with the rows, so they are left out here: for a comparison LA that one year
    informs nothing else; a programme LA left out would show in `TwoStage.treated`."""
    before = rows.loc[rows["treated"] == 0].groupby("la_code").size()
    return rows[rows["la_code"].map(before).fillna(0) > 1].reset_index(drop=True)


def fit(rows: pd.DataFrame) -> tuple[float, float, float]:
    """pyfixest's two-stage estimate from imputation rows (la_code, year, y, g, treated; no singleton LA, see
    `usable`): the LA-weighted average gap in the treated LA-years and its 90% interval, on the model scale."""
    import pyfixest as pf

    after = rows["treated"] == 1
    per_la = rows.loc[after].groupby("la_code")["year"].transform("size")
    data = rows.assign(w=1.0)
    data.loc[after, "w"] = 1.0 / per_la
    result = pf.did2s(data, yname="y", first_stage="~ 0 | la_code + year", second_stage="~ treated", treatment="treated",
                      cluster="la_code", weights="w")
    lo, hi = result.confint(alpha=0.10).loc["treated"]
    return float(result.coef()["treated"]), float(lo), float(hi)


def estimate(ev: Evaluation, programme: str, outcome: str) -> TwoStage:
    """The two-stage estimate of one programme and outcome on the imputation estimator's rows."""
    rows = usable(imputation.panel(ev, programme, outcome))
    mid, lo, hi = (float(programmes.in_units(outcome, np.array([v]))[0]) for v in fit(rows))
    return TwoStage(programme, outcome, mid, lo, hi, int(rows.loc[rows["treated"] == 1, "la_code"].nunique()), int(rows["la_code"].nunique()))


def estimates(ev: Evaluation) -> list[TwoStage]:
    """Every programme and evaluated outcome: on the headline outcomes it is the imputation's twin; on the others,
    which the imputation (a Bayesian fit each) does not cover, it is the frequentist cross-check on every
    not-yet-treated LA-year beside the least-squares one on the matched stacks."""
    return [estimate(ev, p, o) for p in programmes.PROGRAMMES for o in ev.outcomes["outcome"].unique()]
