"""The simulation study: its calibration recovers a known persistence, its panels select on deficits as
described and carry no effect, and the stored grid is current, complete and reproduced by CI's reduced grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.evaluation import programmes
from analysis.evaluation import simulation as sim
from analysis.report import programme_effects as effects

from stored_grids import current_and_reproduced


@pytest.fixture(scope="module")
def real():
    return sim._real()


def test_the_indirect_inference_recovers_a_known_persistence_that_detrending_hides(real):
    """Simulated deviations with ρ = 0.6 on the real observation pattern look far less persistent once
    detrended; the calibration finds ρ and σ again from what the detrended series show."""
    _, cal = real
    mask = cal.observed["ehcp_rate"].to_numpy()
    rng = np.random.default_rng(1)
    u = np.where(mask, sim.ar1(rng, mask.shape[0], mask.shape[1], 0.6, 0.05), np.nan)
    dev = sim.detrend(pd.DataFrame(u), pool=list(range(mask.shape[0])))[0]
    seen = sim.lag_correlation(dev)
    assert seen < 0.3  # what a naive estimate would take as the persistence
    rho, sigma = sim.persistence(mask, seen, float(np.nanstd(dev.to_numpy())), seed=2)
    assert abs(rho - 0.6) < 0.15 and abs(sigma / 0.05 - 1) < 0.2, (rho, sigma)


def test_the_indirect_inference_recovers_a_known_deficit_loading_that_detrending_weakens(real):
    """Deficits loading 0.6 on simulated deviations correlate far less with the deviations once they are
    detrended; the calibration finds the loading again from that weaker correlation."""
    _, cal = real
    masks = {o: cal.observed[o].loc[cal.las].to_numpy() for o in programmes.HEADLINE}
    n, years = next(iter(masks.values())).shape
    where = np.zeros((n, years), bool)
    where[:, -6:-3] = True  # three years of deficits, as the panel has
    rng = np.random.default_rng(5)
    raw, seen = np.zeros((n, years)), np.zeros((n, years))
    for o, mask in masks.items():
        u = sim.ar1(rng, n, years, cal.rho[o], np.sqrt(1 - cal.rho[o] ** 2))
        raw += u / np.sqrt(2)
        dev = sim.detrend(pd.DataFrame(np.where(mask, u, np.nan)), pool=list(range(n)), min_years=1)[0].to_numpy()
        seen += dev / np.nanstd(dev)
    d = 0.6 * raw + 0.8 * rng.normal(size=(n, 1))
    ok = where & ~np.isnan(seen)
    target = float(np.corrcoef(seen[ok], d[ok])[0, 1])
    assert target < 0.5  # what the detrended data show
    assert abs(sim.deficit_loading(target, where, masks, cal.rho, seed=6) - 0.6) < 0.15


def test_the_real_calibration_is_plausible(real):
    ev, cal = real
    assert set(cal.rho) == set(programmes.HEADLINE)
    assert all(0 < cal.rho[o] < 0.95 and 0 < cal.sigma[o] < 0.2 for o in cal.rho), (cal.rho, cal.sigma)
    assert 0 < cal.loading < 1 and cal.deficit_sd > 0
    assert len(cal.las) > 140


def _deviation(frame: pd.DataFrame, cal: sim.Calibration, outcome: str) -> pd.DataFrame:
    """An outcome's simulated deviation from the LA's level, trend and the year mean (its u)."""
    y = programmes.OUTCOMES[outcome].values(frame).set_axis(pd.MultiIndex.from_frame(frame[["la_code", "year"]]))
    y = y.unstack().reindex(index=cal.las, columns=cal.years)
    t = cal.years - cal.years.mean()
    return y - cal.year_mean[outcome].reindex(cal.years).to_numpy() - cal.level[outcome].loc[cal.las].to_numpy()[:, None] \
        - cal.trend[outcome].loc[cal.las].to_numpy()[:, None] * t


@pytest.mark.parametrize("scenario", ["none", "strong"])
def test_a_simulated_panel_selects_the_largest_deficits_and_keeps_the_rest_real(real, scenario):
    ev, cal = real
    frame, cohorts = sim.simulate(ev, cal, scenario, 3)
    again, _ = sim.simulate(ev, cal, scenario, 3)
    other, _ = sim.simulate(ev, cal, scenario, 4)
    pd.testing.assert_frame_equal(frame, again)  # seeded by scenario and replicate
    assert not frame["hn_spend"].equals(other["hn_spend"])
    # DBV keeps its real members; the simulated programme has the real identified cohort sizes
    dbv = ev.cohorts[ev.cohorts["programme"] == "dbv"]
    assert cohorts.loc[cohorts["programme"] == "dbv", "la_code"].tolist() == dbv["la_code"].tolist()
    chosen = cohorts[cohorts["programme"] == sim.PROGRAMME]
    real_sizes = ev.treatment[ev.treatment["programme"] == sim.PROGRAMME].groupby("first_treated_year").size()
    assert chosen.groupby("first_treated_year").size().to_dict() == real_sizes.to_dict()
    assert not set(chosen["la_code"]) & set(dbv["la_code"])
    # each cohort's members have larger deficits in g−1 than every LA the design compares them with
    deficit = frame.set_index(["la_code", "year"])["dsg_deficit_pct"]
    design = sim.Evaluation(frame, cohorts, ev.neighbours).design(sim.PROGRAMME)
    for g, part in design.groupby("stack"):
        treated, compared = part.loc[part["treated"], "la_code"], part.loc[~part["treated"], "la_code"]
        assert deficit.loc[[(c, g - 1) for c in treated]].min() > deficit.loc[[(c, g - 1) for c in compared]].max()
    # placement shares and populations are the real ones; only the headline outcomes and the deficit change
    for col in ("pop_0_25", "pop_2_18", "requests_received"):
        pd.testing.assert_series_equal(frame[col], ev.panel[col].reset_index(drop=True), check_names=False)
    real_share = programmes.OUTCOMES["share_independent"].values(ev.panel.reset_index(drop=True))
    sim_share = programmes.OUTCOMES["share_independent"].values(frame)
    both = real_share.notna() & sim_share.notna()
    assert both.sum() > 1000 and np.allclose(real_share[both], sim_share[both])


def test_the_loading_decides_how_far_above_trend_the_chosen_las_are_in_the_year_before(real):
    """Selection on deficits picks LAs whose outcomes are temporarily high only as far as deficits load on the
    outcomes' deviations: the mechanism behind mean reversion."""
    ev, cal = real
    mean_z = {}
    for scenario in ("none", "strong"):
        zs = []
        for rep in range(4):
            frame, cohorts = sim.simulate(ev, cal, scenario, rep)
            chosen = cohorts[cohorts["programme"] == sim.PROGRAMME]
            z = sum(_deviation(frame, cal, o) / cal.stationary_sd(o) for o in programmes.HEADLINE) / np.sqrt(2)
            zs += [z.at[c, g - 1] for c, g in zip(chosen["la_code"], chosen["first_treated_year"])]
        mean_z[scenario] = float(np.nanmean(zs))
    assert abs(mean_z["none"]) < 0.35 and mean_z["strong"] > 0.7, mean_z


def test_the_stored_simulation_is_current_complete_and_reproduced():
    saved = current_and_reproduced("simulation", sim.tasks)
    assert set(saved.results) == {t.key for t in sim.tasks()}
    for key, value in saved.results.items():
        assert value["checks"]["passed"], (key, value["checks"])
    cov = sim.coverage(saved.results)
    expected = {"event study": sim.BATCH * sim.BATCHES, "synthetic control": sim.SUBSET, "imputation (CausalPy)": sim.SUBSET}
    assert len(cov) == len(sim.SCENARIOS) * len(sim.ESTIMATORS) * len(programmes.HEADLINE)
    assert (cov["n"] == cov["estimator"].map(expected)).all()
    assert cov["coverage_lo"].le(cov["coverage_90"]).all() and cov["coverage_hi"].ge(cov["coverage_90"]).all()
    _, cal = sim._real()
    table = effects.simulation_table(cov, cal)
    assert len(table) == len(sim.SCENARIOS) * len(programmes.HEADLINE) and table.notna().all().all()
    real = pd.DataFrame({"programme": sim.PROGRAMME, "outcome": programmes.HEADLINE, "median": [-5.0, 5.0]})
    text = effects.simulation_text(cov, cal, sim.estimates(saved.results), real)
    assert "the real estimate: −5.0%" in text and "the real estimate: +5.0%" in text
    assert {f"({sim.loading(s, cal):.2f})" for s in sim.SCENARIOS} == {c[c.index("("):] for c in table.iloc[:, 0]}
    assert f"correlate {cal.correlation:.2f}" in text and f"is {cal.loading:.2f}:" in text
