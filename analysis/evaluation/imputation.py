"""The programme comparison by another estimator from an established library: the imputation estimator of
Borusyak, Jaravel and Spiess (2024) as CausalPy implements it (`StaggeredDifferenceInDifferences`, Bayesian),
for the headline outcomes.

Why beside the event study: the event study (`event_study`) sets each programme LA's change since the year
before its start against its three matched LAs'. The imputation estimator instead fits an LA effect and a
year effect to every LA-year not yet in the programme (programme LAs before their start, including the DBV
years of LAs that later joined Safety Valve; every other LA until it joins either programme) and takes each
programme LA-year's gap from that fit as its effect. It therefore uses all eligible LAs rather than matched
ones, and every pre-start year rather than only the year before the start. Where programme LAs were already
drifting away from the others before the start, the two estimates part. The imputation's own residuals in
the years before the start cannot test for such a drift by their level: each LA effect is fitted to those
same years, so they average zero over them whatever the trend (only their slope hints at one). The drift is
tested out of sample instead, as Borusyak, Jaravel and Spiess recommend and as the event study's placebo in
time does: each programme LA pretends to start `PLACEBO_SHIFT` years early, its LA effect is fitted to the
years before that fake start only, and the gap in the years between the fake and the real start (about zero
when trends were parallel) is the fake-start estimate.

CausalPy's linear regression (Normal(0, 50) coefficients, half-normal noise) treats LA-years as independent,
and its effect intervals carry only the uncertainty of the fitted LA and year effects: the programme LA-years'
own noise, and the correlation of an LA's years, are left out. They are therefore too narrow, and are read as
a lower bound on the uncertainty; the `placebo_imputation` grid measures how often they contain zero where
the true effect is zero. The model is sampled with the study's sampler and cached like every other fit
(`fitting.cached_fit`, via `_CachedRegression`); the design, prediction and aggregation are CausalPy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import causalpy as cp
import numpy as np
import pandas as pd
import xarray as xr

from analysis.evaluation import programmes
from analysis.evaluation.experiment import PLACEBO_SHIFT, Evaluation
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
    post: dict  # median, lo, hi (each with its MCSE), n_treated: programme LAs' average gap over years 0 … POST after the start
    fake_start: dict  # the same for a start PLACEBO_SHIFT years early, over the years before the real start
    by_event_time: pd.DataFrame  # event_time, median, lo, hi, their MCSEs, n_treated (before the start: in-sample residuals)
    treated: int
    comparisons: int
    diagnostics: Diagnostics  # the main fit's
    fake_start_diagnostics: Diagnostics


def panel(ev: Evaluation, programme: str, outcome: str, shift: int = 0) -> pd.DataFrame:
    """LA-years for the imputation: la_code, year, y, g (first treated year; inf for LAs not in `programme`).

    Programme LAs keep their years up to POST after the start and before `censor_year` (joining the other
    programme); every other LA keeps its years before its first year in either programme. With `shift` > 0
    (a fake start), programme LAs keep only their years before the real start and g moves `shift` years
    earlier. A programme LA with no year before its (fake) start has nothing to fit its LA effect to and is
    left out.
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
    if shift:
        keep &= ~(rows["year"] >= rows["g"])
        rows["g"] -= shift
    rows = rows[keep].copy()
    before = rows.loc[rows["year"] < rows["g"], "la_code"].unique()
    rows = rows[~(rows["la_code"].isin(treated.index) & ~rows["la_code"].isin(before))]
    rows["g"] = rows["g"].fillna(np.inf)
    rows["treated"] = (rows["year"] >= rows["g"]).astype(int)
    return rows.sort_values(["la_code", "year"]).reset_index(drop=True)


def gaps(rows: pd.DataFrame, name: str, cache: Path) -> tuple[pd.DataFrame, pd.DataFrame, Diagnostics]:
    """CausalPy's fit of `rows`: its LA-years (with event_time) and each one's gap y − imputed y (obs × draws)."""
    model = _CachedRegression(name, cache=cache)
    result = cp.StaggeredDifferenceInDifferences(rows, formula=FORMULA, unit_variable_name="la_code", time_variable_name="year",
                                                 treated_variable_name="treated", treatment_time_variable_name="g", model=model)
    data = result.data_
    mu = result.y_pred.isel(treated_units=0).transpose("chain", "draw", "obs_ind").values.reshape(-1, len(data))
    return data, pd.DataFrame((data["y"].to_numpy() - mu).T, index=data.index), fitting.stored_diagnostics(model.idata)


def average(data: pd.DataFrame, gap: pd.DataFrame, outcome: str, first: int, last: int) -> dict:
    """Programme LAs' average gap over event times `first` … `last` (each LA its own mean first, as the event study)."""
    mask = data["event_time"].between(first, last).to_numpy()
    per_la = gap[mask].groupby(data.loc[mask, "la_code"].to_numpy()).mean()
    return programmes.summary(outcome, per_la.mean().to_numpy(), SETTINGS.chains) | {"n_treated": len(per_la)}


def fit(ev: Evaluation, programme: str, outcome: str, cache: Path = fitting.FITS) -> Imputation:
    """CausalPy's imputation estimate for one programme and outcome, with its fake-start check (see the
    module docstring)."""
    name = f"imputation-{programme}-{outcome}"
    data, gap, diagnostics = gaps(panel(ev, programme, outcome), name, cache)
    fake, fake_gap, fake_diagnostics = gaps(panel(ev, programme, outcome, PLACEBO_SHIFT), f"{name}-fake-start", cache)
    by_e = []
    for t in sorted(data["event_time"].dropna().unique()):
        if t < -programmes.PRE:
            continue
        mask = (data["event_time"] == t).to_numpy()
        by_e.append({"event_time": int(t), **programmes.summary(outcome, gap[mask].mean().to_numpy(), SETTINGS.chains),
                     "n_treated": int(mask.sum())})
    treated = data.loc[np.isfinite(data["g"]), "la_code"].nunique()
    return Imputation(programme, outcome, average(data, gap, outcome, 0, programmes.POST),
                      average(fake, fake_gap, outcome, 0, PLACEBO_SHIFT - 1), pd.DataFrame(by_e), treated,
                      data["la_code"].nunique() - treated, diagnostics, fake_diagnostics)


def estimates(ev: Evaluation) -> list[Imputation]:
    """Both programmes, each headline outcome."""
    return [fit(ev, p, o) for p in programmes.PROGRAMMES for o in programmes.HEADLINE]
