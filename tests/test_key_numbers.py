"""The published key numbers re-create: exactly where the numerics are pinned, within Monte Carlo error elsewhere."""

from __future__ import annotations

import json

import pytest

from analysis.report import findings

from analysis import numerics
from analysis.report.findings import KeyNumber


@pytest.fixture(scope="module")
def fresh():
    return findings.key_numbers()


def test_every_key_number_agrees_with_the_stored_one_within_monte_carlo_error(fresh):
    table = findings.agree(findings.load(), fresh)
    assert table["agree"].all(), f"key numbers that moved beyond Monte Carlo error:\n{table[~table['agree']].to_string()}"


@pytest.mark.skipif(bool(numerics.check()), reason="numerics not pinned here: agreement within Monte Carlo error is the test")
def test_pinned_numerics_re_create_the_key_numbers_exactly(fresh):
    record = json.loads(findings.STORED.read_text())
    assert record["numerics"] == "pinned"
    stored = findings.load()
    assert {k: v.value for k, v in fresh.items()} == {k: v.value for k, v in stored.items()}


def test_every_key_number_from_a_posterior_has_a_positive_monte_carlo_error(fresh):
    """Published figures (`data.*`) have none; every number computed from draws has one."""
    drawn = {k: v for k, v in fresh.items() if not k.startswith("data.")}
    assert len(drawn) >= 15 and len(fresh) > len(drawn)
    assert all(v.mcse > 0 for v in drawn.values()), {k: v.mcse for k, v in drawn.items() if not v.mcse > 0}
    assert all(v.mcse == 0 for k, v in fresh.items() if k not in drawn)


def test_the_spend_finding_is_chapter_2s_england_total():
    from analysis.data import panel
    from analysis.report import national

    eng = national.england(panel.load()).dropna(subset=["hn_spend"])
    numbers = findings.load()
    assert numbers["data.hn_spend_last"].value == eng["hn_spend"].iloc[-1]
    assert numbers["data.hn_spend_first"].value == eng["hn_spend"].iloc[0]
    text = findings.headlines(numbers)
    assert f"£{eng['hn_spend'].iloc[-1] / 1e9:.1f}bn in {eng.index[-1] - 1}-{eng.index[-1] % 100:02d}" in text


def test_agreement_is_judged_by_combined_monte_carlo_error():
    stored = {"x": KeyNumber(1.0, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}
    close = {"x": KeyNumber(1.05, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}  # 0.05 < 4·√2·0.01
    far = {"x": KeyNumber(1.06, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}  # 0.06 > 0.0566
    assert findings.agree(stored, close)["agree"].all()
    assert findings.agree(stored, far).set_index("number").loc["x", "agree"] == False  # noqa: E712
    assert not findings.agree(stored, {"x": stored["x"]})["agree"].all()  # a number that disappeared


def test_the_key_findings_are_written_from_the_stored_numbers():
    """`_key-findings.md` (included at the top of the preface) is generated, never edited: rewrite it with
    `python -m analysis findings --save`."""
    assert findings.HEADLINES.read_text() == findings.headlines(findings.load())


def test_the_preface_includes_the_key_findings():
    from analysis import paths

    assert "{{< include _key-findings.md >}}" in (paths.ROOT / "index.qmd").read_text()


def test_key_findings_show_each_number_at_its_supported_precision():
    numbers = findings.load()
    text = findings.headlines(numbers)
    england = f"ehcp.england_{findings.forecast_january(numbers)}_median"
    assert findings.shown(numbers[england]) in text
    noisy = {k: KeyNumber(v.value, v.mcse * 1000, v.unit, v.what) for k, v in numbers.items()}
    assert findings.shown(noisy[england]) in findings.headlines(noisy)  # coarser when the error is larger
    with pytest.raises(KeyError, match="one January"):
        findings.forecast_january({k: v for k, v in numbers.items() if not k.startswith("ehcp.england_")})
    assert findings.headlines(noisy) != text


def test_an_interval_is_shown_with_its_median_at_its_own_precision_and_both_ends_at_the_coarser_of_theirs():
    from analysis.report.precision import interval_places

    assert interval_places(0.3, 40.0, 2.0) == (0, -2)  # ends both to the hundred, as the noisier end supports
    assert interval_places(0.3, 2.0, 40.0) == (0, -2)
    assert interval_places(0.3, 40.0, 2.0, most=-3) == (-3, -3)  # never finer than asked
    assert interval_places(0.0, 0.0, 0.0) == (6, 6)  # no error: as fine as `places` goes


def test_key_findings_link_to_chapters():
    """Each finding links to the chapter that shows it: a chapter's own label, not a section of another chapter."""
    import re

    from analysis.report import preview

    chapters = {k for p in preview.book_pages() for k, v in p.labels.items() if v["level"] == 1}
    links = set(re.findall(r"@(sec-[\w-]+)", findings.HEADLINES.read_text()))
    assert links and links <= chapters, f"links to sections that are not chapters: {sorted(links - chapters)}"


def _effects(main: tuple[float, float, float], later: tuple[float, float, float], programme: str = "p") -> dict[str, KeyNumber]:
    """Key numbers of one programme's two headline outcomes, both with the same main and later-members (median, q05, q95)."""
    out = {}
    for outcome in ("ehcp_rate", "hn_spend_per_head"):
        for suffix, values in (("", main), (".later_waves", later)):
            for q, v in zip(("", "_q05", "_q95"), values):
                out[f"evaluation.{programme}.{outcome}{suffix}{q}"] = KeyNumber(v, 0.01, "%", "")
    return out


def test_the_programme_finding_names_each_outcome_on_which_the_two_comparisons_disagree():
    reverse = findings._programme(_effects((-5, -7, -2), (8, 5, 11)), "p")
    assert "**The two comparisons disagree on plans and spend**, so neither reading is robust." in reverse
    assert "against the programme's own later members before they joined, by +8.0% (90% interval +5.0 to +11.0)" in reverse
    assert findings._programme(_effects((-5, -7, -2), (-4, -6, -1)), "p").endswith("The two comparisons agree.")
    assert findings._programme(_effects((-2, -4, 0.1), (1, -2, 4)), "p").endswith("The two comparisons agree.")  # both unclear
    later_only = findings._programme(_effects((-2, -4, 0.1), (8, 5, 11)), "p")
    assert "disagree on plans and spend" in later_only  # clear against later members only: not robust either
    plans_only = {k: v for k, v in _effects((-5, -7, -2), (8, 5, 11)).items() if "ehcp_rate" in k}
    spend_holds = {k: v for k, v in _effects((-5, -7, -2), (-4, -6, -1)).items() if "hn_spend" in k}
    mixed = findings._programme(plans_only | spend_holds, "p")
    assert "**The two comparisons disagree on plans**, so that reading is not robust." in mixed


def test_the_national_forecast_is_said_to_run_high_only_when_the_backtests_show_it():
    from analysis.models.ehcp import backtest
    from analysis.models import stored

    results = stored.load("backtest").results
    ehcp_item = lambda text: next(line for line in text.splitlines() if "EHC plans keep growing" in line)  # noqa: E731
    text = ehcp_item(findings.headlines(findings.load(), results))
    england = backtest.england(results)
    assert f"its {len(england)} national forecasts" in text and f"Refitted at {england['origin'].nunique()} earlier" in text
    assert ("more likely too high" in text) == backtest.runs_high(england)
    low = {k: {**r, "horizons": {h: {**x, "england": {**x["england"], "median": x["england"]["observed"] * 0.99}}
                                 for h, x in r["horizons"].items()}} for k, r in results.items()}
    text = ehcp_item(findings.headlines(findings.load(), low))
    assert "more likely too high" not in text and "were above the published total in 0 and" in text


def test_the_key_numbers_are_the_chapters_numbers(fresh):
    """The preface quotes what chapter 3 shows: the held-out January scored on the model's panel (flagged reporting
    breaks left out) and the trend growth from the same draws."""
    from analysis.data import panel
    from analysis.models.ehcp import EHCPModel
    from analysis.report import ehcp as ehcp_report

    frame = panel.load()
    model = EHCPModel(frame)
    scores = EHCPModel(frame, holdout=model.last_year).holdout_scores()
    assert fresh["ehcp.holdout_coverage_90"].value == scores["coverage_90"]
    assert fresh["ehcp.holdout_crps"].value == scores["crps"]["model"]
    growth = ehcp_report.trend_growth(model)
    assert abs(fresh["ehcp.trend_growth_pct"].value - growth["median"]) < 1e-3
    assert abs(fresh["ehcp.trend_growth_pct_q05"].value - growth["5%"]) < 1e-3


def test_key_findings_say_when_the_backtests_they_quote_are_stale(monkeypatch):
    from dataclasses import replace

    from analysis.models import stored

    current = stored.load("backtest")
    monkeypatch.setattr(stored, "load", lambda name, *a: replace(current, stale=["data"]))
    text = findings.headlines(findings.load())
    assert "from backtests whose data changed since they ran: rerun `python -m analysis grid backtest`" in text


def test_a_number_that_rounds_to_zero_is_shown_without_a_sign():
    from analysis.report.findings import KeyNumber, shown

    assert shown(KeyNumber(-0.04, 0.02, "%", "x")) == "0.0" and shown(KeyNumber(-0.4, 0.02, "%", "x")) == "−0.4"
    near = {"a": KeyNumber(-2.0, 0.02, "%", "x"), "b": KeyNumber(0.04, 0.02, "%", "x")}
    assert findings._ends(near, "a", "b", signed=True) == "−2.0 to 0.0"  # an end shown as zero has no sign


def test_the_check_cannot_follow_a_save_that_would_replace_what_it_checks_against(capsys):
    from analysis.__main__ import main

    before = findings.STORED.read_bytes()
    assert main(["findings", "--save", "--check"]) == 2
    assert "run --check, then --save" in capsys.readouterr().err and findings.STORED.read_bytes() == before


def test_the_unit_cost_finding_says_more_likely_too_high_for_the_types_chapter_4_does():
    """The key findings quote three unit costs for the last year, which the model carries forward from its category
    data; where chapter 4 finds every later published cost per plan of a type below the model's interval, the
    finding says so too, and it says nothing of the kind when none is."""
    from analysis.data import panel
    from analysis.models.spend import TYPE_LABELS, SpendModel
    from analysis.models.spend.places import PlaceFundingModel
    from analysis.report import spend as sr

    numbers = findings.load()
    frame = panel.load()
    comparison = sr.published_comparison(SpendModel(frame), PlaceFundingModel(frame).place_part())
    chapter = set(sr.overstated(comparison)) & {"special_independent", "special_state", "mainstream"}
    text = findings.headlines(numbers)
    item = next(line for line in text.splitlines() if "What a plan costs" in line)
    caveat = item.split("later years; for ", 1)[1].split(" every later one")[0] if "every later one lies below" in item else ""
    for k in ("special_independent", "special_state", "mainstream"):
        assert (f"{TYPE_LABELS[k].lower()} schools" in caveat) == (k in chapter), (k, chapter, item)
    none = {k: (KeyNumber(0.0, v.mcse, v.unit, v.what) if k.startswith("spend.later_published_below_") else v) for k, v in numbers.items()}
    assert "every later one lies below" not in findings.headlines(none)
