"""Entropy balancing: every eligible comparison LA reweighted so that the weighted means of its pre-period
levels and trends equal the programme LAs' means exactly; the programme LAs' change since the year before
the start is then set against the reweighted change (Hainmueller 2012).

Why beside matching: matching (`matching`) keeps three LAs per programme LA and leaves whatever imbalance no
eligible LA can remove. Reweighting the whole pool removes it on every balanced characteristic when the pool
spans the programme LAs, and shows the price in the weights' effective sample size; when the pool does not
span them (no eligible LA had Safety Valve-sized deficits), no weights exist and the result says so rather
than reporting an estimate. The dual problem has one variable per characteristic and is smooth and convex,
so scipy's BFGS solves it in milliseconds; no maintained Python package implements it (R's `ebal` does),
hence this module.

The changes are those of the event study (`event_study.stack`: each LA's average change after the start, and
before it, from the year before), on the same eligible pools (LAs in neither programme up to the end of the
window). Intervals: a bootstrap over LAs, programme and comparison LAs resampled within each cohort and the
weights solved again each time; percentile 90% intervals. Like every estimate of the evaluation, the result
is an association: reweighting balances what is measured, not why councils joined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from analysis.evaluation import event_study, matching, programmes
from analysis.evaluation.experiment import Evaluation

#: What is balanced (see `matching.COVARIATES`), from what the design needs (pre-period trends: the changes
#: are differenced from the year before the start) to everything the matching used.
TRENDS = ("ehcp_growth", "spend_growth")
SPECIFICATIONS: dict[str, tuple[str, ...]] = {
    "pre-period trends": TRENDS,
    "trends and levels": (*TRENDS, "log_ehcp_rate", "log_spend_per_head"),
    "trends, levels, mix and deficit": (*TRENDS, "log_ehcp_rate", "log_spend_per_head", "share_independent",
                                        "share_mainstream", "dsg_deficit_pct"),
}
WITH_DEFICIT = SPECIFICATIONS["trends, levels, mix and deficit"]
#: Each specification's name, by the covariates it balances.
NAMES = {covariates: name for name, covariates in SPECIFICATIONS.items()}
#: Largest weighted-mean gap left (standard deviations of the comparison LAs) for weights to count as found.
TOLERANCE = 1e-3
BOOTSTRAP = 500
SEED = 20261203
PERIODS = {event_study.POST_AVERAGE: "after", event_study.PRE_AVERAGE: "before"}


@dataclass(frozen=True)
class Weights:
    """Entropy-balancing weights (summing to 1), whether they balance, and the largest gap left (SDs)."""

    weights: np.ndarray
    found: bool
    gap: float

    @property
    def effective(self) -> float:
        """Kish's effective number of comparison LAs."""
        return float(1.0 / np.sum(self.weights ** 2))


def entropy_weights(controls: np.ndarray, target: np.ndarray) -> Weights:
    """The weights closest to uniform (in entropy) under which the column means of `controls` equal `target`."""
    scale = controls.std(axis=0)
    z = (controls - target) / np.where(scale > 0, scale, 1.0)

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray]:
        a = z @ lam
        top = a.max()
        e = np.exp(a - top)
        return float(top + np.log(e.sum())), (e / e.sum()) @ z

    with np.errstate(over="ignore", invalid="ignore"):  # no weights exist: the multipliers run off to infinity
        fit = optimize.minimize(dual, np.zeros(z.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
        a = z @ fit.x
        w = np.exp(a - a.max())
        w /= w.sum()
        gap = float(np.abs(w @ z).max())
    found = bool(np.isfinite(gap) and gap < TOLERANCE)
    return Weights(w if found else np.full(len(z), np.nan), found, gap if np.isfinite(gap) else np.inf)


@dataclass(frozen=True)
class _Cohort:
    """One cohort's programme (t) and comparison (c) LAs: characteristics, and changes by outcome and period."""

    g: int
    xt: np.ndarray
    xc: np.ndarray
    dt: dict[tuple[str, int], np.ndarray]
    dc: dict[tuple[str, int], np.ndarray]


@dataclass(frozen=True)
class Reweighted:
    """Entropy balancing of one programme on `covariates`: balance, weights and the average changes compared."""

    programme: str
    covariates: tuple[str, ...]
    treated: int
    controls: int
    effective: float
    found: bool
    cohorts_found: list[int]  # cohorts (first treated year) whose weights balance
    cohorts: list[int]
    balance: pd.DataFrame  # covariate, label, before, after (SMD, cohorts stacked)
    effects: pd.DataFrame  # outcome, period, estimate, lo, hi (bootstrap, with their MCSEs), units, n_treated
    failed: float  # share of bootstrap resamples in which no weights balanced


def _cohorts(ev: Evaluation, programme: str, covariates: tuple[str, ...]) -> list[_Cohort]:
    """Each cohort's LAs with every characteristic of `WITH_DEFICIT` (one sample for every specification)."""
    out = []
    for g in programmes.cohort_years(ev.treatment, programme):
        f = ev.features[g].loc[:, list(WITH_DEFICIT)].dropna()
        t = ev.treated(programme, g)
        t = t[t["la_code"].isin(f.index)]
        controls = [c for c in ev.eligible(g) if c in f.index]
        design = pd.concat([
            pd.DataFrame({"group": "reweighted", "stack": g, "la_code": t["la_code"], "treated": True, "censor_year": t["censor_year"]}),
            pd.DataFrame({"group": "reweighted", "stack": g, "la_code": controls, "treated": False, "censor_year": np.nan}),
        ], ignore_index=True)
        rows = event_study.stack(ev.outcomes[ev.outcomes["outcome"].isin(programmes.HEADLINE)], design,
                                 programmes.PRE, programmes.POST, ev.last_year)
        rows = rows[rows["event_time"].isin(list(PERIODS))].set_index(["outcome", "event_time", "la_code"])["dy"].sort_index()
        dt, dc = {}, {}
        for key in [(o, e) for o in programmes.HEADLINE for e in PERIODS]:
            part = rows.loc[key] if key in rows.index.droplevel(2) else pd.Series(dtype=float)
            dt[key] = part.reindex(t["la_code"]).to_numpy(float)
            dc[key] = part.reindex(controls).to_numpy(float)
        out.append(_Cohort(g, f.loc[t["la_code"], list(covariates)].to_numpy(float), f.loc[controls, list(covariates)].to_numpy(float), dt, dc))
    return out


def _estimate(cohorts: list[_Cohort], pick: list[tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[dict, bool]:
    """Pooled average change, programme LAs minus reweighted comparison LAs, for each (outcome, period)."""
    sums: dict[tuple[str, int], list[float]] = {}
    found = True
    for k, c in enumerate(cohorts):
        it, ic = pick[k] if pick else (np.arange(len(c.xt)), np.arange(len(c.xc)))
        w = entropy_weights(c.xc[ic], c.xt[it].mean(axis=0))
        found &= w.found
        for key in c.dt:
            dt, dc = c.dt[key][it], c.dc[key][ic]
            ok = ~np.isnan(dc)
            n = int((~np.isnan(dt)).sum())
            if n == 0 or not ok.any():
                continue
            gap = np.nanmean(dt) - np.sum(w.weights[ok] * dc[ok]) / np.sum(w.weights[ok])
            acc = sums.setdefault(key, [0.0, 0.0])
            acc[0] += n * gap
            acc[1] += n
    return {key: s / n for key, (s, n) in sums.items()}, found


def _balance(cohorts: list[_Cohort], covariates: tuple[str, ...], weights: list[Weights]) -> pd.DataFrame:
    """SMD of each characteristic, cohorts stacked: programme LAs against all comparison LAs, then reweighted
    (each cohort's weights scaled to its number of programme LAs); the scale as in `Evaluation.balance`."""
    xt = np.vstack([c.xt for c in cohorts])
    xc = np.vstack([c.xc for c in cohorts])
    wc = np.concatenate([w.weights * len(c.xt) for c, w in zip(cohorts, weights)])
    sd = np.sqrt((xt.var(axis=0, ddof=1) + xc.var(axis=0, ddof=1)) / 2)
    before = (xt.mean(axis=0) - xc.mean(axis=0)) / sd
    after = (xt.mean(axis=0) - (wc @ xc) / wc.sum()) / sd
    return pd.DataFrame({"covariate": covariates, "label": [matching.COVARIATES[c] for c in covariates], "before": before, "after": after})


def reweight(ev: Evaluation, programme: str, covariates: tuple[str, ...] = TRENDS, boot: int = BOOTSTRAP,
             seed: int = SEED) -> Reweighted:
    """Entropy balancing of `programme`'s LAs on `covariates`, with bootstrap intervals (see the module docstring).

    Balance is reported on every characteristic of `WITH_DEFICIT`, balanced or not, so that what the weights
    leave unbalanced shows. Unless every cohort's weights balance (`found`), the balance after and the
    estimates are left empty: an estimate from the cohorts that can be balanced would answer another question."""
    unknown = [c for c in covariates if c not in WITH_DEFICIT]
    if unknown:
        raise KeyError(f"reweight(): cannot balance on {unknown}; characteristics: {list(WITH_DEFICIT)}")
    if programme not in programmes.PROGRAMMES:
        raise KeyError(f"reweight(): unknown programme {programme!r}; programmes: {list(programmes.PROGRAMMES)}")
    cohorts = _cohorts(ev, programme, covariates)
    weights = [entropy_weights(c.xc, c.xt.mean(axis=0)) for c in cohorts]
    found = all(w.found for w in weights)
    full = _cohorts(ev, programme, WITH_DEFICIT)
    balance = _balance(full, WITH_DEFICIT, weights)
    point, _ = _estimate(cohorts)
    rng = np.random.default_rng(seed)
    draws: dict[tuple[str, int], list[float]] = {key: [] for key in point}
    failed = 0
    for _ in range(boot if found else 0):
        pick = [(rng.integers(0, len(c.xt), len(c.xt)), rng.integers(0, len(c.xc), len(c.xc))) for c in cohorts]
        est, ok = _estimate(cohorts, pick)
        if not ok:
            failed += 1
            continue
        for key, v in est.items():
            draws[key].append(v)
    rows = []
    for (outcome, e), v in point.items():
        spread = programmes.summary(outcome, np.asarray(draws[(outcome, e)]), 1) if draws[(outcome, e)] else {}
        n = sum(int((~np.isnan(c.dt[(outcome, e)])).sum()) for c in cohorts)
        rows.append({"outcome": outcome, "period": PERIODS[e], "estimate": float(programmes.in_units(outcome, np.array(v))) if found else np.nan,
                     **{k: spread.get(k, np.nan) for k in ("lo", "hi", "lo_mcse", "hi_mcse")}, "units": programmes.UNITS[programmes.OUTCOMES[outcome].scale], "n_treated": n})
    return Reweighted(programme, tuple(covariates), sum(len(c.xt) for c in cohorts), sum(len(c.xc) for c in cohorts),
                      sum(w.effective for w in weights) if found else np.nan, found,
                      [c.g for c, w in zip(cohorts, weights) if w.found], [c.g for c in cohorts], balance, pd.DataFrame(rows),
                      failed / boot if found else np.nan)

