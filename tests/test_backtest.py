"""Rolling-origin backtests: the stored grid is current, the reduced grid reproduces it, and the scores are sane."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models import stored
from analysis.models.ehcp import backtest

from stored_grids import current_and_reproduced


def test_the_stored_backtest_is_current_and_the_reduced_grid_reproduces_it():
    saved = current_and_reproduced("backtest", backtest.tasks)
    assert set(saved.results) == {f"origin-{o}" for o in backtest.ORIGINS}


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


def test_england_backtests_are_read_from_every_origin_and_horizon():
    from analysis.report import ehcp as ehcp_report

    results = stored.load("backtest").results
    england = backtest.england(results)
    assert len(england) == sum(len(r["horizons"]) for r in results.values())
    first = results[f"origin-{backtest.ORIGINS[0]}"]["horizons"]["1"]["england"]
    row = england[(england["origin"] == backtest.ORIGINS[0]) & (england["horizon"] == 1)].iloc[0]
    assert row["error"] == first["median"] / first["observed"] - 1
    assert row["inside"] == (first["q05"] <= first["observed"] <= first["q95"])
    table = ehcp_report.england_backtest_table(england)
    assert len(table) == len(england) and (table["inside 90% interval"] == "**no**").sum() == (~england["inside"]).sum()


def _england(errors: list[float], inside: list[bool]) -> pd.DataFrame:
    n = len(errors)
    return pd.DataFrame({"origin": [2019] * n, "horizon": range(1, n + 1), "year": range(2020, 2020 + n),
                         "observed": 100.0, "median": [100 * (1 + e) for e in errors], "q05": 95.0, "q95": 105.0,
                         "error": errors, "inside": inside})


def test_england_backtest_text_says_when_the_national_forecast_runs_high():
    from analysis.report import ehcp as ehcp_report

    high = ehcp_report.england_backtest_text(_england([0.01, 0.02, 0.06, 0.07], [True, True, False, False]), 2031)
    assert "above the published total in 4 of 4" in high and "outside the 90% interval in 2 of 4 (each time below it)" in high
    assert "more likely too high than too low" in high and "January 2031 included" in high
    mixed = ehcp_report.england_backtest_text(_england([0.01, -0.02, 0.01, -0.01], [True, True, True, True]), 2031)
    assert "above the published total in 2 of 4" in mixed and "in 0 of 4." in mixed and "too high" not in mixed
