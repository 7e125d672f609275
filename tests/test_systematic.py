"""The design's systematic error fitted to placebos (empirical calibration), on SIMULATED placebo grids and on the
stored one."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.evaluation import systematic
from analysis.models import stored


def _grid(mean: float, sd: float, batches: int = 20, per_batch: int = 20, outcome: str = "ehcp_rate", seed: int = 5,
          programme: str = "safety_valve", passed: bool = True) -> dict[str, dict]:
    """A SIMULATED placebo grid in the stored layout: batches of placebo estimates in reporting units (% for the
    log-scale plan rate, points for Attainment 8), each with its own SE, true effect 0, systematic error N(mean, sd)."""
    rng = np.random.default_rng(seed)
    pct = outcome == "ehcp_rate"
    to_units = (lambda x: 100 * np.expm1(x)) if pct else (lambda x: x)
    results = {}
    for b in range(batches):
        placebos = {}
        for i in range(per_batch):
            se = rng.uniform(0.01, 0.03) if pct else rng.uniform(0.3, 0.9)
            theta = mean + np.hypot(sd, se) * rng.standard_normal()
            placebos[f"random {b * per_batch + i + 1:03d}"] = {outcome: [float(to_units(x)) for x in
                                                                       (theta, theta - systematic.Z90 * se, theta + systematic.Z90 * se)]}
        results[f"{programme}-random-{b}"] = {"programme": programme, "family": "random", "passed": passed, "placebos": placebos}
    return results


def test_no_spread_beyond_their_own_intervals_is_fitted_as_none():
    fitted = systematic.fit(_grid(0.0, 0.0, batches=50), "safety_valve", "ehcp_rate", bootstrap=20)
    assert fitted.sd < 0.002 and (fitted.replicates[:, 1] >= 0).all()
    assert systematic._maximum_likelihood(np.zeros(30), np.full(30, 0.02)) == (0.0, 0.0)  # exactly on the bound


@pytest.mark.parametrize("mean, sd", [(0.0, 0.0), (0.01, 0.02), (-0.005, 0.01)])
def test_the_fit_recovers_the_simulated_error(mean, sd):
    fitted = systematic.fit(_grid(mean, sd), "safety_valve", "ehcp_rate", bootstrap=50)
    assert fitted.placebos == 400 and fitted.replicates.shape == (50, 2)
    assert fitted.mean == pytest.approx(mean, abs=0.004)
    assert fitted.sd == pytest.approx(sd, abs=0.005)
    # the batch bootstrap's spread of μ is about its standard error, √(σ² + se²)/√n with se about 0.02
    assert 0.3 * np.hypot(sd, 0.02) / 20 < fitted.replicates[:, 0].std() < 3 * np.hypot(sd, 0.02) / 20


def test_an_outcome_in_points_is_fitted_on_its_own_scale():
    fitted = systematic.fit(_grid(0.5, 1.0, outcome="ks4_att8_ehcp"), "safety_valve", "ks4_att8_ehcp", bootstrap=20)
    assert fitted.mean == pytest.approx(0.5, abs=0.2) and fitted.sd == pytest.approx(1.0, abs=0.2)


def test_failed_and_other_programmes_placebos_are_left_out_and_too_few_refused():
    grid = _grid(0.0, 0.01) | _grid(0.5, 0.0, batches=3, programme="dbv") \
        | {f"x-{k}": v for k, v in _grid(0.5, 0.0, batches=3, seed=9, passed=False).items()}
    assert systematic.fit(grid, "safety_valve", "ehcp_rate", bootstrap=10).placebos == 400
    with pytest.raises(ValueError, match="5 passing placebos in 1 batches for safety_valve, ehcp_rate"):
        systematic.fit(_grid(0.0, 0.01, batches=1, per_batch=5), "safety_valve", "ehcp_rate")


def test_calibrated_draws_keep_their_centre_and_widen_by_the_error_and_its_uncertainty():
    draws = np.random.default_rng(1).normal(-0.07, 0.015, 40_000)
    fixed = systematic.SystematicError("safety_valve", "hn_spend_per_head", 200, 0.006, 0.008, np.array([[0.006, 0.008]]))
    assert fixed.size == pytest.approx(0.01)
    out = fixed.calibrate(draws, seed=3)
    assert out.mean() == pytest.approx(draws.mean(), abs=3e-4)  # the placebos' average error widens, it does not shift
    assert out.std() == pytest.approx(np.hypot(0.015, 0.01), rel=0.02)
    assert np.array_equal(fixed.calibrate(draws, seed=3), out)  # seeded
    # replicates that disagree add more than their average: a mixture is wider than its mean component
    spread = systematic.SystematicError("safety_valve", "hn_spend_per_head", 200, 0.0, 0.01, np.array([[0.0, 0.0], [0.0, 0.02]]))
    assert spread.calibrate(draws, seed=3).std() == pytest.approx(np.sqrt(0.015**2 + 0.02**2 / 2), rel=0.02)
    none = systematic.SystematicError("safety_valve", "hn_spend_per_head", 200, 0.0, 0.0, np.zeros((5, 2)))
    assert np.array_equal(none.calibrate(draws, seed=3), draws)


def test_the_stored_placebos_show_a_design_error_in_spend_but_hardly_any_in_the_plan_rate():
    """On the real placebo grid (chapter 5): the event study's placebos of spend per head scatter more than their
    intervals say (their 90% intervals cover under 90%), those of the plan rate about as their intervals say."""
    results = stored.load("placebos").results
    for programme in ("safety_valve", "dbv"):  # every resample fits, those where σ is at its bound of 0 too
        rate = systematic.fit(results, programme, "ehcp_rate")
        assert rate.placebos == 200 and rate.size < 0.005 and len(rate.replicates) == systematic.BOOTSTRAP
    spend = systematic.fit(results, "safety_valve", "hn_spend_per_head")
    assert 0.005 < spend.size < 0.02
