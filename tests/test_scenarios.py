"""The placement scenario engine: arithmetic that follows from its definition, and bad input named."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.data import panel
from analysis.evaluation.scenarios import Assumptions, Move, Scenario, ScenarioError, placement
from analysis.models.spend import SpendModel

ROOT = Path(__file__).resolve().parent.parent
LA = "West Sussex"


@pytest.fixture(scope="module")
def model():
    m = SpendModel(panel.load())
    m.fit()
    return m


def move(n, route):
    return Move.parse(str(n), route)


def test_a_move_and_its_reverse_cancel_and_the_change_scales_with_the_children(model):
    there = Scenario(model, [move(50, "state_special:mainstream")], LA).draws()
    back = Scenario(model, [move(50, "state_special:mainstream"), move(50, "mainstream:state_special")], LA).draws()
    double = Scenario(model, [move(100, "state_special:mainstream")], LA).draws()
    np.testing.assert_allclose(back["top_up"], 0, atol=1e-6)
    np.testing.assert_allclose(double["top_up"], 2 * there["top_up"], rtol=1e-12)
    assert (there["top_up"] < 0).mean() > 0.5  # a state special plan costs an LA more than a mainstream one, in most draws


def test_full_cost_adds_the_place_funding_of_the_types_moved(model):
    d = Scenario(model, [move(30, "independent:mainstream"), move(20, "state_special:post16")], LA).draws()
    place = 30 * (6_000 - 0) + 20 * (6_000 - 10_000)
    np.testing.assert_allclose(d["full_cost"] - d["top_up"], place)
    # the types carved out of mainstream and FE: an independent mainstream fee is the whole cost, a specialist
    # post-16 place has element 2 like a college's
    d = Scenario(model, [move(5, "spi:independent_mainstream"), move(4, "independent_mainstream:mainstream")], LA).draws()
    np.testing.assert_allclose(d["full_cost"] - d["top_up"], 5 * (0 - 6_000) + 4 * (6_000 - 0))


def test_the_ratios_scale_the_destination_and_the_source_costs(model):
    base = Scenario(model, [move(10, "independent:state_special")], LA)
    dearer = Scenario(model, [move(10, "independent:state_special")], LA, Assumptions(destination_ratio=2.0))
    comp = model.components(model.last_year)
    at = list(comp["la_code"]).index(base.la_code)
    np.testing.assert_allclose(dearer.draws()["top_up"] - base.draws()["top_up"], 10 * comp["cost_special_state"][:, at], rtol=1e-9)


def test_every_la_moving_a_share_adds_up_each_las_own_costs(model):
    scenario = Scenario(model, [Move.parse("0.1", "independent:mainstream", national=True)])
    comp = model.components(model.last_year)
    plans = scenario.plans()["special_independent"].reindex(comp["la_code"]).to_numpy()
    expected = ((comp["cost_mainstream"] - comp["cost_special_independent"]) * 0.1 * plans).sum(axis=1)
    np.testing.assert_allclose(scenario.draws()["top_up"], expected, rtol=1e-9)
    assert len(plans) == len(comp["la_code"]) and not np.isnan(plans).any()


def test_plans_given_up_for_sen_support_save_the_whole_top_up_and_keep_element_2(model):
    d = Scenario(model, [move(30, "mainstream:sen_support")], LA).draws()
    comp = model.components(model.last_year)
    at = list(comp["la_code"]).index("E10000032")
    np.testing.assert_allclose(d["top_up"], -30 * comp["cost_mainstream"][:, at], rtol=1e-9)
    np.testing.assert_allclose(d["full_cost"], d["top_up"])  # the school's element 2 is spent with or without a plan


def test_the_result_says_what_it_assumed_and_carries_monte_carlo_errors(model):
    r = Scenario(model, [move(120, "state_special:mainstream"), move(40, "independent:mainstream")], LA,
                 Assumptions(transition_cost=5_000)).result()
    assert r["la_code"] == "E10000032" and r["children_moved"] == 160 and r["one_off_transition_cost"] == 800_000
    for key in ("annual_change_top_up", "annual_change_full_cost", "per_child_top_up"):
        e = r[key]
        assert e["q05"] <= e["median"] <= e["q95"] and 0 < e["mcse"] < (e["q95"] - e["q05"]) / 10
    assert r["assumptions"]["destination_ratio"] == 1.0 and r["assumptions"]["year"] == model.last_year
    assert any("outcomes" in c for c in r["caveats"])


@pytest.mark.parametrize("build, message", [
    (lambda m: Scenario(m, [move(1, "state_special:mainstream")], "West Susex"), "did you mean 'West Sussex'"),
    (lambda m: Scenario(m, [move(10**6, "state_special:mainstream")], LA), "plans in state special placements"),
    (lambda m: Scenario(m, [move(1, "state_special:mainstream")], LA, Assumptions(year=2010)), "year 2010 is not one"),
    (lambda m: Scenario(m, [Move.parse("0.7", "independent:mainstream", national=True),
                            Move.parse("0.5", "independent:state_special", national=True)]), "add up to 1.2"),
    (lambda m: Scenario(m, [move(5, "state_special:mainstream")]), "moves a share of plans"),
    (lambda m: Scenario(m, [], LA), "at least one move"),
    (lambda m: Scenario(m, [move(1, "state_special:mainstream")], "Herefordshire"), "did you mean 'Herefordshire, County of'"),
    (lambda m: Scenario(m, [move(1, "state_special:mainstream")], "E09000025"), r"Newham has no 2025 data .* try --year 2024"),
])
def test_a_scenario_that_cannot_be_computed_says_why(model, build, message):
    with pytest.raises(ScenarioError, match=message):
        build(model)


@pytest.mark.parametrize("make, message", [
    (lambda: placement("state"), "unknown placement type 'state'"),
    (lambda: move(5, "mainstream:mainstream"), "two different placement types"),
    (lambda: move(-3, "state_special:mainstream"), "must be a positive number"),
    (lambda: Move("special_state", "mainstream", children=float("inf")), "must be a positive number"),
    (lambda: move("a few", "state_special:mainstream"), "must be a number"),
    (lambda: move(5, "state_special-mainstream"), "AMOUNT SOURCE:DESTINATION"),
    (lambda: Move.parse("1.5", "independent:mainstream", national=True), r"in \(0, 1\]"),
    (lambda: Assumptions(transition_cost=-1), "not negative"),
    (lambda: Assumptions(transition_cost=float("nan")), "a number and not negative"),
    (lambda: Assumptions(destination_ratio=float("inf")), r"--destination-ratio\) must be a positive number"),
    (lambda: move(1.5, "state_special:mainstream"), "a whole number"),
    (lambda: move(5, "sen_support:mainstream"), "can only be a destination"),
])
def test_bad_moves_and_assumptions_are_named(make, message):
    with pytest.raises(ScenarioError, match=message):
        make()


def test_an_la_is_found_by_its_name_whatever_the_case_spaces_and_punctuation(model):
    code = Scenario(model, [move(1, "state_special:mainstream")], LA).la_code
    assert Scenario(model, [move(1, "state_special:mainstream")], f"  {LA.upper().replace(' ', '   ')} ").la_code == code
    assert Scenario(model, [move(1, "state_special:mainstream")], "stockton on tees").la_code == "E06000004"
    assert Scenario(model, [move(1, "state_special:mainstream")], "st helens").la_code == \
        Scenario(model, [move(1, "state_special:mainstream")], "St. Helens").la_code


def test_the_help_names_every_placement_type_and_alias():
    from analysis.evaluation.scenarios import ALIASES, SEN_SUPPORT, TYPES

    shown = run("--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert all(name in text for name in (*TYPES, *ALIASES, SEN_SUPPORT))


def run(*args):
    return subprocess.run([sys.executable, "-m", "analysis", "scenario", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_command_line_answers_in_json_and_names_bad_input(model):
    ok = run("--la", LA, "--move", "120", "state_special:mainstream", "--move", "40", "independent:mainstream", "--json")
    assert ok.returncode == 0, ok.stderr
    r = json.loads(ok.stdout)
    assert r["scope"] == LA and r["annual_change_top_up"]["median"] < 0 < r["probability_saving_top_up"]
    bad = run("--la", "Narnia", "--move", "1", "state_special:mainstream")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: no LA called 'Narnia'")
    assert len(bad.stderr.strip().splitlines()) == 1
    mixed = run("--la", LA, "--share", "0.1", "independent:mainstream")
    assert mixed.returncode == 2 and "--share moves plans in every LA" in mixed.stderr


def test_a_scenario_is_shown_at_the_precision_its_monte_carlo_error_supports():
    from analysis.report.value import rounded_scenario

    result = {"scope": "X", "annual_change_top_up": {"median": -3_312_345.6, "q05": -3_812_345.6, "q95": -2_712_345.6,
                                                     "mcse": 12_345.6}, "children_moved": 160.0}
    out = rounded_scenario(result)
    assert out["annual_change_top_up"] == {"median": -3_300_000.0, "q05": -3_800_000.0, "q95": -2_700_000.0, "mcse": 12_000.0}
    assert out["scope"] == "X" and out["children_moved"] == 160.0 and result["annual_change_top_up"]["median"] == -3_312_345.6
