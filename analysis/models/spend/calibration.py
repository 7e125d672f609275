"""Is the spend model identified on data shaped like ours? Simulation-based calibration and a held-out check.

Two grids of fits, each run by `python -m analysis grid <name>` on `analysis.grid`
and stored in `results/<name>.json` (chapter 4 reads them):

``spend-sbc`` — simulation-based calibration [@talts_2018_sbc] of what the model
is for: the national unit costs, their trends, the base and the plan-rate slope.
Each replicate draws those and every LA and year effect from the prior,
simulates total and category spend with `SpendModel.simulate` on the *real*
panel's structure (its LAs, years, placement counts with their collinearity,
populations, and the LA-years where category spend is published), refits the
model to the simulated data and records the rank of the true value among
`THIN_TO` posterior draws. If the model can recover what generated the data,
each rank is uniform on 0 … `THIN_TO`; a model that cannot split spend between
placement types (the fault of a fit to totals alone) piles ranks at the ends or
in the middle. The noise and spread scales (`CONDITIONED`: σ_obs, ν, σ_j, σ_r,
σ_u, σ_d, σ_η) are held at the real fit's posterior medians, in the simulation
and in the refit alike, so this is SBC conditional on them: with every scale
drawn from its prior, some simulated panels had near-Cauchy errors or almost
none, and each refit took over five minutes on one core, which a grid of
replicates cannot afford here. The scales themselves are checked by the
predictive checks of the real fit. The refits use shorter chains than the real
fit (`SBC_SETTINGS`), so each replicate's convergence is recorded, and
replicates that miss it are counted, not dropped.

``spend-holdout`` — the category data of a random half of LAs are withheld, the
model refitted, and those LAs' category spend predicted (two folds, each half
held out once). Coverage of the 50 % and 90 % predictive intervals on held-out
LA-years, and the error of the predicted England sum, show whether the unit costs
carry to LAs whose split the model never saw.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from analysis import grid
from analysis.models import fitting
from analysis.models.spend.data import TYPES

#: Quantities ranked: each national unit cost (log, FY 2021-22), the two trends, the base and the scales.
RANKED = ["log_cost", "trend", "log_base", "gamma"]
#: Scales fixed at the real fit's posterior medians, in simulation and refit.
CONDITIONED = ["sigma_obs", "nu", "sigma_cat", "sigma_report", "sigma_la", "sigma_drift", "sigma_year"]
#: Where a quantity has one value per placement type: which are ranked (the trend is shared by the state-funded types).
LABELS = {"log_cost": {k: j for j, k in enumerate(TYPES)},
          "trend": {"state-funded": list(TYPES).index("mainstream"), "independent": list(TYPES).index("special_independent")}}
#: Posterior draws each rank is taken among (thinned evenly from all chains).
THIN_TO = 99
#: Replicates of the full grid, and of CI's reduced grid (which must reproduce the stored ones exactly).
REPLICATES = 40
REDUCED_REPLICATES = 1
#: Two chains where the real fit has four (`model.SETTINGS`): ranks among 99 draws need about 99 effective
#: draws of each ranked quantity, so a replicate passes with R-hat ≤ 1.01, bulk ESS ≥ `THIN_TO` and no
#: divergences. The collinear mainstream and state special costs mix slowly (about one effective draw in
#: six), and R-hat from two chains is noisy unless they are long: with 2 × (300 + 300) half the refits
#: missed R-hat ≤ 1.01 and with 2 × (600 + 500) eleven of 40 did. The full warm-up lets the low-rank mass
#: matrix find the collinear direction, and long chains keep R-hat's noise under the threshold: refits of the
#: worst replicates at 2 × (600 + 1000) and 4 × (600 + 500) still missed it, and with seven placement types
#: 2 × (1000 + 2000) missed it in 6 of 40 (R-hat 1.010 to 1.020), against 4 with five types; hence 3,000 draws.
SBC_SETTINGS = fitting.SamplerSettings(sampler="nutpie", chains=2, draws=3000, tune=1000, target_accept=0.95, low_rank=True)
#: Folds of the held-out check (each holds out one half of LAs) and the seed that splits them.
FOLDS = (0, 1)
REDUCED_FOLDS = (0,)
SPLIT_SEED = 20261202


def _real_model():
    from analysis.data import panel
    from analysis.models.spend.model import SpendModel

    return SpendModel(panel.load())


def _ranked(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Split the ranked quantities into scalars (or draws of scalars) named like `log_cost[mainstream]`."""
    out = {}
    for name in RANKED:
        v = np.asarray(values[name], dtype=float)
        for label, j in LABELS.get(name, {None: None}).items():
            out[name if label is None else f"{name}[{label}]"] = v if j is None else v[j]
    return out


def conditioned_scales() -> dict[str, float | list[float]]:
    """The real fit's posterior medians of `CONDITIONED` (fits the real model if it is not cached)."""
    posterior = _real_model().fit().posterior
    return {n: np.median(posterior[n].stack(d=("chain", "draw")).values, axis=-1).astype(float).round(6).tolist()
            for n in CONDITIONED}


def sbc_replicate(replicate: int, scales: dict[str, float | list[float]]) -> dict:
    """One SBC replicate: simulate from the prior (given `scales`) on the real panel's structure, refit, rank the truth."""
    import pymc as pm

    model = _real_model()
    seed = 1000 + replicate
    fixed = {n: np.asarray(v, dtype=float) for n, v in scales.items()}
    spend, truth = model.simulate(fixed, seed=seed)
    sim = model.with_spend(spend, truth.get("category_spend"))
    settings = replace(SBC_SETTINGS, seed=seed)
    idata = fitting.sample(pm.do(sim.build(), fixed), settings, predictive=False, cores=1)
    diag = fitting.diagnose(idata, RANKED)
    posterior = idata.posterior.stack(sample=("chain", "draw"))
    pick = np.linspace(0, posterior.sizes["sample"] - 1, THIN_TO).round().astype(int)
    true = _ranked({n: truth[n] for n in RANKED})
    post = _ranked({n: posterior[n].values[..., pick] for n in RANKED})
    ranks = {k: int((post[k] < true[k]).sum()) for k in true}
    passed = diag.rhat_max <= fitting.RHAT_MAX and diag.ess_bulk_min >= THIN_TO and diag.divergences == 0
    return {"replicate": replicate, "seed": seed, "ranks": ranks, **diag.as_dict(), "passed": passed}


def sbc_tasks(reduced: bool = False) -> list[grid.Task]:
    scales = conditioned_scales()
    n = REDUCED_REPLICATES if reduced else REPLICATES
    return [grid.Task(f"replicate-{r:03d}", sbc_replicate, {"replicate": r, "scales": scales}) for r in range(n)]


def sbc_summary(results: dict[str, dict]) -> pd.DataFrame:
    """Per quantity: replicates, χ² test of uniform ranks (10 bins), share in the outer 5 % at each end, mean rank.

    Every replicate counts, including those whose short refit missed its convergence checks
    (`failed`): leaving them out would select the simulated data sets the model finds easy.
    """
    from scipy import stats

    reps = list(results.values())
    rows = []
    for name in reps[0]["ranks"] if reps else []:
        ranks = np.array([r["ranks"][name] for r in reps])
        counts = np.bincount(np.minimum(ranks * 10 // (THIN_TO + 1), 9), minlength=10)
        rows.append({"quantity": name, "replicates": len(ranks), "failed": sum(not r["passed"] for r in reps),
                     "chi2_p": float(stats.chisquare(counts).pvalue),
                     "low_5": float(np.mean(ranks <= 0.05 * THIN_TO)), "high_5": float(np.mean(ranks >= 0.95 * THIN_TO)),
                     "mean_rank": float(ranks.mean() / THIN_TO)})
    return pd.DataFrame(rows)


def sbc_ranks(results: dict[str, dict]) -> pd.DataFrame:
    """Long table of ranks (scaled to 0–1): quantity, replicate, rank, passed (its refit's convergence checks)."""
    return pd.DataFrame([{"quantity": k, "replicate": r["replicate"], "rank": v / THIN_TO, "passed": r["passed"]}
                         for r in results.values() for k, v in r["ranks"].items()])


# --------------------------------------------------------------------------- held-out categories


def holdout_split(la_codes: list[str]) -> dict[int, list[str]]:
    """Two halves of the LAs (fold → LAs whose category data it withholds), drawn with `SPLIT_SEED`."""
    order = np.random.default_rng(SPLIT_SEED).permutation(sorted(la_codes))
    half = len(order) // 2
    return {0: sorted(order[:half]), 1: sorted(order[half:])}


def holdout_fold(fold: int) -> dict:
    """Fit with fold `fold`'s LAs' category data withheld; score their predicted category spend."""
    model = _real_model()
    held = holdout_split(list(model.las["la_code"]))[fold]
    reduced = model.without_categories(held)
    reduced.fit()
    fitting.require_converged(reduced.diagnostics(), f"spend model without the category data of fold {fold}")
    # the full model's graph predicts every category observation from the reduced fit's posterior
    pp = fitting.posterior_predictive(model.build, reduced.fit(), model.settings.seed + 1)["log_category"]
    # on the log scale throughout: the heavy-tailed predictive draws' far tail overflows exp()
    log_draws = pp.stack(sample=("chain", "draw")).transpose("cat_obs", "sample").values
    cats = model.category_observations()
    frame = model.data()
    cats = cats.assign(la_code=frame["la_code"].to_numpy()[cats["row"]], year=frame["year"].to_numpy()[cats["row"]])
    out = {"fold": fold, "las_held_out": len(held), **reduced.diagnostics().as_dict(), "categories": {}}
    rng = np.random.default_rng(SPLIT_SEED + fold)
    for category, group in cats[cats["la_code"].isin(held)].groupby("category"):
        d = log_draws[group.index.to_numpy()]
        y = group["spend"].to_numpy()
        lo90, lo50, mid, hi50, hi90 = np.exp(np.quantile(d, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1))
        # England's held-out sum: each draw's sum over LA-years, with LA-years' draws shuffled independently
        log_total = logsumexp(np.take_along_axis(d, rng.permuted(np.tile(np.arange(d.shape[1]), (len(d), 1)), axis=1), axis=1), axis=0)
        out["categories"][category] = {
            "n": len(group), "coverage_50": float(np.mean((y >= lo50) & (y <= hi50))),
            "coverage_90": float(np.mean((y >= lo90) & (y <= hi90))),
            "median_abs_log_error": float(np.median(np.abs(np.log(y / mid)))),
            "observed_sum": float(y.sum()), "predicted_sum": [float(q) for q in np.exp(np.quantile(log_total, [0.5, 0.05, 0.95]))],
        }
    return out


def holdout_tasks(reduced: bool = False) -> list[grid.Task]:
    return [grid.Task(f"fold-{f}", holdout_fold, {"fold": f}) for f in (REDUCED_FOLDS if reduced else FOLDS)]


def holdout_summary(results: dict[str, dict]) -> pd.DataFrame:
    """Per category, over both folds: held-out LA-years, coverage, median |log error|, England sum observed vs predicted."""
    rows = []
    for r in results.values():
        for category, c in r["categories"].items():
            rows.append({"fold": r["fold"], "category": category, "n": c["n"], "coverage_50": c["coverage_50"],
                         "coverage_90": c["coverage_90"], "median_abs_log_error": c["median_abs_log_error"],
                         "observed_sum": c["observed_sum"], "predicted_median": c["predicted_sum"][0],
                         "predicted_q05": c["predicted_sum"][1], "predicted_q95": c["predicted_sum"][2]})
    return pd.DataFrame(rows)
