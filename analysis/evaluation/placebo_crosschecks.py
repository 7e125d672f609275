"""The least-squares cross-check on the placebo groups: are its 90% confidence intervals calibrated where
the true effect is zero, under selection on deficits and the mean reversion that follows?

The placebo grid (`placebos`) gives the Bayesian event study's coverage on 100 matched placebo groups per
programme and family of draws, for the headline outcomes. This grid re-creates exactly the same groups (the
same seeds and draws, `placebos.groups`) and estimates each one's average difference after the start by least
squares with stack fixed effects and LA-clustered standard errors (`robustness.fixest_att`, pyfixest), as the
chapter's cross-check does for the real programme LAs, for every evaluated outcome. The share of intervals
containing zero is that estimator's coverage under the same conditions: on the headline outcomes it is read
beside the event study's, and on the others it is the calibration there is (the Bayesian event study on every
outcome takes several times as long a batch, beyond this grid's budget).

Each task is one batch of `placebos.BATCH` groups (seconds: least squares needs no sampling), run by
`python -m analysis grid placebo-crosschecks` and stored in `results/placebo-crosschecks.json`.
"""

from __future__ import annotations

import pandas as pd

from analysis import grid
from analysis.evaluation import experiment, placebos, programmes, robustness
from analysis.evaluation.event_study import stack

#: CI's subset: the same batch as the placebo grid's reduced run.
REDUCED = placebos.REDUCED


def placebo_batch(programme: str, family: str, batch: int) -> dict:
    """Least-squares average 'effect' after the start of each placebo group of one batch: [estimate, lo, hi]."""
    ev = experiment.load()
    outcomes = ev.outcomes  # every evaluated outcome: least squares is cheap, so it calibrates those the Bayesian grids do not reach
    out = {}
    for name, design in placebos.groups(ev, programme, family, batch).items():
        frame = stack(outcomes, design.assign(group="main"), programmes.PRE, programmes.POST, ev.last_year)
        ls = robustness.fixest_att(frame).query("block == 'after'")
        out[name] = {r.outcome: [round(r.estimate, 4), round(r.lo, 4), round(r.hi, 4)] for r in ls.itertuples()}
    return {"programme": programme, "family": family, "batch": batch, "placebos": out}


def tasks(reduced: bool = False) -> list[grid.Task]:
    keys = REDUCED if reduced else [(p, f, b) for p in placebos.PROGRAMMES for f in placebos.FAMILIES for b in range(placebos.BATCHES)]
    return [grid.Task(f"{p}-{f}-{b}", placebo_batch, {"programme": p, "family": f, "batch": b}) for p, f, b in keys]


def coverage(bayes: dict[str, dict], least_squares: dict[str, dict], imputed: dict[str, dict] | None = None,
             synthetic: dict[str, dict] | None = None) -> pd.DataFrame:
    """Per programme, family and outcome: placebos and the share of 90% intervals containing 0, for the
    Bayesian event study (the placebo grid), least squares (this grid) and, if given, the imputation estimator
    and the synthetic control (the placebo-imputation and placebo-synthetic grids, on a subset of the same groups)."""
    rows = []
    estimators = [("event study (Bayesian)", bayes), ("least squares (pyfixest)", least_squares)]
    if imputed is not None:
        estimators.append(("imputation (CausalPy)", imputed))
    if synthetic is not None:
        estimators.append(("synthetic control (Bayesian)", synthetic))
    for name, results in estimators:
        for r in results.values():
            for placebo, by_outcome in r["placebos"].items():
                for o, (_, lo, hi) in by_outcome.items():
                    rows.append({"estimator": name, "programme": r["programme"], "family": r["family"], "placebo": placebo,
                                 "outcome": o, "covers": lo <= 0 <= hi})
    long = pd.DataFrame(rows)
    return (long.groupby(["programme", "family", "outcome", "estimator"], sort=False)["covers"]
            .agg(n="size", coverage_90="mean").reset_index())
