"""Entropy balancing: exact balance when weights exist, a plain 'no' when they cannot, and recovery of a known
difference in simulated data (labelled as such) where a trend confounds the unweighted comparison."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.evaluation import balancing, experiment
from analysis.report import programme_effects as effects


def test_weights_match_the_target_means_exactly():
    rng = np.random.default_rng(1)
    controls = rng.normal(size=(80, 3))
    target = np.array([0.4, -0.3, 0.2])
    w = balancing.entropy_weights(controls, target)
    assert w.found and w.gap < balancing.TOLERANCE
    assert np.all(w.weights > 0) and w.weights.sum() == pytest.approx(1.0)
    assert w.weights @ controls == pytest.approx(target, abs=1e-6)
    assert 1 < w.effective < 80


def test_no_weights_outside_the_comparison_lAs_range():
    controls = np.random.default_rng(2).uniform(0, 1, size=(50, 2))
    w = balancing.entropy_weights(controls, np.array([1.5, 0.5]))  # beyond every comparison LA
    assert not w.found and np.isnan(w.weights).all()


def test_reweighting_recovers_a_known_difference_in_simulated_data():
    """Simulated: the change after the start follows each LA's pre-period trend x (slope 2); programme LAs have
    higher trends and a true difference of -0.05. Unweighted, the comparison is biased; reweighted, it is not."""
    rng = np.random.default_rng(3)
    cohorts = []
    for g, (nt, nc) in {2023: (20, 120), 2024: (30, 120)}.items():
        xt, xc = rng.normal(0.5, 1, (nt, 1)), rng.normal(0.0, 1, (nc, 1))
        after_t = 2 * xt[:, 0] * 0.01 - 0.05 + rng.normal(0, 0.002, nt)
        after_c = 2 * xc[:, 0] * 0.01 + rng.normal(0, 0.002, nc)
        key = ("ehcp_rate", balancing.event_study.POST_AVERAGE)
        cohorts.append(balancing._Cohort(g, xt, xc, {key: after_t}, {key: after_c}))
    estimate, found = balancing._estimate(cohorts)
    assert found
    assert estimate[key] == pytest.approx(-0.05, abs=0.003)
    naive = np.mean(np.concatenate([c.dt[key] for c in cohorts])) - np.mean(np.concatenate([c.dc[key] for c in cohorts]))
    assert abs(naive + 0.05) > 0.005  # the trend gap biases the unweighted comparison


@pytest.fixture(scope="module")
def ev():
    return experiment.load()


def test_safety_valve_balances_on_trends_but_not_on_deficits(ev):
    trends = balancing.reweight(ev, "safety_valve", balancing.TRENDS, boot=40)
    assert trends.found and trends.cohorts_found == trends.cohorts
    after = trends.balance.set_index("covariate")["after"]
    assert after[list(balancing.TRENDS)].abs().max() < 0.01
    assert after["dsg_deficit_pct"] > 1  # no eligible LA had Safety Valve-sized deficits
    e = trends.effects
    assert (e["lo"] <= e["estimate"]).all() and (e["estimate"] <= e["hi"]).all()
    everything = balancing.reweight(ev, "safety_valve", balancing.WITH_DEFICIT, boot=40)
    assert not everything.found and everything.effects["estimate"].isna().all()
    table = effects.reweighting_table([trends, everything]).set_index("balanced on")
    assert table.loc["trends, levels, mix and deficit", "spend per head, after (%)"] == "–"
    assert table.loc["pre-period trends", "weights found"] == "every cohort"


def test_bad_requests_are_refused_by_name(ev):
    with pytest.raises(KeyError, match="happiness"):
        balancing.reweight(ev, "safety_valve", ("happiness",))
    with pytest.raises(KeyError, match="sure_start"):
        balancing.reweight(ev, "sure_start")
