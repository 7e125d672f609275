"""Place funding per plan: the part of a placement's full public cost that the spend model's series leaves out.

The spend model (`analysis.models.spend.model`) fits what the LA pays in top-ups
and services (s251 lines 1.2.x). A placement also carries **place funding**:
£10,000 a commissioned place in a special school or AP and £6,000 (element 2) a
high-needs place in a college or specialist post-16 institution
[@esfa_hn_operational_guide]. The LA pays it for its maintained schools (s251
line 1.0.2); ESFA pays it directly to academies, free schools and colleges and
deducts it from the LA's high needs block [@esfa_dsg]. How much of it goes with
a plan is not the standard rate: places are commissioned ahead of need, some
pupils in a place have no plan, and not every post-16 plan is in a funded place.

What is modelled
----------------
The whole place funding of LA *i* in FY 2021-22, the one year for which the
sources held here have both halves by LA, is the LA's own (s251 line 1.0.2, as
the benchmarking outturn publishes it, @dfe_hn_benchmarking; DfE publishes the
line by LA every year in the s251 outturn, which the data mirror does not hold:
its derived s251 series folds the line into the schools block) plus ESFA's
deductions (all provider types, the DSG workbook's ``High_needs_deductions``
sheet):

    W_i  = Σ_k q_k n_ki + q_b P_i
    log W_i^obs ~ StudentT(ν, log W_i, σ)

and England's post-16 place funding, which ESFA pays colleges, 16–19 academies and
specialist post-16 institutions directly, is in the deductions of the other
years they cover (FY 2020-21, 2022-23 and 2023-24; 2021-22's are already inside
each W_i, so they are not counted twice):

    log D_t^obs ~ Normal(log(q_FE N_FE,t + q_SPI N_SPI,t), σ_16)

summed over LAs, because a college's deduction falls on its own LA while its
students' plans are held by theirs (Brent's post-16 deductions are nil in every
year): across England the crossings cancel.

``n_ki`` are the LA's January 2022 plans by placement type (`TYPES`, breaks
masked as in the spend model), ``P_i`` its population aged 2–18, ``q_k`` the
place funding per plan of type k and ``q_b`` the place funding per head that
goes with no plan (AP places of pupils without plans, hospital education).
Independent schools' fees are their whole cost to the LA (`NO_PLACE`): their
``q`` is zero (non-maintained special schools' £10,000 places are paid by ESFA
outside the DSG and are not in any series held here). The Student-t error
carries the LAs whose places serve their neighbours' children (deductions are
by the provider's LA, plans by the child's) and those whose own place funding is
booked elsewhere (eight LAs report none).

Joint with the spend model, fitted apart
----------------------------------------
Place funding and top-ups are two parts of one bill, and the full public cost of
a placement is their sum. The two models share the plan counts and no
parameter: place funding is paid at national rates, so the LA price level that
scales every top-up does not move it. Taking their errors as independent, their
joint posterior is the product of the two, so each is fitted on its own (the
same distribution as one joint fit, without refitting the spend model when only
place funding changes), and a full cost pairs the i-th draw of each. That is an
approximation: both 2021-22 figures come from the LA's s251 return, and an LA
that books some place funding as top-ups (or the reverse) moves one up and the
other down, which the pairing ignores.

What the data cannot tell
-------------------------
One year of LA-level data pins the state special cost, whose plans carry most
of the place funding; the smaller types are pinned less, and their posteriors
stay near their priors where the data are silent (the chapter shows each
posterior beside its prior). The deductions of other years hold only ESFA's
half (the LA's own half is not in the sources held here after 2021-22), so
outside post-16, which ESFA funds almost alone, they cannot tell place funding
per plan apart from academisation; they enter the whole bill
(`analysis.models.spend.data.national_high_needs_cost`), not this fit. Place
funding rates have been flat in cash since 2013, so the per-plan figures are
carried to other years unchanged: that assumes places per plan did not change.
The post-16 deductions say they did change there: per post-16 plan they rose by
about a tenth from 2020-21 to 2023-24, which the constant rate leaves to the
year-to-year error (the chapter reports it).

Priors, in pounds (median, sd of the log)
-----------------------------------------
* state special: £10,000 (0.3): one place a plan at the standard rate, give or
  take a third for vacancies and pupils without plans;
* state mainstream: £1,000 (1.0): resourced provision and SEN units (£6,000 or
  £10,000 a place) hold a minority of mainstream plans;
* further education (post-16): £3,000 (0.7): £6,000 element 2 for the plans in
  a funded high-needs place, about half (colleges are funded for a number of
  places agreed in advance; apprenticeships and training have none);
* specialist post-16: £6,000 (0.5): element 2 for the places ESFA funds;
* AP and other: £1,000 (1.0): AP places for the few plans in AP, none for home
  education and the like;
* per head: £15 (0.7): AP and hospital places without a plan (of the order of
  £150m over 11 million children);
* σ ~ HalfNormal(0.3), ν ~ Gamma(2, 0.1) as in the spend model; σ_16 ~ Gamma(2, 20)
  (`SIGMA_POST16_PRIOR`).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from analysis import grid
from analysis.data import breaks
from analysis.errors import ValidationError
from analysis.models import fitting
from analysis.models.fitting import Diagnostics, SamplerSettings
from analysis.models.spend.calibration import THIN_TO
from analysis.models.spend.data import BM_YEAR, TYPE_LABELS, TYPES, type_counts
from analysis.models.spend.model import SETTINGS as SPEND_SETTINGS
from analysis.models.spend.results import PLACE_FUNDING

#: Placement types with place funding of their own; the others' fees are their whole cost (q = 0).
PLACED = ("mainstream", "special_state", "post16", "post16_specialist", "other")
NO_PLACE = tuple(k for k in TYPES if k not in PLACED)
#: Prior median (£ per plan per year) and sd of the log, by type, and per head aged 2–18 (see the docstring).
PRIORS: dict[str, tuple[float, float]] = {
    "mainstream": (1_000.0, 1.0),
    "special_state": (10_000.0, 0.3),
    "post16": (3_000.0, 0.7),
    "post16_specialist": (6_000.0, 0.5),
    "other": (1_000.0, 1.0),
}
HEAD_PRIOR = (15.0, 0.7)
SIGMA_PRIOR = 0.3
#: England's post-16 place funding within about ±10 % of the model's in a typical year (places are agreed ahead
#: of the year and follow last year's numbers, not January's plans): Gamma(2, 20), mean 0.1, which keeps the scale
#: of three observations off zero (a half-normal let it near zero, where the two post-16 rates' ridge narrows and
#: the sampler diverged).
SIGMA_POST16_PRIOR = (2.0, 20.0)
#: The panel's place funding: the LA's own (benchmarking outturn) and ESFA's (deductions), FY 2021-22.
COLUMNS = ("bm_place_funding", "ded_total")
#: As many chains and draws as the spend model's (`model.SETTINGS`), so that full costs pair draw with draw. Target
#: acceptance 0.99: where the post-16 error scale is small, the two post-16 rates lie on a narrow ridge, and at 0.95
#: 19 of 100 SBC refits had one to 29 divergences (the three worst refitted at 0.99 had none).
SETTINGS = replace(SPEND_SETTINGS, tune=1000, target_accept=0.99, low_rank=False)
PARAMS = ["log_q", "log_q_head", "sigma", "nu", "sigma_post16"]


def place_frame(panel: pd.DataFrame, year: int = BM_YEAR) -> pd.DataFrame:
    """One row per LA with both halves of its place funding in `year` (la_code, la_name, funding £ and its log, the
    two halves, pop, n_<type>): reporting breaks masked, and LAs with fewer than 100 plans or without a whole
    placement breakdown left out (the spend model fills a missing breakdown from the LA's earlier years; this model
    has one year, so it leaves the LA out)."""
    _require(panel, [*COLUMNS, "pop_2_18", "ehcp_total"])
    rows = breaks.mask(panel)
    rows = rows[rows["year"] == year]
    counts = type_counts(rows)
    frame = pd.concat([rows[["la_code", "la_name", *COLUMNS, "pop_2_18", "ehcp_total"]], counts], axis=1)
    frame = frame.dropna().query("ehcp_total >= 100").rename(columns={"pop_2_18": "pop"})
    if frame.empty:
        raise ValidationError(f"place funding model: no LA has both halves of its place funding, its plans and its "
                              f"population in panel year {year}")
    negative = frame[(frame[list(COLUMNS)] < 0).any(axis=1)]
    if len(negative):
        raise ValidationError(f"place funding model: negative place funding in {year} for "
                              f"{negative['la_name'].tolist()}; check the benchmarking and DSG readers.")
    frame["funding"] = frame[list(COLUMNS)].sum(axis=1)
    none = frame[frame["funding"] <= 0]
    if len(none):
        raise ValidationError(f"place funding model: no place funding at all in {year} for {none['la_name'].tolist()}, "
                              "which has plans in places; check the benchmarking and DSG readers.")
    frame["log_funding"] = np.log(frame["funding"])
    return frame.sort_values("la_code", ignore_index=True)


def post16_frame(panel: pd.DataFrame, leave_out: int = BM_YEAR) -> pd.DataFrame:
    """England by panel year, but `leave_out` (whose deductions `place_frame` already holds): ESFA's post-16 place
    funding (`ded_post16`, £, and its log) and the plans in further education and specialist post-16 institutions,
    summed over the LAs with all three (breaks masked, at least 100 plans)."""
    _require(panel, ["ded_post16", "ehcp_total"])
    rows = breaks.mask(panel)
    frame = pd.concat([rows[["year", "ded_post16", "ehcp_total"]], type_counts(rows)[["n_post16", "n_post16_specialist"]]], axis=1)
    frame = frame[frame["year"] != leave_out].dropna().query("ehcp_total >= 100")
    national = frame.groupby("year", as_index=False)[["ded_post16", "n_post16", "n_post16_specialist"]].sum()
    bad = national[(national["ded_post16"] <= 0) | (national[["n_post16", "n_post16_specialist"]].sum(axis=1) <= 0)]
    if national.empty or len(bad):
        raise ValidationError(f"place funding model: England's post-16 deductions or plans are missing or nil (years "
                              f"{bad['year'].tolist()}); check the DSG and SEN2 readers.")
    return national.assign(log_post16=np.log(national["ded_post16"]))


def _require(panel: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in panel.columns]
    if missing:
        raise ValidationError(f"place funding model: the panel has no column(s) {missing}; rebuild it with "
                              "`python -m analysis data --force`.")


class PlaceFundingModel:
    """Place funding per plan by placement type (£ a year), from LAs' whole place funding in FY 2021-22."""

    def __init__(self, panel: pd.DataFrame, settings: SamplerSettings = SETTINGS) -> None:
        self.frame, self.post16, self.settings = place_frame(panel), post16_frame(panel), settings
        self._idata: az.InferenceData | None = None

    def __repr__(self) -> str:
        return f"PlaceFundingModel(year={BM_YEAR}, n_las={len(self.frame)})"

    def counts(self) -> np.ndarray:
        """(placed type, LA): plans of each type in `PLACED`, with population as the last row."""
        return np.vstack([self.frame[[f"n_{k}" for k in PLACED]].to_numpy(dtype=float).T, self.frame["pop"].to_numpy(dtype=float)])

    def with_log_funding(self, log_funding: np.ndarray, log_post16: np.ndarray) -> PlaceFundingModel:
        """A copy whose observed place funding is exp(`log_funding`) (LA order) and ESFA's post-16 place funding
        exp(`log_post16`) (`post16` frame order): e.g. simulated ones, kept on the log scale, where a prior draw
        with heavy tails (ν below 1) can put an LA's simulated funding beyond the largest float."""
        other = copy.copy(self)
        for cached in ("_q", "_head"):
            other.__dict__.pop(cached, None)
        log_funding, log_post16 = np.asarray(log_funding, dtype=float), np.asarray(log_post16, dtype=float)
        with np.errstate(over="ignore"):  # the pounds are for reading; the fit reads the logs
            other.frame = self.frame.assign(funding=np.exp(log_funding), log_funding=log_funding)
            other.post16 = self.post16.assign(ded_post16=np.exp(log_post16), log_post16=log_post16)
        other._idata = None
        return other

    def build(self) -> pm.Model:
        """The PyMC model (module docstring): one function for fitting and simulation."""
        median = np.array([PRIORS[k][0] for k in PLACED])
        spread = np.array([PRIORS[k][1] for k in PLACED])
        with pm.Model(coords={"type": list(PLACED), "la": list(self.frame["la_code"])}) as model:
            log_q = pm.Deterministic("log_q", np.log(median) + spread * pm.Normal("log_q_z", 0.0, 1.0, dims="type"), dims="type")
            log_q_head = pm.Deterministic("log_q_head", np.log(HEAD_PRIOR[0]) + HEAD_PRIOR[1] * pm.Normal("log_q_head_z", 0.0, 1.0))
            sigma = pm.HalfNormal("sigma", SIGMA_PRIOR)
            nu = pm.Gamma("nu", 2.0, 0.1)
            rates = pt.concatenate([pt.exp(log_q), pt.exp(log_q_head)[None]])
            mu = pt.dot(rates, self.counts())
            pm.StudentT("log_funding", nu=nu, mu=pt.log(mu), sigma=sigma,
                        observed=self.frame["log_funding"].to_numpy(dtype=float), dims="la")
            # England's post-16 places, all funded by ESFA: a national sum, where pupils crossing LA borders cancel out
            model.add_coords({"year": list(self.post16["year"])})
            sigma_post16 = pm.Gamma("sigma_post16", *SIGMA_POST16_PRIOR)
            n16 = self.post16[["n_post16", "n_post16_specialist"]].to_numpy(dtype=float).T
            mu16 = pt.exp(log_q[PLACED.index("post16")]) * n16[0] + pt.exp(log_q[PLACED.index("post16_specialist")]) * n16[1]
            pm.Normal("log_post16", mu=pt.log(mu16), sigma=sigma_post16,
                      observed=self.post16["log_post16"].to_numpy(dtype=float), dims="year")
        return model

    def data_hash(self) -> str:
        """Hash of what the fit reads (part of its cache key)."""
        return fitting.data_hash(self.frame[["la_code", "log_funding", "pop", *[f"n_{k}" for k in PLACED]]], self.post16)

    def fit(self) -> az.InferenceData:
        """Sample the posterior (cached by model, data and settings)."""
        if self._idata is None:
            self._idata = fitting.cached_fit("place-funding", self.build, self.data_hash(), self.settings, check=PARAMS)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        """R-hat (max), bulk ESS (min) and divergences over `PARAMS`."""
        return fitting.stored_diagnostics(self.fit())

    @cached_property
    def _q(self) -> np.ndarray:
        """(draw, placed type), £ per plan, stacked chain by chain."""
        return np.exp(self.fit().posterior["log_q"].stack(sample=("chain", "draw")).transpose("sample", "type").values)

    @cached_property
    def _head(self) -> np.ndarray:
        """(draw,), £ per child aged 2–18, stacked chain by chain."""
        return np.exp(self.fit().posterior["log_q_head"].stack(sample=("chain", "draw")).values)

    def place_part(self) -> dict[str, np.ndarray]:
        """Per type in `TYPES`, draws of the part of a plan's full public cost outside the LA's top-up, £ a year:
        the place funding per plan for the types with places of their own, none for independent schools
        (`NO_PLACE`), and for state mainstream the £6,000 element 2 every mainstream school meets from its own
        budget (`PLACE_FUNDING`; a unit's place takes its place, so the fitted unit place funding is not added to it)."""
        q = self._q
        part = {k: q[:, PLACED.index(k)] if k in PLACED else np.zeros(len(q)) for k in TYPES}
        return part | {"mainstream": np.full(len(q), PLACE_FUNDING["mainstream"])}

    def predicted(self, counts: np.ndarray, pop: np.ndarray) -> np.ndarray:
        """(draw,) place funding of a group of LA-years, £: `counts` (LA-year, type in `TYPES` order) times each
        type's place funding per plan plus `pop` (children aged 2–18) times the amount per head, summed: the sum of
        the LA-years' medians, which the parameters' uncertainty alone spreads (not the LAs' own errors, nor a change
        in places per plan: the same amounts in every year, see the module docstring)."""
        counts = np.asarray(counts, dtype=float)
        if counts.ndim != 2 or counts.shape[1] != len(TYPES):
            raise ValueError(f"place funding: counts must be (LA-year, {len(TYPES)} types in TYPES order), not {counts.shape}")
        n = counts.sum(axis=0)
        plans = sum(n[list(TYPES).index(k)] * self._q[:, j] for j, k in enumerate(PLACED))
        return plans + self._head * float(np.sum(pop))

    def draws(self) -> dict[str, np.ndarray]:
        """Draws (stacked chain by chain) of the place funding per plan of each type in `PLACED`, £, and per child
        aged 2–18 (`per_head`)."""
        return {k: self._q[:, j] for j, k in enumerate(PLACED)} | {"per_head": self._head}

    def table(self) -> pd.DataFrame:
        """Per placed type and per head: posterior median and 90 % interval beside the prior's, £."""
        rows = []
        for key, draws in self.draws().items():
            median, sd = PRIORS.get(key, HEAD_PRIOR)
            mid, lo, hi = fitting.interval(draws)
            rows.append({"type": key, "label": TYPE_LABELS.get(key, "Per head aged 2–18 (no plan)"), "median": mid,
                         "q05": lo, "q95": hi, "prior_median": median, "prior_q05": median * np.exp(-1.645 * sd),
                         "prior_q95": median * np.exp(1.645 * sd),
                         # how much narrower the posterior is than the prior, on the log scale (1: the data pin it)
                         "contraction": 1 - np.var(np.log(draws)) / sd ** 2})
        return pd.DataFrame(rows)

    def predictive_check(self) -> pd.DataFrame:
        """Per LA: observed place funding and its posterior predictive median and 90 % interval (`covered`)."""
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)["log_funding"]
        q = np.exp(pp.stack(sample=("chain", "draw")).quantile([0.05, 0.5, 0.95], dim="sample").values)
        out = self.frame[["la_code", "la_name", "funding"]].assign(q05=q[0], median=q[1], q95=q[2])
        return out.assign(covered=(out["funding"] >= out["q05"]) & (out["funding"] <= out["q95"]))

    def simulate(self, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The log of place funding (£, LA order) and of England's post-16 place funding (£, `post16` order) drawn
        from the prior on this model's counts, and the parameter values that made them."""
        model = self.build()
        names = ["log_q_z", "log_q_head_z", "sigma", "nu", "sigma_post16"]
        values = dict(zip(names, pm.draw([model[n] for n in names], random_seed=seed)))
        fixed = pm.do(model, values)
        funding, post16, log_q, log_q_head = pm.draw([fixed[n] for n in ("log_funding", "log_post16", "log_q", "log_q_head")],
                                                     random_seed=seed + 1)
        truth = {n: np.asarray(values[n]) for n in PARAMS if n in values} | {"log_q": log_q, "log_q_head": log_q_head}
        return funding, post16, truth


# --------------------------------------------------------------------------- simulation-based calibration

#: Replicates of the full grid, and of CI's reduced grid (which must reproduce the stored ones exactly).
REPLICATES = 100
REDUCED_REPLICATES = 1
#: Two chains where the real fit has four; ranks among `THIN_TO` draws need about as many effective draws of each
#: ranked quantity (with 2 × 1000 draws a replicate's specialist post-16 rate, the least pinned, had 230).
SBC_SETTINGS = replace(SETTINGS, chains=2)


def _real_model() -> PlaceFundingModel:
    """The model on the current panel (imported here: a grid worker loads the panel itself)."""
    from analysis.data import panel

    return PlaceFundingModel(panel.load())


def sbc_replicate(replicate: int) -> dict:
    """One replicate: every parameter drawn from its prior, place funding simulated on the real LAs' plan counts
    (with their collinearity) and population, the model refitted, the truth ranked among `THIN_TO` draws."""
    model = _real_model()
    seed = 2000 + replicate
    log_funding, log_post16, truth = model.simulate(seed)
    idata = fitting.sample(model.with_log_funding(log_funding, log_post16).build(), replace(SBC_SETTINGS, seed=seed), predictive=False, cores=1)
    diag = fitting.diagnose(idata, PARAMS)
    posterior = idata.posterior.stack(sample=("chain", "draw"))
    pick = np.linspace(0, posterior.sizes["sample"] - 1, THIN_TO).round().astype(int)
    ranks = {f"log_q[{k}]": int((posterior["log_q"].values[j, pick] < truth["log_q"][j]).sum()) for j, k in enumerate(PLACED)}
    ranks |= {n: int((posterior[n].values[pick] < truth[n]).sum()) for n in ("log_q_head", "sigma", "nu", "sigma_post16")}
    passed = diag.rhat_max <= fitting.RHAT_MAX and diag.ess_bulk_min >= THIN_TO and diag.divergences == 0
    return {"replicate": replicate, "seed": seed, "ranks": ranks, **diag.as_dict(), "passed": passed}


def sbc_tasks(reduced: bool = False) -> list[grid.Task]:
    """The full grid's replicates, or CI's reduced grid (the first `REDUCED_REPLICATES`)."""
    n = REDUCED_REPLICATES if reduced else REPLICATES
    return [grid.Task(f"replicate-{r:03d}", sbc_replicate, {"replicate": r}) for r in range(n)]
