"""The grid engine: the same tasks give the same results serially and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from analysis import grid, numerics

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test module


def _fit(seed: int, cache: str) -> dict:
    """A small real fit, as the grids' fits are made (`cached_fit`: sampled in a forked process, stored in
    `cache`): a normal mean from 30 simulated values, sampled with nutpie."""
    from pathlib import Path

    import pymc as pm

    from analysis.models.fitting import SamplerSettings, cached_fit, stored_diagnostics

    y = np.random.default_rng(seed).normal(1.0, 2.0, size=30)

    def build() -> pm.Model:
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 5)
            pm.Normal("y", mu, 2.0, observed=y)
        return model

    idata = cached_fit(f"grid-test-{seed}", build, str(seed), SamplerSettings(chains=2, draws=200, tune=200, seed=seed),
                       check=["mu"], cache=Path(cache))
    draws = idata.posterior["mu"].values
    return {"seed": seed, "mean": float(draws.mean()), "first": float(draws[0, 0]), "ess": stored_diagnostics(idata).ess_bulk_min}


def _fails() -> dict:
    raise ValueError("deliberate")


def _tasks(cache: Path) -> list[grid.Task]:
    return [grid.Task(f"fit-{s}", _fit, {"seed": s, "cache": str(cache)}) for s in (11, 12, 13, 14)]


def test_a_local_cluster_gives_the_serial_results_exactly(tmp_path):
    serial = grid.run(_tasks(tmp_path / "serial"), scheduler="serial", progress=False)
    local = grid.run(_tasks(tmp_path / "local"), workers=2, progress=False)  # sampled afresh: its own fit cache
    assert list(local) == [t.key for t in _tasks(tmp_path)]
    assert local == serial
    assert len({r["first"] for r in serial.values()}) == 4  # the seeds do differ
    assert len(list((tmp_path / "local").glob("*.nc"))) == 4


def test_a_failing_task_is_named():
    with pytest.raises(grid.GridError, match="grid task 'bad' failed: ValueError: deliberate"):
        grid.run([grid.Task("bad", _fails)], scheduler="serial", progress=False)


def test_results_under_other_numerics_are_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(grid, "_execute", lambda func, kwargs: (func(**kwargs), "native:x86_64:znver4:+avx512f"))
    with pytest.raises(grid.GridError, match="ran under other numerics"):
        grid.run(_tasks(tmp_path)[:1], scheduler="serial", progress=False)


def test_the_worker_environment_is_the_pinned_one():
    text = grid.environment()
    for name, value in numerics.pinned_environment().items():
        assert f"export {name}='{value}'" in text


def test_task_keys_must_be_unique(tmp_path):
    tasks = _tasks(tmp_path)
    with pytest.raises(ValueError, match="unique"):
        grid.run(tasks + tasks[:1], scheduler="serial", progress=False)
