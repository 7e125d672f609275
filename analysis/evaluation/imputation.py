"""The programme comparison by another estimator from an established library: the imputation estimator of
Borusyak, Jaravel and Spiess (2024) as CausalPy implements it (`StaggeredDifferenceInDifferences`, Bayesian),
for the headline outcomes.

Why beside the event study: the event study (`event_study`) sets each programme LA's change since the year
before its start against its three matched LAs'. The imputation estimator instead fits an LA effect and a
year effect to every LA-year outside both programmes (programme LAs before their start; every other LA until
it joins either programme) and takes each programme LA-year's gap from that fit as its effect. It therefore
uses all eligible LAs rather than matched ones, and every pre-start year rather than only the year before
the start. Where programme LAs were already drifting away from the others before the start, the two
estimates part, and the imputation's pre-start residuals (gaps in years before the start, which a fit of
the same LA-years leaves near zero on average only when trends were parallel) show the drift.

CausalPy's linear regression (Normal(0, 50) coefficients, half-normal noise) treats LA-years as independent,
and its effect intervals carry only the uncertainty of the fitted LA and year effects: the programme LA-years'
own noise, and the correlation of an LA's years, are left out. They are therefore too narrow (on simulated
panels with a known effect they often miss it) and are read as a lower bound on the uncertainty. The model is sampled with the study's sampler
and cached like every other fit (`fitting.cached_fit`, via `_CachedRegression`); the design, prediction and
aggregation are CausalPy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import causalpy as cp
import numpy as np
import pandas as pd
import xarray as xr

from analysis.evaluation import programmes
from analysis.evaluation.experiment import Evaluation
from analysis.models import fitting
from analysis.models.fitting import Diagnostics, SamplerSettings

SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=1000, low_rank=True)
FORMULA = "y ~ 1 + C(la_code) + C(year)"


class _CachedRegression(cp.pymc_models.LinearRegression):
    """CausalPy's linear regression, sampled by `fitting.cached_fit` (study sampler, fit cache, checks)."""

    def __init__(self, name: str, settings: SamplerSettings = SETTINGS, cache: Path = fitting.FITS):
        super().__init__(sample_kwargs={"random_seed": settings.seed, "progressbar": False})
        self._name = name
        self._settings = settings
        self._cache = cache

    def fit(self, X: xr.DataArray, y: xr.DataArray, coords: dict | None = None):
        self.priors = {**self.priors_from_data(X, y), **self.priors}
        self.build_model(X, y, coords)
        self.idata = fitting.cached_fit(self._name, lambda: self, fitting.data_hash(X.values, y.values), self._settings,
                                        check=["beta", "y_hat_sigma"], keep=["beta", "y_hat_sigma"], cache=self._cache)
        return self.idata


@dataclass(frozen=True)
class Imputation:
    """One programme and outcome: effects in reporting units (median, 90% interval) and the fit's checks."""

    programme: str
    outcome: str
    post: dict  # median, lo, hi: programme LAs' average gap over years 0 … POST after the start
    pre: dict  # the same over years −PRE … −2 (pre-start residuals: near 0 when trends were parallel)
    by_event_time: pd.DataFrame  # event_time, median, lo, hi, n_treated
    treated: int
    comparisons: int
    diagnostics: Diagnostics


def panel(ev: Evaluation, programme: str, outcome: str) -> pd.DataFrame:
    """LA-years for the imputation: la_code, year, y, g (first treated year; inf for LAs not in `programme`).

    Programme LAs keep their years up to POST after the start and before `censor_year` (joining the other
    programme); every other LA keeps its years before its first year in either programme.
    """
    if programme not in programmes.PROGRAMMES:
        raise KeyError(f"imputation: unknown programme {programme!r}; programmes: {list(programmes.PROGRAMMES)}")
    if outcome not in programmes.OUTCOMES:
        raise KeyError(f"imputation: unknown outcome {outcome!r}; outcomes: {list(programmes.OUTCOMES)}")
    treated = ev.treatment[ev.treatment["programme"] == programme].set_index("la_code")
    rows = ev.outcomes.loc[(ev.outcomes["outcome"] == outcome) & ~ev.outcomes["la_code"].isin(programmes.EXCLUDED_UNITS),
                           ["la_code", "year", "y"]].copy()
    inside = rows["la_code"].isin(treated.index)
    rows["g"] = rows["la_code"].map(treated["first_treated_year"]).astype(float)
    end = np.where(inside, rows["la_code"].map(treated["censor_year"]), rows["la_code"].map(programmes.first_year_any(ev.cohorts)))
    keep = ~(rows["year"] >= end) & ~(rows["year"] - rows["g"] > programmes.POST)
    rows = rows[keep].copy()
    rows["g"] = rows["g"].fillna(np.inf)
    rows["treated"] = (rows["year"] >= rows["g"]).astype(int)
    return rows.sort_values(["la_code", "year"]).reset_index(drop=True)


def fit(ev: Evaluation, programme: str, outcome: str, cache: Path = fitting.FITS) -> Imputation:
    """CausalPy's imputation estimate for one programme and outcome (see the module docstring)."""
    rows = panel(ev, programme, outcome)
    model = _CachedRegression(f"imputation-{programme}-{outcome}", cache=cache)
    result = cp.StaggeredDifferenceInDifferences(rows, formula=FORMULA, unit_variable_name="la_code", time_variable_name="year",
                                                 treated_variable_name="treated", treatment_time_variable_name="g", model=model)
    data = result.data_
    mu = result.y_pred.isel(treated_units=0).transpose("chain", "draw", "obs_ind").values.reshape(-1, len(data))
    gap = pd.DataFrame((data["y"].to_numpy() - mu).T, index=data.index)  # obs × draws
    e = data["event_time"]

    def average(mask: pd.Series) -> dict:
        """Programme LAs' average gap over the masked years (each LA its own mean first, as the event study)."""
        per_la = gap[mask.to_numpy()].groupby(data.loc[mask, "la_code"].to_numpy()).mean()
        mid, lo, hi = fitting.interval(programmes.in_units(outcome, per_la.mean().to_numpy()))
        return {"median": mid, "lo": lo, "hi": hi, "n_treated": len(per_la)}

    by_e = []
    for t in sorted(e.dropna().unique()):
        if t < -programmes.PRE:
            continue
        mask = e == t
        mid, lo, hi = fitting.interval(programmes.in_units(outcome, gap[mask.to_numpy()].mean().to_numpy()))
        by_e.append({"event_time": int(t), "median": mid, "lo": lo, "hi": hi, "n_treated": int(mask.sum())})
    treated = data.loc[np.isfinite(data["g"]), "la_code"].nunique()
    return Imputation(programme, outcome, average(e.between(0, programmes.POST)), average(e.between(-programmes.PRE, -2)),
                      pd.DataFrame(by_e), treated, data["la_code"].nunique() - treated, fitting.stored_diagnostics(model.idata))


def estimates(ev: Evaluation) -> list[Imputation]:
    """Both programmes, each headline outcome."""
    return [fit(ev, p, o) for p in programmes.PROGRAMMES for o in programmes.HEADLINE]
