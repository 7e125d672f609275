"""A simulation study: do the estimators' 90% intervals contain a true effect of zero when LAs are chosen
for their deficits and their outcomes revert to the mean?

The placebo grids draw pseudo-treated LAs from the real data, but no LA outside the programmes had a deficit
like a Safety Valve LA's, so they imitate the direction of selection on deficits, not its extremity. Here the
headline outcomes are simulated with the real data's structure, and the "programme" LAs are exactly the ones
with the largest simulated deficits, as Safety Valve's were:

* **Outcomes** (log EHC plans per 10,000 and log high-needs spend per head): each LA keeps its real level
  and linear trend (fitted to its own years after taking out the year means of the LAs in neither programme),
  the year means are the real ones, and on top sits a simulated AR(1) deviation whose persistence ρ and
  innovation SD are calibrated so that the deviations, detrended as the real ones are, have the real ones'
  lag-1 correlation and SD (indirect inference: fitting each LA's own line to eight to ten years takes much
  of a persistent deviation into the line, so the detrended deviations look far less persistent than they
  are). Each LA-year is observed exactly where the real one is.
* **Deficits**: d = L·z + √(1−L²)·p, with z the LA-year's standardised outcome deviations (their mean over
  the two outcomes, rescaled to unit variance) and p a persistent LA component; rescaled to the real
  deficits' mean and SD (% of DSG). The loading L sets how much a high deficit signals outcomes that are
  temporarily high and will fall back: `SCENARIOS` ``none`` (0: selection unrelated to the outcomes),
  ``calibrated`` and ``strong``. The calibrated L is found like ρ: the L whose simulated deficits correlate
  with the simulated deviations, detrended as the real ones are, as the real deficits do with the real
  detrended deviations (where the panel has deficits). Every scenario draws the same deviations and LA
  components for a replicate, so scenarios differ only in L and their results are paired.
* **Selection**: in each real Safety Valve cohort year g, as many LAs as the real cohort had (identified
  members), those with the largest deficits in g−1 among the LAs not yet chosen and not in DBV. DBV's LAs
  keep their real membership, so the comparison pools, LAs in neither programme, are as large as the real
  ones.

There is no treatment effect in these data. Every estimator then runs exactly as in the chapter on the
simulated panel (`experiment.Evaluation`: breaks masked, matching on the same pre-period characteristics,
the same stacks and windows): the stacked event study, the synthetic control and CausalPy's imputation,
each giving the average gap over the years after the start. The share of 90 % intervals containing zero is
their coverage under selection on deficits and mean reversion.

Tasks (`python -m analysis grid simulation`, stored in `results/simulation.json`): the event study fits
`BATCH` simulated panels at once for `BATCHES` batches per scenario, as groups of one model that share its
noise scales and between-cohort spread (as the chapter's analyses share them), which those panels pin down
better than one panel would: its simulated intervals are, if anything, narrower than a single fit's; the
synthetic control and the imputation, fitted per outcome, take the first `SUBSET` panels of each scenario,
the same panels as the event study's first ones. CI's reduced grid re-creates one imputation task.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis import grid
from analysis.data import breaks
from analysis.evaluation import experiment, imputation, matching, programmes
from analysis.evaluation.event_study import GRID_SETTINGS
from analysis.evaluation.event_study import EventStudy, stack
from analysis.evaluation.experiment import Evaluation
from analysis.evaluation.synthetic_control import SETTINGS as SYNTH_SETTINGS
from analysis.evaluation.synthetic_control import SyntheticControl
from analysis.models.fitting import SEED, first_passing, interval

#: The programme whose selection is imitated (its cohort years and sizes).
PROGRAMME = "safety_valve"
#: Deficit loading on the outcomes' deviations, by scenario (None: calibrated on the real data).
SCENARIOS: dict[str, float | None] = {"none": 0.0, "calibrated": None, "strong": 0.8}
#: Simulated panels per event-study fit, fits per scenario, and panels per scenario for the per-outcome estimators.
BATCH, BATCHES, SUBSET = 20, 5, 15
ESTIMATORS = {"event": "event study", "synthetic": "synthetic control", "imputation": "imputation (CausalPy)"}
REDUCED = (("imputation", "strong", 0),)
#: Persistence values searched by the indirect inference, and the simulated panels averaged for each.
RHO_GRID = np.round(np.arange(0.0, 0.951, 0.05), 2)
CALIBRATION_DRAWS = 40
#: A failing fit is sampled again at twice the draws (event study) or twice the warm-up and draws (synthetic
#: control), with the same seed, as the placebo grids do.
EVENT_EXTENDED = replace(GRID_SETTINGS, draws=2 * GRID_SETTINGS.draws)
SYNTH_EXTENDED = replace(SYNTH_SETTINGS, tune=2 * SYNTH_SETTINGS.tune, draws=2 * SYNTH_SETTINGS.draws)


@dataclass(frozen=True)
class Calibration:
    """What the simulation takes from the real panel (see the module docstring)."""

    years: np.ndarray  # panel years
    las: list[str]  # LAs with a fitted level and trend for every headline outcome
    level: dict[str, pd.Series]  # per outcome: α_i (la_code)
    trend: dict[str, pd.Series]  # per outcome: β_i per year
    year_mean: dict[str, pd.Series]  # per outcome: λ_t (year)
    observed: dict[str, pd.DataFrame]  # per outcome: la × year, True where the real value exists
    rho: dict[str, float]
    sigma: dict[str, float]  # innovation SD
    correlation: float  # corr(real deficit, real detrended deviations) where the panel has deficits
    loading: float  # the calibrated scenario's L: reproduces `correlation` in simulated data, detrending included
    deficit_mean: float
    deficit_sd: float

    def stationary_sd(self, outcome: str) -> float:
        return self.sigma[outcome] / np.sqrt(1 - self.rho[outcome] ** 2)


def detrend(y: pd.DataFrame, pool: list[str], min_years: int = 4) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """Deviations of an LA × year matrix from the pool's year means and each LA's own line through the rest.

    Returns (deviations, year means, levels α_i, trends β_i); LAs with fewer than `min_years` values are dropped."""
    y = y.loc[y.notna().sum(axis=1) >= min_years]
    year_mean = y.loc[y.index.isin(pool)].mean()
    r = (y - year_mean).to_numpy()
    t = y.columns.to_numpy(float) - y.columns.to_numpy(float).mean()
    w = ~np.isnan(r)
    rz = np.where(w, r, 0.0)
    n, st, stt = w.sum(1), (w * t).sum(1), (w * t * t).sum(1)
    sy, sty = rz.sum(1), (rz * t).sum(1)
    beta = (n * sty - st * sy) / (n * stt - st**2)
    alpha = (sy - beta * st) / n
    dev = r - (alpha[:, None] + beta[:, None] * t)
    return (pd.DataFrame(dev, index=y.index, columns=y.columns), year_mean, pd.Series(alpha, index=y.index),
            pd.Series(beta, index=y.index))


def lag_correlation(dev: pd.DataFrame | np.ndarray) -> float:
    """Pooled correlation of each deviation with the same LA's in the year before."""
    d = np.asarray(dev, dtype=float)
    x, y = d[:, :-1].ravel(), d[:, 1:].ravel()
    ok = ~np.isnan(x) & ~np.isnan(y)
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def ar1(rng: np.random.Generator, n: int, years: int, rho: float, sigma: float) -> np.ndarray:
    """`n` stationary AR(1) paths of length `years`."""
    u = np.empty((n, years))
    u[:, 0] = rng.normal(0, sigma / np.sqrt(1 - rho**2), n)
    for j in range(1, years):
        u[:, j] = rho * u[:, j - 1] + rng.normal(0, sigma, n)
    return u


def persistence(mask: np.ndarray, target_rho: float, target_sd: float, seed: int) -> tuple[float, float]:
    """(ρ, σ) of an AR(1) whose deviations, observed where `mask` is True and detrended by `detrend`, have on
    average lag-1 correlation `target_rho` and SD `target_sd` (indirect inference over `RHO_GRID`)."""
    rng = np.random.default_rng(seed)
    cols = np.arange(mask.shape[1])
    found = []
    for rho in RHO_GRID:
        moments = []
        for _ in range(CALIBRATION_DRAWS):
            u = np.where(mask, ar1(rng, mask.shape[0], mask.shape[1], rho, 1.0), np.nan)
            dev = detrend(pd.DataFrame(u, columns=cols), pool=list(range(mask.shape[0])))[0]
            moments.append((lag_correlation(dev), np.nanstd(dev.to_numpy())))
        found.append(np.mean(moments, axis=0))
    found = np.array(found)
    rho = float(np.interp(target_rho, found[:, 0], RHO_GRID)) if np.all(np.diff(found[:, 0]) > 0) else \
        float(RHO_GRID[np.argmin(np.abs(found[:, 0] - target_rho))])
    unit_sd = float(np.interp(rho, RHO_GRID, found[:, 1]))
    return rho, target_sd / unit_sd


def calibrate(ev: Evaluation) -> Calibration:
    """The simulation's parameters from the real panel (LAs in neither programme for the year means and the
    deviations' persistence; every LA for its own level and trend, and for the deficits' loading)."""
    pool = programmes.eligible_controls(ev.panel, ev.cohorts, ev.last_year)
    years = np.arange(int(ev.panel["year"].min()), ev.last_year + 1)
    level, trend, year_mean, observed, rho, sigma, devs = {}, {}, {}, {}, {}, {}, {}
    for k, o in enumerate(programmes.HEADLINE):
        y = ev.outcomes[ev.outcomes["outcome"] == o].pivot(index="la_code", columns="year", values="y")
        y = y.reindex(columns=years)
        dev, year_mean[o], level[o], trend[o] = detrend(y, pool)
        observed[o] = y.loc[dev.index].notna()
        real = dev.loc[dev.index.isin(pool)]
        rho[o], sigma[o] = persistence(observed[o].loc[real.index].to_numpy(), lag_correlation(real), float(np.nanstd(real.to_numpy())),
                                       seed=SEED + k)
        devs[o] = dev / np.nanstd(dev.to_numpy())
    las = sorted(set.intersection(*(set(level[o].index) for o in programmes.HEADLINE)))
    z = sum(devs[o].reindex(index=las, columns=years) for o in programmes.HEADLINE) / np.sqrt(len(programmes.HEADLINE))
    deficit = ev.panel.pivot(index="la_code", columns="year", values="dsg_deficit_pct").reindex(index=las, columns=years)
    both = (z.notna() & deficit.notna()).to_numpy()
    seen = float(np.corrcoef(z.to_numpy()[both], deficit.to_numpy()[both])[0, 1])
    masks = {o: observed[o].reindex(index=las, columns=years, fill_value=False).to_numpy() for o in programmes.HEADLINE}
    loading = deficit_loading(seen, both, masks, rho, seed=SEED + len(programmes.HEADLINE))
    values = deficit.to_numpy()[~np.isnan(deficit.to_numpy())]
    return Calibration(years, las, level, trend, year_mean, observed, rho, sigma, seen, loading, float(values.mean()), float(values.std()))


#: Loadings searched by `deficit_loading`.
LOADING_GRID = np.round(np.arange(0.0, 0.951, 0.05), 2)


def deficit_loading(target: float, where: np.ndarray, masks: dict[str, np.ndarray], rho: dict[str, float], seed: int) -> float:
    """The loading L whose simulated deficits correlate `target` with the simulated deviations detrended as the
    real ones are, over the LA-years `where` the real deficits exist (indirect inference over `LOADING_GRID`,
    `CALIBRATION_DRAWS` simulated panels each; `masks`: each outcome's real observation pattern)."""
    rng = np.random.default_rng(seed)
    n, years = where.shape
    found = np.zeros(len(LOADING_GRID))
    for _ in range(CALIBRATION_DRAWS):
        raw, seen = np.zeros((n, years)), np.zeros((n, years))
        for o, mask in masks.items():
            u = ar1(rng, n, years, rho[o], np.sqrt(1 - rho[o] ** 2))  # unit stationary SD
            raw += u
            dev = detrend(pd.DataFrame(np.where(mask, u, np.nan)), pool=list(range(n)), min_years=1)[0].to_numpy()
            seen += dev / np.nanstd(dev)
        persistent = rng.normal(size=(n, 1))
        raw /= np.sqrt(len(masks))
        for i, L in enumerate(LOADING_GRID):
            d = L * raw + np.sqrt(1 - L**2) * persistent
            ok = where & ~np.isnan(seen)
            found[i] += np.corrcoef(seen[ok], d[ok])[0, 1] / CALIBRATION_DRAWS
    return float(np.interp(target, found, LOADING_GRID)) if np.all(np.diff(found) > 0) else \
        float(LOADING_GRID[np.argmin(np.abs(found - target))])


@lru_cache(maxsize=1)
def _real() -> tuple[Evaluation, Calibration]:
    ev = experiment.load()
    return ev, calibrate(ev)


def loading(scenario: str, cal: Calibration) -> float:
    value = SCENARIOS[scenario]
    return cal.loading if value is None else value


def simulate(ev: Evaluation, cal: Calibration, scenario: str, rep: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulated panel and its programme cohorts (no treatment effect). Seeded by replicate only: the
    scenarios of one replicate share its deviations and LA components and differ only in the loading."""
    rng = np.random.default_rng([SEED, rep])
    n, years = len(cal.las), cal.years
    t = years - years.mean()
    z = np.zeros((n, len(years)))
    values = {}
    for o in programmes.HEADLINE:
        u = ar1(rng, n, len(years), cal.rho[o], cal.sigma[o])
        z += u / cal.stationary_sd(o)
        y = (cal.year_mean[o].reindex(years).to_numpy()[None, :] + cal.level[o].loc[cal.las].to_numpy()[:, None]
             + cal.trend[o].loc[cal.las].to_numpy()[:, None] * t[None, :] + u)
        values[o] = pd.DataFrame(np.where(cal.observed[o].loc[cal.las].to_numpy(), y, np.nan), index=cal.las, columns=years)
    z /= np.sqrt(len(programmes.HEADLINE))
    L = loading(scenario, cal)
    d = L * z + np.sqrt(1 - L**2) * rng.normal(size=(n, 1))
    deficit = pd.DataFrame(cal.deficit_mean + cal.deficit_sd * d, index=cal.las, columns=years)
    frame = _panel(ev.panel, values, deficit)
    return frame, _cohorts(ev, frame, deficit)


def _long(wide: pd.DataFrame) -> pd.Series:
    return wide.rename_axis(index="la_code", columns="year").stack(future_stack=True)


def _panel(real: pd.DataFrame, values: dict[str, pd.DataFrame], deficit: pd.DataFrame) -> pd.DataFrame:
    """The real panel with the headline outcomes and the deficit replaced by simulated ones (plans scaled by
    type together, so the placement shares stay real); LAs not simulated keep no headline values."""
    p = real.set_index(["la_code", "year"]).copy()
    rate = _long(values["ehcp_rate"]).reindex(p.index)
    factor = np.exp(rate) * p["pop_0_25"] / 1e4 / p["ehcp_total"]
    for col in ("ehcp_total", "ehcp_special_independent", "ehcp_mainstream"):
        p[col] = p[col] * factor
    p["hn_spend"] = np.exp(_long(values["hn_spend_per_head"]).reindex(p.index)) * p["pop_2_18"]
    p["dsg_deficit_pct"] = _long(deficit).reindex(p.index)
    return p.reset_index()


def _cohorts(ev: Evaluation, frame: pd.DataFrame, deficit: pd.DataFrame) -> pd.DataFrame:
    """The programme's cohorts: in each real cohort year g, as many LAs as really started then, those with the
    largest deficits in g−1 among LAs with every matching characteristic (`matching.covariates` of the simulated
    panel, breaks masked as `Evaluation` masks them), not yet chosen and not in the other
    programme. The other programme's LAs keep their real cohorts, so the comparison pools (LAs in neither
    programme) are as large as the real ones."""
    real = ev.treatment[ev.treatment["programme"] == PROGRAMME]
    names = ev.panel.drop_duplicates("la_code", keep="last").set_index("la_code")["la_name"]
    others = ev.cohorts[ev.cohorts["programme"] != PROGRAMME]
    barred = set(programmes.EXCLUDED_UNITS) | {programmes.CUMBRIA, *programmes.CUMBRIA_SUCCESSORS} | set(others["la_code"].dropna())
    masked = breaks.mask(frame)
    chosen: list[tuple[str, int]] = []
    for g, size in real.groupby("first_treated_year").size().items():
        features = matching.covariates(masked, int(g))[list(matching.COVARIATES)]
        complete = features.index[features.notna().all(axis=1)].intersection(deficit.index)
        taken = {c for c, _ in chosen}
        candidates = deficit.loc[complete, g - 1].drop(list(barred | taken), errors="ignore")
        chosen += [(c, int(g)) for c in candidates.sort_values(ascending=False, kind="stable").index[:size]]
    simulated = pd.DataFrame({"programme": PROGRAMME, "la_code": [c for c, _ in chosen], "la_name": [names[c] for c, _ in chosen],
                              "cohort": "simulated", "first_treated_year": [g for _, g in chosen], "membership": "simulated",
                              "suspended": np.nan})
    return pd.concat([others[simulated.columns], simulated], ignore_index=True)


def simulated(scenario: str, rep: int) -> Evaluation:
    """The evaluation of one simulated panel, with the real statistical neighbours."""
    ev, cal = _real()
    frame, cohorts = simulate(ev, cal, scenario, rep)
    return Evaluation(frame, cohorts, ev.neighbours)


def _name(scenario: str, rep: int) -> str:
    return f"{scenario} {rep + 1:03d}"


def event_batch(scenario: str, batch: int) -> dict:
    """The event study's average gap after the start for `BATCH` simulated panels in one fit."""
    frames = []
    for rep in range(batch * BATCH, (batch + 1) * BATCH):
        ev = simulated(scenario, rep)
        design = ev.design(PROGRAMME).assign(group=_name(scenario, rep))
        frames.append(stack(ev.outcomes[ev.outcomes["outcome"].isin(programmes.HEADLINE)], design, programmes.PRE, programmes.POST, ev.last_year))
    frame = pd.concat(frames, ignore_index=True)
    with tempfile.TemporaryDirectory() as cache:
        es = first_passing(lambda s: EventStudy(frame, name=f"simulation-{scenario}-{batch}", settings=s, cache=Path(cache)),
                           GRID_SETTINGS, EVENT_EXTENDED)
        diag, post = es.diagnostics(), es.att_post()
    out: dict[str, dict] = {}
    for r in post.itertuples():
        out.setdefault(r.group, {})[r.outcome] = _rounded(interval(programmes.in_units(r.outcome, r.draws)))
    return {"estimator": "event", "scenario": scenario, "batch": batch, "estimates": out,
            "checks": {**diag.as_dict(), "draws": es.settings.draws}}


def synthetic(scenario: str, rep: int) -> dict:
    """The synthetic control's average change in the gap since the year before the start, per headline outcome,
    on one simulated panel (donors: each cohort's eligible LAs, as in the chapter)."""
    ev = simulated(scenario, rep)
    treated = ev.treatment[ev.treatment["programme"] == PROGRAMME]
    donors = {c: ev.eligible(g) for c, g in zip(treated["la_code"], treated["first_treated_year"])}
    out, found = {}, []
    with tempfile.TemporaryDirectory() as cache:
        for o in programmes.HEADLINE:
            synth = first_passing(lambda s: SyntheticControl(ev.outcomes[ev.outcomes["outcome"] == o], treated, donors,
                                                             name=f"simulation-synthetic-{o}", last_year=ev.last_year, settings=s,
                                                             cache=Path(cache)), SYNTH_SETTINGS, SYNTH_EXTENDED)
            out[o] = _rounded(interval(programmes.in_units(o, synth.att_post_from_base())))
            found.append((synth.diagnostics(), synth.settings.draws))
    return {"estimator": "synthetic", "scenario": scenario, "rep": rep, "estimates": {_name(scenario, rep): out},
            "checks": _pooled_checks(found)}


def imputed(scenario: str, rep: int) -> dict:
    """CausalPy's imputation estimate of the average gap after the start, per headline outcome, on one
    simulated panel (every LA outside the programme a comparison for its untreated years, as in the chapter)."""
    ev = simulated(scenario, rep)
    out, found = {}, []
    with tempfile.TemporaryDirectory() as cache:
        for o in programmes.HEADLINE:
            data, gap, diag = imputation.gaps(imputation.panel(ev, PROGRAMME, o), f"simulation-imputation-{o}", Path(cache))
            post = imputation.average(data, gap, o, 0, programmes.POST)
            out[o] = _rounded((post["median"], post["lo"], post["hi"]))
            found.append((diag, imputation.SETTINGS.draws))
    return {"estimator": "imputation", "scenario": scenario, "rep": rep, "estimates": {_name(scenario, rep): out},
            "checks": _pooled_checks(found)}


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def _pooled_checks(found: list) -> dict:
    return {"passed": all(d.passed for d, _ in found), "rhat_max": max(d.rhat_max for d, _ in found),
            "ess_bulk_min": min(d.ess_bulk_min for d, _ in found), "divergences": sum(d.divergences for d, _ in found),
            "draws": max(n for _, n in found)}


_TASKS = {"event": event_batch, "synthetic": synthetic, "imputation": imputed}


def tasks(reduced: bool = False) -> list[grid.Task]:
    keys = list(REDUCED) if reduced else (
        [("event", s, b) for s in SCENARIOS for b in range(BATCHES)]
        + [(e, s, r) for e in ("synthetic", "imputation") for s in SCENARIOS for r in range(SUBSET)])
    return [grid.Task(f"{e}-{s}-{i}", _TASKS[e], {"scenario": s, ("batch" if e == "event" else "rep"): i}) for e, s, i in keys]


def estimates(results: dict[str, dict]) -> pd.DataFrame:
    """Long table: estimator, scenario, panel, outcome, median, lo, hi (reporting units), passed."""
    return pd.DataFrame([{"estimator": r["estimator"], "scenario": r["scenario"], "panel": name, "outcome": o,
                          "median": v[0], "lo": v[1], "hi": v[2], "passed": r["checks"]["passed"]}
                         for r in results.values() for name, by_outcome in r["estimates"].items() for o, v in by_outcome.items()])


def coverage(results: dict[str, dict]) -> pd.DataFrame:
    """Per scenario, estimator and outcome: simulated panels, failed fits, the share of 90 % intervals that
    contain zero (with a 90 % binomial interval for that share), and the mean and 5th–95th percentiles of the
    estimates (the true effect is zero, so their mean is the estimator's bias)."""
    rows = []
    for (s, e, o), part in estimates(results).groupby(["scenario", "estimator", "outcome"], sort=False):
        hits = int(((part["lo"] <= 0) & (part["hi"] >= 0)).sum())
        n = len(part)
        lo = float(stats.beta.ppf(0.05, hits, n - hits + 1)) if hits > 0 else 0.0
        hi = float(stats.beta.ppf(0.95, hits + 1, n - hits)) if hits < n else 1.0
        rows.append({"scenario": s, "estimator": ESTIMATORS[e], "outcome": o, "n": n, "failed_fits": int((~part["passed"]).sum()),
                     "coverage_90": hits / n, "coverage_lo": lo, "coverage_hi": hi, "mean": float(part["median"].mean()),
                     "q05": float(part["median"].quantile(0.05)), "q95": float(part["median"].quantile(0.95)),
                     "units": programmes.UNITS[programmes.OUTCOMES[o].scale]})
    return pd.DataFrame(rows)
