"""EHCP caseload model: scoring functions, the model's arithmetic,
parameter recovery on simulated data, and convergence of the real fit.

The real-data tests use the cached fits (data/cache/fits); on a clean clone they fit
the full model and the 2025 hold-out model once (about a minute each with nutpie on 2 cores).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats
from scipy.linalg import null_space

from analysis.models import ehcp as em
from analysis.models.fitting import SamplerSettings

warnings.filterwarnings("ignore", category=UserWarning)


# --------------------------------------------------------------------------- scoring


def test_crps_of_a_point_mass_is_the_absolute_error() -> None:
    draws = np.full((3, 50), 10.0)
    observed = np.array([10.0, 13.0, 4.5])
    assert np.allclose(em.crps_draws(draws, observed), [0.0, 3.0, 5.5])


def test_crps_matches_the_closed_form_for_a_normal() -> None:
    # CRPS(N(mu, s), y) = s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)], z = (y - mu) / s
    n = 20_000
    draws = stats.norm.ppf((np.arange(n) + 0.5) / n, loc=100.0, scale=15.0)
    for y in (100.0, 80.0, 140.0):
        z = (y - 100.0) / 15.0
        exact = 15.0 * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
        assert em.crps_draws(draws, np.array(y)) == pytest.approx(exact, rel=1e-3)


def test_crps_rewards_the_true_distribution() -> None:
    rng = np.random.default_rng(1)
    observed = rng.normal(0, 1, 400)
    truth = rng.normal(0, 1, (400, 1000))
    assert em.crps_draws(truth, observed).mean() < em.crps_draws(truth + 0.5, observed).mean()
    assert em.crps_draws(truth, observed).mean() < em.crps_draws(truth * 3, observed).mean()
    assert em.crps_draws(truth, observed).mean() < em.crps_draws(truth * 0.3, observed).mean()


def test_interval_coverage_on_known_inputs() -> None:
    draws = np.tile(np.arange(101.0), (4, 1))  # quantiles: 25-75 (50%), 5-95 (90%)
    observed = np.array([50.0, 20.0, 96.0, 75.0])
    assert em.interval_coverage(draws, observed, 0.5) == 0.5
    assert em.interval_coverage(draws, observed, 0.9) == 0.75
    scores = em.score_draws(draws, observed)
    assert set(scores) >= {"coverage_50", "coverage_90", "crps", "crps_relative"}


def test_naive_baselines() -> None:
    panel = pd.DataFrame(
        {
            "la_code": ["A", "A", "A", "B", "B", "B", "C", "C"],
            "year": [2022, 2023, 2024, 2022, 2023, 2024, 2023, 2024],
            "ehcp_total": [100.0, 110.0, 130.0, 50.0, 60.0, 60.0, 20.0, 25.0],
        }
    )
    naive = em.naive_forecasts(panel, 2024, ["A", "B", "C"])
    assert list(naive["last_count"]) == [110.0, 60.0, 20.0]
    national = (110 + 60) / (100 + 50)  # C has no 2022 count: England's growth
    assert np.allclose(naive["last_growth"], [110 * 1.1, 60 * 1.2, 20 * national])


# --------------------------------------------------------------------------- the model's arithmetic


@pytest.fixture(scope="module")
def synthetic() -> em.EHCPModel:
    return em.EHCPModel(em.synthetic_panel(n_las=20, years=(2016, 2023), n_regions=4))


def test_likelihood_matches_the_written_specification(synthetic: em.EHCPModel) -> None:
    """The model's log-likelihood at fixed parameters equals a NumPy transcription of the maths."""
    model = synthetic.build()
    free = [rv.name for rv in model.free_RVs]
    values = dict(zip(free, pm.draw([model[n] for n in free], random_seed=3)))
    values["rho"], values["theta"] = 0.7, 0.4
    logp = pm.do(model, values).compile_logp()({})

    f = synthetic.data()
    la = f["la_code"].map({c: k for k, c in enumerate(synthetic.las["la_code"])}).to_numpy()
    region = synthetic.las["region_code"].map({r: k for k, r in enumerate(synthetic.regions)}).to_numpy()
    ab = values["region_mean"][region] + values["z_la"] * values["tau"]
    s = np.arange(2016, 2024) - em.CENTRE_YEAR
    basis = null_space(np.column_stack([np.ones(8), s]).T) * np.sqrt(8 / 6)
    gamma = values["sigma_gamma"] * basis @ values["u_gamma"]
    x = f[["x_special_state", "x_special_independent"]].to_numpy()
    eta = ab[la, 0] + ab[la, 1] * f["s"].to_numpy() + gamma[f["year"].to_numpy() - 2016] + x @ values["delta"]
    log_pop = f["log_pop"].to_numpy()
    offset = log_pop + (0.4 - 1) * (log_pop - f.groupby("la_code")["log_pop"].transform("mean").to_numpy())
    log_mu = offset + eta
    y = f["y"].to_numpy()
    for i in np.flatnonzero(~f["first"].to_numpy()):
        log_mu[i] += 0.7 * (np.log(y[i - 1] + 0.5) - offset[i - 1] - eta[i - 1])
    phi = 1 / values["sigma_obs"] ** 2
    mu = np.exp(log_mu)
    expected = stats.nbinom.logpmf(y, phi, phi / (phi + mu)).sum()
    assert logp == pytest.approx(expected, rel=1e-9)


def test_year_effects_are_orthogonal_to_the_trend(synthetic: em.EHCPModel) -> None:
    gamma = pm.draw(synthetic.build()["gamma"], draws=20, random_seed=1)
    s = np.arange(2016, 2024) - em.CENTRE_YEAR
    assert np.allclose(gamma.sum(axis=1), 0) and np.allclose(gamma @ s, 0)


def test_simulation_generates_whole_series_from_the_same_model(synthetic: em.EHCPModel) -> None:
    params = {"rho": 0.0, "theta": 1.0, "sigma_obs": 1e-3, "sigma_gamma": 1e-4, "delta": np.zeros(2)}
    y, truth = synthetic.simulate(params, seed=5)
    f = synthetic.data()
    la = f["la_code"].map({c: k for k, c in enumerate(synthetic.las["la_code"])}).to_numpy()
    expected = f["pop"] * np.exp(truth["alpha"][la] + truth["beta"][la] * f["s"])
    # no AR term and ~no overdispersion: Poisson scatter around the trend line itself
    assert (np.abs(y - expected) < 4 * np.sqrt(expected)).all()
    y1, _ = synthetic.simulate(params | {"rho": 0.9, "sigma_obs": 0.05}, seed=5)
    assert (y1 > 0).all() and len(y1) == len(f)


# --------------------------------------------------------------------------- parameter recovery

TRUTH = {
    "region_mean": np.array([[-3.6, 0.08], [-3.8, 0.10], [-3.4, 0.06], [-3.7, 0.09]]),
    "tau": np.array([0.2, 0.02]),
    "rho": 0.7,
    "theta": 0.3,
    "delta": np.array([0.05, -0.03]),
    "sigma_obs": 0.03,
    "sigma_gamma": 0.02,
}
HYPER = ("rho", "theta", "sigma_obs", "sigma_gamma", "delta", "region_mean", "tau")


def _covers(idata, name: str, truth: np.ndarray, width: float = 0.95) -> np.ndarray:
    draws = idata.posterior[name].stack(sample=("chain", "draw")).values
    lo, hi = np.quantile(draws, [(1 - width) / 2, (1 + width) / 2], axis=-1)
    return np.atleast_1d((lo <= truth) & (truth <= hi)).ravel()


def test_parameter_recovery(synthetic: em.EHCPModel, tmp_path) -> None:
    """Fit data simulated from build() with known values; the posterior must cover them.

    20 LAs × 8 Januaries. Checks: convergence; 95 % intervals cover at least 13 of the 16
    hyperparameter values (ρ, θ, σ_obs, σ_γ, δ ×2, region means ×8, τ ×2; 15.2 expected),
    θ and σ_obs always; 90 % intervals cover at least 70 % of the 20 LA
    intercepts and of the 20 slopes; ρ and σ_obs are close to the truth. With so short a
    panel ρ's posterior is pulled towards its prior mean 0.5 (medians 0.54–0.79 for a true
    0.7 over simulation seeds 1–6); four of those six seeds meet every check (seed 1 covers
    65 % of the slopes; seed 5's fit misses the convergence bar at these test settings).
    """
    from analysis.models import fitting

    y, truth = synthetic.simulate(TRUTH, seed=2)
    sim = synthetic.with_counts(y)
    settings = SamplerSettings(draws=1000, tune=1000, chains=4, target_accept=0.9)
    idata = fitting.cached_fit("ehcp-recovery", sim.build, sim.data_hash(), settings, check=sim.param_names(), cache=tmp_path)
    diag = fitting.stored_diagnostics(idata)
    assert diag.passed, diag
    covered = {name: _covers(idata, name, truth[name]) for name in HYPER}
    assert sum(c.sum() for c in covered.values()) >= 13, covered
    for name in ("theta", "sigma_obs"):
        assert covered[name].all(), (name, truth[name])
    for name in ("alpha", "beta"):
        assert _covers(idata, name, truth[name], 0.9).mean() >= 0.7, name
    assert abs(float(idata.posterior["rho"].median()) - TRUTH["rho"]) < 0.3
    assert float(idata.posterior["sigma_obs"].median()) == pytest.approx(TRUTH["sigma_obs"], rel=0.25)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def panel_frame() -> pd.DataFrame:
    from analysis.data import panel

    return panel.load()


def test_model_frame_on_the_panel(panel_frame: pd.DataFrame) -> None:
    f = em.model_frame(panel_frame)
    assert f["year"].between(2016, 2025).all() and not f.duplicated(["la_code", "year"]).any()
    # the offset is the panel year's population (ONS mid-(year-1))
    joined = f.merge(panel_frame, on=["la_code", "year"])
    assert np.allclose(joined["pop"], joined["pop_0_25"]) and (joined["y"] == joined["ehcp_total"]).all()
    # Bournemouth, Poole and old Dorset have no 2019 population: their series end in 2018
    for code in ("E06000028", "E06000029", "E10000009"):
        assert f.loc[f["la_code"] == code, "year"].max() == 2018
    # a successor's first-year lag shares are its predecessors' January-before shares, pooled
    bcp = f[(f["la_code"] == "E06000058") & (f["year"] == 2020)].iloc[0]
    old = panel_frame[panel_frame["la_code"].isin(["E06000028", "E06000029", "E10000009"]) & (panel_frame["year"] == 2019)]
    assert bcp["first"] and bcp["share_special_state"] == pytest.approx(old["ehcp_special_state"].sum() / old["ehcp_total"].sum())
    # 2025 has every LA alive
    assert f.loc[f["year"] == 2025, "la_code"].nunique() == 153


def test_real_fit_converges_and_forecasts(panel_frame: pd.DataFrame) -> None:
    model = em.EHCPModel(panel_frame)
    diag = model.diagnostics()
    assert diag.rhat_max <= 1.01 and diag.ess_bulk_min >= 400 and diag.divergences == 0, diag
    fc = model.forecast(2029)
    england = fc[fc["la_code"] == em.ENGLAND[0]].set_index("year")
    assert list(england.index) == [2026, 2027, 2028, 2029]
    assert (england["q05"] < england["median"]).all() and (england["median"] < england["q95"]).all()
    assert england["median"].is_monotonic_increasing
    assert fc.loc[fc["year"] == 2029, "la_code"].nunique() == 153  # 153 LAs less Newham (a flagged January 2025), + England


def test_cli_fit_holdout_report(panel_frame: pd.DataFrame) -> None:
    out = em.cli_fit(2025, panel_frame=panel_frame)
    assert {"coverage_50", "coverage_90", "crps", "rhat_max", "ess_bulk_min", "divergences", "n_las", "years"} <= set(out)
    assert set(out["crps"]) == {"model", "last_count", "last_growth"}
    assert out["n_las"] == 152 and out["years"] == [2016, 2024]  # Newham's January 2025 is a flagged break: not scored
    assert out["passed"], out
    assert 0.3 <= out["coverage_50"] <= 0.7 and 0.8 <= out["coverage_90"] <= 1.0
