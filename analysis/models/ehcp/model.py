"""Model 1: active EHC plans by LA and January: the generative model and its fitting
(how to use it: `analysis.models.ehcp`).

Model (variant "full")
----------------------
For LA *i* (region *r[i]*) in January *t* (``s = t − 2020``), with ``P_it`` the
ONS 0–25 population of mid-(t−1) (the panel's convention: panel year *t* carries
the mid-(t−1) estimate, the latest published before the January census):

    η_it   = α_i + β_i·s + γ_t + δᵀ x_i,t−1                    (trend line, log plans per head)
    (α_i, β_i)ᵀ = μ_r[i] + diag(τ) z_i,  z_i ~ N(0, I₂)         (non-centred)
    μ_r ~ N((−3.8, 0.05), diag(0.5², 0.05²)) per region
    γ = σ_γ √(T/(T−2)) Q u,   u ~ N(0, I_{T−2})     (Q: orthonormal basis of the complement of [1, s])
    o_it   = log P_it + (θ − 1)(log P_it − mean_t log P_it)          (population offset)
    d_it   = log(y_it + ½) − o_it − η_it                             (a January's deviation from the line)
    log μ_it = o_it + η_it + ρ·d_i,t−1          (ρ-term absent in an LA's first modelled January)
    y_it ~ NegBinomial(mean μ_it, dispersion φ = 1/σ_obs²)     (Var = μ + σ_obs² μ²)

LAs are partially pooled towards their region's mean intercept and slope (one
scale for each, shared by all regions; intercept and slope independent given
the region — an LKJ correlation between them was not recovered in simulation at
the real data's size and made sampling three times slower); the nine region means have their own
weakly informative priors (each rests on 5–33 LAs — a further national level
added a hard-to-sample σ_region funnel and nothing to the forecasts). γ_t are
national year effects: each January's departure from the log-linear trend,
constrained to sum to zero and to have no trend, so α and β keep their meaning.
The 0–25 population is the offset for the *level* (α is log plans per head at
the LA's average population), and θ is the elasticity of plans to *within-LA
changes* in the ONS population from year to year. θ = 1 is a pure offset
(variant "offset", a pure population offset); it is estimated because with θ = 1
the held-out Januaries 2023–2025 were over-predicted nationally by 1–2 % a year
— population growth (1–1.7 % a year since 2023, and the Census 2021 rebasing)
passed straight into predicted plans, which it does not do in the data
(posterior θ ≈ 0.1). ``x_i,t−1`` are the standardised shares of the LA's plans placed in state special
schools and in independent / non-maintained special schools the January before.
ρ makes the model an observation-driven AR(1) around the LA trend line: the
deviation of last January's count from the line carries over with weight ρ
(ρ = 0: a static trend model; ρ → 1: a random walk with LA-specific drift β_i
plus national shocks). The term is there because LA counts are persistent —
year-on-year growth has almost no autocorrelation while deviations from a
static LA trend line do — and a static trend model forecasts the next January
worse than carrying last year's growth forward (see ``loo_compare`` and
``holdout_scores`` with variant "no_ar"). Each likelihood term is the count
given the previous January's count, so PSIS-LOO and the one-step posterior
predictive are conditional on the previous January.

Priors (log scale, per year): μ_r as above (0.8–6 % of 0–25-year-olds in
January 2020 at ±2 sd; growth −5 % to +15 % a year), τ ~ HN(0.3, 0.03),
σ_γ ~ HN(0.03), δ ~ N(0, 0.1) per SD of share, ρ ~ Beta(2, 2),
θ ~ N(1, 0.5) (centred on proportionality), σ_obs ~ HN(0.1).

Variants: "pooled" (α_i = a₀ ~ N(−3.8, 0.5), β_i = b₀ ~ N(0.05, 0.05): one
national line), "unpooled" (each LA's own line: its level in its first
modelled January ~ N(−3.8, 1) and β_i ~ N(0.05, 0.1), independently; no
regions, no sharing), "no_mix" (δ = 0), "no_ar" (ρ = 0: the static model as
worded in the issue) and "offset" (θ = 1). Each changes one thing and keeps
the rest (γ, σ_obs, δ, ρ, θ).

Forecasts draw new national year effects γ_t ~ N(0, σ_γ) and simulate each
January from the one before, so the intervals include parameter uncertainty,
national shocks, LA shocks propagated through ρ, and count noise. They assume
the 2016–2025 log-linear trends continue (no policy change, no saturation) and
the population stays at its mid-2024 level.

"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.linalg import null_space

from analysis.data import breaks
from analysis.models import fitting
from analysis.models.ehcp.data import (
    CENTRE_YEAR,
    FIRST_YEAR,
    FRAME_COLUMNS,
    MIX,
    lagged_shares,
    last_january,
    model_frame,
)
from analysis.models.ehcp.predict import Predictions
from analysis.models.fitting import SEED, Diagnostics, SamplerSettings

VARIANTS = ("full", "pooled", "unpooled", "no_mix", "no_ar", "offset")

#: Sampler settings for the real panel: nutpie with its low-rank modified mass matrix (it
#: learns the few directions in which the region means, ρ and the LA effects move together,
#: ~16 leapfrog steps a draw instead of ~25 with a diagonal one), 4 chains × (1000 tune +
#: 1000 draws); the slowest parameters (a region's mean intercept, ρ) mix at ~0.15
#: effective draws per draw, so bulk ESS ≈ 550–650 (`benchmarks/samplers.py`).
SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=1000, target_accept=0.85, seed=SEED, low_rank=True)

#: Per-variant overrides. In the pooled model the year effects are sharply identified and
#: target_accept 0.85 left divergences in the tail of σ_γ; 0.95 removes them (it is cheap).
#: Without persistence (ρ = 0) the LA intercepts carry every LA's deviations and mix more slowly:
#: at target_accept 0.9, 1000 draws gave bulk ESS 270 and 2000 gave R-hat 1.011 on τ (intercept);
#: 3000 give R-hat 1.005 and ESS ≈ 1400.
VARIANT_SETTINGS = {
    "pooled": replace(SETTINGS, target_accept=0.95),
    "no_ar": replace(SETTINGS, draws=3000, target_accept=0.9),
}
#: Windows shorter than this many Januaries (held-out fits ending before 2024) leave the LA
#: slopes less determined; the 2016–2022 fit had 1 divergence at 0.8 and none at 0.9.
SHORT_WINDOW = 9


def settings_for(variant: str, n_years: int = 10) -> SamplerSettings:
    """The sampler settings a variant is fitted with by default on a window of `n_years` Januaries."""
    settings = VARIANT_SETTINGS.get(variant, SETTINGS)
    if n_years < SHORT_WINDOW:
        settings = replace(settings, target_accept=max(settings.target_accept, 0.9))
    return settings


class EHCPModel(Predictions):
    """Active EHC plans by LA and January: a hierarchical negative-binomial panel model.

    Parameters
    ----------
    panel : the LA-by-year panel (`analysis.data.panel.load()`), or a panel-like frame
        (`synthetic_panel`) with la_code, year, la_name, region_code, region_name,
        stable_area, ehcp_total, ehcp_special_state, ehcp_special_independent, pop_0_25.
    first_year, last_year : the Januaries fitted (default 2016 to the panel's last).
    holdout : a January to withhold and predict; the fit then ends at holdout − 1.
    variant : "full", "pooled", "unpooled", "no_mix" or "no_ar" (see the module docstring).
    settings : sampler settings (default `settings_for(variant, number of Januaries)`).
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        first_year: int = FIRST_YEAR,
        last_year: int | None = None,
        holdout: int | None = None,
        variant: str = "full",
        settings: SamplerSettings | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        if holdout is not None:
            if last_year is not None and last_year != holdout - 1:
                raise ValueError(f"holdout={holdout} implies last_year={holdout - 1}, not {last_year}")
            last_year = holdout - 1
        last_year = last_january(panel) if last_year is None else int(last_year)
        if last_year - first_year < 3:
            raise ValueError("EHCP model: needs at least four Januaries")
        self.panel = breaks.mask(panel)
        self.first_year, self.last_year, self.holdout = first_year, last_year, holdout
        self.variant, self.settings = variant, settings or settings_for(variant, last_year - first_year + 1)
        self._frame = model_frame(self.panel, first_year, last_year)
        self._idata: az.InferenceData | None = None

    def __repr__(self) -> str:
        return f"EHCPModel(variant={self.variant!r}, years={self.first_year}–{self.last_year}, holdout={self.holdout}, n_las={len(self.las)}, n_obs={len(self._frame)})"

    # ----------------------------------------------------------------- data

    def data(self) -> pd.DataFrame:
        """The model frame (one row per LA-year fitted, sorted by LA and year); see `model_frame`."""
        return self._frame.copy()

    def with_counts(self, y: np.ndarray | pd.Series) -> EHCPModel:
        """A copy of this model whose counts are `y` (in `data()` row order), e.g. simulated ones."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._frame = self._frame.assign(y=np.asarray(y, dtype=int))
        other._idata = None
        return other

    @property
    def name(self) -> str:
        return f"ehcp-{self.variant}-{self.first_year}-{self.last_year}"

    @cached_property
    def las(self) -> pd.DataFrame:
        """The LAs modelled, in model order, with region and first/last January."""
        g = self._frame.groupby("la_code", sort=True)
        return pd.DataFrame(
            {
                "la_name": g["la_name"].first(),
                "region_code": g["region_code"].first(),
                "region_name": g["region_name"].first(),
                "first_year": g["year"].min(),
                "last_year": g["year"].max(),
            }
        ).reset_index()

    @cached_property
    def regions(self) -> list[str]:
        return sorted(self._frame["region_code"].unique())

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def _arrays(self) -> dict[str, np.ndarray]:
        f = self._frame
        la_pos = {c: k for k, c in enumerate(self.las["la_code"])}
        prev = np.where(f["first"], -1, np.arange(len(f)) - 1)
        return {
            "la": f["la_code"].map(la_pos).to_numpy(),
            "year": (f["year"] - self.first_year).to_numpy(),
            "s": f["s"].to_numpy(dtype=float),
            "log_pop": f["log_pop"].to_numpy(dtype=float),
            "log_pop_mean": f.groupby("la_code")["log_pop"].transform("mean").to_numpy(dtype=float),
            "x": f[["x_special_state", "x_special_independent"]].to_numpy(dtype=float),
            "prev": prev,
            "y": f["y"].to_numpy(),
            "y_prev": np.where(prev >= 0, f["y"].to_numpy()[np.maximum(prev, 0)], 0),
        }

    def future_frame(self, to_year: int) -> pd.DataFrame:
        """Covariates for Januaries last_year+1 … to_year, for every LA in the last fitted January.

        Population and lagged shares come from the panel where it has them (a held-out
        January), else are held at their last value (population mid-2024, shares January 2025).
        """
        live = self._frame[self._frame["year"] == self.last_year]
        lag = lagged_shares(self.panel).set_index(["la_code", "year"])
        pops = self.panel.set_index(["la_code", "year"])["pop_0_25"]
        rows = []
        for r in live.itertuples():
            pop, shares = r.pop, (r.share_special_state, r.share_special_independent)
            for year in range(self.last_year + 1, to_year + 1):
                if (r.la_code, year) in pops.index and pd.notna(pops[(r.la_code, year)]):
                    pop = pops[(r.la_code, year)]
                if (r.la_code, year) in lag.index and lag.loc[(r.la_code, year)].notna().all():
                    shares = tuple(lag.loc[(r.la_code, year), list(MIX)])
                rows.append((r.la_code, r.la_name, r.region_code, r.region_name, year, pop, *shares))
        future = pd.DataFrame(rows, columns=["la_code", "la_name", "region_code", "region_name", "year", "pop", *MIX])
        future["s"] = future["year"] - CENTRE_YEAR
        future["log_pop"] = np.log(future["pop"])
        for col in MIX:
            ref = self._frame[col]
            future["x_" + col.removeprefix("share_")] = (future[col] - ref.mean()) / ref.std()
        return future

    def data_hash(self) -> str:
        return fitting.data_hash(self._frame[FRAME_COLUMNS])

    # ----------------------------------------------------------------- the generative model

    def build(self, future: int | None = None) -> pm.Model:
        """The PyMC model: one generative function for fitting, simulation and prediction.

        ``y`` holds every LA-year's count; its mean depends, through the AR term, on the
        previous January's count held in the data container ``y_prev`` (the observed counts
        when fitting; `simulate` refills it year by year to generate whole series). With
        `future`, unobserved nodes ``gamma_<year>`` and ``y_<year>`` are added for
        last_year+1 … future: the first conditions on the observed last January and each
        later one on the node before (forecasts, held-out predictions).
        """
        a = self._arrays()
        las = list(self.las["la_code"])
        region_idx = self.las["region_code"].map({r: k for k, r in enumerate(self.regions)}).to_numpy()
        s_window = np.array(self.years, dtype=float) - CENTRE_YEAR
        n_years = len(s_window)
        basis = null_space(np.column_stack([np.ones(n_years), s_window]).T) * np.sqrt(n_years / (n_years - 2))
        coords = {
            "la": las,
            "region": self.regions,
            "year": self.years,
            "effect": ["intercept", "slope"],
            "mix": list(MIX),
            "year_basis": list(range(n_years - 2)),
            "obs": [f"{c}:{y}" for c, y in zip(self._frame["la_code"], self._frame["year"])],
        }
        last_rows = np.flatnonzero(self._frame["year"].to_numpy() == self.last_year)
        if future is not None and future > self.last_year:
            ff = self.future_frame(future)
            coords["la_future"] = list(self._frame["la_code"].to_numpy()[last_rows])
        has_prev = a["prev"] >= 0
        prev = np.maximum(a["prev"], 0)
        with pm.Model(coords=coords) as model:
            y_prev = pm.Data("y_prev", a["y_prev"].astype(float), dims="obs")
            if self.variant == "unpooled":
                # each LA's own line, anchored at its first modelled January (a short series
                # pins that level, not the 2020 intercept: this keeps the two uncorrelated)
                level = pm.Normal("level_first", -3.8, 1.0, dims="la")
                beta = pm.Normal("beta", 0.05, 0.1, dims="la")
                alpha = pm.Deterministic("alpha", level - beta * (self.las["first_year"].to_numpy() - CENTRE_YEAR), dims="la")
            elif self.variant == "pooled":
                a0 = pm.Normal("a0", -3.8, 0.5)
                b0 = pm.Normal("b0", 0.05, 0.05)
                alpha = a0 * pt.ones(len(las))
                beta = b0 * pt.ones(len(las))
            else:
                region_mean = pm.Normal(
                    "region_mean", mu=np.array([-3.8, 0.05]), sigma=np.array([0.5, 0.05]), dims=("region", "effect")
                )
                tau = pm.HalfNormal("tau", sigma=np.array([0.3, 0.03]), dims="effect")
                z_la = pm.Normal("z_la", 0.0, 1.0, dims=("la", "effect"))
                ab = region_mean[region_idx] + z_la * tau
                alpha = pm.Deterministic("alpha", ab[:, 0], dims="la")
                beta = pm.Deterministic("beta", ab[:, 1], dims="la")
            sigma_gamma = pm.HalfNormal("sigma_gamma", 0.03)
            u_gamma = pm.Normal("u_gamma", 0.0, 1.0, dims="year_basis")
            gamma = pm.Deterministic("gamma", sigma_gamma * pt.dot(basis, u_gamma), dims="year")
            delta = pm.Normal("delta", 0.0, 0.1, dims="mix") if self.variant != "no_mix" else pt.zeros(2)
            rho = pm.Beta("rho", 2.0, 2.0) if self.variant != "no_ar" else pt.as_tensor(0.0)
            theta = pm.Normal("theta", 1.0, 0.5) if self.variant != "offset" else pt.as_tensor(1.0)
            sigma_obs = pm.HalfNormal("sigma_obs", 0.1)
            dispersion = 1.0 / sigma_obs**2
            la_log_pop_mean = self._frame.groupby("la_code")["log_pop"].mean().reindex(las).to_numpy()

            def offset(log_pop, log_pop_mean):
                """log P, with within-LA changes in log P scaled by the elasticity θ."""
                return log_pop + (theta - 1.0) * (log_pop - log_pop_mean)

            off = offset(a["log_pop"], a["log_pop_mean"])
            eta = alpha[a["la"]] + beta[a["la"]] * a["s"] + gamma[a["year"]] + pt.dot(a["x"], delta)
            deviation = pt.log(y_prev + 0.5) - off[prev] - eta[prev]
            log_mu = off + eta + pt.where(has_prev, rho * deviation, 0.0)
            pm.NegativeBinomial("y", mu=pt.exp(log_mu), alpha=dispersion, observed=a["y"], dims="obs")

            if future is not None and future > self.last_year:
                la_f = a["la"][last_rows]
                prev_y, prev_eta, prev_off = pt.as_tensor(a["y"][last_rows].astype(float)), eta[last_rows], off[last_rows]
                for year in range(self.last_year + 1, future + 1):
                    rows = ff[ff["year"] == year]
                    assert list(rows["la_code"]) == coords["la_future"]
                    off_f = offset(rows["log_pop"].to_numpy(dtype=float), la_log_pop_mean[la_f])
                    x = rows[["x_special_state", "x_special_independent"]].to_numpy(dtype=float)
                    g = pm.Normal(f"gamma_{year}", 0.0, sigma_gamma)
                    eta_f = alpha[la_f] + beta[la_f] * float(year - CENTRE_YEAR) + g + pt.dot(x, delta)
                    mu = pt.exp(off_f + eta_f + rho * (pt.log(prev_y + 0.5) - prev_off - prev_eta))
                    prev_y = pm.NegativeBinomial(f"y_{year}", mu=mu, alpha=dispersion, dims="la_future")
                    prev_eta, prev_off = eta_f, off_f
        return model

    def param_names(self) -> list[str]:
        """Parameters checked for convergence: every free parameter and the LA/year effects."""
        names = {
            "pooled": ["a0", "b0"],
            "unpooled": ["level_first", "alpha", "beta"],
        }.get(self.variant, ["region_mean", "tau", "z_la", "alpha", "beta"])
        names += ["sigma_gamma", "u_gamma", "gamma", "sigma_obs"]
        names += [] if self.variant == "no_mix" else ["delta"]
        names += [] if self.variant == "no_ar" else ["rho"]
        names += [] if self.variant == "offset" else ["theta"]
        return names

    # ----------------------------------------------------------------- simulation

    def _simulator(self, seed: int):
        """Compile once: a function that generates whole series given values of every free parameter."""
        model = self.build()
        free = [rv.name for rv in model.free_RVs]
        init = pm.draw([model[n] for n in free], random_seed=0)
        fixed = pm.do(model, dict(zip(free, init)))  # the interventions become shared data …
        shared = {n: fixed[n] for n in free}  # … that `run` refills
        step = pm.pytensorf.compile([], fixed["y"], random_seed=seed)
        a = self._arrays()
        year_rows = [np.flatnonzero(a["year"] == k) for k in range(len(self.years))]

        def run(values: dict[str, np.ndarray]) -> np.ndarray:
            for n in free:
                shared[n].set_value(np.asarray(values[n], dtype=float))
            y = np.zeros(len(a["y"]))
            for rows in year_rows:
                fixed["y_prev"].set_value(np.where(a["prev"] >= 0, y[np.maximum(a["prev"], 0)], 0.0))
                y[rows] = step()[rows]
            return y.astype(int)

        return model, free, run

    def simulate(self, params: dict[str, float | np.ndarray], seed: int = SEED) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Whole series of counts generated by `build()` with `params` fixed (the rest drawn from the prior).

        Each January is drawn given the simulated January before it. Returns the counts in
        `data()` row order and the values of every named parameter used (fixed or drawn),
        for parameter-recovery checks.
        """
        model, free, run = self._simulator(seed)
        given = pm.do(model, params)
        names = [n for n in self.param_names() if n in given.named_vars and n not in params]
        drawn = dict(zip(names, pm.draw([given[n] for n in names], random_seed=seed)))
        values = {n: np.asarray(params[n] if n in params else drawn[n]) for n in free}
        truth = {n: np.asarray(v) for n, v in params.items()} | {n: np.asarray(v) for n, v in drawn.items()}
        return run(values), truth

    def prior_predictive(self, draws: int = 400, paths: int = 50) -> tuple[az.InferenceData, pd.DataFrame]:
        """Prior predictive checks.

        Returns (a) the prior and one-step prior predictive (each January given the observed
        January before), and (b) `paths` whole series generated from the prior from each LA's
        first January, long format: draw, la_code, year, y, pop.
        """
        model, free, run = self._simulator(self.settings.seed + 4)
        with model:
            idata = pm.sample_prior_predictive(draws=draws, random_seed=self.settings.seed)
        prior = idata.prior
        rows = []
        for d in range(min(paths, draws)):
            values = {n: prior[n].isel(chain=0, draw=d).values for n in free}
            rows.append(self._frame[["la_code", "year", "pop"]].assign(draw=d, y=run(values)))
        return idata, pd.concat(rows, ignore_index=True)

    # ----------------------------------------------------------------- fitting

    def fit(self, settings: SamplerSettings | None = None) -> az.InferenceData:
        """Sample the posterior and the (one-step) posterior predictive; cached on disk."""
        if settings is not None and settings != self.settings:
            self.settings, self._idata = settings, None
        if self._idata is None:
            extra = {"variant": self.variant, "first_year": self.first_year, "last_year": self.last_year}
            self._idata = fitting.cached_fit(self.name, self.build, self.data_hash(), self.settings, check=self.param_names(), extra=extra)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        """R-hat (max), bulk ESS (min) and divergences over `param_names()`."""
        return fitting.stored_diagnostics(self.fit())


# --------------------------------------------------------------------------- CLI


def holdout_range(panel: pd.DataFrame) -> tuple[int, int]:
    """The Januaries that can be held out: at least four fitted before them, and one the panel has."""
    return FIRST_YEAR + 4, last_january(panel)


def cli_fit(holdout: int | None = None, panel_frame: pd.DataFrame | None = None) -> dict:
    """`python -m analysis fit ehcp [--holdout YEAR] --json`: fit (cached), diagnose, score the holdout.

    Without `holdout` the last January the model can fit (`last_january`) is withheld. Returns a
    JSON-ready dict: coverage_50, coverage_90, crps (model and baselines), crps_relative,
    rhat_max, ess_bulk_min, divergences, passed, n_las, years, national, settings.
    """
    from analysis.data import panel as panel_module

    frame = panel_module.load() if panel_frame is None else panel_frame
    holdout = last_january(frame) if holdout is None else int(holdout)
    first, last = holdout_range(frame)
    if not first <= holdout <= last:
        raise ValueError(f"holdout must be a January from {first} to {last}, not {holdout}")
    start = time.perf_counter()
    model = EHCPModel(frame, holdout=holdout)
    model.fit()
    seconds = time.perf_counter() - start
    diag = model.diagnostics()
    scores = model.holdout_scores()
    scores.pop("per_la")
    return {
        "model": "ehcp",
        "variant": model.variant,
        "years": [model.first_year, model.last_year],
        "n_las_fitted": len(model.las),
        "n_obs": len(model.data()),
        **scores,
        **diag.as_dict(),
        "fit_seconds": round(seconds, 1),
        "settings": asdict(model.settings),
    }
