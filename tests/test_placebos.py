"""Matched placebos: the stored grid is current and complete, CI's reduced grid reproduces its batch exactly,
the placebo designs are clean, and the summary counts what it says."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd

from analysis import grid
from analysis.evaluation import experiment, placebos, programmes
from analysis.models import stored

from stored_grids import current_and_reproduced


def _current_and_reproduced(name: str, tasks) -> stored.Stored:
    """The stored grid `name`, current and reproduced by CI's reduced grid, with one result per placebo batch."""
    saved = current_and_reproduced(name, tasks)
    assert len(saved.results) == len(placebos.PROGRAMMES) * len(placebos.FAMILIES) * placebos.BATCHES
    return saved


def test_the_stored_placebos_are_current_and_the_reduced_grid_reproduces_them():
    saved = _current_and_reproduced("placebos", placebos.tasks)
    for key, value in saved.results.items():  # a batch that missed a check was sampled again, longer, and then passed
        assert value["passed"] and value["draws"] in (placebos.SETTINGS.draws, placebos.EXTENDED.draws), (key, value["draws"])


def test_the_least_squares_placebos_are_current_reproduced_and_the_same_groups():
    from analysis.evaluation import placebo_crosschecks

    saved = _current_and_reproduced("placebo-crosschecks", placebo_crosschecks.tasks)
    bayes = stored.load("placebos").results
    assert set(saved.results) == set(bayes)
    cov = placebo_crosschecks.coverage(bayes, saved.results)
    assert set(cov["n"]) == {placebos.BATCH * placebos.BATCHES} and cov["coverage_90"].between(0, 1).all()
    # the same groups: every placebo's two estimates agree within half a point (same design, same LAs), where
    # estimates of different groups differ by about 1.8 points at the median
    for key, value in saved.results.items():
        a, b = bayes[key]["placebos"], value["placebos"]
        assert list(a) == list(b), key
        gaps = {(n, o): abs(a[n][o][0] - b[n][o][0]) for n in a for o in a[n]}
        assert max(gaps.values()) < 0.5, (key, max(gaps.items(), key=lambda kv: kv[1]))
        # least squares calibrates the outcomes beyond the Bayesian grids' headline ones too
        assert all(set(programmes.HEADLINE) < set(by_outcome) for by_outcome in b.values()), key


def test_the_imputation_placebos_are_current_reproduced_and_the_same_groups():
    from analysis.evaluation import placebo_crosschecks, placebo_imputation

    saved = _current_and_reproduced("placebo-imputation", placebo_imputation.tasks)
    bayes = stored.load("placebos").results
    assert set(saved.results) == set(bayes)
    for key, value in saved.results.items():
        assert value["passed"], (key, {k: value[k] for k in ("rhat_max", "ess_bulk_min", "divergences")})
        # the first groups of each of the placebo grid's batches, by name
        assert list(value["placebos"]) == list(bayes[key]["placebos"])[:placebo_imputation.GROUPS], key
    # the same groups: the imputation's estimates follow the event study's (other comparisons, same pseudo-treated LAs);
    # estimates of different groups would be uncorrelated
    pairs = np.array([(v, bayes[key]["placebos"][name][o][0]) for key, value in saved.results.items()
                      for name, by_outcome in value["placebos"].items() for o, (v, _, _) in by_outcome.items()])
    assert np.corrcoef(pairs.T)[0, 1] > 0.3
    cov = placebo_crosschecks.coverage(bayes, stored.load("placebo-crosschecks").results, saved.results)
    imputed = cov[cov["estimator"] == "imputation (CausalPy)"]
    bayes_cells = cov[cov["estimator"] == "event study (Bayesian)"]
    assert set(imputed["n"]) == {placebo_imputation.GROUPS * placebos.BATCHES} and len(imputed) == len(bayes_cells)


def test_the_synthetic_control_placebos_are_current_reproduced_and_the_same_groups():
    from analysis.evaluation import placebo_crosschecks, placebo_imputation, placebo_synthetic

    saved = stored.load("placebo-synthetic")
    assert not saved.stale, saved.note("python -m analysis grid placebo-synthetic")
    bayes = stored.load("placebos").results
    assert set(saved.results) == set(bayes)
    for key, value in saved.results.items():
        # the first groups of each of the placebo grid's batches, by name
        assert list(value["placebos"]) == list(bayes[key]["placebos"])[:placebo_imputation.GROUPS], key
        assert set(value["checks"]) == set(value["placebos"]), key
    fresh = grid.run(placebo_synthetic.tasks(reduced=True), scheduler="serial", progress=False)
    for key, value in fresh.items():  # CI's reduced grid: the first group of one batch, exactly as stored
        assert len(value["placebos"]) == placebo_synthetic.REDUCED_GROUPS
        for part in ("placebos", "checks"):
            for name, got in json.loads(json.dumps(value[part])).items():
                assert got == saved.results[key][part][name], (key, part, name)
    # the same groups: the synthetic control's estimates follow the event study's (other comparisons, same
    # pseudo-treated LAs); estimates of different groups would be uncorrelated
    pairs = np.array([(v, bayes[key]["placebos"][name][o][0]) for key, value in saved.results.items()
                      for name, by_outcome in value["placebos"].items() for o, (v, _, _) in by_outcome.items()])
    assert np.corrcoef(pairs.T)[0, 1] > 0.3
    cov = placebo_crosschecks.coverage(bayes, stored.load("placebo-crosschecks").results, None, saved.results)
    assert set(cov.loc[cov["estimator"] == "synthetic control (Bayesian)", "n"]) == {placebo_imputation.GROUPS * placebos.BATCHES}


def test_a_synthetic_control_placebo_fit_that_misses_a_check_is_sampled_again_longer(monkeypatch):
    from analysis.evaluation import placebo_synthetic

    made = []

    class Sampled:  # stands in for a fit that passes only at the longer settings
        def __init__(self, *args, settings, **kwargs):
            made.append(settings)
            self.settings, self.ok = settings, settings == placebo_synthetic.EXTENDED

        def diagnostics(self):
            return SimpleNamespace(passed=self.ok, rhat_max=1.0 if self.ok else 1.02, ess_bulk_min=500 if self.ok else 300, divergences=0)

        def att_post_from_base(self):
            return np.linspace(-0.01, 0.01, 101)

    monkeypatch.setattr(placebo_synthetic, "SyntheticControl", Sampled)
    out = placebo_synthetic.placebo_batch("safety_valve", "random", 0, groups=1)
    assert made == [placebo_synthetic.SETTINGS, placebo_synthetic.EXTENDED] * len(programmes.HEADLINE)
    assert placebo_synthetic.EXTENDED.draws == 2 * placebo_synthetic.SETTINGS.draws
    assert list(out["checks"].values()) == [{"passed": True, "rhat_max": 1.0, "ess_bulk_min": 500, "divergences": 0,
                                             "draws": placebo_synthetic.EXTENDED.draws}]


def test_every_synthetic_control_placebo_fit_converged():
    """Every placebo group's fits pass their checks, some only at the longer settings (`EXTENDED`)."""
    from analysis.evaluation import placebo_synthetic

    checks = [c for r in stored.load("placebo-synthetic").results.values() for c in r["checks"].values()]
    assert all(c["passed"] for c in checks), [c for c in checks if not c["passed"]]
    assert {c["draws"] for c in checks} <= {placebo_synthetic.SETTINGS.draws, placebo_synthetic.EXTENDED.draws}


def test_placebo_draws_are_clean_and_matched_from_las_not_drawn():
    ev = experiment.load()
    members = set(ev.treatment["la_code"])
    for family in placebos.FAMILIES:
        design = placebos._draw(ev, "safety_valve", family, np.random.default_rng(0))
        treated, controls = set(design.loc[design["treated"], "la_code"]), set(design.loc[~design["treated"], "la_code"])
        assert not (treated | controls) & members, "a programme LA was used in a placebo"
        assert not treated & controls
        assert set(design["stack"]) == set(programmes.cohort_years(ev.treatment, "safety_valve"))


def test_deficit_draws_favour_high_deficits():
    ev = experiment.load()
    g = programmes.cohort_years(ev.treatment, "safety_valve")[0]
    deficit = ev.features[g]["dsg_deficit_pct"]

    def mean_deficit(family: str) -> float:
        rng = np.random.default_rng(1)
        drawn = [placebos._draw(ev, "safety_valve", family, rng) for _ in range(10)]
        return float(np.mean([deficit[d.loc[d["treated"] & (d["stack"] == g), "la_code"]].mean() for d in drawn]))

    assert mean_deficit("deficit") > mean_deficit("random")


def test_summary_counts_coverage_and_extremes():
    results = {"b": {"programme": "safety_valve", "family": "random", "passed": True, "placebos": {
        "p1": {"ehcp_rate": [1.0, -1.0, 3.0]}, "p2": {"ehcp_rate": [-5.0, -8.0, -2.0]},
        "p3": {"ehcp_rate": [0.5, -0.5, 1.5]}, "p4": {"ehcp_rate": [6.0, 1.0, 9.0]}}}}
    real = pd.DataFrame({"programme": ["safety_valve"], "outcome": ["ehcp_rate"], "median": [-4.0]})
    row = placebos.summary(results, real).iloc[0]
    assert row["n"] == 4 and row["coverage_90"] == 0.5 and row["share_as_large"] == 0.5


def test_the_placebo_chart_shows_every_placebo_and_the_real_estimate():
    from analysis.report import programme_effects as effects

    saved = stored.load("placebos")
    estimates = placebos.estimates(saved.results)
    real = estimates.groupby(["programme", "outcome"], as_index=False)["median"].first().assign(median=-99.0)
    spec = effects.placebo_plot(estimates, real).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert sum(r["family"] == "real" for r in rows) == len(real)
    assert sum(r["family"] != "real" for r in rows) == len(estimates)
    assert {r["median"] for r in rows if r["family"] == "real"} == {-99.0}


def test_the_placebo_checks_text_counts_groups_whose_fits_missed_a_check():
    from analysis.report import programme_effects as effects

    ok = {"passed": True, "rhat_max": 1.002, "ess_bulk_min": 900.0, "divergences": 0}
    bad = {"passed": False, "rhat_max": 1.017, "ess_bulk_min": 300.0, "divergences": 0}
    results = {"b": {"checks": {"g1": ok, "g2": bad},
                     "placebos": {"g1": {"a": [0.1, -1.0, 1.0], "b": [0.5, 0.2, 0.9]}, "g2": {"a": [0.0, -1.0, 1.0], "b": [0.0, -1.0, 1.0]}}}}
    text = effects.placebo_checks_text(results, "synthetic control")
    assert "1 of 2 placebo groups" in text and "R-hat up to 1.017" in text and "down to 300" in text
    assert "zero in 100% of estimates against 50%" in text
    results["b"]["checks"]["g2"] = ok
    assert effects.placebo_checks_text(results, "synthetic control").startswith("Every fit of the synthetic control")
    results["b"]["checks"] = {"g1": ok | {"draws": 1000}, "g2": ok | {"draws": 2000}}
    assert effects.placebo_checks_text(results, "synthetic control").endswith(", 1 of the 2 groups after sampling again with 2,000 draws a chain.")

