"""Spend model: data handling, decomposition arithmetic, parameter recovery
on data simulated by the model's own generative code, and convergence of the real fit.

The real-data tests share the cached fit with chapter 4 (data/cache/fits); on a clean clone
they fit it once.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from analysis.data import breaks, panel
from analysis.models import fitting
from analysis.models import spend as sm
from analysis.errors import ValidationError
from analysis.models.spend.cli import cli_fit
from analysis.models.spend.data import CATEGORIES
from analysis.models.spend.model import REPORTED
from analysis.models.spend.places import PLACED, PlaceFundingModel

warnings.filterwarnings("ignore", category=UserWarning)


# --------------------------------------------------------------------------- data and arithmetic


@pytest.fixture(scope="module")
def synthetic() -> sm.SpendModel:
    return sm.SpendModel(sm.synthetic_panel(n_las=30, seed=3))


def test_missing_column_is_named() -> None:
    panel = sm.synthetic_panel(n_las=3).drop(columns=["ehcp_special_independent"])
    with pytest.raises(ValidationError, match="ehcp_special_independent"):
        sm.SpendModel(panel)


def test_zero_spend_is_rejected_with_the_la_year() -> None:
    panel = sm.synthetic_panel(n_las=3)
    panel.loc[(panel["la_code"] == "E00000001") & (panel["year"] == 2020), "hn_spend"] = 0.0
    with pytest.raises(ValidationError, match=r"E00000001', 2020"):
        sm.SpendModel(panel)


def test_suppressed_breakdown_takes_the_previous_shares() -> None:
    panel = sm.synthetic_panel(n_las=3)
    row = (panel["la_code"] == "E00000002") & (panel["year"] == 2023)
    panel.loc[row, sm.PLACEMENT_COLUMNS] = np.nan
    f = sm.SpendModel(panel).data().set_index(["la_code", "year"])
    got, before = f.loc[("E00000002", 2023)], f.loc[("E00000002", 2022)]
    assert got["mix_imputed"] and not before["mix_imputed"]
    n = [f"n_{k}" for k in sm.TYPES]
    now, then = got[n].astype(float), before[n].astype(float)
    assert now.sum() == pytest.approx(got["total"])
    assert np.allclose(now / now.sum(), then / then.sum())


def test_expected_spend_matches_the_written_specification(synthetic: sm.SpendModel) -> None:
    """The model's log density at fixed parameters equals a NumPy transcription of the maths."""
    model = synthetic.build()
    free = [rv.name for rv in model.free_RVs]
    national = ["log_cost", "trend", "log_base", "trend_base", "year_effect"]  # deterministic transforms of free variables
    values = dict(zip(free + national, pm.draw([model[n] for n in free + national], random_seed=4)))
    fixed = pm.do(model, {n: values[n] for n in free})
    logp = fixed.compile_logp(vars=[fixed["log_spend"]])({})
    f = synthetic.data()
    la = synthetic.la_index()
    s = f["s"].to_numpy(float)
    rate = np.log(f["total"] / f["pop"]).groupby(f["la_code"]).mean().to_numpy()
    level = values["gamma"] * (rate - rate.mean()) / rate.std() + values["sigma_la"] * values["z_la"]
    effect = level[la] + values["sigma_drift"] * values["z_drift"][la] * s + values["year_effect"][synthetic.year_index()]
    assert values["trend_base"] == pytest.approx(values["trend"][0])  # services share the state-funded trend
    log_c = values["log_cost"][:, None] + values["trend"][:, None] * s + effect
    base = np.exp(values["log_base"] + values["trend_base"] * s + effect)
    terms = np.vstack([synthetic.counts().T * np.exp(log_c), f["pop"].to_numpy() * base])
    expected = stats.t.logpdf(np.log(f["spend"]), values["nu"], np.log(terms.sum(axis=0)), values["sigma_obs"]).sum()
    assert logp == pytest.approx(expected, rel=1e-9)
    # the category parts: the model's term for each, times the LA's booking offset (mean one in pounds) where the
    # source runs over several years, with the category's own error
    cats = synthetic.category_observations()
    offset = np.zeros(len(cats))
    for j, k in enumerate(REPORTED):
        sel = (cats["category"] == k).to_numpy()
        scale = values["sigma_report"][j]
        offset[sel] = scale * values["z_report"][j, la[cats["row"].to_numpy()[sel]]] - scale**2 / 2
    assert offset.any() and not offset[(cats["category"] == "base").to_numpy()].any()
    which = cats["category"].map({k: j for j, k in enumerate(CATEGORIES)}).to_numpy()
    sigma = values["sigma_cat"][which]
    # each category's part is the sum of the terms CATEGORIES names for it
    named = np.array([[t in CATEGORIES[k][1] for t in [*sm.TYPES, "base"]] for k in cats["category"]])
    mu = np.log((named.T * terms[:, cats["row"].to_numpy()]).sum(axis=0)) + offset
    expected = stats.t.logpdf(np.log(cats["spend"].to_numpy()), values["nu"], mu, sigma).sum()
    assert fixed.compile_logp(vars=[fixed["log_category"]])({}) == pytest.approx(expected, rel=1e-9)


def test_lmdi_parts_add_up_and_attribute_correctly() -> None:
    n0, n1 = np.array([100.0, 50.0]), np.array([200.0, 100.0])  # plans double, same mix
    v0 = np.array([[1000.0, 2000.0]])
    parts = sm.lmdi(v0, v0 * 2, n0, n1)  # spend doubles with them: all "plans"
    assert parts["plans"][0] == pytest.approx(3000.0) and abs(parts["mix"][0]) < 1e-9 and abs(parts["unit_costs"][0]) < 1e-9
    rng = np.random.default_rng(0)
    v0, v1 = rng.uniform(1, 10, (50, 5)), rng.uniform(1, 10, (50, 5))
    n0, n1 = rng.uniform(10, 100, 5), rng.uniform(10, 100, 5)
    parts = sm.lmdi(v0, v1, n0, n1)
    assert np.allclose(parts["plans"] + parts["mix"] + parts["unit_costs"], (v1 - v0).sum(axis=1))
    same_costs = sm.lmdi(v0[:1], v0[:1] * (n1 / n0), n0, n1)  # unit costs unchanged
    assert abs(same_costs["unit_costs"][0]) < 1e-9


# --------------------------------------------------------------------------- parameter recovery

TRUTH = {
    # in TYPES order: state mainstream, independent mainstream, state special, independent special, FE, specialist post-16, other
    "log_cost": np.log([9_000.0, 30_000.0, 16_000.0, 55_000.0, 5_000.0, 30_000.0, 6_000.0]),
    "trend_z": np.array([0.25, 0.75]),  # growth 4 % a year (state-funded placements), 6 % (independent providers)
    "sigma_la": 0.2,
    "sigma_drift": 0.02,
    "sigma_report": np.array([0.2, 0.35]),
    "gamma": -0.1,
    "log_base": np.log(60.0),
    "sigma_year": 0.03,
    "sigma_obs": 0.05,
    "nu": 8.0,
}


def test_parameter_recovery(synthetic: sm.SpendModel, tmp_path) -> None:
    """Fit spend simulated by `build()` with known values (30 LAs × 8 years, with category spend in the years
    the real panel has it); the posterior must recover them.

    Checks: convergence; the 90 % intervals of the national unit costs cover the truth for at
    least 5 of the 7 types, and always for independent special and state mainstream (the types that
    carry most spend); their medians within 25 %; the LA price levels recovered (90 % intervals
    cover ≥ 75 % of the 30 and their medians correlate > 0.8 with the truth); σ_obs within 30 %.
    """
    spend, truth = synthetic.simulate(TRUTH, seed=7)
    sim = synthetic.with_spend(spend, truth["category_spend"])
    settings = sm.SETTINGS  # as the real fit is sampled
    checked = [p for p in sim.params if not p.startswith("z")]
    idata = fitting.cached_fit("spend-recovery", sim.build, sim.data_hash(), settings, check=checked, cache=tmp_path)
    assert fitting.stored_diagnostics(idata).passed
    post = idata.posterior
    lo, hi = post["log_cost"].quantile([0.05, 0.95], dim=("chain", "draw")).values
    covered = (lo <= truth["log_cost"]) & (truth["log_cost"] <= hi)
    assert covered.sum() >= 5, (lo, hi)
    for k in ("special_independent", "mainstream"):
        j = list(sm.TYPES).index(k)
        assert covered[j], k
        assert np.exp(float(post["log_cost"].median(("chain", "draw"))[j]) - truth["log_cost"][j]) == pytest.approx(1.0, abs=0.25)
    la_draws = (post["sigma_la"] * post["z_la"]).stack(sample=("chain", "draw")).values
    la_truth = truth["sigma_la"] * truth["z_la"]
    la_lo, la_hi = np.quantile(la_draws, [0.05, 0.95], axis=1)
    assert ((la_lo <= la_truth) & (la_truth <= la_hi)).mean() >= 0.75
    assert np.corrcoef(np.median(la_draws, axis=1), la_truth)[0, 1] > 0.8
    assert float(post["sigma_obs"].median()) == pytest.approx(TRUTH["sigma_obs"], rel=0.3)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real() -> sm.SpendModel:
    return sm.SpendModel(panel.load())


def test_model_frame_on_the_panel(real: sm.SpendModel) -> None:
    f = real.data()
    assert f["year"].between(2018, 2025).all() and not f.duplicated(["la_code", "year"]).any()
    n = f[[f"n_{k}" for k in sm.TYPES]].sum(axis=1)
    assert np.allclose(n, f["total"], rtol=1e-9)
    imputed = set(zip(f.loc[f["mix_imputed"], "la_code"], f.loc[f["mix_imputed"], "year"]))
    # four suppressed breakdowns, and the LA-years with a school-type count flagged as a reporting break
    suppressed = {("E09000012", 2024), ("E06000031", 2024), ("E10000003", 2025), ("E06000012", 2025)}
    flags = breaks.detect(panel.load())
    flagged = set(zip(flags["la_code"], flags["year"]))
    assert suppressed <= imputed and imputed - suppressed <= flagged and len(imputed - suppressed) >= 5
    # Cumbria's successors have no spend for FY 2023-24
    assert not f[(f["year"] == 2024) & f["la_code"].isin(["E06000063", "E06000064"])].shape[0]


def test_real_fit_converges_and_checks(real: sm.SpendModel) -> None:
    diag = real.diagnostics()
    assert diag.passed, diag
    ppc = real.posterior_predictive_check()
    assert 0.4 <= ppc["coverage_50"] <= 0.8 and 0.85 <= ppc["coverage_90"] <= 0.99, ppc
    costs = real.unit_costs().query("measure == 'mean_la'").set_index("type")
    assert (costs["q05"] > 0).all()
    assert costs.loc["special_independent", "median"] > 2 * costs.loc["special_state", "median"]


def test_cli_fit_report(real: sm.SpendModel) -> None:
    out = cli_fit(panel_frame=real.panel)
    assert {"unit_costs", "rhat_max", "ess_bulk_min", "divergences", "passed"} <= set(out)
    assert set(out["unit_costs"]) == set(sm.TYPES)
    for k, v in out["unit_costs"].items():
        assert 0 < v["q05"] <= v["median"] <= v["q95"], k
    assert out["passed"], out


def test_category_data_pin_the_unit_costs_in_the_order_they_imply(real: sm.SpendModel) -> None:
    from analysis.report import spend as sr

    cats = real.category_observations().groupby("category").size()
    assert cats["special_state"] >= 550 and cats["special_independent"] >= 550 and cats["base"] >= 140
    bm = real.unit_costs(sm.BM_YEAR).query("measure == 'mean_la'").set_index("type")["median"]
    direct = sr.direct_ratios(real)
    for k in ("special_state", "special_independent"):
        assert bm[k] == pytest.approx(direct[k], rel=0.15), (k, bm[k], direct[k])
    assert bm["special_independent"] > bm["special_state"] > bm["mainstream"] > bm["post16"]
    check = real.category_check().groupby("category")["coverage_90"].mean()
    assert check.between(0.85, 0.995).all(), check


def test_the_full_cost_adds_each_types_place_funding_draw_by_draw(real: sm.SpendModel) -> None:
    place = PlaceFundingModel(real.panel)
    costs = real.unit_costs(place_part=place.place_part())
    full = costs.query("measure == 'full_mean_la'").set_index("type")["median"]
    top_up = costs.query("measure == 'mean_la'").set_index("type")["median"]
    fitted = place.table().set_index("type")
    assert fitted.loc["special_state", "q05"] < full["special_state"] - top_up["special_state"] < fitted.loc["special_state", "q95"]
    assert full["mainstream"] == pytest.approx(top_up["mainstream"] + 6_000)  # the school's element 2, a rule
    assert full["special_independent"] == pytest.approx(top_up["special_independent"])  # the fee is the whole cost
    assert "full_mean_la" not in set(real.unit_costs()["measure"])  # no full cost without place funding


def test_cli_fit_reports_full_costs_place_funding_and_the_base(real: sm.SpendModel) -> None:
    out = cli_fit(panel_frame=real.panel)
    assert set(out["full_costs"]) == set(sm.TYPES) and out["base_per_head"]["median"] > 0
    assert set(out["category_coverage_90"]) == set(CATEGORIES)
    assert set(out["place_funding"]["per_plan"]) == {*PLACED, "per_head"} and out["place_funding"]["passed"]
    for k in sm.TYPES:
        assert out["full_costs"][k]["median"] >= out["unit_costs"][k]["median"], k
    json.dumps(out)  # JSON-ready


def test_unit_costs_agree_with_dfe_published_costs_where_the_data_pin_them(real: sm.SpendModel) -> None:
    """DfE's own cost per plan in independent and non-maintained special schools (never used in the fit):
    the model within 10 % in the years the category data cover, within 20 % after."""
    from analysis.report import spend as sr

    dfe = sr.published_comparison(real, PlaceFundingModel(real.panel).place_part()).query("source == 'dfe_pq_100030_2026'").set_index("year")["ratio"]
    assert dfe.loc[[2021, 2022]].between(0.9, 1.1).all(), dfe
    assert dfe.between(0.8, 1.2).all(), dfe


def test_each_published_cost_is_the_figure_its_reference_records() -> None:
    """`PUBLISHED_COSTS` are typed from their sources; the bibliography's note on each source records the figures,
    so a figure mistyped in one place fails here (the 2017-18 one is £565m over 10,520 pupils, to the £1,000)."""
    from analysis import paths
    from analysis.report.unit_costs import PUBLISHED_COSTS

    bib = paths.ROOT.joinpath("references.bib").read_text()
    note = lambda key: re.search(r"@\w+\{" + key + r",.*?note\s*=\s*\{([^}]*)\}", bib, flags=re.S).group(1)
    for c in PUBLISHED_COSTS:
        if c.source == "tes_2018_private":
            assert c.value == round(565e6 / 10_520, -3) and "£565 million for 10,520 pupils" in note(c.source)
        else:
            assert f"£{c.value:,}" in note(c.source), c
        assert c.where in c.what, c  # the sentence's words are the table's


def test_where_the_category_data_cover_a_year_the_model_follows_its_data(real: sm.SpendModel) -> None:
    """The model's independent special cost stays within 5% of the data's own spend ÷ plans in the years they cover
    (the rest is the plan-weighted booking offsets: LAs with more such plans book a little more per plan than
    their totals bear out), and England's booked sum lies inside the model's 90% interval in each of those years."""
    from analysis.report import spend as sr

    c = sr.published_comparison(real, PlaceFundingModel(real.panel).place_part()).query("source == 'dfe_pq_100030_2026'").set_index("year")
    assert c.loc[sm.BM_YEAR, "direct"] == pytest.approx(sr.direct_ratios(real)["special_independent"])
    assert c.loc[sm.BM_YEAR + 1:, "direct"].isna().all()
    seen = c.dropna(subset=["direct"])
    assert len(seen) == 2 and ((seen["median"] / seen["direct"]).between(0.95, 1.05)).all(), seen
    booked = real.category_check().query("category == 'special_independent'").set_index("year").loc[seen.index]
    assert booked["observed"].between(booked["q05"], booked["q95"]).all(), booked


def test_the_published_comparison_says_where_dfe_s_figure_falls_and_whose_gap_it_is() -> None:
    from analysis.report import spend as sr

    def comparison(ratio: list[float], direct: list[float], inside: list[bool]) -> pd.DataFrame:
        years = [2021, 2022, 2023, 2024, 2025]
        published = np.full(5, 60_000.0)
        median = published * ratio
        return pd.DataFrame({"source": "dfe_pq_100030_2026", "what": "DfE", "where": "", "year": years, "model_year": years,
                             "placement": "special_independent", "published": published, "median": median,
                             "q05": np.where(inside, median * 0.9, published * 1.01), "q95": median * 1.1,
                             "ratio": ratio, "direct": published * np.array(direct + [np.nan] * 3)})

    near = sr.published_text(comparison([1.01, 1.02, 0.96, 0.99, 1.0], [1.04, 1.05], [True] * 5))
    assert "inside the model's 90% interval in 5 of 5 years." in near and "the data themselves sit at least as far" in near
    far = sr.published_text(comparison([1.06, 1.06, 1.1, 1.1, 1.1], [1.04, 1.05], [True, True, False, False, True]))
    assert "inside the model's 90% interval in 3 of 5 years (below it in 2)." in far and "part of the gap is the model's" in far
    assert sr.overstated(comparison([1.06, 1.06, 1.1, 1.1, 1.1], [1.04, 1.05], [True, True, False, False, True])) == []
    high = comparison([1.06, 1.06, 1.1, 1.1, 1.1], [1.04, 1.05], [True, True, False, False, False])
    assert sr.overstated(high) == ["special_independent"]  # every figure after 2021-22 below the interval
    assert "more likely too high than too low for independent special schools" in sr.later_costs_reading(high)
    assert "Every published figure after 2021-22 for independent special schools lies below the model's 90% interval" in sr.published_text(high)
    assert "one published figure" in sr.published_text(high[high["year"] <= 2023])
    assert "sets beside the published figures" in sr.later_costs_reading(comparison([1.0] * 5, [1.04, 1.05], [True] * 5))
    over = comparison([0.85, 1.0, 1.0, 1.0, 1.0], [1.04, 1.05], [True] * 5)
    assert "inside the model's 90% interval in 4 of 5 years (above it in 1)." in sr.published_text(over)
    assert sr.overstated(over) == []  # a figure above the interval is not a sign of costs too high


def test_the_benchmarking_categories_are_fitted_and_reproduced_for_england(real: sm.SpendModel) -> None:
    """All three 2021-22 benchmarking categories are data: the model's parts (summed by hand here from its
    components) come within 5% of each for England, and the chapter calls that a fit, not a test."""
    from analysis.report import spend as sr

    cross, summary = real.benchmark_crosscheck()
    summary = summary.set_index("group")
    assert set(summary.index) == set(sr.CROSSCHECK_LABELS) == {"base", "topups_maintained", "topups_independent"}
    assert summary["ratio"].between(0.95, 1.05).all(), summary
    comp = real.components(sm.BM_YEAR)
    outturn = real.panel[real.panel["year"] == sm.BM_YEAR].set_index("la_code")["bm_topup_independent"].reindex(comp["la_code"])
    ok = (outturn > 0).to_numpy()
    by_hand = sum(comp[k] for k in ("mainstream_independent", "special_independent", "post16_specialist"))[:, ok].sum(axis=1)
    assert summary.at["topups_independent", "ratio"] == pytest.approx(np.median(by_hand / outturn[ok].sum()))
    text = sr.shortcomings(real, summary.reset_index(), real.panel)
    assert "a fit, not a test" in text and "held-out check" in text


def test_types_counted_inside_another_are_taken_out_of_it() -> None:
    """Independent mainstream and specialist post-16 plans are published inside mainstream and post-16: the model
    counts each plan once, and a masked group (a reporting break) masks what is carved out of it too."""
    from analysis.models.spend.data import CARVED_FROM, type_counts

    panel = sm.synthetic_panel(n_las=3)
    panel.loc[0, "ehcp_mainstream"] = np.nan
    counts = type_counts(panel)
    assert counts.loc[1:].sum(axis=1).to_numpy() == pytest.approx(panel.loc[1:, "ehcp_total"].to_numpy())
    assert counts.loc[1, "n_mainstream"] == panel.loc[1, "ehcp_mainstream"] - panel.loc[1, "ehcp_mainstream_independent"]
    assert counts.loc[0, ["n_mainstream", "n_mainstream_independent"]].isna().all() and counts.loc[0, "n_post16"] > 0
    panel.loc[1, "ehcp_post16_specialist"] = np.nan  # the part unknown, the whole known: neither can be split
    counts = type_counts(panel)
    assert counts.loc[1, ["n_post16", "n_post16_specialist"]].isna().all() and counts.loc[1, "n_mainstream"] > 0
    assert set(CARVED_FROM) <= set(sm.TYPES) and set(CARVED_FROM.values()) <= set(sm.TYPES)


def test_la_cost_text_says_the_price_level_is_shared_and_how_far_the_books_spread(real: sm.SpendModel) -> None:
    from analysis.report import spend as sr

    la = real.la_unit_costs("special_independent")
    national = float(la["median"].median())
    text = sr.la_cost_text(real, la, national, "2024-25")
    booked = sr.booked_per_plan(real, "special_independent")
    assert (booked.index.size >= 100) and booked.between(1_000, 500_000).all()
    above, below = int((la["q05"] > national).sum()), int((la["q95"] < national).sum())
    assert f"For {above} LAs the whole 90% interval lies above" in text and f"for {below} below it" in text
    assert sr.gbp(booked.quantile(0.05), 1000) in text and f"the {len(booked)} LAs with at least" in text
    assert "the same for every placement type" in text
    posterior = real.fit().posterior
    assert f"a spread of {float(posterior['sigma_report'].sel(reported='special_independent').median()):.2f}" in text
    assert f"against {float(posterior['sigma_la'].median()):.2f} for their price levels" in text


def test_the_whole_high_needs_bill_adds_up(real: sm.SpendModel) -> None:
    bill = sm.national_high_needs_cost(panel.load()).set_index("year")
    # 2021-22: the one year with LA-paid place funding published by LA; ESFA's 2023-24 deductions as published
    assert bill["total"].dropna().index.tolist() == [2022]
    row = bill.loc[2022]
    assert row["total"] == pytest.approx(row["top_ups"] + row["esfa_place_funding"] + row["maintained_place_funding"])
    assert 0 < row["gap"] < 0.2 * row["allocation"]
    frame = panel.load()
    assert frame.loc[frame["year"] == 2024, "ded_total"].sum() == pytest.approx(1_079_358_891)  # ESFA's 2023-24 deductions
    # every column sums the LAs with both top-ups and an allocation: in 2023-24 not Cumberland and Westmorland and
    # Furness (no top-ups published), nor City of London and the Isles of Scilly (no allocation)
    assert (bill.loc[2024, "las"], bill.loc[2024, "las_in_year"]) == (149, 153)
    assert bill.loc[2024, "esfa_place_funding"] < 1_079_358_891


def test_the_growth_decomposition_compares_the_same_las_in_both_years(real: sm.SpendModel) -> None:
    growth = real.growth_decomposition(2019, sm.BM_YEAR, thin=8)
    left_out = growth.attrs["left_out"]
    assert "Northamptonshire" in left_out[2019] and {"Bournemouth, Christchurch and Poole", "North Northamptonshire"} <= set(left_out[sm.BM_YEAR])
    frame = real.data()
    kept = frame[frame["year"].isin([2019, sm.BM_YEAR])].groupby("la_code")["year"].nunique() == 2
    assert growth.attrs["las"] == kept.sum()
    f = frame[frame["la_code"].isin(kept[kept].index)]
    assert growth.attrs["observed_end"] == pytest.approx(f.loc[f["year"] == sm.BM_YEAR, "spend"].sum())
    g = growth.set_index("component")["median"]
    assert g[["plans", "mix", "unit_costs", "base"]].sum() == pytest.approx(g["total"], rel=0.02)
    from analysis.data.finance import financial_year
    from analysis.report import spend as sr

    text = sr.decomposition_coverage(real, growth, financial_year)
    assert "Northamptonshire (in 2018-19 only)" in text and "Bournemouth, Christchurch and Poole; Dorset;" in text
    assert "Bournemouth; Dorset and Poole in 2018-19 (no population aged 2–18" in text  # spend published, not fitted
    assert "City of London and Isles of Scilly in either year (fewer than 100 plans)" in text


def test_the_command_prints_a_readable_report_without_json(real: sm.SpendModel, capsys) -> None:
    from analysis.__main__ import main

    assert main(["fit", "spend"]) == 0
    out = capsys.readouterr().out
    assert "unit_costs:\n  mainstream:\n    median: " in out and "passed: True" in out
    assert "np.float64" not in out and "{" not in out and not re.search(r"\de[+-]\d", out)  # no dict repr, no e-notation
