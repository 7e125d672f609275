"""Bayesian synthetic control per treated LA, partially pooled across LAs.

For each treated LA *j* (first treated in year *g*) a synthetic comparison is a
weighted average of `N_DONORS` donor LAs (@abadie_2010_synth): the clean comparison
LAs of its cohort (`programmes.eligible_controls`) whose pre-period outcome
paths are closest to *j*'s. Every series is measured from its own value in
pre-period mean, so the synthetic LA has to track *j*'s changes, not its
level (a demeaned synthetic control, cf. @benmichael_2021_augmented; the mean
of up to four pre-period years is a less noisy anchor than one year).

    y_jt = Σ_d w_jd y_dt + γ_j,t−g·1[t ≥ g] + ε_jt,   ε_jt ~ N(0, σ)
    w_j ~ Dirichlet(1, …, 1)          (weights on the simplex: an interpolation)
    γ_je = Γ_e + ψ η_j,   η ~ N(0, 1)  (post-period gaps, partially pooled)

Priors (log scale): σ ~ HalfNormal(0.05) (pre-period misfit of about 5 %;
one σ for all LAs — with three informative pre-period years each, an LA's own
σ can shrink towards 0 and trap the weights in a funnel), Γ_e ~ N(0, 0.2),
ψ ~ HalfNormal(0.1). The pre-period (up to four years) pins down the weights only
loosely; the Dirichlet prior spreads what the data leave undetermined, and
that uncertainty flows into the gaps. The pooled ATT at event time *e* is the
average of γ_je over the treated LAs observed at *e*.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from analysis.evaluation import programmes
from analysis.models import fitting
from analysis.models.fitting import Diagnostics, SamplerSettings

N_DONORS = 10
#: 500 tuning steps suffice (bulk ESS ≈ 1500 of 4000 draws with 1000); the synthetic controls are the slowest fits per parameter.
SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=500, target_accept=0.9)
#: Variables whose convergence is checked, and the posterior variables the analyses read (all a fit stores).
CHECKED = ["w", "sigma", "Gamma", "psi", "eta"]
STORED = ["gamma", "synthetic", "sigma"]


class SyntheticControl:
    """Synthetic controls for the treated LAs of one programme on one outcome."""

    def __init__(self, outcome: pd.DataFrame, treatment: pd.DataFrame, donors: dict[str, list[str]], name: str,
                 last_year: int, settings: SamplerSettings = SETTINGS, cache: Path = fitting.FITS):
        self.name = name
        self.settings = settings
        self.cache = cache
        self.last_year = last_year
        wide = outcome.pivot_table(index="year", columns="la_code", values="y")
        rows, donor_rows, self.donor_lists = [], [], {}
        for t in treatment.itertuples():
            g = t.first_treated_year
            end = programmes.horizon(g, last_year) if np.isnan(t.censor_year) else min(programmes.horizon(g, last_year), int(t.censor_year) - 1)
            if t.la_code not in wide or g - 1 not in wide.index or np.isnan(wide.at[g - 1, t.la_code]):
                continue
            years = [y for y in range(g - programmes.PRE, end + 1) if y in wide.index and not np.isnan(wide.at[y, t.la_code])]
            pre = [yr for yr in years if yr < g]
            y = wide.loc[years, t.la_code] - wide.loc[pre, t.la_code].mean()
            pool = wide.loc[years, [d for d in donors[t.la_code] if d in wide]].dropna(axis=1)
            pool = pool - pool.loc[pre].mean()
            dist = ((pool.loc[pre].sub(y.loc[pre], axis=0)) ** 2).mean()
            chosen = dist.nsmallest(N_DONORS).index.tolist()
            for yr in years:
                rows.append({"la_code": t.la_code, "cohort": g, "year": yr, "event_time": yr - g, "y": y[yr]})
                donor_rows.append(pool.loc[yr, chosen].to_numpy())
            self.donor_lists[t.la_code] = chosen
        frame = pd.DataFrame(rows)
        self.frame = frame
        self.donor_values = np.vstack(donor_rows)
        self.units = list(dict.fromkeys(frame["la_code"]))
        post = frame[frame["event_time"] >= 0]
        self.gaps = post[["la_code", "event_time"]].reset_index(drop=True)
        self.event_times = sorted(post["event_time"].unique())

    @cached_property
    def data_hash(self) -> str:
        return fitting.data_hash(self.frame, self.donor_values)

    def build(self) -> pm.Model:
        f = self.frame
        unit = f["la_code"].map({u: i for i, u in enumerate(self.units)}).to_numpy()
        gap_ix = pd.Series(np.arange(len(self.gaps)), index=pd.MultiIndex.from_frame(self.gaps))
        post = (f["event_time"] >= 0).to_numpy()
        gap = gap_ix.reindex(pd.MultiIndex.from_frame(f[["la_code", "event_time"]])).fillna(0).to_numpy(int)
        e_ix = self.gaps["event_time"].map({e: i for i, e in enumerate(self.event_times)}).to_numpy()
        gap_unit = self.gaps["la_code"].map({u: i for i, u in enumerate(self.units)}).to_numpy()
        coords = {"unit": self.units, "donor": np.arange(N_DONORS), "gap": np.arange(len(self.gaps)), "event_time": self.event_times}
        with pm.Model(coords=coords) as model:
            w = pm.Dirichlet("w", a=np.ones(N_DONORS), dims=("unit", "donor"))
            sigma = pm.HalfNormal("sigma", 0.05)
            big_gamma = pm.Normal("Gamma", 0.0, 0.2, dims="event_time")
            psi = pm.HalfNormal("psi", 0.1)
            eta = pm.Normal("eta", 0.0, 1.0, dims="unit")
            gamma = pm.Deterministic("gamma", big_gamma[e_ix] + psi * eta[gap_unit], dims="gap")
            synth = (w[unit] * self.donor_values).sum(axis=1)
            pm.Deterministic("synthetic", synth)
            pm.Normal("y", mu=synth + np.where(post, 1.0, 0.0) * gamma[gap], sigma=sigma, observed=f["y"].to_numpy())
        return model

    def fit(self) -> az.InferenceData:
        if "_idata" not in self.__dict__:
            self._idata = fitting.cached_fit(self.name, self.build, self.data_hash, self.settings, check=CHECKED, keep=STORED, cache=self.cache)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        return fitting.stored_diagnostics(self.fit())

    def att_by_event_time(self) -> pd.DataFrame:
        """Average gap over treated LAs observed at each event time: draws (stacked chain by chain) per row."""
        gamma = self.fit().posterior["gamma"].stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        chains = self.fit().posterior.sizes["chain"]
        return pd.DataFrame([{"event_time": e, "n_treated": len(ix), "draws": gamma[:, ix].mean(axis=1), "chains": chains}
                             for e, ix in self.gaps.groupby("event_time").indices.items()])

    def att_from_base(self, base: int = -1) -> pd.DataFrame:
        """Average over treated LAs of (y − synthetic) at each event time minus the same LA's gap at `base`.

        The event study's estimand (the change since event time `base`, against comparison LAs'
        change), so the two estimators can be set side by side; pre-period rows are this
        estimator's pre-trend check. Only LAs observed at `base` count. Draws (stacked chain by chain) per row.
        """
        posterior = self.fit().posterior
        synth = posterior["synthetic"].stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        gap = self.frame["y"].to_numpy()[None, :] - synth
        f = self.frame.reset_index(drop=True)
        at_base = f[f["event_time"] == base].set_index("la_code").index
        anchor = pd.Series(f.index[f["event_time"] == base], index=at_base)
        rows = []
        for e, part in f[f["la_code"].isin(at_base) & (f["event_time"] != base)].groupby("event_time"):
            rel = gap[:, part.index] - gap[:, anchor[part["la_code"]].to_numpy()]
            rows.append({"event_time": int(e), "n_treated": len(part), "draws": rel.mean(axis=1), "chains": posterior.sizes["chain"]})
        return pd.DataFrame(rows)

    def att_post_from_base(self, base: int = -1) -> np.ndarray:
        """Draws of `att_from_base` averaged over the event times from the start, weighted by the treated LAs
        observed at each: the event study's average effect after the start, by this estimator."""
        rows = self.att_from_base(base).query("event_time >= 0")
        return np.average(np.stack(rows["draws"].to_list()), axis=0, weights=rows["n_treated"])

    def att_post(self) -> np.ndarray:
        """Draws of the average gap over every post-period treated LA-year."""
        return self.fit().posterior["gamma"].mean("gap").stack(d=("chain", "draw")).to_numpy()

    def paths(self) -> pd.DataFrame:
        """Observed and synthetic (median, 90 % interval) paths per treated LA and year."""
        synth = self.fit().posterior["synthetic"].stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        lo, med, hi = np.quantile(synth, [0.05, 0.5, 0.95], axis=0)
        return self.frame.assign(synthetic=med, synthetic_lo=lo, synthetic_hi=hi)

    def predictive_check(self, prob: float = 0.9) -> float:
        """Share of observed values inside the central `prob` posterior predictive interval."""
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)["y"]
        pp = pp.stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        lo, hi = np.quantile(pp, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        y = self.frame["y"].to_numpy()
        return float(((y >= lo) & (y <= hi)).mean())
