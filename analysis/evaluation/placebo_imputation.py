"""The imputation cross-check on the placebo groups: how often do CausalPy's 90% intervals contain zero where
the true effect is zero, under selection on deficits and the mean reversion that follows?

The imputation estimator (`imputation`) fits a Bayesian regression per programme and outcome, about 12 s
each, so it is calibrated on a subset of the placebo grid's groups rather than all of them: the first
`GROUPS` of each of the placebo grid's batches, re-created exactly (the same seeds and draws,
`placebos.groups`), so the three estimators' coverage can be set side by side on the same groups. For each
group, its pseudo-treated LAs start in their drawn years and every other LA in neither programme is a
comparison for all years (the real programme LAs, treated for real, are left out); the estimate is the
pseudo-treated LAs' average gap over the years after the start, as for the real programmes. Fits go to a
temporary cache: each is made once, here.

Each task is one batch (`GROUPS` groups, two headline outcomes: about 2 minutes on 2 cores), run by
`python -m analysis grid placebo-imputation` and stored in `results/placebo-imputation.json`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from analysis import grid
from analysis.evaluation import experiment, imputation, placebos, programmes

#: Placebo groups per batch of the placebo grid (of its `placebos.BATCH`), so 5 × `placebos.BATCHES` = 25 per cell.
GROUPS = 5
#: CI's subset: the same batch as the placebo grid's reduced run.
REDUCED = placebos.REDUCED


def placebo_batch(programme: str, family: str, batch: int) -> dict:
    """CausalPy's imputation estimate of each of the first `GROUPS` placebo groups of one batch, per headline
    outcome: [median, lo, hi] of the average gap after the start, and the fits' checks."""
    ev = experiment.load()
    pool = programmes.eligible_controls(ev.panel, ev.cohorts, ev.last_year)
    outcomes = ev.outcomes[ev.outcomes["la_code"].isin(pool) & ev.outcomes["outcome"].isin(programmes.HEADLINE)]
    out, checks = {}, {"passed": True, "rhat_max": 0.0, "ess_bulk_min": np.inf, "divergences": 0}
    with tempfile.TemporaryDirectory() as cache:
        for name, design in placebos.groups(ev, programme, family, batch, GROUPS).items():
            treated = design.loc[design["treated"], ["la_code", "stack"]].rename(columns={"stack": "first_treated_year"})
            treated = treated.assign(programme=programme, censor_year=np.nan)
            placebo = SimpleNamespace(treatment=treated, outcomes=outcomes, cohorts=treated[["la_code", "programme", "first_treated_year"]])
            out[name] = {}
            for o in programmes.HEADLINE:
                data, gap, d = imputation.gaps(imputation.panel(placebo, programme, o), f"placebo-imputation-{name}-{o}", Path(cache))
                post = imputation.average(data, gap, o, 0, programmes.POST)
                out[name][o] = [round(post["median"], 4), round(post["lo"], 4), round(post["hi"], 4)]
                checks = {"passed": bool(checks["passed"] and d.passed), "rhat_max": float(max(checks["rhat_max"], d.rhat_max)),
                          "ess_bulk_min": float(min(checks["ess_bulk_min"], d.ess_bulk_min)),
                          "divergences": int(checks["divergences"] + d.divergences)}
    return {"programme": programme, "family": family, "batch": batch, **checks, "placebos": out}


def tasks(reduced: bool = False) -> list[grid.Task]:
    keys = REDUCED if reduced else [(p, f, b) for p in placebos.PROGRAMMES for f in placebos.FAMILIES for b in range(placebos.BATCHES)]
    return [grid.Task(f"{p}-{f}-{b}", placebo_batch, {"programme": p, "family": f, "batch": b}) for p, f, b in keys]
