"""The grid engine: the same tasks give the same results serially and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import sys

import cloudpickle
import numpy as np
import pytest

from analysis import grid, numerics

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test module


def _fit(seed: int) -> dict:
    """A small real fit: a normal mean from 30 simulated values, sampled with nutpie."""
    import pymc as pm

    from analysis.models.fitting import SamplerSettings, diagnose, sample

    y = np.random.default_rng(seed).normal(1.0, 2.0, size=30)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5)
        pm.Normal("y", mu, 2.0, observed=y)
    idata = sample(model, SamplerSettings(chains=2, draws=200, tune=200, seed=seed), predictive=False)
    draws = idata.posterior["mu"].values
    return {"seed": seed, "mean": float(draws.mean()), "first": float(draws[0, 0]), "ess": diagnose(idata, ["mu"]).ess_bulk_min}


def _fails() -> dict:
    raise ValueError("deliberate")


TASKS = [grid.Task(f"fit-{s}", _fit, {"seed": s}) for s in (11, 12, 13, 14)]


def test_a_local_cluster_gives_the_serial_results_exactly():
    serial = grid.run(TASKS, scheduler="serial", progress=False)
    local = grid.run(TASKS, workers=2, progress=False)
    assert list(local) == [t.key for t in TASKS]
    assert local == serial
    assert len({r["first"] for r in serial.values()}) == 4  # the seeds do differ


def test_a_failing_task_is_named():
    with pytest.raises(grid.GridError, match="grid task 'bad' failed: ValueError: deliberate"):
        grid.run([grid.Task("bad", _fails)], scheduler="serial", progress=False)


def test_results_under_other_numerics_are_refused(monkeypatch):
    monkeypatch.setattr(grid, "_execute", lambda func, kwargs: (func(**kwargs), "native:x86_64:znver4:+avx512f"))
    with pytest.raises(grid.GridError, match="ran under other numerics"):
        grid.run(TASKS[:1], scheduler="serial", progress=False)


def test_the_worker_environment_is_the_pinned_one():
    text = grid.environment()
    for name, value in numerics.pinned_environment().items():
        assert f"export {name}='{value}'" in text


def test_task_keys_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        grid.run(TASKS + TASKS[:1], scheduler="serial", progress=False)
