"""Each LA's child outcomes with partial pooling, so that every LA figure and every rank carries an interval.

The panel's child-centred outcomes are published as percentages or averages per LA and year, many of them
over a few dozen children, so a small LA's figure moves a lot from year to year by chance. One model holds
all outcomes (independent of one another): for outcome o, LA i and year t of the outcome's last
`YEARS` published years, on the outcome's standardised scale,

    y_oit ~ Normal(μ_ot + a_oi,  s_o · sqrt(p_o · n̄_o / n_oit + 1 − p_o)),   a_o· ~ ZeroSumNormal(τ_o)

where μ_ot is the year's level across LAs, τ_o the spread of LAs' lasting levels, s_o the noise of an LA
of typical size n̄_o, and p_o the share of that noise's variance that shrinks as 1/n with the LA's size
n_oit (the children the outcome counts where published, else its plans); the rest is year-to-year change
that does not depend on size. An LA's outcome is its level over the three years, moved to the last year's
national level: θ_oi = μ_o,last + a_oi, pulled towards England's by as much as its own years vary. Where
most of that variation does not shrink with size (real change from year to year, not small numbers), θ is
close to the LA's three-year average, not its latest figure. Ranks are ranked per posterior draw. Placement
counts flagged as reporting breaks (`analysis.data.breaks`) are not used as sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from analysis.data import breaks
from analysis.models import fitting
from analysis.models.fitting import SEED, Diagnostics, SamplerSettings

#: Published years of each outcome used (the latest ones).
YEARS = 3


@dataclass(frozen=True)
class ChildOutcome:
    """One outcome: its panel column, label, which way is better (+1 higher, −1 lower, 0 neither), the panel
    column counting the children behind it (the size that sets its noise), and what besides practice moves it
    (`caveat`, for readers of the tables)."""

    column: str
    label: str
    better: int
    size: str
    short: str
    unit: str = "%"
    group: str = "education"
    caveat: str = ""


OUTCOMES: tuple[ChildOutcome, ...] = (
    ChildOutcome("timeliness_20wk_pct", "New plans issued within 20 weeks", +1, "timeliness_20wk_issued", "timeliness of new plans", group="process",
                 caveat="Counts only plans issued; says nothing of their quality, of requests refused, or of plans still waiting."),
    ChildOutcome("tribunal_appeal_rate", "Tribunal appeals per 100 appealable decisions", -1, "tribunal_decisions", "tribunal appeals", group="process",
                 caveat="Few appeals may mean decisions families accept, or families less able to appeal."),
    ChildOutcome("lait_requests_refused_pct", "Assessment requests refused", 0, "requests_received", "refusals", group="process",
                 caveat="No better direction: a low rate may mean good early support or an open door, a high one gatekeeping or "
                        "requests made in hope."),
    ChildOutcome("ks2_rwm_expected_ehcp", "KS2 expected standard (RWM), pupils with a plan", +1, "ehcp_total", "KS2 attainment",
                 caveat="Moves with who has a plan: where plans go to children with milder needs, more reach the standard."),
    ChildOutcome("ks2_progress_ehcp", "KS2 progress (reading, writing, maths), pupils with a plan", +1, "ehcp_total", "KS2 progress",
                 unit="score",
                 caveat="This study's mean of DfE's reading, writing and maths scores. Compares pupils with others of like KS1 "
                        "results, so it may move less with who has a plan than attainment does; leaves out pupils without KS1 "
                        "results, and stops after 2022/23 (the next two cohorts have none)."),
    ChildOutcome("ks4_attainment8_ehcp", "KS4 Attainment 8, pupils with a plan", +1, "ehcp_total", "KS4 Attainment 8", unit="points",
                 caveat="Moves with who has a plan, and with how many GCSEs special schools enter their pupils for."),
    ChildOutcome("ks4_progress8_ehcp", "KS4 Progress 8, pupils with a plan", +1, "ehcp_total", "KS4 Progress 8", unit="score",
                 caveat="Leaves out pupils without KS2 results, often those with the most complex needs."),
    ChildOutcome("ks4_sustained_destination_ehcp", "KS4 leavers with a plan in a sustained destination", +1, "ehcp_total",
                 "destinations after KS4", group="transition",
                 caveat="Any sustained education, training or work counts, whatever its quality or fit with the young person's plan."),
    ChildOutcome("send_16_17_in_education_training", "16–17-year-olds with SEND in education or training", +1, "ehcp_total",
                 "participation at 16–17", group="transition",
                 caveat="Covers every young person with SEND, not only those with plans."),
    ChildOutcome("age19_level2_em_ehcp", "Level 2 with English and maths by 19, with a plan at 15", +1, "ehcp_total", "Level 2 by 19", group="transition",
                 caveat="Reflects schooling up to four years earlier; moves with who had a plan at 15."),
    ChildOutcome("age19_level3_ehcp", "Level 3 by 19, with a plan at 15", +1, "ehcp_total", "Level 3 by 19", group="transition",
                 caveat="Reflects schooling up to four years earlier, and is not the right goal for every young person with a plan."),
    ChildOutcome("special_school_persistent_absence", "Special schools: pupils persistently absent", -1, "ehcp_special_state",
                 "special-school absence", group="attendance",
                 caveat="State special schools only; absence for illness and medical appointments counts, which many of their pupils need."),
    ChildOutcome("special_school_pupils_suspended", "Special schools: pupils suspended", -1, "ehcp_special_state", "special-school suspensions",
                 group="attendance",
                 caveat="State special schools only; a low rate may mean good support, or exclusions that are not recorded as such."),
)
BY_COLUMN = {o.column: o for o in OUTCOMES}

SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=1000, tune=1000, target_accept=0.95, seed=SEED)
PARAMS = ["mu", "tau", "noise", "size_share", "a"]


class OutcomeModel:
    """The pooled outcome model on a panel: `fit`, `diagnostics`, `levels`, `ranks`, `predictive_check`."""

    def __init__(self, panel: pd.DataFrame, outcomes: tuple[ChildOutcome, ...] = OUTCOMES, settings: SamplerSettings = SETTINGS,
                 holdout: bool = False):
        """`holdout=True` fits each outcome's `YEARS` years before its last and keeps the last year aside
        (`held`), so that `holdout_scores` can check the model's predictions against a year it was not shown."""
        self.outcomes, self.settings, self.holdout = outcomes, settings, holdout
        self.name = "outcomes-holdout" if holdout else "outcomes"
        panel = breaks.mask(panel)
        rows, held = [], []
        for k, o in enumerate(outcomes):
            have = panel.dropna(subset=[o.column])
            years = sorted(have["year"].unique())
            fit_years, last = (years[-YEARS - 1:-1], years[-1:]) if holdout else (years[-YEARS:], [])
            for chosen, out in ((fit_years, rows), (last, held)):
                part = have[have["year"].isin(chosen)]
                size = part[o.size].where(part[o.size] > 0)
                out.append(pd.DataFrame({"outcome": o.column, "k": k, "la_code": part["la_code"], "la_name": part["la_name"],
                                         "year": part["year"], "y": part[o.column].astype(float), "n": size.astype(float)}))
        long = pd.concat(rows, ignore_index=True)
        # an LA-year without a size gets its LA's median size in the other outcome years, else the outcome's median
        long["n"] = long["n"].fillna(long.groupby(["outcome", "la_code"])["n"].transform("median"))
        long["n"] = long["n"].fillna(long.groupby("outcome")["n"].transform("median"))
        stats = long.groupby("outcome")["y"].agg(["mean", "std"])
        long["ys"] = (long["y"] - long["outcome"].map(stats["mean"])) / long["outcome"].map(stats["std"])
        long["w"] = long["n"] / long["outcome"].map(long.groupby("outcome")["n"].median())
        self.las = sorted(long["la_code"].unique())
        self.la_names = long.drop_duplicates("la_code", keep="last").set_index("la_code")["la_name"]
        long["i"] = long["la_code"].map({c: i for i, c in enumerate(self.las)})
        year_index = {(o, y): j for o, ys in long.groupby("outcome")["year"] for j, y in enumerate(sorted(ys.unique()))}
        long["t"] = [year_index[(o, y)] for o, y in zip(long["outcome"], long["year"])]
        self.long, self.stats = long, stats
        held = pd.concat(held, ignore_index=True)
        held = held[held["la_code"].isin(self.las)].copy()  # an LA new in the held-out year has no level to predict
        held["n"] = held["n"].fillna(held.groupby("outcome")["n"].transform("median"))
        held["ys"] = (held["y"] - held["outcome"].map(stats["mean"])) / held["outcome"].map(stats["std"])
        held["w"] = held["n"] / held["outcome"].map(long.groupby("outcome")["n"].median())
        held["i"] = held["la_code"].map({c: i for i, c in enumerate(self.las)})
        self.held = held
        self.last_year = long.groupby("outcome")["year"].max()
        # an LA reorganised away before an outcome's last year (e.g. Cumbria) has no level in that year
        self.alive = {o: set(panel.loc[panel["year"] == y, "la_code"]) for o, y in self.last_year.items()}
        self._idata: az.InferenceData | None = None

    def build(self) -> pm.Model:
        d = self.long
        coords = {"outcome": [o.column for o in self.outcomes], "la": self.las, "year_index": list(range(YEARS))}
        with pm.Model(coords=coords) as model:
            mu = pm.Normal("mu", 0.0, 1.0, dims=("outcome", "year_index"))
            tau = pm.HalfNormal("tau", 1.0, dims="outcome")
            # noise of an LA of typical size, and the share of its variance that shrinks with size (the two
            # variances themselves trade off against each other, which samples slowly)
            noise = pm.HalfNormal("noise", 1.0, dims="outcome")
            size_share = pm.Beta("size_share", 2.0, 2.0, dims="outcome")
            # LAs' deviations sum to zero, so μ is the level across LAs and not traded off against them;
            # centred, because most LAs' own years pin their level (little pooling: a non-centred form mixes slowly)
            a = pm.ZeroSumNormal("a", tau[:, None], dims=("outcome", "la"))
            k, i, t = d["k"].to_numpy(), d["i"].to_numpy(), d["t"].to_numpy()
            sd = noise[k] * pm.math.sqrt(size_share[k] / d["w"].to_numpy() + 1 - size_share[k])
            pm.Normal("y", mu[k, t] + a[k, i], sd, observed=d["ys"].to_numpy())
        return model

    def data_hash(self) -> str:
        return fitting.data_hash(self.long[["k", "i", "t", "ys", "w"]])

    def fit(self) -> az.InferenceData:
        if self._idata is None:
            self._idata = fitting.cached_fit(self.name, self.build, self.data_hash(), self.settings, check=PARAMS)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        return fitting.stored_diagnostics(self.fit())

    def _draws(self, name: str) -> np.ndarray:
        da = self.fit().posterior[name].stack(sample=("chain", "draw"))
        return np.moveaxis(da.values, -1, 0).astype(float)

    def level_draws(self) -> dict[str, np.ndarray]:
        """Per outcome: each LA's lasting level in the outcome's last year, on its own scale, (draw, LA).

        The model is normal on each outcome's standardised scale, so for a small LA whose rate is near 0 (or 100) a
        few draws of a percentage fall outside what a percentage can be; they are read as 0 (or 100), so that no
        level or interval is shown outside the possible range. Ranks are unchanged but for ties among such draws."""
        mu, a = self._draws("mu"), self._draws("a")
        last = {o: int(self.long.loc[self.long["outcome"] == o, "t"].max()) for o in self.stats.index}
        out = {}
        for k, o in enumerate(self.outcomes):
            std = mu[:, k, last[o.column]][:, None] + a[:, k, :]
            level = std * self.stats.at[o.column, "std"] + self.stats.at[o.column, "mean"]
            out[o.column] = np.clip(level, 0.0, 100.0) if o.unit == "%" else level
        return out

    def observed(self) -> pd.DataFrame:
        """LAs with data for each outcome that still exist in its last year: outcome, la_code, the last observed
        value and the years observed."""
        d = self.long.sort_values("year")
        seen = d.groupby(["outcome", "la_code"]).agg(latest=("y", "last"), latest_year=("year", "last"), years=("year", "size")).reset_index()
        return seen[[c in self.alive[o] for o, c in zip(seen["outcome"], seen["la_code"])]].reset_index(drop=True)

    def levels(self) -> pd.DataFrame:
        """Per outcome and LA with data: observed latest value, pooled level (median, 90 % interval) and rank
        (1 = best where one direction is better, else 1 = highest; median and 90 % interval among LAs with data)."""
        draws, seen = self.level_draws(), self.observed()
        frames = []
        for o in self.outcomes:
            part = seen[seen["outcome"] == o.column].copy()
            cols = [self.las.index(c) for c in part["la_code"]]
            x = draws[o.column][:, cols]
            order = -x if o.better >= 0 else x
            ranks = order.argsort(axis=1).argsort(axis=1) + 1
            q = np.quantile(x, [0.5, 0.05, 0.95], axis=0)
            r = np.quantile(ranks, [0.5, 0.05, 0.95], axis=0)
            part["la_name"] = part["la_code"].map(self.la_names)
            part[["median", "q05", "q95"]] = q.T
            part[["rank", "rank_q05", "rank_q95"]] = r.T
            part["of"] = len(part)
            part["year"] = int(self.last_year[o.column])
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def predictive_check(self, prob: float = 0.9, seed: int = SEED) -> pd.DataFrame:
        """Share of observed LA-years inside their `prob` posterior predictive interval, by outcome."""
        rng = np.random.default_rng(seed)
        mu, a, noise, share = (self._draws(n) for n in ("mu", "a", "noise", "size_share"))
        d = self.long
        k, i, t, w = d["k"].to_numpy(), d["i"].to_numpy(), d["t"].to_numpy(), d["w"].to_numpy()
        mean = mu[:, k, t] + a[:, k, i]
        sd = noise[:, k] * np.sqrt(share[:, k] / w + 1 - share[:, k])
        rep = mean + sd * rng.standard_normal(mean.shape)
        lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        inside = (d["ys"].to_numpy() >= lo) & (d["ys"].to_numpy() <= hi)
        return (d.assign(inside=inside).groupby("outcome", sort=False)
                .agg(la_years=("inside", "size"), coverage=("inside", "mean")).reset_index())

    def holdout_scores(self, prob: float = 0.9, seed: int = SEED) -> pd.DataFrame:
        """How well the model fitted without each outcome's last year predicts where each LA stands that year.

        What is scored is each LA's gap to the mean across LAs in the held-out year (the year's common shift is
        not predictable from LA levels, and ranks depend only on the gaps). Per outcome: LAs, the share inside
        their `prob` predictive interval (the LA's level plus its size-dependent noise), and the root mean squared
        error, on the outcome's own scale, of three predictions of the gap: the pooled level (posterior median),
        the LA's own mean gap over the years fitted (no pooling), and zero (every LA the same). And `drift` (with
        `drift_q05`, `drift_q95`: a 90% bootstrap interval over LAs): the mean square across LAs of the change in
        their gap from the earliest year fitted to the held-out year, over the same from the latest year fitted,
        each LA's change divided by its noise variance under the model (its size's share; small LAs' changes are
        mostly noise). A lasting level plus independent yearly noise, as modelled, makes the two equal; a ratio
        whose interval lies above 1 says LAs' positions drift, which the intervals leave out."""
        if not self.holdout:
            raise ValueError("holdout_scores() needs a model built with holdout=True (it scores the year kept aside)")
        rng = np.random.default_rng(seed)
        a, noise, share = (self._draws(n) for n in ("a", "noise", "size_share"))
        rows = []
        for k, o in enumerate(self.outcomes):
            h = self.held[self.held["outcome"] == o.column]
            i, w = h["i"].to_numpy(), h["w"].to_numpy()
            gap = h["ys"].to_numpy() - h["ys"].mean()
            level = a[:, k, :][:, i]
            rep = level + noise[:, k, None] * np.sqrt(share[:, k, None] / w + 1 - share[:, k, None]) * rng.standard_normal(level.shape)
            rep = rep - rep.mean(axis=1, keepdims=True)  # gaps to each draw's mean across the same LAs
            lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
            fit = self.long[self.long["outcome"] == o.column]
            own = (fit["ys"] - fit.groupby("year")["ys"].transform("mean")).groupby(fit["la_code"]).mean().reindex(h["la_code"]).to_numpy()
            pooled = np.median(level - level.mean(axis=1, keepdims=True), axis=0)
            rmse = lambda pred: float(np.sqrt(np.nanmean((pred - gap) ** 2)) * self.stats.at[o.column, "std"])
            gaps = (fit["ys"] - fit.groupby("year")["ys"].transform("mean")).groupby([fit["la_code"], fit["year"]]).first().unstack()
            relative = np.median(share[:, k]) / w + 1 - np.median(share[:, k])  # each LA's noise variance, relative
            early, late = ((gap - gaps[year].reindex(h["la_code"]).to_numpy()) ** 2 / relative for year in (gaps.columns.min(), gaps.columns.max()))
            both = np.isfinite(early) & np.isfinite(late)
            early, late = early[both], late[both]
            resample = np.random.default_rng([seed, k]).integers(0, len(early), size=(1000, len(early)))  # own stream: the predictive draws stay as they were
            boot = early[resample].mean(axis=1) / late[resample].mean(axis=1)
            rows.append({"outcome": o.column, "year": int(h["year"].max()), "las": len(h), "coverage": float(np.mean((gap >= lo) & (gap <= hi))),
                         "rmse_pooled": rmse(pooled), "rmse_own": rmse(own), "rmse_zero": rmse(np.zeros_like(gap)),
                         "drift": float(early.mean() / late.mean()), "drift_q05": float(np.quantile(boot, 0.05)),
                         "drift_q95": float(np.quantile(boot, 0.95))})
        return pd.DataFrame(rows)

    def shrinkage(self) -> pd.DataFrame:
        """How far pooling moves LAs towards England, by outcome: the median over LAs of the share of the gap
        between the LA's own estimate and England's that pooling removes. Like is compared with like: the LA's
        own estimate is its mean gap to each year's mean across LAs, added to the last year's mean."""
        draws, d = self.level_draws(), self.long
        rows = []
        for o in self.outcomes:
            part = d[d["outcome"] == o.column]
            year_mean = part.groupby("year")["y"].transform("mean")
            centre = part.loc[part["year"] == part["year"].max(), "y"].mean()
            own = (part["y"] - year_mean).groupby(part["la_code"]).mean() + centre
            pooled = np.median(draws[o.column], axis=0)[[self.las.index(c) for c in own.index]]
            gap = own.to_numpy() - centre
            keep = np.abs(gap) > 1e-9
            rows.append({"outcome": o.column, "pulled_in": float(np.median(1 - (pooled[keep] - centre) / gap[keep]))})
        return pd.DataFrame(rows)
