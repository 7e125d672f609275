"""The value-for-money layer: pooled child outcomes (recovery on simulated data), cost against outcomes, the
published savings claims and the Safety Valve amounts file."""

from __future__ import annotations

import re

import nbformat

import numpy as np
import pandas as pd
import pytest

from analysis import paths
from analysis.data import breaks, cohorts, panel
from analysis.data.programme_funding import load_safety_valve_funding
from analysis.errors import DataError
from analysis.evaluation import claims, experiment, value
from analysis.evaluation.scenarios import Move, Scenario
from analysis.evaluation.systematic import SystematicError
from analysis.models.outcomes import BY_COLUMN, OUTCOMES, ChildOutcome, OutcomeModel
from analysis.models.spend import PLACEMENT_COLUMNS, TYPES, SpendModel
from analysis.models.spend.places import PlaceFundingModel

WS = "E10000032"


# --------------------------------------------------------------------------- pooled outcomes (simulated data)


def simulated_panel(seed: int = 7, las: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    """SIMULATED: an outcome with known LA levels, years at a common shift, and noise that shrinks with LA size."""
    rng = np.random.default_rng(seed)
    codes = [f"E{i:08d}" for i in range(las)]
    level = pd.Series(50 + 6 * rng.standard_normal(las), index=codes)
    size = rng.integers(5, 400, las)
    rows = []
    for year, shift in zip((2023, 2024, 2025), (-1.0, 0.0, 1.0)):
        for c, n in zip(codes, size):
            rows.append({"la_code": c, "la_name": c, "year": year, "ehcp_total": float(n),
                         "y": level[c] + shift + 100 / np.sqrt(n) * rng.standard_normal()})
    return pd.DataFrame(rows), level + 1.0  # the lasting level in the last year


@pytest.fixture(scope="module")
def simulated():
    frame, truth = simulated_panel()
    outcome = ChildOutcome("y", "simulated outcome", +1, "ehcp_total", "simulated")
    model = OutcomeModel(frame, (outcome,))  # the chapter's sampler settings
    model.fit()
    return model, truth


def test_pooled_levels_recover_simulated_la_levels_with_honest_intervals(simulated):
    model, truth = simulated
    assert model.diagnostics().passed
    lv = model.levels().set_index("la_code")
    inside = ((lv["q05"] <= truth) & (truth <= lv["q95"])).mean()
    assert 0.8 <= inside <= 1.0
    # the LA's own estimate of the same quantity: its mean gap to each year's mean, plus the last year's mean
    d = model.long
    own = (d["y"] - d.groupby("year")["y"].transform("mean")).groupby(d["la_code"]).mean() + d.loc[d["year"] == 2025, "y"].mean()
    pooled_err = np.sqrt(((lv["median"] - truth) ** 2).mean())
    own_err = np.sqrt(((own - truth) ** 2).mean())
    assert pooled_err < 0.8 * own_err  # pooling beats each LA's own estimate (root mean squared error)


def test_no_percentage_level_or_interval_falls_outside_0_to_100():
    """The model is normal on a standardised scale, so small LAs near 0 had intervals below it (Devon's timeliness:
    −1.9 to 28.2); a percentage is shown within what a percentage can be."""
    levels = OutcomeModel(panel.load()).levels()
    pct = levels[levels["outcome"].map(lambda c: BY_COLUMN[c].unit == "%")]
    assert len(pct) > 1000 and pct[["median", "q05", "q95"]].ge(0).all().all() and pct[["median", "q05", "q95"]].le(100).all().all()


def test_small_las_are_pulled_towards_england_more_than_large_ones(simulated):
    model, _ = simulated
    lv = model.levels().set_index("la_code")
    d = model.long
    centre = d.loc[d["year"] == 2025, "y"].mean()
    own = (d["y"] - d.groupby("year")["y"].transform("mean")).groupby(d["la_code"]).mean() + centre
    size = d.groupby("la_code")["n"].first()
    pulled = 1 - (lv["median"] - centre) / (own - centre)
    small, large = pulled[size < size.quantile(0.25)].median(), pulled[size > size.quantile(0.75)].median()
    assert small > large + 0.1


def test_ranks_are_a_permutation_in_every_draw_and_order_with_the_levels(simulated):
    model, _ = simulated
    lv = model.levels()
    assert lv["rank"].between(1, len(lv)).all() and (lv["rank_q05"] <= lv["rank"]).all() and (lv["rank"] <= lv["rank_q95"]).all()
    assert lv[["median", "rank"]].corr(method="spearman").iloc[0, 1] < -0.95  # higher is better: rank 1 is the highest


# --------------------------------------------------------------------------- cost against outcomes


def test_within_la_slope_recovers_a_known_association_net_of_la_differences():
    """SIMULATED: LAs that spend more per plan have much lower outcomes (a between-LA difference), while within each
    LA 10 % more spend goes with +0.95; only a fixed-effects slope recovers the within-LA figure."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        level = rng.normal(9.6, 0.3)
        for year in range(2018, 2026):
            spend_per_plan = np.exp(level + rng.normal(0, 0.1))
            rows.append({"la_code": f"L{i}", "la_name": f"L{i}", "year": year, "hn_spend": spend_per_plan * 1000, "ehcp_total": 1000,
                         **{o.column: -60 * level + 10 * np.log(spend_per_plan) + 0.3 * (year - 2018) + rng.normal(0, 0.3)
                            for o in value.OUTCOMES}})
    within = value.within_las(pd.DataFrame(rows)).set_index("outcome")
    expected = 10 * np.log(1.1)
    for o in value.OUTCOMES:  # not signed: the slope is in the outcome's own direction
        assert within.at[o.column, "per_10pct"] == pytest.approx(expected, abs=0.1)
        assert within.at[o.column, "lo"] < within.at[o.column, "per_10pct"] < within.at[o.column, "hi"]


def test_within_la_slope_per_head_differs_from_per_plan_when_plans_grow_faster_than_the_budget():
    """SIMULATED: the budget per head is flat, plans grow at an LA-specific pace and the outcome falls with the
    number of plans (who has one); spend per plan then goes with the outcome within LAs, spend per head does not."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(40):
        pace = rng.normal(0.08, 0.04)
        for year in range(2018, 2026):
            plans = 1000 * np.exp(pace * (year - 2018) + rng.normal(0, 0.05))
            rows.append({"la_code": f"L{i}", "la_name": f"L{i}", "year": year, "ehcp_total": plans, "pop_2_18": 50_000,
                         "hn_spend": 2e7 * np.exp(rng.normal(0, 0.05)),
                         **{o.column: -10 * np.log(plans) + rng.normal(0, 0.3) for o in value.OUTCOMES}})
    frame = pd.DataFrame(rows)
    plan, head = (value.within_las(frame, per=per).set_index("outcome") for per in ("plan", "head"))
    o = value.OUTCOMES[0].column
    assert plan.at[o, "lo"] > 0.5 and head.at[o, "lo"] < 0 < head.at[o, "hi"]
    with pytest.raises(KeyError, match="per must be one of"):
        value.within_las(frame, per="pupil")


def test_measures_text_says_which_associations_survive_counting_spend_per_head():
    from analysis.report import value as vr

    cols = [o.column for o in value.OUTCOMES if o.better][:3]
    def across(measure, signs):
        return pd.DataFrame([{"outcome": c, "measure": measure, "median": 0.3 * s, "q05": 0.3 * s - 0.1 if s else -0.1,
                              "q95": 0.3 * s + 0.1 if s else 0.1} for c, s in zip(cols, signs)])
    def within(signs):
        return pd.DataFrame([{"outcome": c, "per_10pct": s, "lo": s - 0.5 if s else -0.5, "hi": s + 0.5 if s else 0.5}
                             for c, s in zip(cols, signs)])
    a = pd.concat([across("spend_per_plan", [1, 1, 0]), across("spend_per_head", [1, 0, 1])])
    text = vr.measures_text(a, within([1, -1, 0]), within([0, 0, 0]))
    short = [BY_COLUMN[c].short for c in cols]
    assert f"of the 2 outcomes that go clearly with spend per plan, 1 keeps its direction and 1 becomes unclear ({short[1]})" in text
    assert f"{short[2]} goes clearly with spend per head alone" in text
    assert "Within LAs, of the 2 outcomes that go clearly with spend per plan, none keeps its direction and 2 become unclear" in text
    one = vr.measures_text(pd.concat([across("spend_per_plan", [1, 0, 0]), across("spend_per_head", [-1, 0, 0])]),
                           within([0, 0, 0]), within([0, 0, 0]))
    assert f"of the 1 outcome that goes clearly with spend per plan, none keeps its direction and 1 reverses ({short[0]})" in one
    assert "Within LAs, no outcome goes clearly with spend per plan." in one


def test_an_across_la_correlation_does_not_depend_on_the_other_measures_asked_for(simulated):
    model, truth = simulated
    cost = pd.DataFrame({"la_code": truth.index, "spend_per_plan": np.exp(truth / 10), "special_share": -truth})
    one = value.across_las(model, cost, ("spend_per_plan",))
    two = value.across_las(model, cost, ("special_share", "spend_per_plan"))
    pd.testing.assert_frame_equal(one.reset_index(drop=True),
                                  two[two["measure"] == "spend_per_plan"].reset_index(drop=True))


def test_the_weightings_table_lists_the_best_on_equal_weights_with_their_other_ranks():
    from analysis.report import value as vr

    moves = pd.DataFrame({"equal": [3.0, 1.0, 2.0, np.nan], "process only": [9.0, 4.0, 1.0, 2.0],
                          "education only": [1.0, 2.0, 3.0, 4.0]}, index=["c", "a", "b", "d"])
    moves["largest_move"] = 0.0
    table = vr.weightings_table(moves, pd.Series({"a": "A", "b": "B", "c": "C", "d": "D"}), n=2)
    assert table["LA"].tolist() == ["A", "B"] and table.columns.tolist() == ["LA", "equal weights", "process", "education"]
    assert table["process"].tolist() == [4, 1]


def test_combined_scores_rank_simulated_las_in_their_true_order(simulated):
    model, truth = simulated
    score = value.combined(model).set_index("la_code")
    true_rank = truth.rank(ascending=False).reindex(score.index)
    assert score["rank"].corr(true_rank, method="spearman") > 0.6  # noisy small LAs make a perfect order impossible
    r = value.across_las(model, pd.DataFrame({"la_code": truth.index, "spend_per_plan": np.exp(truth / 10), "special_share": -truth}))
    by = r.set_index("measure")
    assert by.at["spend_per_plan", "median"] > 0.4 and by.at["spend_per_plan", "q05"] > 0.1  # not signed: + means a higher outcome
    assert by.at["special_share", "median"] < -0.4 and by.at["special_share", "q95"] < -0.1


def test_a_flagged_plan_count_removes_the_per_plan_figures_but_not_spend_per_head():
    frame = panel.load()
    c = value.costs(frame, 2025, PlaceFundingModel(frame).place_part()).set_index("la_code")
    newham = frame[(frame["year"] == 2025) & (frame["la_name"] == "Newham")].iloc[0]  # January 2025 total: a flagged break
    assert c.loc[newham["la_code"], ["spend_per_plan", "full_cost_per_plan", "special_share"]].isna().all()
    assert c.at[newham["la_code"], "spend_per_head"] == pytest.approx(newham["hn_spend"] / newham["pop_2_18"])
    assert len(c) == frame.loc[frame["year"] == 2025, "hn_spend"].notna().sum()
    masked = breaks.mask(frame)
    mix = masked.loc[masked["year"] == 2025].set_index("la_code")[PLACEMENT_COLUMNS]
    unknown = c.index.intersection(mix.index[mix.isna().any(axis=1)])  # a breakdown suppressed or flagged
    assert len(unknown) >= 2 and c.loc[unknown, "full_cost_per_plan"].isna().all()  # its place funding cannot be counted
    assert c["full_cost_per_plan"].notna().sum() == len(c) - len(unknown)


def test_costs_add_place_funding_to_full_cost_and_shares_are_of_all_plans():
    frame = panel.load()
    part = {k: np.full(4, 0.0) for k in TYPES} | {"mainstream": np.array([5e3, 6e3, 6e3, 7e3]), "special_state": np.full(4, 1e4),
                                                   "post16": np.array([1e3, 2e3, 3e3, 9e3])}
    c = value.costs(frame, 2025, part).set_index("la_code")
    row = frame[(frame["year"] == 2025) & (frame["la_code"] == WS)].iloc[0]
    # each plan at its type's median place funding; independent mainstream plans carved out of mainstream have none
    place = (6000 * (row["ehcp_mainstream"] - row["ehcp_mainstream_independent"]) + 10_000 * row["ehcp_special_state"]
             + 2500 * (row["ehcp_post16"] - row["ehcp_post16_specialist"]))
    assert c.at[WS, "full_cost_per_plan"] == pytest.approx((row["hn_spend"] + place) / row["ehcp_total"])
    assert c.at[WS, "special_share"] == pytest.approx((row["ehcp_special_state"] + row["ehcp_special_independent"]) / row["ehcp_total"])


# --------------------------------------------------------------------------- savings claims


@pytest.fixture(scope="module")
def spend():
    m = SpendModel(panel.load())
    m.fit()
    return m


def test_west_sussex_with_exact_shares_is_the_scenario_of_those_moves(spend):
    ws = claims.west_sussex(spend, 2023).set_index("split")
    exact = ws.loc["shares taken as exact"]
    moves = [Move("special_state", "mainstream", children=exact["plans_state"] * 2 / 3),
             Move("special_independent", "mainstream", children=exact["plans_independent"] * 2 / 3)]
    np.testing.assert_allclose(exact["top_up"], Scenario(spend, moves, "West Sussex", claims.Assumptions(year=2023)).draws()["top_up"], rtol=1e-9)


def test_review_uncertainty_widens_the_saving_and_fewer_reviews_widen_it_more(spend):
    ws = claims.west_sussex(spend, 2023)
    width = [np.subtract(*np.quantile(d, [0.95, 0.05])) for d in ws["top_up"]]
    assert width[0] < min(width[1:]) and width[3] > width[1]  # exact < any; as the LA's plans (12 reviewed) > 27 reviewed
    assert all(n % 3 == 0 and n >= 3 for n in ws["n_state"].iloc[1:]) and all(n % 3 == 0 for n in ws["n_independent"].iloc[1:])


def test_share_draws_follow_the_jeffreys_posterior():
    d = claims.share_draws(2 / 3, 9, 200_000, np.random.default_rng(1))
    assert d.mean() == pytest.approx((6 + 0.5) / (9 + 1), abs=0.003)


def test_the_share_needed_for_the_claim_times_moving_everyone_is_the_claim(spend):
    shares = claims.shares_for_claim(spend, 2023).set_index(["moved_from", "measure", "end"])
    per_child = -claims.per_child(spend, "West Sussex", "special_state", "mainstream", 2023, claims.Assumptions())["full_cost"]
    row = shares.loc[("state special alone", "full_cost", "low")]
    assert row["median"] == pytest.approx(np.median(claims.WEST_SUSSEX.claim_low / (row["plans"] * per_child)), rel=1e-9)
    high = shares.loc[("state special alone", "top_up", "high")]
    assert high["median"] > 1  # the top of the claim needs more state special children than West Sussex has


def test_dbv_national_moves_35000_out_of_special_and_30000_to_sen_support_and_its_parts_add_up(spend):
    d = claims.dbv_national(spend, spend.last_year)
    special = d["plans"]["special_state"] + d["plans"]["special_independent"]
    assert d["share_out_of_special"] * special == pytest.approx(35_000)
    assert d["share_to_sen_support"] * d["plans"]["mainstream"] == pytest.approx(30_000)
    np.testing.assert_allclose(sum(p["top_up"] for p in d["parts"].values()), d["draws"]["top_up"], rtol=1e-9)
    assert d["result"]["children_moved"] == pytest.approx(65_000)


def test_dbv_national_sampling_of_the_share_widens_the_saving_most_when_the_areas_are_the_units(spend):
    """The 65% drawn from its posterior scales the children moved: centred on the fixed-share saving, the 90% interval
    wider with 54 areas than with 1,650 reviews, and as wide as a share's sampling error (relative, ±1.645 sd/share)."""
    d = claims.dbv_national(spend, spend.last_year)
    claim = claims.DBV_NATIONAL
    fixed = d["draws"]["top_up"]
    width = {u: np.subtract(*np.quantile(d["sampled"][u]["top_up"], [0.95, 0.05])) for u in ("reviews", "areas")}
    assert width["areas"] > 2 * width["reviews"] > 2 * np.subtract(*np.quantile(fixed, [0.95, 0.05]))
    p = claim.share_placed_differently
    expected = 2 * 1.645 * np.sqrt(p * (1 - p) / claim.areas) / p * abs(np.median(fixed))
    assert width["areas"] == pytest.approx(expected, rel=0.15)
    for u in ("reviews", "areas"):
        assert np.median(d["sampled"][u]["top_up"]) == pytest.approx(np.median(fixed), rel=0.03)


def test_the_claim_read_as_a_five_year_total_is_a_fifth_a_year():
    total = claims.WEST_SUSSEX.as_total()
    assert (total.claim_low, total.claim_high) == pytest.approx((17.8e6 / 5, 46.7e6 / 5)) and total.reviews == 28


def test_the_shares_table_says_more_than_there_are_only_past_the_whole_interval_and_perhaps_past_its_end():
    from analysis.report import value as vr

    shares = pd.DataFrame({"moved_from": "state special alone", "plans": 100.0, "measure": "top_up", "claim": 1e6,
                           "median": [0.5, 1.08, 1.2], "q05": [0.4, 0.93, 1.05], "q95": [0.6, 1.31, 1.4]})
    shown = vr.shares_table(shares)["share of those plans that must move"].tolist()
    assert shown == ["50% (40% to 60%)", "108% (93% to 131%) — perhaps more than there are", "120% (105% to 140%) — more than there are"]
    shares["end"] = ["low", "mid", "high"]
    assert vr.claim_share_text(shares, "state special alone", "top_up", "mid") == "108% (90% interval 93% to 131%)"


def test_the_held_out_text_names_an_outcome_whose_positions_come_back_after_saying_none_drifts_away():
    from analysis.report import value as vr

    cols = [o.column for o in OUTCOMES[:3]]
    scores = pd.DataFrame({"outcome": cols, "coverage": [0.9, 0.89, 0.91], "rmse_pooled": 1.0, "rmse_own": 2.0, "rmse_zero": 3.0,
                           "drift": [1.0, 1.1, 0.78], "drift_q05": [0.8, 0.9, 0.62], "drift_q95": [1.2, 1.3, 0.96]})
    text = vr.holdout_text(scores)
    away, back = text.index("do not drift away measurably"), text.index(f"For {BY_COLUMN[cols[2]].short}, on the other hand, the ratio is below 1 (0.78")
    assert away < back


def test_a_label_keeps_its_capital_in_a_sentence_only_for_an_abbreviation_or_a_named_measure():
    from analysis.report.tables import in_sentence

    assert [in_sentence(x) for x in ("New plans issued", "KS2 expected standard", "EHC plan growth", "Attainment 8 of pupils", "Progress 8")] \
        == ["new plans issued", "KS2 expected standard", "EHC plan growth", "Attainment 8 of pupils", "Progress 8"]


def _section(chapter: str, label: str) -> str:
    """The prose of a chapter's section (its markdown from the heading labelled `label` to the next heading of the
    same or a higher level), without inline code."""
    nb = nbformat.read(paths.ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    lines = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").split("\n")
    start = next(i for i, line in enumerate(lines) if "{#" + label + "}" in line)
    level = len(re.match(r"#+", lines[start]).group())
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"#{1,%d} " % level, lines[i])), len(lines))
    return re.sub(r"`\{python\}[^`]*`", "", "\n".join(lines[start:end]))


def _numbers(text: str) -> list[float]:
    """Every number a reader sees in `text`, as a value: '£17.8m' → 17.8e6, '1,650' → 1650, '65%' → 0.65 (years,
    section labels and citation keys left out)."""
    text = re.sub(r"[@#][\w:-]+|\{#[^}]*\}", "", text)
    values = []
    for amount, unit in re.findall(r"£?(\d[\d,]*(?:\.\d+)?)(m|bn|%)?", text):
        value = float(amount.replace(",", "")) * {"m": 1e6, "bn": 1e9, "%": 0.01}.get(unit, 1)
        if not (unit == "" and 1990 <= value <= 2030):
            values.append(round(value, 6))
    return values


def test_the_value_chapter_quotes_each_savings_claim_as_claims_records_it():
    """The claims are typed twice, as inputs in `claims` and as quotations in chapter 7's prose: every number in the
    two sections is one of the claim's own (or of the review split the chapter argues for), and each of the claim's
    numbers is quoted."""
    ws, dbv = claims.WEST_SUSSEX, claims.DBV_NATIONAL
    state, independent = next(iter(claims.REVIEW_SPLITS.values()))  # the split the chapter argues for
    non_ideal = (round(state * ws.share_state) + round(independent * ws.share_independent) + 1) / ws.reviews
    assert 0.65 < non_ideal < 0.70  # with the one child who needed more specialist provision: "nearly 70%"
    quoted = {"west-sussex": {ws.reviews, ws.claim_low, ws.claim_high, state, independent, 0.70},
              "dbv": {dbv.reviews, dbv.areas, dbv.share_placed_differently, dbv.to_sen_support, dbv.to_mainstream,
                      dbv.to_resourced, dbv.resourced_increase, sum(cohorts.DBV_COUNTS.values())}}
    for section, expected in quoted.items():
        expected = {round(float(v), 6) for v in expected}
        found = _numbers(_section("07-value", f"sec-value-{section}"))
        assert set(found) - expected == set(), f"chapter 7's {section} section quotes numbers claims.py does not hold: {sorted(set(found) - expected)}"
        assert expected - set(found) == set(), f"chapter 7's {section} section does not quote {sorted(expected - set(found))}"


def test_the_programme_sizes_typed_in_the_prose_are_the_published_counts():
    """Chapter 5 says how many LAs DBV worked with, chapter 7 how many signed Safety Valve deals: typed where the
    sources are cited, and checked here against the published counts that `data/cohorts.csv` is tested against."""
    assert f"worked with {sum(cohorts.DBV_COUNTS.values())} LAs" in re.sub(r"\s+", " ", _section("05-programmes", "sec-programmes"))
    assert f"{sum(cohorts.SAFETY_VALVE_COUNTS.values())} LAs signed deals" in re.sub(r"\s+", " ", _section("07-value", "sec-value-safety-valve"))


def test_the_outcome_counts_in_the_prose_are_the_models():
    """Chapter 7 says in words how many outcomes the model holds and how many the combined score averages."""
    words = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()))
    prose = lambda label: re.sub(r"\s+", " ", _section("07-value", label))
    assert f"holds {words[len(OUTCOMES)]} child-centred outcomes" in prose("sec-value-outcomes")
    assert f"with a better direction ({words[sum(o.better != 0 for o in OUTCOMES)]})" in prose("sec-value-ranks")


# --------------------------------------------------------------------------- Safety Valve amounts


def test_every_safety_valve_amount_is_a_member_with_a_source(las):
    funding = load_safety_valve_funding(las)
    ev = experiment.load()
    members = set(ev.cohorts.loc[ev.cohorts["programme"] == "safety_valve", "la_code"].dropna())
    assert set(funding["la_code"]) <= members
    assert funding["source_url"].str.startswith("http").all() and (funding["amount"] > 0).all()


def test_every_safety_valve_amount_is_the_one_its_quote_states(las):
    """The quote column holds the source's own words, so the amount must appear in it as £<amount>m or £<amount> million
    (a figure first reported differently, or another source's figure, belongs in the source column)."""
    funding = load_safety_valve_funding(las)
    for row in funding.itertuples():
        stated = re.findall(r"£(\d+(?:\.\d+)?)\s?(?:m\b|million)", row.quote)
        assert row.amount_m in stated, f"{row.la_name}: amount_m {row.amount_m} but the quote states {stated}: {row.quote!r}"


@pytest.mark.parametrize("row, message", [
    ("Bury,twenty,2020-21,https://x,src,quote", r"row 2 \(Bury\): amount_m must be a positive number"),
    ("Bury,20,2019-20,https://x,src,quote", "agreement_year '2019-20'"),
    ("Bury,20,2020-21,,src,quote", "needs its source_url"),
])
def test_a_bad_funding_row_is_named(tmp_path, las, row, message):
    path = tmp_path / "funding.csv"
    path.write_text("la_name,amount_m,agreement_year,source_url,source,quote\n" + row + "\n")
    with pytest.raises(DataError, match=message):
        load_safety_valve_funding(las, path)


def test_safety_valve_value_scales_the_effect_by_the_funded_las_own_spend(las):
    ev = experiment.load()
    funding = load_safety_valve_funding(las)
    sv = claims.safety_valve_value(ev, funding)
    tau = experiment.headline_table(ev, "safety_valve").set_index("outcome").at["hn_spend_per_head", "effect_median"] / 100
    expected = sv["table"]["post_spend"].sum() * (1 - 1 / (1 + tau))  # the median effect applied to the funded LAs' spend
    assert np.median(sv["spend_difference"]) == pytest.approx(expected, rel=0.01)
    assert sv["funded"] == len(funding) and sv["funding"] == pytest.approx(funding["amount"].sum())
    last = ev.panel[(ev.panel["year"] == sv["last_year"]) & ev.panel["la_code"].isin(funding["la_code"])]
    assert last["ehcp_total"].notna().sum() == last["hn_spend"].notna().sum() == len(funding)  # every funded LA has both
    assert sv["per_plan"] == pytest.approx(funding["amount"].sum() / last["ehcp_total"].sum())
    later = experiment.headline_table(ev, "safety_valve").set_index("outcome").at["hn_spend_per_head", "later_waves_median"] / 100
    assert np.median(sv["spend_difference_later_waves"]) == pytest.approx(sv["table"]["post_spend"].sum() * (1 - 1 / (1 + later)), rel=0.01)
    assert sv["years_of_spend"] == pytest.approx(funding["amount"].sum() / last["hn_spend"].sum())
    with pytest.raises(ValueError, match="not Safety Valve members"):
        claims.safety_valve_value(ev, funding.assign(la_code=funding["la_code"].where(funding.index > 0, "E06000001")))
    # with the design's systematic error: none leaves the draws as they were, a spread widens the interval
    error = lambda o, sd: SystematicError("safety_valve", o, 200, 0.0, sd, np.array([[0.0, sd]]))
    none = {o: error(o, 0.0) for o in ("hn_spend_per_head", "ehcp_rate")}
    same = claims.safety_valve_value(ev, funding, none)
    assert np.array_equal(same["spend_difference_calibrated"], sv["spend_difference"])
    assert np.array_equal(same["plans_difference_calibrated"], sv["plans_difference"])
    wide = claims.safety_valve_value(ev, funding, {o: error(o, 0.02) for o in none})
    width = lambda d: np.subtract(*np.quantile(d, [0.95, 0.05]))
    assert width(wide["spend_difference_calibrated"]) > 1.2 * width(sv["spend_difference"])
    with pytest.raises(ValueError, match="the systematic error given for hn_spend_per_head is dbv's for hn_spend_per_head"):
        claims.safety_valve_value(ev, funding, none | {"hn_spend_per_head": SystematicError("dbv", "hn_spend_per_head", 200, 0.0, 0.0, np.zeros((1, 2)))})


def test_the_calibrated_safety_valve_text_says_how_far_the_placebos_strayed_or_that_they_did_not():
    from analysis.report import value as vr

    draws = np.linspace(-4e8, -2e8, 101)
    sv = {"spend_difference": draws, "spend_difference_calibrated": 1.5 * (draws - draws.mean()) + draws.mean(),
          "plans_difference_calibrated": draws / 5e4}
    error = lambda o, mean, sd: SystematicError("safety_valve", o, 200, mean, sd, np.array([[mean, sd]]))
    text = vr.sv_calibrated_text(sv, {"hn_spend_per_head": error("hn_spend_per_head", 0.0, 0.0104), "ehcp_rate": error("ehcp_rate", 0.0, 0.0)})
    assert "about 1.0% either way in spend per head and 0.0% in plans per head" in text
    assert "the spend figure is £300m (£160m to £440m)" in text and "the plans figure 6,000 (4,200 to 7,800)" in text
    assert "widens the spend interval by about 50%" in text and "@schuemie_2014_interpreting" in text and "smaller deficits" in text
    # an average offset with no extra spread still counts; none at all leaves the intervals as they are
    assert "about 0.5% either way in spend per head" in vr.sv_calibrated_text(
        sv, {"hn_spend_per_head": error("hn_spend_per_head", 0.005, 0.0), "ehcp_rate": error("ehcp_rate", 0.0, 0.0)})
    none = vr.sv_calibrated_text(sv, {o: error(o, 0.0, 0.0) for o in ("hn_spend_per_head", "ehcp_rate")})
    assert "no more than chance explains, so the intervals stand as they are" in none and "£" not in none


@pytest.mark.parametrize("later, word", [(0.097, "higher"), (-0.05, "lower")])
def test_the_later_members_comparison_is_said_in_pounds_in_its_own_direction(later, word):
    from analysis.report import value as vr

    effects = experiment.headline_table(experiment.load(), "safety_valve")
    base = 4.4e9
    sv = {"spend_difference_later_waves": base * (1 - np.exp(-np.full(101, np.log1p(later)))) + np.linspace(-1e7, 1e7, 101)}
    amount = float(f"{abs(base * (1 - 1 / (1 + later))) / 1e6:.2g}")
    assert f"that would put it about £{amount:,.0f}m (" in vr.sv_robustness_text(effects, sv)
    assert f") {word} (for scale only" in vr.sv_robustness_text(effects, sv)


def test_held_out_year_is_predicted_with_honest_intervals_and_pooling_helps():
    """SIMULATED: four years of an outcome with lasting LA levels; fitted to the first three, the model's 90% intervals
    should contain about 90% of the LAs' positions in the fourth, its pooled levels beat both no pooling and none, and
    the drift measure is near 1."""
    rng = np.random.default_rng(11)
    codes = [f"E{i:08d}" for i in range(80)]
    level = 6 * rng.standard_normal(80)
    size = rng.integers(5, 400, 80)
    rows = [{"la_code": c, "la_name": c, "year": year, "ehcp_total": float(n), "y": 50 + shift + lv + 100 / np.sqrt(n) * rng.standard_normal()}
            for year, shift in zip((2022, 2023, 2024, 2025), (-1.0, 0.0, 1.0, 2.0)) for c, lv, n in zip(codes, level, size)]
    outcome = ChildOutcome("y", "simulated outcome", +1, "ehcp_total", "simulated")
    model = OutcomeModel(pd.DataFrame(rows), (outcome,), holdout=True)
    assert set(model.long["year"]) == {2022, 2023, 2024} and set(model.held["year"]) == {2025}
    scores = model.holdout_scores().iloc[0]
    assert model.diagnostics().passed
    assert 0.8 <= scores["coverage"] <= 0.97
    assert scores["rmse_pooled"] < min(scores["rmse_own"], scores["rmse_zero"])
    assert 0.7 < scores["drift"] < 1.4  # lasting levels: no drift
    with pytest.raises(ValueError, match="holdout=True"):
        OutcomeModel(pd.DataFrame(rows), (outcome,)).holdout_scores()


def test_every_outcome_says_what_besides_practice_moves_it():
    from analysis.report import value as vr

    table = vr.reading_table()
    assert len(table) == len(value.OUTCOMES) and table["read with care"].str.len().gt(30).all()
    assert set(table["better"]) == {"higher", "lower", "neither"}
    assert set(table["group"]) == set(vr.GROUPS.values())  # every group the other weightings score alone is named
