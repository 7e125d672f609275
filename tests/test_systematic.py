"""The design's systematic error fitted to placebos (empirical calibration), on SIMULATED placebo estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.evaluation import systematic
from analysis.models import stored
from analysis.evaluation import placebos


def _placebos(mean: float, sd: float, n: int = 400, outcome: str = "ehcp_rate", seed: int = 5) -> pd.DataFrame:
    """SIMULATED placebo estimates in reporting units (% for the log-scale plan rate): each with its own SE."""
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.01, 0.03, n)
    theta = mean + np.sqrt(sd**2 + se**2) * rng.standard_normal(n)
    to_pct = lambda x: 100 * np.expm1(x)
    return pd.DataFrame({"programme": "safety_valve", "outcome": outcome, "median": to_pct(theta),
                         "lo": to_pct(theta - systematic.Z90 * se), "hi": to_pct(theta + systematic.Z90 * se), "passed": True})


@pytest.mark.parametrize("mean, sd", [(0.0, 0.0), (0.01, 0.02), (-0.005, 0.01)])
def test_the_fit_recovers_the_simulated_error(mean, sd):
    fitted = systematic.fit(_placebos(mean, sd), "safety_valve", "ehcp_rate")
    assert fitted.placebos == 400
    assert fitted.mean == pytest.approx(mean, abs=0.004)
    assert fitted.sd == pytest.approx(sd, abs=0.005)


def test_failed_and_other_placebos_are_left_out_and_too_few_refused():
    frame = pd.concat([_placebos(0.0, 0.01), _placebos(0.5, 0.0, n=50).assign(passed=False),
                       _placebos(0.5, 0.0, n=50).assign(programme="dbv")], ignore_index=True)
    assert systematic.fit(frame, "safety_valve", "ehcp_rate").mean == pytest.approx(0.0, abs=0.004)
    with pytest.raises(ValueError, match="5 passing placebos for safety_valve, ehcp_rate"):
        systematic.fit(_placebos(0.0, 0.01, n=5), "safety_valve", "ehcp_rate")


def test_calibrated_draws_move_by_the_mean_and_widen_by_the_spread():
    draws = np.random.default_rng(1).normal(-0.07, 0.015, 40_000)
    error = systematic.SystematicError("safety_valve", "hn_spend_per_head", 200, mean=0.005, sd=0.01)
    out = error.calibrate(draws, seed=3)
    assert out.mean() == pytest.approx(draws.mean() - 0.005, abs=5e-4)
    assert out.std() == pytest.approx(np.hypot(0.015, 0.01), rel=0.02)
    assert np.array_equal(error.calibrate(draws, seed=3), out)  # seeded
    none = systematic.SystematicError("safety_valve", "hn_spend_per_head", 200, mean=0.0, sd=0.0)
    assert np.array_equal(none.calibrate(draws, seed=3), draws)


def test_the_stored_placebos_show_little_systematic_error_for_the_plan_rate():
    """On the real placebo grid: the event study's placebos of the plan rate scatter as their intervals say (their
    coverage in chapter 5 is near 90%), so the fitted spread is small beside a placebo's own SE (about 1.7%)."""
    estimates = placebos.estimates(stored.load("placebos").results)
    for programme in ("safety_valve", "dbv"):
        fitted = systematic.fit(estimates, programme, "ehcp_rate")
        assert fitted.placebos == 200 and fitted.sd < 0.01 and abs(fitted.mean) < 0.005
