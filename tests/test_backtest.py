"""Rolling-origin backtests: the stored grid is current, the reduced grid reproduces it, and the scores are sane."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis import grid
from analysis.models import stored
from analysis.models.ehcp import backtest


def test_the_stored_backtest_is_current_and_the_reduced_grid_reproduces_it():
    saved = stored.load("backtest")
    assert not saved.stale, saved.note("python -m analysis grid backtest")
    assert set(saved.results) == {f"origin-{o}" for o in backtest.ORIGINS}
    fresh = grid.run(backtest.tasks(reduced=True), scheduler="serial", progress=False)
    for key, value in fresh.items():
        assert json.loads(json.dumps(value)) == saved.results[key], key


def test_scores_cover_every_horizon_and_method():
    table = backtest.by_horizon(stored.load("backtest").results)
    assert sorted(table["horizon"].unique()) == list(backtest.HORIZONS)
    assert set(table["method"]) == set(backtest.METHODS)
    model = table[table["method"] == "model"]
    assert model["coverage_90"].between(0, 1).all() and (model["crps"] > 0).all()


def test_lognormal_crps_matches_a_point_mass_limit():
    y = np.array([100.0, 250.0])
    crps = backtest._lognormal_crps(pd.Series([110.0, 200.0]), pd.Series([1e-9, 1e-9]), y)
    assert np.allclose(crps, [10.0, 50.0], atol=1e-3)
