"""The convergence check and the fit cache key (`analysis.models.fitting`)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pymc as pm

from analysis.models import fitting


def _chains_apart(shift: float) -> az.InferenceData:
    """Four chains of independent normal draws, three of them shifted by multiples of `shift` (so R-hat > 1)."""
    rng = np.random.default_rng(7)
    draws = rng.normal(size=(4, 1000)) + shift * np.array([0.0, 1.0, -1.0, 0.5])[:, None]
    return az.from_dict(posterior={"x": draws, "y": rng.normal(size=(4, 1000))}, sample_stats=_NO_DIVERGENCES)


_NO_DIVERGENCES = {"diverging": np.zeros((4, 1000), dtype=bool)}


def test_r_hat_is_checked_unrounded():
    idata = _chains_apart(0.18)
    rounded = float(az.summary(idata, var_names=["x"], kind="diagnostics")["r_hat"].iloc[0])
    exact = float(az.rhat(idata, var_names=["x"], method="rank")["x"])
    assert rounded == 1.01 and 1.011 < exact < 1.015  # two decimals would have let this chain mix pass
    diag = fitting.diagnose(idata)
    assert diag.rhat_max == exact and not diag.passed
    assert diag.ess_bulk_min == min(float(az.ess(idata, method="bulk")[v]) for v in ("x", "y"))


def test_the_slowest_parameter_is_named_as_arviz_names_it():
    draws = np.random.default_rng(3).normal(size=(4, 1000, 3))
    draws[:, :, 1] = np.cumsum(draws[:, :, 1], axis=1) * 0.05 + draws[:, :, 1]  # a slowly mixing one
    idata = az.from_dict(posterior={"b": draws}, coords={"k": ["a", "b", "c"]}, dims={"b": ["k"]},
                        sample_stats=_NO_DIVERGENCES)
    assert fitting.diagnose(idata).slowest == az.summary(idata, kind="diagnostics")["ess_bulk"].idxmin() == "b[b]"


def test_a_new_version_of_a_sampling_package_refits(monkeypatch):
    with pm.Model() as model:
        pm.Normal("x")
    key = fitting.cache_key("m", model, "data", fitting.SamplerSettings())
    real = fitting.metadata.version
    monkeypatch.setattr(fitting.metadata, "version", lambda name: "99.0" if name == "nutpie" else real(name))
    assert fitting.cache_key("m", model, "data", fitting.SamplerSettings()) != key


def test_the_first_passing_fit_is_kept_and_the_last_one_when_none_passes():
    from types import SimpleNamespace

    tried = []

    def make(settings):
        tried.append(settings.draws)
        passed = settings.draws >= 2000
        return SimpleNamespace(settings=settings, diagnostics=lambda: SimpleNamespace(passed=passed))

    short, long_, longer = (fitting.SamplerSettings(draws=d) for d in (1000, 2000, 4000))
    assert fitting.first_passing(make, short, long_, longer).settings is long_ and tried == [1000, 2000]
    tried.clear()
    assert fitting.first_passing(make, short, short).settings is short and tried == [1000, 1000]


def test_the_mass_matrix_options_reach_nutpie_and_refit(monkeypatch):
    """Each mass-matrix setting is passed to nutpie as its option (none for nutpie's default), is part of the cache
    key, and the two that cannot go together are refused."""
    import pytest

    seen = []
    monkeypatch.setattr(fitting.pm, "sample", lambda **kwargs: seen.append(kwargs.get("nuts_sampler_kwargs")))
    with pm.Model() as model:
        pm.Normal("x")
    default, low_rank, from_draws = (fitting.SamplerSettings(**o) for o in ({}, {"low_rank": True}, {"grad_mass_matrix": False}))
    for settings in (default, low_rank, from_draws):
        fitting.sample(model, settings, predictive=False)
    assert seen == [None, {"low_rank_modified_mass_matrix": True}, {"use_grad_based_mass_matrix": False}]
    assert len({fitting.cache_key("m", model, "data", s) for s in (default, low_rank, from_draws)}) == 3
    with pytest.raises(ValueError, match="low_rank replaces the diagonal mass matrix"):
        fitting.SamplerSettings(low_rank=True, grad_mass_matrix=False)
