"""Bayesian stacked event study of staggered programme starts.

Design (stacked difference-in-differences, @cengiz_2019_minimum; the comparisons of
@callaway_2021_did with a universal base period): one *stack* per cohort — the
LAs first treated in year *g* and their matched clean comparison LAs (never-
or not-yet-treated at the stack's horizon, `programmes.eligible_controls`) —
over event times *e* = −4 … +3 around *g*. No two-way fixed-effects
regression on staggered timing is run, so already-treated LAs never act as
controls (@goodmanbacon_2021_did; @sun_2021_event).

Within a stack each LA's outcome is differenced from its own value in the
reference year *g*−1 (*e* = −1), which removes LA-in-stack levels exactly:
Δy_ise = y_i,g+e − y_i,g−1. For outcome *k*, stack *s* and event time e ≠ −1:

    Δy_ise ~ Normal(δ_kse + D_i τ_kse, σ_ke √m_i)
    τ_kse  = τ̄_k,grp(s),e + ω_kind z_kse,   z ~ N(0, 1)   (non-centred)

δ_kse are stack-by-year effects (what happened to comparison LAs), τ_kse the
effect on the treated LAs of cohort *s* at event time *e*, partially pooled
towards the event-time mean τ̄ of its analysis (`group`) with between-cohort
SD ω (in SDs of Δy, one for the event-time cells and one for the averages
below: the two to four cohorts of one analysis cannot pin down an SD per
outcome or per analysis — sampling one each left funnels and divergences —
so the spread is learnt from all cohorts, outcomes and analyses together).

Averages over years (the headline "average effect after the start" and the
pre-trend summary) are *not* averages of the τ_kse: the Δy of one LA in
different years share its reference year and its own trend, so they are
correlated, and averaging per-year cells as if independent gave intervals
that were far too narrow (the placebo tests and a simulated null effect
showed it). Instead, as recommended for serially correlated
difference-in-differences (Bertrand, Duflo and Mullainathan 2004), each LA's
Δy is first averaged over its years after the start (pseudo event time
`POST_AVERAGE`) and over e ≤ −2 (`PRE_AVERAGE`), one value per LA, and the same
model is fitted to those values as separate cells (their own δ, τ, σ and ω,
so the two blocks share no parameter and the data are not counted twice).
Outcomes are
divided by their SD of Δy (`scale`) before fitting and the priors are on that
standardised scale: δ ~ N(0, 1), τ̄ ~ N(0, 1), σ ~ HalfNormal(1) — weakly
informative: an effect as large as the typical four-year change of an LA is
a priori plausible, one three times as large is not — and ω ~ Gamma(2, 8)
(mean 0.25, 95 % below 0.6): cohorts differ by a fraction of an SD; the
Gamma(2, ·) shape keeps ω off zero, the usual remedy when a group-level SD
rests on a handful of groups (a half-normal prior let the sampler into the
funnel at ω → 0 and diverge). The likelihood is normal so that it can be evaluated exactly on each
cell's sufficient statistics (a few hundred cells instead of thousands of
LA-years: it samples in seconds); a single LA's data glitch inflates σ for
its outcome and event time (wider, not shifted, intervals for the others),
and `Evaluation.leave_one_out` shows how much any one treated LA moves the
result. A comparison LA used in *m* stacks of
one model has its noise scale multiplied by √m: for a normal likelihood that
is the same as down-weighting its data by 1/m, so no LA counts for more than
one LA in the pooled estimate (reused controls are correlated across stacks).
Pre-period τ (e ≤ −2, and their average) are the pre-trend check: they should be near 0.

All outcomes of one programme are fitted in one model (they share no
parameters but ω; one model keeps compilation to one per programme). `group`
lets a model hold several analyses (main, sensitivity, placebos), each with
its own stacks, δ, τ and τ̄.

The pooled ATT at event time *e* (or of the post-period average) is the
average of τ_kse over the cohorts observed at *e*, weighted by their number of
treated LAs (the average effect on the treated LAs in the data, not the
hyper-mean τ̄).
"""

from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from analysis.models import fitting
from analysis.models.fitting import Diagnostics, SamplerSettings

#: The diagonal mass matrix adapted from the draws' variances (Stan's and PyMC's way) rather than nutpie's
#: default from gradients: it needs about half the leapfrog steps per draw for a bulk ESS as high or higher
#: (Safety Valve analyses at 2000 draws a chain: 63 steps a draw against 111, bulk ESS 1752 against 1494;
#: DBV: 1128 against 878). So 1000 draws per chain suffice: the thinnest bulk ESS, of the between-cohort SD
#: ω in the DBV analyses (two cohorts, so ω's posterior is close to its prior), is then about 560, and the
#: fit cache holds half as many draws of each cell.
#: target_accept 0.95 because near ω = 0 the occasional divergence appeared at 0.9.
SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=1000, target_accept=0.95, grad_mass_matrix=False)
#: The calibration grids' settings (placebos, simulation): the same model sampled longer, with nutpie's default
#: (gradient-based) adaptation. Their hundreds of fits must all pass the checks: at `SETTINGS` half the placebo
#: batches needed sampling again at twice the draws, and one simulation batch still missed R-hat (1.0105 at 2000
#: draws a chain); at these, 3 of 20 placebo batches needed 4000 draws and every simulation batch passed. The
#: posterior is the same, so the grids calibrate the book's intervals; only the Monte Carlo error differs, and
#: each fit's is within the checks.
GRID_SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=2000, tune=1000, target_accept=0.95)
#: Columns of a stacked frame (see `stack`).
COLUMNS = ["group", "stack", "la_code", "treated", "outcome", "event_time", "dy", "reuse"]
#: Variables whose convergence is checked, and the posterior variables the analyses read (all a fit stores).
CHECKED = ["delta", "tau_bar", "omega", "z", "sigma"]
STORED = ["delta", "tau", "tau_bar", "omega", "sigma"]
#: Pseudo event times of each LA's average Δy over the years after the start and over e ≤ −2.
POST_AVERAGE, PRE_AVERAGE = 99, -99


def stack(outcomes: pd.DataFrame, design: pd.DataFrame, pre: int, post: int, last_year: int) -> pd.DataFrame:
    """Differenced stacked frame from long outcomes (la_code, year, outcome, y) and a design.

    `design` has one row per LA in a stack: group, stack (its cohort year g),
    la_code, treated (bool) and censor_year (drop years from then; NaN for
    none). Rows: e in −pre … post (capped at `last_year`), e ≠ −1, with the
    reference value present. `reuse` counts the stacks of its group an LA
    is a control in.
    """
    rows = design.merge(outcomes, on="la_code")
    rows["event_time"] = rows["year"] - rows["stack"]
    keep = rows["event_time"].between(-pre, post) & (rows["year"] <= last_year)
    keep &= ~(rows["year"] >= rows["censor_year"])
    rows = rows[keep]
    keys = ["group", "stack", "la_code", "outcome"]
    ref = rows[rows["event_time"] == -1].set_index(keys)["y"].rename("y_ref")
    rows = rows.join(ref, on=keys).dropna(subset=["y_ref"])
    rows = rows[rows["event_time"] != -1].copy()
    rows["dy"] = rows["y"] - rows["y_ref"]
    controls = design[~design["treated"]].groupby(["group", "la_code"]).size().rename("reuse")
    rows = rows.join(controls, on=["group", "la_code"])
    rows["reuse"] = np.where(rows["treated"], 1, rows["reuse"].fillna(1)).astype(float)
    by = ["group", "stack", "la_code", "treated", "outcome", "reuse"]
    averages = [
        rows[rows["event_time"] >= 0].groupby(by)["dy"].mean().reset_index().assign(event_time=POST_AVERAGE),
        rows[rows["event_time"] <= -2].groupby(by)["dy"].mean().reset_index().assign(event_time=PRE_AVERAGE),
    ]
    return pd.concat([rows[COLUMNS], *(a[COLUMNS] for a in averages)]).sort_values(COLUMNS[:6]).reset_index(drop=True)


class EventStudy:
    """The stacked event-study model on one stacked frame (see module docstring)."""

    def __init__(self, frame: pd.DataFrame, name: str, settings: SamplerSettings = SETTINGS, cache: Path = fitting.FITS):
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise KeyError(f"event study frame lacks column(s) {missing}")
        self.frame = frame.reset_index(drop=True)
        self.name = name
        self.settings = settings
        self.cache = cache
        f = self.frame
        self.outcomes = sorted(f["outcome"].unique())
        self.scale = f.groupby("outcome")["dy"].std().reindex(self.outcomes).to_numpy()
        k = f["outcome"].map({o: i for i, o in enumerate(self.outcomes)}).to_numpy()
        self._k = k
        self._y = f["dy"].to_numpy() / self.scale[k]
        self.cells = self._index(f, ["outcome", "stack", "group", "event_time"])
        self.sigma_cells = self._index(f, ["outcome", "event_time"])
        treated = f[f["treated"]]
        has_control = f[~f["treated"]].groupby(["outcome", "group", "stack", "event_time"]).size()
        tkeys = treated.groupby(["outcome", "group", "stack", "event_time"]).size().rename("n_treated").reset_index()
        tkeys = tkeys[tkeys.set_index(["outcome", "group", "stack", "event_time"]).index.isin(has_control.index)]
        self.tcells = tkeys.reset_index(drop=True)
        self.means = self.tcells[["outcome", "group", "event_time"]].drop_duplicates().reset_index(drop=True)
        self._kind = self.tcells["event_time"].isin([POST_AVERAGE, PRE_AVERAGE]).to_numpy().astype(int)

    @staticmethod
    def _index(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        return frame[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)

    def _lookup(self, table: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
        keys = list(table.columns.intersection(["outcome", "group", "stack", "event_time"]))
        ix = pd.Series(np.arange(len(table)), index=pd.MultiIndex.from_frame(table[keys]))
        return ix.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy()

    @cached_property
    def data_hash(self) -> str:
        return fitting.data_hash(self.frame)

    @cached_property
    def cell_stats(self) -> pd.DataFrame:
        """Sufficient statistics per (cell, role): n, total weight W = Σ 1/m, weighted mean and weighted SS."""
        f = self.frame.assign(y=self._y, v=1.0 / self.frame["reuse"])
        f = f[~f["treated"] | self._treated_rows()]
        f = f.assign(vy=f["v"] * f["y"], vyy=f["v"] * f["y"] ** 2)
        keys = ["outcome", "group", "stack", "event_time", "treated"]
        g = f.groupby(keys)[["v", "vy", "vyy"]].sum().join(f.groupby(keys).size().rename("n")).reset_index()
        g["mean"] = g["vy"] / g["v"]
        g["ss"] = np.maximum(g["vyy"] - g["v"] * g["mean"] ** 2, 0.0)
        return g.rename(columns={"v": "weight"})[keys + ["n", "weight", "mean", "ss"]]

    def _treated_rows(self) -> np.ndarray:
        """Treated rows whose cell has comparison LAs (others carry no information on τ)."""
        return self.frame["treated"].to_numpy() & ~np.isnan(self._lookup(self.tcells, self.frame))

    def build(self) -> pm.Model:
        """The model on cell sufficient statistics (exactly the normal likelihood of the LA rows).

        For the rows of one cell and role, Σ log N(y_i | μ, σ²m_i) equals
        log N(ȳ | μ, σ²/W) − (n−1) log σ − S/(2σ²) + const, with W = Σ 1/m_i,
        ȳ the 1/m-weighted mean and S the weighted sum of squares about it,
        so the observed node is the cell mean (its posterior predictive check
        compares cell means) and the rest is a potential.
        """
        c = self.cell_stats
        cell = self._lookup(self.cells, c)
        treated = c["treated"].to_numpy()
        tcell = np.where(treated, self._lookup(self.tcells, c), 0).astype(int)
        sig = self._lookup(self.sigma_cells, c)
        t_mean = self._lookup(self.means, self.tcells)
        coords = {"cell": np.arange(len(self.cells)), "tcell": np.arange(len(self.tcells)), "mean": np.arange(len(self.means)),
                  "sig": np.arange(len(self.sigma_cells)), "obs": np.arange(len(c))}
        with pm.Model(coords=coords) as model:
            delta = pm.Normal("delta", 0.0, 1.0, dims="cell")
            tau_bar = pm.Normal("tau_bar", 0.0, 1.0, dims="mean")
            omega = pm.Gamma("omega", alpha=2.0, beta=8.0, shape=2)
            z = pm.Normal("z", 0.0, 1.0, dims="tcell")
            tau = pm.Deterministic("tau", tau_bar[t_mean] + omega[self._kind] * z, dims="tcell")
            sigma = pm.HalfNormal("sigma", 1.0, dims="sig")
            mu = delta[cell] + np.where(treated, 1.0, 0.0) * tau[tcell]
            s = sigma[sig]
            pm.Normal("cell_mean", mu=mu, sigma=s / np.sqrt(c["weight"].to_numpy()), observed=c["mean"].to_numpy(), dims="obs")
            pm.Potential("within_cell", -((c["n"].to_numpy() - 1) * pm.math.log(s)).sum() - (c["ss"].to_numpy() / (2 * s**2)).sum())
        return model

    def fit(self) -> az.InferenceData:
        if "_idata" not in self.__dict__:
            with warnings.catch_warnings():
                # The potential holds only parameters and data, never the predicted cell means, so
                # their posterior predictive is exact; PyMC warns about any potential regardless.
                warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
                self._idata = fitting.cached_fit(self.name, self.build, self.data_hash, self.settings, check=CHECKED, keep=STORED, cache=self.cache)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        return fitting.stored_diagnostics(self.fit())

    @cached_property
    def tau_draws(self) -> np.ndarray:
        """τ per treated cell on the outcome's own scale: (draws, tcell)."""
        tau = self.fit().posterior["tau"].stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        k = self.tcells["outcome"].map({o: i for i, o in enumerate(self.outcomes)}).to_numpy()
        return tau * self.scale[k]

    def pooled(self, by: list[str], where: pd.Series | None = None, weights: pd.Series | None = None) -> pd.DataFrame:
        """Treated-weighted averages of τ over cells grouped by `by`: draws (stacked chain by chain) as a column of
        arrays, with the number of chains."""
        draws, chains = self.tau_draws, self.fit().posterior.sizes["chain"]
        cells = self.tcells.copy()
        cells["w"] = cells["n_treated"] if weights is None else weights
        if where is not None:
            cells = cells[where.reindex(cells.index).fillna(False).astype(bool)]
        out = []
        for key, part in cells.groupby(by):
            w = part["w"].to_numpy(float)
            avg = draws[:, part.index] @ (w / w.sum())
            out.append(dict(zip(by, key if isinstance(key, tuple) else (key,))) | {"draws": avg, "chains": chains, "n_treated": int(part["n_treated"].sum())})
        return pd.DataFrame(out)

    def att_by_event_time(self) -> pd.DataFrame:
        return self.pooled(["group", "outcome", "event_time"], where=self.tcells["event_time"].abs() < POST_AVERAGE)

    def att_post(self, by: list[str] | None = None) -> pd.DataFrame:
        """Average effect after the start: from each LA's post-period average (the collapsed block)."""
        return self.pooled(["group", "outcome"] + (by or []), where=self.tcells["event_time"] == POST_AVERAGE)

    def att_pre(self) -> pd.DataFrame:
        return self.pooled(["group", "outcome"], where=self.tcells["event_time"] == PRE_AVERAGE)

    def log_likelihood_by_la(self, group: str) -> tuple[list[tuple[int, str, str]], np.ndarray]:
        """Per-draw log likelihood of each treated (stack, LA, outcome) of `group` in the post-period-average
        block (the only data the average effect after the start depends on): keys and (draws, units)."""
        post = self.fit().posterior.stack(d=("chain", "draw")).transpose("d", ...)
        f = self.frame
        rows = np.flatnonzero(self._treated_rows() & (f["group"].to_numpy() == group) & (f["event_time"].to_numpy() == POST_AVERAGE))
        sub = f.iloc[rows]
        mu = post["delta"].to_numpy()[:, self._lookup(self.cells, sub)] + post["tau"].to_numpy()[:, self._lookup(self.tcells, sub).astype(int)]
        sd = post["sigma"].to_numpy()[:, self._lookup(self.sigma_cells, sub)] * np.sqrt(sub["reuse"].to_numpy())
        ll = stats.norm.logpdf(self._y[rows], loc=mu, scale=sd)
        units = sub.groupby(["stack", "la_code", "outcome"], sort=True).indices
        return list(units), np.stack([ll[:, ix].sum(axis=1) for ix in units.values()], axis=1)

    def predictive_check(self, prob: float = 0.9) -> pd.DataFrame:
        """Share of observed cell means inside the central `prob` posterior predictive interval, by outcome and role."""
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)["cell_mean"]
        pp = pp.stack(d=("chain", "draw")).transpose("d", ...).to_numpy()
        lo, hi = np.quantile(pp, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        y = self.cell_stats["mean"].to_numpy()
        f = self.cell_stats.assign(inside=(y >= lo) & (y <= hi))
        return f.groupby(["group", "outcome", "treated"])["inside"].agg(["mean", "size"]).reset_index().rename(columns={"mean": "coverage", "size": "n"})
