"""Model 2: high-needs spend built from placements (issue 4).

::

    m = SpendModel(panel.load())        # FY 2017-18 … 2024-25 (panel years 2018–2025)
    m.fit(); m.diagnostics()            # cached; R-hat, bulk ESS, divergences
    m.unit_costs()                      # £ per plan per year by placement type, England
    m.la_unit_costs("special_independent")
    m.growth_decomposition()            # 2018 → 2025: plans vs placement mix vs unit costs
    m.benchmark_crosscheck()            # FY 2021-22 outturn by category

What is modelled
----------------
``hn_spend`` is net LA expenditure on s251 lines 1.2.x: top-ups to schools and
colleges of every kind, SEN support and inclusion services, alternative
provision, hospital education and therapies. It EXCLUDES place funding (line
1.0.2: £6,000 / £10,000 per commissioned place in resourced units, special
schools, AP and colleges, much of it paid by ESFA direct to academies). So the
"unit cost" this model can identify is **what the LA itself pays per plan per
year, net of place funding** — mostly top-up (element 3) funding. It is not
the full cost of a placement (place funding, the school's own first £6,000 in
mainstream, transport, health and social care contributions are all outside
it).

For LA *i* in panel year *t* (financial year t−1 to t; ``s = t − 2022``, so
levels refer to FY 2021-22, the year of the benchmarking cross-check):

    ℓ_it   = γ·x_i + σ_u u_i + σ_d d_i·s                                 (the LA's price level and drift)
    c_kit  = exp(log ĉ_k + β_g(k)·s + ℓ_it + [k = indep] σ_v v_i)        (unit cost of type k, £ per plan)
    b_it   = exp(log b̂ + β_b·s + ℓ_it)                                   (base spend, £ per head aged 2–18)
    μ_it   = Σ_k n_kit c_kit + P_it b_it                                  (expected spend, £)
    log y_it ~ StudentT(ν, log μ_it, σ_obs),   u_i, d_i, v_i ~ N(0, 1)   (non-centred)

``n_kit`` are the LA's EHC plans in January t (the census inside the financial
year) by placement type k, ``P_it`` its ONS 2–18 population (mid t−1) and
``x_i`` its mean log plans per head over the window, standardised (γ < 0: LAs
that give plans more readily pay less per plan). β_g(k) is one growth rate for
the state-funded placement types and one for independent special schools.

Why this structure (and not a separate LA effect and trend for every type):
a first version with an independent LA effect per type and per-type trends
did not converge (R-hat 1.5 after 8 minutes: chains settled on different
splits of spend between state special schools, mainstream and the base, whose
counts all rise together); per-type trends for the state-funded types traded
off against each other and the base (R-hat 1.1); an LA-specific base on top of
the LA price level converged but could not be split from it. What the data
can see is each LA's overall level and drift and, because independent
placements are few and expensive, an LA-specific independent-special cost.
The Student-t error (heavy tails) keeps a few LA-years with implausible
counts (e.g. Newham, whose SEN2 counts jump between 779 and 2,705 plans)
from dragging the national costs.

What the cross-check shows (chapter 4): the split between the base and the
plan-driven terms is the model's weak point. Spend totals identify it only
through how spend moves with an LA's plans across LAs and years, and if an
LA's extra plans cost less than its existing ones (likely: new plans are for
less complex needs), that shows up as a large base and fast-rising unit
costs. Against the 2021-22 benchmarking outturn the model's base is more than
twice the categories it stands for; read the unit-cost trends with that in mind.

Placement types (SEN2 categories, January census)
-------------------------------------------------
``mainstream`` (mainstream schools incl. resourced provision and SEN units),
``special_state`` (maintained special schools and special academies / free
schools), ``special_independent`` (independent and non-maintained special
schools), ``post16`` (FE colleges, sixth forms, specialist post-16
institutions, apprenticeships …) and ``other`` (AP / PRUs plus every other
arrangement: early years, home education, NEET, awaiting provision …; AP/PRU
is merged in because it is only ~1 % of plans and has no separate signal).

Priors, in pounds (median and the log-normal's 90 % interval)
-------------------------------------------------------------
``PRIORS`` holds (median £, sd of log). They are set from published figures that
are *not* the data the model is checked against:

* independent special: £50,000 (≈ £22k–£114k). Councils' FOI returns gave an
  average £52,000 per pupil in 2015-16 [@schoolsweek_2017_private] and £565m for
  10,520 pupils (≈ £54,000) in 2017-18 [@tes_2018_private]; 51 councils forecast
  £57,000–£66,000 for 2025-26 [@schoolsweek_2026_private]. Part of some fees is
  paid by health or social care, so the education share may be lower: wide.
* state special: £14,000 (≈ £5k–£38k). The same councils forecast a state special
  place at ≈ £24,000 in 2025-26 [@schoolsweek_2026_private], of which £10,000 is
  place funding outside ``hn_spend`` [@esfa_hn_operational_guide].
* mainstream: £6,000 (≈ £1.9k–£19k). Schools meet the first £6,000 of extra
  support from their own budgets [@esfa_hn_operational_guide]; the LA's top-up
  pays the rest, typically a few thousand pounds in banded systems.
* post-16: £8,000 (≈ £2.5k–£25k). Colleges get the first £6,000 as element 2
  place funding; top-ups are small for most, large for specialist institutions.
* other: £5,000 (≈ £1k–£26k). A mixed bag from AP top-ups to nothing paid at all.
* base: £80 per head aged 2–18 (≈ £25–£250 per head): SEN support,
  inclusion, AP and hospital services and therapies not tied to a plan; our
  judgement of "of the order of £1bn across 11 million children", left wide.
* trends β (state-funded types), β (independent special), β_b ~ N(0.03, 0.04) a
  year (nominal: pay and price inflation was 2–10 % a year over 2017–2025, but LAs
  have also tightened top-up bands). Levels and trends are sampled standardised
  by their priors (unit scale for the sampler).
* σ_u, σ_v ~ HalfNormal(0.4): an LA's costs typically within ±40 % of the national
  level, occasionally double or half; σ_d ~ HalfNormal(0.03): an LA's costs drift
  from the national trend by up to a few % a year; γ ~ N(0, 0.3) per SD of plan rate.
* σ_obs ~ HalfNormal(0.15) (spend within ~±15 % of the model in a typical
  LA-year); ν ~ Gamma(2, 0.1) (Juárez & Steel 2010; mean 20: between heavy-tailed
  and normal).

Identification
--------------
Unit costs are identified by how spend co-varies with the placement mix across
LAs and over time. An LA's own cost for independent special schools is only
informed where it has a sizeable number of such plans (elsewhere partial
pooling does the work). State special plans track an LA's child population
almost as closely as the base does, so those two are the least separable.
Recovery on data simulated from `build()` is checked in tests/test_spend_model.py.

Data choices
------------
* Window: panel years 2018–2025 (the s251 series), LA-years with spend, total
  plans and 2–18 population, and at least 100 plans (`MIN_PLANS`: this leaves out
  the City of London and the Isles of Scilly, with 13–30 plans, whose spend per
  plan is dominated by one or two placements). Cumberland and Westmorland and Furness have no
  spend for 2024 (missing in the derived file) and are not fitted that year.
* Suppressed placement breakdowns (whole breakdown missing, total known; 4
  LA-years: Hackney and Peterborough 2024, Cambridgeshire and North East
  Lincolnshire 2025): the LA's latest earlier shares × the known total, flagged
  ``mix_imputed``. Shares move slowly, so this changes little.
* Boundary changes: each harmonised LA is its own unit (Northamptonshire to 2021,
  its successors from 2022; Cumbria to 2023, its successors from 2024; Bournemouth,
  Poole and old Dorset to 2019, BCP and Dorset from 2020). A successor's LA
  effects are drawn afresh from the national distribution.
* January counts are the stock at month 10 of the financial year; with plans
  growing ~10 % a year they exceed the year's average caseload by ~2–3 %, so
  unit costs are per January plan, slightly below per average plan.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from . import fitting
from .errors import ValidationError
from .fitting import SEED, Diagnostics, SamplerSettings

FIRST_YEAR = 2018
LAST_YEAR = 2025
CENTRE_YEAR = 2022  #: FY 2021-22: national levels refer to this year (the benchmarking year)
BM_YEAR = 2022
ENGLAND = ("E92000001", "England")

#: Placement type → the panel's placement columns summed into it.
TYPES: dict[str, tuple[str, ...]] = {
    "mainstream": ("ehcp_mainstream",),
    "special_state": ("ehcp_special_state",),
    "special_independent": ("ehcp_special_independent",),
    "post16": ("ehcp_post16",),
    "other": ("ehcp_ap_pru", "ehcp_other"),
}
TYPE_LABELS = {
    "mainstream": "Mainstream",
    "special_state": "State special",
    "special_independent": "Independent special",
    "post16": "Post-16",
    "other": "AP and other",
}
PLACEMENT_COLUMNS = [c for cols in TYPES.values() for c in cols]
PANEL_COLUMNS = ["la_code", "la_name", "region_code", "year", "hn_spend", "ehcp_total", "pop_2_18", *PLACEMENT_COLUMNS]

#: Prior median (£ per plan per year, FY 2021-22) and sd of the log, by type; see the module docstring.
PRIORS: dict[str, tuple[float, float]] = {
    "mainstream": (6_000.0, 0.7),
    "special_state": (14_000.0, 0.6),
    "special_independent": (50_000.0, 0.5),
    "post16": (8_000.0, 0.7),
    "other": (5_000.0, 1.0),
}
BASE_PRIOR = (80.0, 0.7)  #: £ per head aged 2–18
TREND_PRIOR = (0.03, 0.04)
SIGMA_LA_PRIOR = 0.4
SIGMA_DRIFT_PRIOR = 0.03
GAMMA_PRIOR = 0.3
#: LA-years with fewer plans are not fitted (the City of London and the Isles of Scilly: spend per plan is noise).
MIN_PLANS = 100
SIGMA_OBS_PRIOR = 0.15

#: nutpie, 4 chains × (1000 tune + 1000 draws); see benchmarks/bench_spend.py.
SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=1000, target_accept=0.85, seed=SEED)

#: Columns of the model frame the fit depends on (they form the data hash).
FRAME_COLUMNS = ["la_code", "year", "spend", "pop", *[f"n_{k}" for k in TYPES]]


# --------------------------------------------------------------------------- data


def _check_panel(panel: pd.DataFrame) -> None:
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValidationError(
            f"spend model: the panel has no column(s) {missing}. Rebuild it with `python -m analysis data --force` "
            "(or, for a hand-made frame, add them: see analysis.spend_model.PANEL_COLUMNS)."
        )
    bad = panel[(panel["hn_spend"] <= 0) | (panel["ehcp_total"] < 0) | (panel["pop_2_18"] <= 0)]
    if len(bad):
        rows = bad[["la_code", "year"]].head(5).values.tolist()
        raise ValidationError(
            f"spend model: {len(bad)} LA-years have non-positive spend or population or negative plans "
            f"(e.g. {rows}); suppressed values must be NaN, not 0 — check the reader that produced them."
        )


def model_frame(panel: pd.DataFrame, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> pd.DataFrame:
    """One row per LA-year fitted: spend, 2–18 population and plans by placement type.

    Columns: la_code, la_name, region_code, year, s (= year − 2022), spend (£), pop (2–18),
    total (all plans), n_<type> for each of `TYPES`, mix_imputed (the breakdown was suppressed
    and is the LA's latest earlier shares × the total).
    """
    _check_panel(panel)
    frame = panel[PANEL_COLUMNS].sort_values(["la_code", "year"]).copy()
    counts = pd.DataFrame({f"n_{k}": frame[list(cols)].sum(axis=1, min_count=len(cols)) for k, cols in TYPES.items()})
    n_cols = list(counts.columns)
    frame[n_cols] = counts
    frame["mix_imputed"] = frame[n_cols].isna().any(axis=1) & frame["ehcp_total"].notna()
    shares = frame[n_cols].div(frame[n_cols].sum(axis=1), axis=0)
    shares = shares.groupby(frame["la_code"]).ffill()
    fill = shares.mul(frame["ehcp_total"], axis=0)
    frame[n_cols] = frame[n_cols].where(~frame["mix_imputed"], fill)
    frame = frame[frame["year"].between(first_year, last_year)]
    frame = frame.dropna(subset=["hn_spend", "ehcp_total", "pop_2_18"])
    frame = frame[frame["ehcp_total"] >= MIN_PLANS]
    unfilled = frame[frame[n_cols].isna().any(axis=1)]
    if len(unfilled):
        raise ValidationError(
            f"spend model: no placement breakdown, this year or earlier, for {unfilled[['la_code', 'year']].values.tolist()}; "
            "these LA-years cannot be split by type."
        )
    frame = frame.rename(columns={"hn_spend": "spend", "pop_2_18": "pop", "ehcp_total": "total"})
    frame["s"] = frame["year"] - CENTRE_YEAR
    cols = ["la_code", "la_name", "region_code", "year", "s", "spend", "pop", "total", *n_cols, "mix_imputed"]
    return frame[cols].reset_index(drop=True)


def synthetic_panel(n_las: int = 40, years: tuple[int, int] = (2018, 2025), seed: int = SEED) -> pd.DataFrame:
    """A small panel with the columns the model reads, at realistic sizes and placement mixes.

    `hn_spend` is a placeholder (the national prior medians applied to the counts); tests
    replace it with `SpendModel.simulate`.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_las):
        pop = rng.uniform(30_000, 250_000)
        rate = rng.uniform(0.02, 0.04)
        mix = rng.dirichlet([14, 11, 2, 6, 3])  # mainstream, state special, independent, post-16, other
        for year in range(years[0], years[1] + 1):
            total = pop * rate * 1.09 ** (year - years[0])
            mix = rng.dirichlet(mix * 400)
            n = np.round(total * mix)
            rows.append(
                {
                    "la_code": f"E0{i:07d}",
                    "la_name": f"LA {i}",
                    "region_code": f"E1200000{i % 4}",
                    "year": year,
                    "pop_2_18": round(pop * 1.003 ** (year - years[0])),
                    "ehcp_total": float(n.sum()),
                    "ehcp_mainstream": n[0],
                    "ehcp_special_state": n[1],
                    "ehcp_special_independent": n[2],
                    "ehcp_post16": n[3],
                    "ehcp_ap_pru": np.round(n[4] * 0.1),
                    "ehcp_other": n[4] - np.round(n[4] * 0.1),
                    "hn_spend": float(n @ [p for p, _ in PRIORS.values()] + pop * BASE_PRIOR[0]),
                }
            )
    return pd.DataFrame(rows)


def lmdi(v0: np.ndarray, v1: np.ndarray, n0: np.ndarray, n1: np.ndarray) -> dict[str, np.ndarray]:
    """Additive log-mean Divisia index (LMDI-I) of spend growth into plans, mix and unit costs.

    `v0`, `v1`: spend by type (…, type) at the two dates; `n0`, `n1`: plans by type (type,).
    With V_k = N·s_k·c_k (N all plans, s_k the type's share, c_k = V_k / n_k its unit cost),
    ΔV_k = L(V_k¹, V_k⁰)·[ln(N¹/N⁰) + ln(s_k¹/s_k⁰) + ln(c_k¹/c_k⁰)], L the logarithmic mean
    (L(a, b) = (a − b) / (ln a − ln b)). The three parts sum exactly to Σ_k ΔV_k.
    """
    weight = np.where(np.isclose(v1, v0), v0, (v1 - v0) / (np.log(v1) - np.log(v0)))
    growth = np.log(n1.sum() / n0.sum())
    mix = np.log((n1 / n1.sum()) / (n0 / n0.sum()))
    cost = np.log((v1 / n1) / (v0 / n0))
    return {"plans": (weight * growth).sum(axis=-1), "mix": (weight * mix).sum(axis=-1), "unit_costs": (weight * cost).sum(axis=-1)}


# --------------------------------------------------------------------------- the model


class SpendModel:
    """High-needs spend by LA and financial year as plans × unit costs + a base per head.

    Parameters
    ----------
    panel : the LA-by-year panel (`analysis.panel.load()`) or a frame with `PANEL_COLUMNS`.
    first_year, last_year : panel years fitted (default 2018–2025: FY 2017-18 … 2024-25).
    settings : sampler settings (default `SETTINGS`).
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        first_year: int = FIRST_YEAR,
        last_year: int = LAST_YEAR,
        settings: SamplerSettings = SETTINGS,
    ) -> None:
        if last_year - first_year < 2:
            raise ValueError("spend model: needs at least three financial years")
        self.panel = panel
        self.first_year, self.last_year, self.settings = first_year, last_year, settings
        self._frame = model_frame(panel, first_year, last_year)
        if self._frame.empty:
            raise ValidationError(f"spend model: no LA-year in {first_year}–{last_year} has spend, plans and population")
        self._idata: az.InferenceData | None = None

    def __repr__(self) -> str:
        return f"SpendModel(years={self.first_year}–{self.last_year}, n_las={len(self.las)}, n_obs={len(self._frame)})"

    @property
    def name(self) -> str:
        return f"spend-{self.first_year}-{self.last_year}"

    def data(self) -> pd.DataFrame:
        """The model frame (see `model_frame`)."""
        return self._frame.copy()

    def with_spend(self, spend: np.ndarray) -> SpendModel:
        """A copy of this model whose spend is `spend` (in `data()` row order), e.g. simulated."""
        other = copy.copy(self)
        other._frame, other._idata = self._frame.assign(spend=np.asarray(spend, dtype=float)), None
        return other

    @cached_property
    def las(self) -> pd.DataFrame:
        """LAs fitted, in model order: la_code, la_name, region_code."""
        g = self._frame.groupby("la_code", sort=True)
        return pd.DataFrame({"la_name": g["la_name"].first(), "region_code": g["region_code"].first()}).reset_index()

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def counts(self) -> np.ndarray:
        """Plans by type, (rows, types), in `data()` order."""
        return self._frame[[f"n_{k}" for k in TYPES]].to_numpy(dtype=float)

    def la_index(self) -> np.ndarray:
        return self._frame["la_code"].map({c: j for j, c in enumerate(self.las["la_code"])}).to_numpy()

    def plan_rate(self) -> np.ndarray:
        """Per LA (model order): its mean log plans per head aged 2–18 over the years fitted, standardised."""
        f = self._frame
        rate = np.log(f["total"] / f["pop"]).groupby(f["la_code"]).mean().reindex(self.las["la_code"]).to_numpy()
        return (rate - rate.mean()) / rate.std()

    def data_hash(self) -> str:
        return fitting.data_hash(self._frame[FRAME_COLUMNS])

    def build(self) -> pm.Model:
        """The PyMC model (one generative function for prior checks, fitting and simulation)."""
        f = self._frame
        types = list(TYPES)
        coords = {
            "type": types,
            "trend_group": ["state-funded placements", "independent special"],
            "la": list(self.las["la_code"]),
            "year": self.years,
            "obs": [f"{c}:{y}" for c, y in zip(f["la_code"], f["year"])],
        }
        la, s = self.la_index(), f["s"].to_numpy(dtype=float)
        x_rate = self.plan_rate()
        s_years = np.array(self.years, dtype=float) - CENTRE_YEAR
        median = np.array([PRIORS[k][0] for k in types])
        spread = np.array([PRIORS[k][1] for k in types])
        indep = np.array([k == "special_independent" for k in types], dtype=float)
        with pm.Model(coords=coords) as model:
            # national levels and trends, each standardised by its prior (unit scale for the sampler)
            log_cost = pm.Deterministic("log_cost", np.log(median) + spread * pm.Normal("log_cost_z", 0.0, 1.0, dims="type"), dims="type")
            # one trend for the state-funded placement types, one for independent special schools
            trend_z = pm.Normal("trend_z", 0.0, 1.0, dims="trend_group")
            trend = pm.Deterministic("trend", TREND_PRIOR[0] + TREND_PRIOR[1] * trend_z[indep.astype(int)], dims="type")
            log_base = pm.Deterministic("log_base", np.log(BASE_PRIOR[0]) + BASE_PRIOR[1] * pm.Normal("log_base_z", 0.0, 1.0))
            trend_base = pm.Deterministic("trend_base", TREND_PRIOR[0] + TREND_PRIOR[1] * pm.Normal("trend_base_z", 0.0, 1.0))
            sigma_la = pm.HalfNormal("sigma_la", SIGMA_LA_PRIOR)
            z_la = pm.Normal("z_la", 0.0, 1.0, dims="la")
            sigma_drift = pm.HalfNormal("sigma_drift", SIGMA_DRIFT_PRIOR)
            z_drift = pm.Normal("z_drift", 0.0, 1.0, dims="la")
            sigma_indep = pm.HalfNormal("sigma_indep", SIGMA_LA_PRIOR)
            z_indep = pm.Normal("z_indep", 0.0, 1.0, dims="la")
            sigma_obs = pm.HalfNormal("sigma_obs", SIGMA_OBS_PRIOR)
            nu = pm.Gamma("nu", 2.0, 0.1)
            pm.Deterministic("cost", pt.exp(log_cost[:, None] + trend[:, None] * s_years[None, :]), dims=("type", "year"))
            gamma = pm.Normal("gamma", 0.0, GAMMA_PRIOR)
            # the LA's price level (partly predicted by how many plans it has per head) and drift: all its spend
            level = (gamma * x_rate + sigma_la * z_la)[la] + (sigma_drift * z_drift)[la] * s
            log_c = log_cost[:, None] + trend[:, None] * s[None, :] + level[None, :] + indep[:, None] * (sigma_indep * z_indep)[la][None, :]
            log_b = log_base + trend_base * s + level
            n = pm.Data("n", self.counts().T, dims=("type", "obs"))
            pop = pm.Data("pop", f["pop"].to_numpy(dtype=float), dims="obs")
            mu = (n * pt.exp(log_c)).sum(axis=0) + pop * pt.exp(log_b)
            pm.StudentT("log_spend", nu=nu, mu=pt.log(mu), sigma=sigma_obs, observed=np.log(f["spend"].to_numpy()), dims="obs")
        return model

    #: Parameters checked for convergence.
    PARAMS = ["log_cost", "trend", "log_base", "trend_base", "sigma_la", "z_la", "sigma_drift", "z_drift", "sigma_indep", "z_indep",
              "gamma", "sigma_obs", "nu"]

    # ----------------------------------------------------------------- simulation and prior checks

    def simulate(self, params: dict[str, float | np.ndarray], seed: int = SEED) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Spend (£, `data()` order) drawn from `build()` with `params` fixed and the rest from the prior.

        Returns the spend and every parameter's value used (fixed or drawn), for recovery checks.
        """
        model = self.build()
        given = pm.do(model, params)
        names = [n for n in self.PARAMS if n not in params]
        draws = pm.draw([given[n] for n in names] + [given["log_spend"]], random_seed=seed)
        truth = {n: np.asarray(v) for n, v in params.items()} | {n: np.asarray(v) for n, v in zip(names, draws[:-1])}
        return np.exp(draws[-1]), truth

    def prior_predictive(self, draws: int = 500) -> az.InferenceData:
        """Draws of every parameter and of log spend from the prior (fixed seed)."""
        with self.build():
            return pm.sample_prior_predictive(draws=draws, random_seed=self.settings.seed)

    # ----------------------------------------------------------------- fitting

    def fit(self) -> az.InferenceData:
        """Sample the posterior and the posterior predictive; cached by model, data and settings."""
        if self._idata is None:
            extra = {"first_year": self.first_year, "last_year": self.last_year}
            self._idata = fitting.cached_fit(self.name, self.build, self.data_hash(), self.settings, extra=extra)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        """R-hat (max), bulk ESS (min) and divergences over `PARAMS`."""
        return fitting.diagnose(self.fit(), self.PARAMS)

    # ----------------------------------------------------------------- posterior quantities

    def _draws(self, name: str, thin: int = 1) -> np.ndarray:
        """Posterior draws of `name` with the sample dimension first."""
        da = self.fit().posterior[name].stack(sample=("chain", "draw"))
        return np.moveaxis(da.values, -1, 0)[::thin]

    def _la_costs(self, rows: np.ndarray, thin: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Unit costs (sample, type, row) and base per head (sample, row) for frame `rows`."""
        f = self._frame.iloc[rows]
        la = self.la_index()[rows]
        s = f["s"].to_numpy(dtype=float)
        indep = np.array([k == "special_independent" for k in TYPES], dtype=float)
        x_rate = self.plan_rate()[la]
        level = self._draws("gamma", thin)[:, None] * x_rate + self._draws("sigma_la", thin)[:, None] * self._draws("z_la", thin)[:, la]
        level = level + self._draws("sigma_drift", thin)[:, None] * self._draws("z_drift", thin)[:, la] * s
        own = self._draws("sigma_indep", thin)[:, None] * self._draws("z_indep", thin)[:, la]
        log_c = self._draws("log_cost", thin)[:, :, None] + self._draws("trend", thin)[:, :, None] * s + level[:, None, :]
        log_c = log_c + indep[None, :, None] * own[:, None, :]
        log_b = self._draws("log_base", thin)[:, None] + self._draws("trend_base", thin)[:, None] * s + level
        return np.exp(log_c), np.exp(log_b)

    def components(self, year: int, thin: int = 1) -> dict[str, np.ndarray]:
        """Model-implied spend (£, per draw) by type and base for each LA fitted in `year`.

        Returns {"la_code": codes, "<type>": (sample, la), "base": (sample, la), "cost_<type>": (sample, la)}.
        """
        rows = np.flatnonzero(self._frame["year"].to_numpy() == year)
        if not len(rows):
            raise ValueError(f"spend model: no LA-year fitted in {year} (fitted {self.first_year}–{self.last_year})")
        cost, base = self._la_costs(rows, thin)
        n = self.counts()[rows].T  # (type, la)
        out: dict[str, np.ndarray] = {"la_code": self._frame["la_code"].to_numpy()[rows]}
        for j, k in enumerate(TYPES):
            out[k] = n[j] * cost[:, j]
            out[f"cost_{k}"] = cost[:, j]
        out["base"] = self._frame["pop"].to_numpy()[rows] * base
        return out

    def unit_costs(self, year: int | None = None) -> pd.DataFrame:
        """England's unit cost by type in `year` (default the last), £ per plan per year.

        `mean_la`: plan-weighted average over LAs (national spend on the type ÷ its plans);
        `typical_la`: the national level exp(log ĉ_k + β_k s), the cost of an LA at the centre of
        the LA distribution. Columns: type, label, year, measure, median, q05, q95.
        """
        year = self.last_year if year is None else year
        comp = self.components(year)
        rows = np.flatnonzero(self._frame["year"].to_numpy() == year)
        n = self.counts()[rows].sum(axis=0)
        typical = self._draws("cost")[:, :, self.years.index(year)]
        out = []
        for j, k in enumerate(TYPES):
            for measure, draws in (("mean_la", comp[k].sum(axis=1) / n[j]), ("typical_la", typical[:, j])):
                q = np.quantile(draws, [0.5, 0.05, 0.95])
                out.append({"type": k, "label": TYPE_LABELS[k], "year": year, "measure": measure, "median": q[0], "q05": q[1], "q95": q[2]})
        return pd.DataFrame(out)

    def unit_cost_trends(self) -> pd.DataFrame:
        """Plan-weighted national unit cost by type and year with 90 % intervals."""
        return pd.concat([self.unit_costs(y).query("measure == 'mean_la'") for y in self.years], ignore_index=True)

    def la_unit_costs(self, placement: str, year: int | None = None) -> pd.DataFrame:
        """Each LA's unit cost for `placement` in `year` (default the last): median, q05, q95, plans, share."""
        if placement not in TYPES:
            raise ValueError(f"placement must be one of {list(TYPES)}, not {placement!r}")
        year = self.last_year if year is None else year
        comp = self.components(year)
        draws = comp[f"cost_{placement}"]
        rows = self._frame[self._frame["year"] == year]
        q = np.quantile(draws, [0.5, 0.05, 0.95], axis=0)
        return pd.DataFrame(
            {
                "la_code": comp["la_code"],
                "la_name": rows["la_name"].to_numpy(),
                "median": q[0],
                "q05": q[1],
                "q95": q[2],
                "plans": rows[f"n_{placement}"].to_numpy(),
                "share": (rows[f"n_{placement}"] / rows["total"]).to_numpy(),
            }
        ).sort_values("median", ignore_index=True)

    # ----------------------------------------------------------------- checks

    def posterior_predictive(self) -> pd.DataFrame:
        """Observed spend beside its posterior predictive, per LA-year and for England by year.

        Columns: la_code, la_name, year, observed, median, q05, q25, q75, q95 (£), pit.
        England rows sum the draws over the LAs fitted that year.
        """
        pp = self.fit().posterior_predictive["log_spend"].stack(sample=("chain", "draw"))
        draws = np.exp(pp.transpose("sample", "obs").values)  # (sample, obs)
        f = self._frame
        rows = [self._summary(draws.T, f["la_code"], f["la_name"], f["year"], f["spend"])]
        for year in self.years:
            sel = (f["year"] == year).to_numpy()
            rows.append(self._summary(draws[:, sel].sum(axis=1)[None, :], [ENGLAND[0]], [ENGLAND[1]], [year], [f.loc[sel, "spend"].sum()]))
        return pd.concat(rows, ignore_index=True)

    @staticmethod
    def _summary(draws: np.ndarray, codes, names, years, observed) -> pd.DataFrame:
        q = np.quantile(draws, [0.5, 0.05, 0.25, 0.75, 0.95], axis=1)
        obs = np.asarray(observed, dtype=float)
        return pd.DataFrame(
            {"la_code": list(codes), "la_name": list(names), "year": list(years), "observed": obs,
             "median": q[0], "q05": q[1], "q25": q[2], "q75": q[3], "q95": q[4], "pit": (draws < obs[:, None]).mean(axis=1)}
        )

    def posterior_predictive_check(self) -> dict:
        """Coverage of the 50 % and 90 % predictive intervals over LA-years and England's years."""
        pp = self.posterior_predictive()
        england = (pp["la_code"] == ENGLAND[0]).to_numpy()
        in50 = pp["observed"].between(pp["q25"], pp["q75"]).to_numpy()
        in90 = pp["observed"].between(pp["q05"], pp["q95"]).to_numpy()
        return {
            "coverage_50": float(in50[~england].mean()),
            "coverage_90": float(in90[~england].mean()),
            "england_coverage_90": float(in90[england].mean()),
            "n": int((~england).sum()),
        }

    # ----------------------------------------------------------------- findings

    def growth_decomposition(self, start: int | None = None, end: int | None = None, thin: int = 2) -> pd.DataFrame:
        """Split the model's national spend growth `start` → `end` into plans, mix, unit costs and base.

        `lmdi` per posterior draw on national spend by type; the base term's change is its own
        component. The parts add up exactly to the change in modelled spend. Rows: plans, mix,
        unit_costs, base, total (£), with each one's share of the total.
        """
        start, end = start or self.first_year, end or self.last_year
        ends = [self.components(y, thin) for y in (start, end)]
        rows0, rows1 = (np.flatnonzero(self._frame["year"].to_numpy() == y) for y in (start, end))
        n0, n1 = self.counts()[rows0].sum(axis=0), self.counts()[rows1].sum(axis=0)
        v0 = np.stack([ends[0][k].sum(axis=1) for k in TYPES], axis=1)
        v1 = np.stack([ends[1][k].sum(axis=1) for k in TYPES], axis=1)
        parts = lmdi(v0, v1, n0, n1)
        parts["base"] = ends[1]["base"].sum(axis=1) - ends[0]["base"].sum(axis=1)
        total = sum(parts.values())
        out = []
        for name, draws in [*parts.items(), ("total", total)]:
            q = np.quantile(draws, [0.5, 0.05, 0.95])
            share = np.quantile(draws / total, [0.5, 0.05, 0.95])
            out.append({"component": name, "median": q[0], "q05": q[1], "q95": q[2],
                        "share": share[0], "share_q05": share[1], "share_q95": share[2]})
        table = pd.DataFrame(out)
        observed = [self._frame.loc[self._frame["year"] == y, "spend"].sum() for y in (start, end)]
        table.attrs = {"start": start, "end": end, "observed_start": observed[0], "observed_end": observed[1]}
        return table

    def benchmark_crosscheck(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Model-implied FY 2021-22 spend by category against the benchmarking tool's outturn.

        Independent special ↔ top-ups to independent and non-maintained providers; mainstream +
        state special + post-16 + AP/other ↔ top-ups to maintained schools, academies and colleges;
        base ↔ SEN support, AP, hospital and therapy services. The benchmarking outturn was not used
        to set the priors or fit the model. Returns (per-LA medians beside outturn, summary per
        category: LAs, correlation of logs, national ratio model / outturn with 90 % interval).
        """
        comp = self.components(BM_YEAR)
        groups = {
            "independent": (["special_independent"], ["bm_topup_independent"]),
            "maintained": (["mainstream", "special_state", "post16", "other"], ["bm_topup_maintained"]),
            "services": (["base"], ["bm_sen_support", "bm_alternative_provision", "bm_hospital", "bm_therapies"]),
        }
        bm = self.panel[self.panel["year"] == BM_YEAR].set_index("la_code").reindex(comp["la_code"])
        per_la, summary = [], []
        for group, (parts, columns) in groups.items():
            draws = sum(comp[p] for p in parts)
            outturn = bm[columns].sum(axis=1, min_count=len(columns)).to_numpy()
            ok = np.isfinite(outturn) & (outturn > 0)
            ratio = draws[:, ok].sum(axis=1) / outturn[ok].sum()
            median = np.median(draws, axis=0)
            per_la.append(pd.DataFrame({"la_code": comp["la_code"], "group": group, "model": median,
                                        "q05": np.quantile(draws, 0.05, axis=0), "q95": np.quantile(draws, 0.95, axis=0), "outturn": outturn}))
            q = np.quantile(ratio, [0.5, 0.05, 0.95])
            summary.append({"group": group, "n_las": int(ok.sum()), "correlation_log": float(np.corrcoef(np.log(median[ok]), np.log(outturn[ok]))[0, 1]),
                            "ratio": q[0], "ratio_q05": q[1], "ratio_q95": q[2]})
        names = dict(zip(self.las["la_code"], self.las["la_name"]))
        table = pd.concat(per_la, ignore_index=True)
        table.insert(1, "la_name", table["la_code"].map(names))
        return table, pd.DataFrame(summary)


# --------------------------------------------------------------------------- descriptive


def spend_per_head(panel: pd.DataFrame) -> pd.DataFrame:
    """Per LA-year: spend per head aged 2–18 and per plan, and the high needs block per head.

    Allocations (after deductions: what the LA receives after academy recoupment and ESFA's
    direct place funding) exist for FY 2019-20 … 2023-24 only (panel years 2020–2024).
    Spend excludes place funding while the allocation pays for some of it, so the ratio
    overstates how far an LA's plan-related spend is covered; it is not a deficit measure.
    """
    _check_panel(panel)
    cols = ["la_code", "la_name", "year", "hn_spend", "ehcp_total", "pop_2_18", "hn_block_after_deductions"]
    f = panel[cols].dropna(subset=["hn_spend"]).copy()
    f["spend_per_head"] = f["hn_spend"] / f["pop_2_18"]
    f["spend_per_plan"] = f["hn_spend"] / f["ehcp_total"]
    f["allocation_per_head"] = f["hn_block_after_deductions"] / f["pop_2_18"]
    f["spend_to_allocation"] = f["hn_spend"] / f["hn_block_after_deductions"]
    return f.reset_index(drop=True)


def england_per_head(panel: pd.DataFrame) -> pd.DataFrame:
    """England by year: spend, plans, population and allocation summed over LAs with each value."""
    f = spend_per_head(panel)
    g = f.groupby("year")
    alloc = f.dropna(subset=["hn_block_after_deductions"]).groupby("year")
    out = pd.DataFrame(
        {
            "spend_per_head": g["hn_spend"].sum() / g["pop_2_18"].sum(),
            "spend_per_plan": g["hn_spend"].sum() / f.dropna(subset=["ehcp_total"]).groupby("year")["ehcp_total"].sum(),
            "allocation_per_head": alloc["hn_block_after_deductions"].sum() / alloc["pop_2_18"].sum(),
            "spend_to_allocation": alloc["hn_spend"].sum() / alloc["hn_block_after_deductions"].sum(),
        }
    )
    return out.reset_index()


# --------------------------------------------------------------------------- CLI


def cli_fit(panel_frame: pd.DataFrame | None = None) -> dict:
    """`python -m analysis fit spend --json`: fit (cached), diagnose, report unit costs.

    Returns a JSON-ready dict: unit_costs (type → median, q05, q95 in £ per plan per year,
    plan-weighted national, last year), rhat_max, ess_bulk_min, divergences, passed,
    posterior predictive coverage, years, n_las, n_obs, settings.
    """
    from . import panel as panel_module

    frame = panel_module.load() if panel_frame is None else panel_frame
    start = time.perf_counter()
    model = SpendModel(frame)
    model.fit()
    seconds = time.perf_counter() - start
    costs = model.unit_costs().query("measure == 'mean_la'")
    return {
        "model": "spend",
        "years": [model.first_year, model.last_year],
        "unit_costs_year": model.last_year,
        "unit_costs": {r.type: {"median": round(r.median), "q05": round(r.q05), "q95": round(r.q95)} for r in costs.itertuples()},
        "unit_costs_note": "£ per EHC plan per year paid by the LA, net of place funding (s251 lines 1.2.x)",
        **model.diagnostics().as_dict(),
        "posterior_predictive": model.posterior_predictive_check(),
        "n_las": len(model.las),
        "n_obs": len(model.data()),
        "fit_seconds": round(seconds, 1),
        "settings": asdict(model.settings),
    }
