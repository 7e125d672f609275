"""Matched placebos on the grid: how often does the evaluation find an "effect" where there is none?

Each placebo draws LAs in neither programme with a programme's cohort timing,
labels them treated, matches each to its nearest comparison LAs exactly as the
real design does (`matching.match`, from the LAs in neither programme and not
drawn), and fits the same stacked event study to the headline outcomes. The
true effect is zero, so

* the placebo estimates show how large an "effect" the design produces by
  chance, against which the real one is read (a permutation-style p-value:
  the share of placebos at least as large);
* the share of placebo 90 % intervals that include zero is the intervals'
  coverage under the conditions of the real analysis.

Two families of draws test two conditions. ``random``: every LA in neither
programme equally likely. ``deficit``: LAs drawn with probability rising with
the square of their DSG deficit's rank among them (the latest value before the
cohort year), imitating selection on deficits, the way the programmes chose
their LAs; with no effect, what this family finds is what selection on deficits
and the mean reversion that follows produce on their own. LAs in neither
programme had smaller deficits than Safety Valve LAs, so this imitates the
direction of selection, not its extremity.

`BATCH` placebos share one fit (groups of one model: one compilation), and
each batch is one grid task (`analysis.grid`), run by `python -m analysis grid
placebos` and stored in `results/placebos.json`. The groups share the model's
noise scales and between-cohort spread, as the chapter's analyses do; twenty
placebos pin those down better than one analysis does, so a placebo's interval
is, if anything, narrower than the real fit's and the coverage, if anything,
understated.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import grid
from analysis.evaluation import experiment, matching, programmes
from analysis.evaluation.event_study import GRID_SETTINGS
from analysis.evaluation.event_study import EventStudy, stack
from analysis.evaluation.programmes import UNITS, in_units
from analysis.models.fitting import SEED, first_passing, interval

#: Placebos per fit, batches per programme and family (so BATCH × BATCHES placebos each), and CI's subset.
BATCH = 20
BATCHES = 5
FAMILIES = ("random", "deficit")
PROGRAMMES = ("safety_valve", "dbv")
REDUCED = (("safety_valve", "random", 0),)
#: Pseudo-treated LAs per placebo, as a share of the LAs in neither programme (the rest are the pool they are matched from).
PLACEBO_SHARE = 1 / 3
#: The calibration grids' sampler settings (`event_study.GRID_SETTINGS`). A batch that misses a convergence check
#: is sampled again with twice the draws (`EXTENDED`, same seed); its record gives the draws it kept.
SETTINGS = GRID_SETTINGS
EXTENDED = replace(SETTINGS, draws=2 * SETTINGS.draws)


def _draw(ev, programme: str, family: str, rng: np.random.Generator) -> pd.DataFrame:
    """One placebo's design: pseudo-treated LAs per cohort year and their matched comparison LAs."""
    years = programmes.cohort_years(ev.treatment, programme)
    pool = programmes.eligible_controls(ev.panel, ev.cohorts, ev.last_year)
    sizes = np.array([len(ev.treated(programme, g)) for g in years], dtype=float)
    sizes = np.maximum(1, np.round(sizes / sizes.sum() * len(pool) * PLACEBO_SHARE)).astype(int)
    cols = list(matching.COVARIATES)
    taken: dict[int, list[str]] = {}
    for g, n in zip(years, sizes):
        f = ev.features[g]
        used = {c for cs in taken.values() for c in cs}
        candidates = [c for c in pool if c not in used and c in f.index and f.loc[c, cols].notna().all()]
        if family == "deficit":
            rank = f.loc[candidates, "dsg_deficit_pct"].rank(method="average").to_numpy()
            p = rank**2 / (rank**2).sum()
        else:
            p = None
        taken[g] = sorted(rng.choice(candidates, size=min(n, len(candidates)), replace=False, p=p))
    drawn = {c for cs in taken.values() for c in cs}
    rows = []
    for g, chosen in taken.items():
        m = matching.match(ev.features[g], chosen, [c for c in pool if c not in drawn], ev.neighbours)
        rows.append(pd.DataFrame({"stack": g, "la_code": chosen, "treated": True}))
        rows.append(pd.DataFrame({"stack": g, "la_code": sorted(m["control"].unique()), "treated": False}))
    return pd.concat(rows, ignore_index=True).assign(censor_year=np.nan)


def groups(ev, programme: str, family: str, batch: int, n: int = BATCH) -> dict[str, pd.DataFrame]:
    """The first `n` placebo groups of one batch, by name ("random 021"), each a matched design as `_draw`
    makes it. The draws are seeded by (programme, family, batch) and made in order, so every grid that
    re-creates a batch's groups (this one, least squares, imputation) gets the same groups."""
    rng = np.random.default_rng([SEED, PROGRAMMES.index(programme), FAMILIES.index(family), batch])
    return {f"{family} {batch * BATCH + r + 1:03d}": _draw(ev, programme, family, rng) for r in range(n)}


def placebo_batch(programme: str, family: str, batch: int) -> dict:
    """`BATCH` matched placebos of one programme and family in one fit: each one's average 'effect' after the start."""
    ev = experiment.load()
    drawn = groups(ev, programme, family, batch)
    names = list(drawn)
    design = pd.concat([d.assign(group=name) for name, d in drawn.items()], ignore_index=True)
    outcomes = ev.outcomes[ev.outcomes["outcome"].isin(programmes.HEADLINE)]
    frame = stack(outcomes, design, programmes.PRE, programmes.POST, ev.last_year)
    with tempfile.TemporaryDirectory() as cache:  # nothing cached: each batch is fitted here, once or twice
        es = first_passing(lambda s: EventStudy(frame, name=f"placebo-{programme}-{family}-{batch}", settings=s, cache=Path(cache)),
                           SETTINGS, EXTENDED)
        diag, post = es.diagnostics(), es.att_post()
    out = {name: {} for name in names}
    for r in post.itertuples():
        med, lo, hi = interval(in_units(r.outcome, r.draws))
        out[r.group][r.outcome] = [round(med, 4), round(lo, 4), round(hi, 4)]
    return {"programme": programme, "family": family, "batch": batch, **diag.as_dict(), "draws": es.settings.draws, "placebos": out}


def tasks(reduced: bool = False) -> list[grid.Task]:
    keys = REDUCED if reduced else [(p, f, b) for p in PROGRAMMES for f in FAMILIES for b in range(BATCHES)]
    return [grid.Task(f"{p}-{f}-{b}", placebo_batch, {"programme": p, "family": f, "batch": b}) for p, f, b in keys]


def estimates(results: dict[str, dict]) -> pd.DataFrame:
    """Long table: programme, family, placebo, outcome, median, lo, hi (reporting units), passed (its fit's checks)."""
    return pd.DataFrame([{"programme": r["programme"], "family": r["family"], "placebo": name, "outcome": o,
                          "median": v[0], "lo": v[1], "hi": v[2], "passed": r["passed"]}
                         for r in results.values() for name, by_outcome in r["placebos"].items() for o, v in by_outcome.items()])


def summary(results: dict[str, dict], real: pd.DataFrame) -> pd.DataFrame:
    """Per programme, family and outcome: placebos, the share of their 90 % intervals containing 0 (coverage),
    the 5th–95th percentile of their medians, and the share at least as large as the real estimate.

    `real`: programme, outcome, median (the main analysis' average effect after the start).
    """
    est = estimates(results)
    real_at = real.set_index(["programme", "outcome"])["median"]
    rows = []
    for (p, fam, o), part in est.groupby(["programme", "family", "outcome"], sort=False):
        r = float(real_at[(p, o)])
        rows.append({"programme": p, "family": fam, "outcome": o, "n": len(part), "failed_fits": int((~part["passed"]).sum()),
                     "coverage_90": float(((part["lo"] <= 0) & (part["hi"] >= 0)).mean()),
                     "q05": float(part["median"].quantile(0.05)), "q95": float(part["median"].quantile(0.95)),
                     "real": r, "share_as_large": float((part["median"].abs() >= abs(r)).mean()),
                     "units": UNITS[programmes.OUTCOMES[o].scale]})
    return pd.DataFrame(rows)
