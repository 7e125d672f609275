"""Trend sensitivity (relative-magnitudes bounds) and the common estimand, on constructed posteriors with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.evaluation import robustness


class _Posterior:
    """Stands in for a fitted `EventStudy`: given draws of the pre-period path and of the post-period average
    (one pp-scale outcome, so reporting units equal model units)."""

    outcomes = ["refused_pct"]

    def __init__(self, pre: dict[int, np.ndarray], post_cells: dict[int, int], att: np.ndarray) -> None:
        rows = [{"group": "main", "outcome": "refused_pct", "event_time": e, "n_treated": 10, "draws": d} for e, d in pre.items()]
        rows += [{"group": "main", "outcome": "refused_pct", "event_time": e, "n_treated": n, "draws": att} for e, n in post_cells.items()]
        self._by_e = pd.DataFrame(rows)
        self._post = pd.DataFrame([{"group": "main", "outcome": "refused_pct", "draws": att}])

    def fit(self) -> SimpleNamespace:
        """The draws are independent, as from one chain."""
        return SimpleNamespace(posterior=SimpleNamespace(sizes={"chain": 1}))

    def att_by_event_time(self) -> pd.DataFrame:
        return self._by_e

    def att_post(self) -> pd.DataFrame:
        return self._post


def test_breakdown_matches_the_closed_form() -> None:
    """Pre-period path −4: 0.0, −3: 0.5, −2: 1.0 (then 0 at −1): the largest change D = 1.0 exactly. Post cells at
    e = 0 and 1 with equal weight give k̄ = 1.5. With the effect fixed at −3, the robust interval reaches 0 when
    3 = M̄·D·k̄, so M̄* = 2."""
    n = 4000
    const = lambda v: np.full(n, v)
    es = _Posterior({-4: const(0.0), -3: const(0.5), -2: const(1.0)}, {0: 5, 1: 5}, const(-3.0))
    out = robustness.trend_sensitivity(es, "refused_pct")
    assert out["k_bar"] == pytest.approx(1.5)
    assert out["pre_change"] == pytest.approx(1.0)
    assert out["breakdown"] == pytest.approx(2.0, abs=robustness.M_STEP)
    at_one = next(i for i in out["intervals"] if i["m"] == 1.0)
    assert at_one["lo"] == pytest.approx(-4.5) and at_one["hi"] == pytest.approx(-1.5)


def test_an_interval_that_already_includes_zero_breaks_down_at_zero_and_a_huge_effect_never() -> None:
    rng = np.random.default_rng(1)
    pre = {-3: rng.normal(0, 0.1, 4000), -2: rng.normal(0, 0.1, 4000)}
    assert robustness.trend_sensitivity(_Posterior(pre, {0: 3}, rng.normal(0.1, 1.0, 4000)), "refused_pct")["breakdown"] == 0
    assert robustness.trend_sensitivity(_Posterior(pre, {0: 3}, rng.normal(-50, 0.1, 4000)), "refused_pct")["breakdown"] is None


def test_noisy_pre_periods_widen_the_robust_interval() -> None:
    """The same point pre-path with more posterior noise gives a wider robust interval: D's uncertainty counts."""
    rng = np.random.default_rng(2)
    att = rng.normal(-2.0, 0.2, 4000)
    tight = {-3: rng.normal(0.3, 0.01, 4000), -2: rng.normal(0.6, 0.01, 4000)}
    loose = {-3: rng.normal(0.3, 0.5, 4000), -2: rng.normal(0.6, 0.5, 4000)}
    width = lambda pre: np.diff([robustness.trend_sensitivity(_Posterior(pre, {0: 1}, att), "refused_pct")["intervals"][2][k] for k in ("lo", "hi")])[0]
    assert width(loose) > width(tight)


def test_the_preferred_estimates_say_how_robust_each_is():
    from analysis.evaluation import programmes
    from analysis.report import programme_effects as effects

    cases = [(-5.0, -8.0, -2.0, 0.5), (-5.0, -8.0, -2.0, None), (1.0, -1.0, 3.0, 0.0), (4.0, 2.0, 6.0, 1.7)]
    mcse = {"median_mcse": 0.01, "lo_mcse": 0.01, "hi_mcse": 0.01, "robust_lo_m1_mcse": 0.01, "robust_hi_m1_mcse": 0.01}
    rows = [{"programme": p, "outcome": o, "median": m, "lo": lo, "hi": hi, "pre_change": 2.0, "breakdown": b,
             "robust_lo_m1": lo - 2, "robust_hi_m1": hi + 2} | mcse
            for p in programmes.PROGRAMMES for o, (m, lo, hi, b) in zip(programmes.HEADLINE, cases)]
    table = pd.DataFrame(rows)
    none = pd.DataFrame(columns=["programme", "analysis", "outcome", "median", "lo", "hi"])
    text = effects.preferred_text(table, [], none)
    assert text.count("\n") == len(programmes.PROGRAMMES) * len(programmes.HEADLINE) - 1
    assert "-5.0" in text and "nan" not in text.lower()
    assert ("not robust" in text) == any(b is not None and b < 1 and (hi < 0 or lo > 0) for _, lo, hi, b in cases[:len(programmes.HEADLINE)])
    assert "comparison LAs and baseline" not in text
    # a cross-check that points the other way, clearly, is named beside the preferred estimate
    p, o = next(iter(programmes.PROGRAMMES)), programmes.HEADLINE[0]
    no_drift, drift = {"median": 0.2, "lo": -1.0, "hi": 1.4}, {"median": 4.0, "lo": 2.5, "hi": 5.5}
    opposite = SimpleNamespace(programme=p, outcome=o, post={"median": 3.0, "lo": 1.5, "hi": 4.5}, fake_start=no_drift)
    agreeing = SimpleNamespace(programme=p, outcome=o, post={"median": -4.0, "lo": -6.0, "hi": -2.5}, fake_start=no_drift)
    flagged = effects.preferred_text(table, [opposite], none).splitlines()[0]
    assert "not robust to the choice of comparison LAs and baseline" in flagged and "not even the direction" in flagged
    assert "comparison LAs and baseline" not in effects.preferred_text(table, [agreeing], none)
    # ... unless the cross-check's own fake start shows programme LAs already drifting its way
    drifting = SimpleNamespace(**{**vars(opposite), "fake_start": drift})
    explained = effects.preferred_text(table, [drifting], none).splitlines()[0]
    assert "predates the programme" in explained and "not robust to the choice" not in explained
    # ... and only if the matched comparison's own pre-start checks are clean
    quiet, moved = {"median": 0.1, "lo": -1.0, "hi": 1.2}, {"median": -3.4, "lo": -5.6, "hi": -1.2}
    clean = effects.preferred_text(table, [drifting], none, {(p, o): {"before the start": quiet, "fake start": quiet}}).splitlines()[0]
    assert "own pre-start checks show no difference, so the preferred estimate rests on the matching" in clean
    flagged_too = effects.preferred_text(table, [drifting], none, {(p, o): {"before the start": moved, "fake start": quiet}}).splitlines()[0]
    assert "neither estimate is free of a trend" in flagged_too and "rests on the matching" not in flagged_too
    assert "before the start: −3.4" in flagged_too.replace("-", "−")
    # a clear imputation estimate whose LA-clustered twin is not clear says so
    twin = SimpleNamespace(programme=p, outcome=o, estimate=3.1, lo=-0.9, hi=7.3)
    wide = effects.preferred_text(table, [opposite], none, clustered=[twin]).splitlines()[0]
    assert "with LA-clustered intervals (two-stage DiD on the same LAs)" in wide and "not clear" in wide
    # reweighting on pre-period trends is named where it reads differently, and not where it agrees
    from analysis.evaluation import balancing

    def reweighted(m, lo, hi):
        effects_ = pd.DataFrame([{"outcome": out, "period": "after", "estimate": m, "lo": lo, "hi": hi, "lo_mcse": 0.0, "hi_mcse": 0.0}
                                 for out in programmes.HEADLINE])
        return SimpleNamespace(programme=p, covariates=balancing.TRENDS, found=True, effects=effects_)
    other_way = effects.preferred_text(table, [], none, reweighted=[reweighted(3.0, 1.0, 5.0)]).splitlines()[0]
    assert "Reweighting the eligible LAs on pre-period trends" in other_way and "opposite directions" in other_way
    assert "Reweighting" not in effects.preferred_text(table, [], none, reweighted=[reweighted(-4.0, -6.0, -2.0)]).splitlines()[0]
    # the design against the programme's own later members: a clear difference the other way leaves even the
    # direction unsettled; one the same way, with overlapping intervals, adds nothing
    later = lambda m, lo, hi: pd.DataFrame([{"programme": p, "analysis": "later_waves", "outcome": o, "median": m, "lo": lo, "hi": hi} | mcse])
    reversed_ = effects.preferred_text(table, [], later(7.0, 4.0, 10.0)).splitlines()[0]
    assert "later members" in reversed_ and "do not settle even the direction" in reversed_
    assert "later members" not in effects.preferred_text(table, [], later(-4.0, -7.0, -1.0))
    unclear = effects.preferred_text(table, [], later(1.0, -2.0, 4.0)).splitlines()[0]
    assert "not robust to the choice of comparison LAs**" in unclear and "direction" not in unclear
    shown = effects.sensitivity_display(table)
    assert not shown.map(lambda v: "nan" in str(v).lower()).any().any()


def test_effects_are_shown_at_the_precision_their_monte_carlo_error_supports():
    """One decimal where the MCSE allows it (the last digit's unit at least twice the MCSE), fewer where it does not;
    an interval's ends share the coarser precision; an estimate without Monte Carlo error (least squares) keeps one
    decimal; a number that rounds to zero has no sign (neither '-0' nor '+0': as shown it lies on neither side)."""
    from analysis.report import programme_effects as effects

    s = {"median": -7.44, "lo": -10.21, "hi": -4.47, "median_mcse": 0.03, "lo_mcse": 0.054, "hi_mcse": 0.04}
    assert effects.effect_text(s, "%") == "-7.4% (90% interval -10 to -4)"
    assert effects.effect_text(s | {"lo_mcse": 0.02, "hi_mcse": 0.02}, "%") == "-7.4% (90% interval -10.2 to -4.5)"
    assert effects.effect_text(s | {"median_mcse": 0.3}, "%").startswith("-7% ")
    assert effects.effect_text({"median": -0.04, "lo": -0.3, "hi": 0.2}, "pp") == \
        "0.0 percentage points (90% interval -0.3 to +0.2)"
    assert effects.effect_text({"median": -0.4, "lo": -1.3, "hi": 0.2, "lo_mcse": 0.1, "hi_mcse": 0.1}, "pp").endswith("-1 to 0)")
    assert effects.effect_text({"median": -2.0, "lo": -4.0, "hi": 0.04}, "%").endswith("-4.0 to 0.0)")  # not '+0.0'
    assert effects.effect_text({"median": -2.0, "lo": -4.0, "hi": -0.04}, "%").endswith("-4.0 to 0.0)")  # nor '-0.0'



def _s(median: float, lo: float, hi: float) -> dict[str, float]:
    return {"median": median, "lo": lo, "hi": hi}


def test_two_estimates_are_compared_by_direction_and_clarity():
    from analysis.report.programme_effects import _agreement

    assert _agreement(_s(-3.0, -5.0, -1.0), _s(-4.0, -7.0, -2.0)) == "the same direction, with intervals that overlap"
    assert _agreement(_s(-3.0, -4.0, -2.5), _s(-8.0, -9.0, -6.0)) == "the same direction, with intervals that do not overlap"
    assert _agreement(_s(3.0, 1.5, 4.5), _s(-4.0, -7.0, -2.0)) == "opposite directions, both clear"
    assert _agreement(_s(3.1, 1.7, 4.7), _s(-2.0, -3.9, 0.0)).startswith("a different reading: only the first is clear")
    assert _agreement(_s(0.5, -1.0, 2.0), _s(0.3, -2.0, 2.5)) == "neither is clear"
    assert _agreement(_s(0.5, -1.0, 2.0), _s(-0.3, -2.0, 1.5)) == "neither is clear, and their medians lie on opposite sides of zero"
    # read as shown: ends that touch as shown overlap, and a median shown as 0.0 is on neither side of zero
    assert _agreement(_s(-3.0, -4.0, -2.04), _s(-1.5, -2.02, -1.0)) == "the same direction, with intervals that overlap"
    assert _agreement(_s(-0.04, -1.0, 2.0), _s(0.3, -2.0, 2.5)) == "neither is clear"
    # read as shown: an end of −0.04 shows as 0.0, so that interval is not clear
    assert _agreement(_s(-2.0, -4.0, -0.04), _s(-2.5, -4.0, -1.0)).startswith("a different reading: only the second is clear")


def test_the_later_members_support_says_where_the_design_is_thin():
    from analysis.report import programme_effects as effects

    support = pd.DataFrame({"programme": ["Safety Valve"] * 3, "cohort": [2022, 2024, 2025], "programme_las": [5, 18, 4],
                            "comparisons": [31, 1, 0], "names": ["many", "Devon", ""], "last_event_time": [2, 0, -1]})
    text = effects.later_waves_support_text(support)
    assert "For Safety Valve, 22 of 27 programme LAs" in text and "start-year figure" in text
    table = effects.later_waves_support_table(support)
    assert list(table["Years after the start compared"]) == ["0 to 2", "start year only", "none"]
    assert list(table.iloc[:, -1]) == ["–", "Devon", "–"]


def test_a_clear_estimate_that_a_small_trend_departure_overturns_is_qualified():
    from analysis.report import programme_effects as effects

    null, effect = {"median": 0.1, "lo": -1.0, "hi": 1.2}, {"median": -5.0, "lo": -8.0, "hi": -2.0}
    fields = {"effect": effect, "pre_trend": null, "placebo_time": null, "later_waves": effect, "deficit_sensitivity": effect}
    row = SimpleNamespace(units="%", **{f"{prefix}_{k}": v for prefix, s in fields.items() for k, v in s.items()})
    assert any("0.35 times the largest" in c for c in effects._cautions(row, breakdown=0.35))
    assert not any("parallel trends" in c for c in effects._cautions(row, breakdown=1.7))
    assert not any("parallel trends" in c for c in effects._cautions(row))
