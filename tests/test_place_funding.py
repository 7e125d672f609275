"""The place funding model: its data, its fit and checks on the real panel, its stored calibration grid (which CI's
reduced grid must reproduce exactly), and the full costs built from it."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data import panel
from analysis.errors import ValidationError
from analysis.models import stored
from analysis.models.spend import BM_YEAR, TYPES, calibration, places
from analysis.models.fitting import quantile
from analysis.models.spend.results import PLACE_FUNDING, full_cost

from stored_grids import current_and_reproduced


@pytest.fixture(scope="module")
def frame():
    return panel.load()


@pytest.fixture(scope="module")
def real(frame) -> places.PlaceFundingModel:
    return places.PlaceFundingModel(frame)


def test_an_las_place_funding_is_its_own_plus_esfas_deductions(frame) -> None:
    f = places.place_frame(frame).set_index("la_code")
    raw = frame[frame["year"] == BM_YEAR].set_index("la_code")
    assert len(f) >= 140 and (f["funding"] > 0).all()
    np.testing.assert_allclose(f["funding"], (raw["bm_place_funding"] + raw["ded_total"]).loc[f.index])
    # the City of London and the Isles of Scilly (fewer than 100 plans) are left out, as in the spend model
    assert (raw.loc[f.index, "ehcp_total"] >= 100).all() and not set(raw.index[raw["ehcp_total"] < 100]) & set(f.index)


def test_a_missing_column_is_named_with_the_command_that_restores_it(frame) -> None:
    with pytest.raises(ValidationError, match=r"ded_total.*data --force"):
        places.place_frame(frame.drop(columns=["ded_total"]))


def test_negative_or_no_place_funding_names_the_la(frame) -> None:
    leeds = (frame["year"] == BM_YEAR) & (frame["la_name"] == "Leeds")
    bad = frame.copy()
    bad.loc[leeds, "bm_place_funding"] = -1.0
    with pytest.raises(ValidationError, match="negative place funding in 2022 for \\['Leeds'\\]"):
        places.place_frame(bad)
    bad.loc[leeds, ["bm_place_funding", "ded_total"]] = 0.0
    with pytest.raises(ValidationError, match="no place funding at all in 2022 for \\['Leeds'\\]"):
        places.place_frame(bad)


def test_englands_post16_place_funding_covers_every_other_year_of_the_deductions(frame) -> None:
    """2021-22's post-16 deductions are inside each LA's whole place funding already: counted once."""
    p = places.post16_frame(frame)
    years = sorted(frame.loc[frame["ded_post16"].notna(), "year"].unique())
    assert len(years) == 4 and list(p["year"]) == [y for y in years if y != BM_YEAR]
    # summed over LAs, it is nearly all of England's: the few LAs left out hold little
    total = frame[frame["year"].isin(years) & (frame["year"] != BM_YEAR)].groupby("year")["ded_post16"].sum()
    np.testing.assert_allclose(p.set_index("year")["ded_post16"], total, rtol=0.02)


def test_the_real_fit_passes_its_checks_and_reproduces_the_las_place_funding(real) -> None:
    assert real.diagnostics().passed, real.diagnostics()
    covered = real.predictive_check()["covered"].mean()
    assert 0.85 <= covered <= 0.99, covered


def test_the_data_pin_the_state_special_and_further_education_place_funding(real) -> None:
    t = real.table().set_index("type")
    assert (t.loc[["special_state", "post16"], "contraction"] > 0.8).all(), t
    assert 8_000 < t.loc["special_state", "median"] < 13_000  # about one standard £10,000 place a plan
    assert t.loc["post16", "q95"] < places.PRIORS["post16"][0] * 2  # well below a £6,000 element 2 a plan


def test_place_funding_is_shown_at_the_precision_its_monte_carlo_error_supports(real) -> None:
    """Each figure's last digit is at least twice its Monte Carlo error: the specialist post-16 median's error
    (about £60) puts it to the £1,000, the state special one to the £100."""
    from analysis.report import spend as sr

    chains = real.settings.chains
    shown = sr.place_precision(real)
    for k, draws in real.draws().items():
        assert 10.0 ** -shown[k][0] >= 2 * quantile(draws, chains, 0.5)[1], k
    assert shown["post16_specialist"][0] == -3 and shown["special_state"][0] == -2
    table = sr.place_table(real).set_index("placement")
    assert table.at["Specialist post-16", "fitted (£ a year)"].endswith(",000")


def test_predicted_place_funding_takes_counts_in_types_order(real) -> None:
    counts = np.zeros((2, len(TYPES)))
    counts[:, list(TYPES).index("special_state")] = [100, 50]
    draws = real.predicted(counts, np.zeros(2))
    np.testing.assert_allclose(draws, 150 * real.place_part()["special_state"])
    with pytest.raises(ValueError, match="types in TYPES order"):
        real.predicted(counts[:, :3], np.zeros(2))


def test_the_place_part_of_a_full_cost_pairs_with_the_spend_draws(real) -> None:
    part = real.place_part()
    assert list(part) == list(TYPES)
    assert {len(v) for v in part.values()} == {real.settings.chains * real.settings.draws}
    assert not part["special_independent"].any() and not part["mainstream_independent"].any()
    assert (part["mainstream"] == PLACE_FUNDING["mainstream"]).all()
    np.testing.assert_array_equal(part["special_state"], real._q[:, places.PLACED.index("special_state")])


def test_a_full_cost_refuses_draws_that_do_not_pair() -> None:
    with pytest.raises(ValueError, match="as many draws"):
        full_cost(np.ones(10), np.ones(8))
    np.testing.assert_array_equal(full_cost(np.arange(3.0), np.ones(3)), [1.0, 2.0, 3.0])


def test_simulated_funding_is_fitted_on_the_real_counts(real) -> None:
    log_funding, log_post16, truth = real.simulate(7)
    other = real.with_log_funding(log_funding, log_post16)
    np.testing.assert_array_equal(other.frame["log_funding"], log_funding)
    np.testing.assert_array_equal(other.post16["log_post16"], log_post16)
    np.testing.assert_array_equal(other.counts(), real.counts())
    assert other.data_hash() != real.data_hash() and other._idata is None
    assert set(truth) == set(places.PARAMS) and truth["log_q"].shape == (len(places.PLACED),)


def test_a_heavy_tailed_prior_draw_is_simulated_and_refitted_on_the_log_scale(real) -> None:
    """Seed 2090 draws ν ≈ 0.6: some LA's simulated funding exceeds the largest float, but its log is finite."""
    log_funding, _, truth = real.simulate(2090)
    assert truth["nu"] < 1 and np.isfinite(log_funding).all() and not np.isfinite(np.exp(log_funding)).all()
    assert np.isfinite(real.with_log_funding(log_funding, real.post16["log_post16"]).build().compile_logp()(
        real.build().initial_point()))


def test_the_stored_sbc_is_current_and_the_reduced_grid_reproduces_it() -> None:
    saved = current_and_reproduced("place-sbc", places.sbc_tasks)
    assert len(saved.results) == places.REPLICATES


def test_the_stored_sbc_ranks_are_uniform_and_almost_every_refit_converged() -> None:
    summary = calibration.sbc_summary(stored.load("place-sbc").results)
    assert (summary["chi2_p"] >= 0.01).all(), summary
    assert (summary["failed"] <= 0.1 * summary["replicates"]).all(), summary
