"""LA profiles: every LA profiled from the panel and the fits, its CSV current, its chart showing whichever LA is
chosen (rendered, and in headless Chromium with the selector a reader uses)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats
import vl_convert as vlc

from analysis import paths
from analysis.data import breaks, panel
from analysis.evaluation import experiment
from analysis.evaluation.scenarios import searchable
from analysis.models.ehcp import last_january, publish
from analysis.models.outcomes import OutcomeModel
from analysis.models.spend import SpendModel
from analysis.report import charts
from analysis.report import profiles as pr
from analysis.report import vintage

WS, BURY = "E10000032", "E08000002"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return panel.load()


@pytest.fixture(scope="module")
def profiles(frame) -> pr.Profiles:
    spend, outcomes = SpendModel(frame), OutcomeModel(frame)
    for model in (spend, outcomes):
        model.fit()
    forecast = publish.read(publish.path_for(last_january(frame) + 1))
    return pr.Profiles.build(frame, spend, outcomes, forecast, experiment.load(), vintage.sources("08-profiles"))


def test_the_profiles_say_how_far_each_source_runs(profiles):
    from analysis.data.finance import financial_year

    last = profiles.history.dropna(subset=["value"]).groupby("measure")["year"].max()
    text = pr.years_text(profiles)
    assert f"EHC plans to January {last['plans']}" in text and f"the DSG deficit to {financial_year(int(last['deficit_pct']))}" in text
    assert f"high-needs spend to {financial_year(int(last['spend_per_head']))}" in text


def test_every_la_of_the_last_january_has_a_profile(profiles, frame):
    """Also an LA whose count that January is flagged as a reporting break: its profile shows the count as missing."""
    alive = set(frame.loc[(frame["year"] == profiles.last_year) & frame["ehcp_total"].notna(), "la_code"])
    assert set(profiles.summary["la_code"]) == alive and len(alive) > 140
    assert profiles.summary["la_code"].is_unique
    masked = breaks.mask(frame)
    flagged = alive - set(masked.loc[(masked["year"] == profiles.last_year) & masked["ehcp_total"].notna(), "la_code"])
    assert flagged and profiles.summary.set_index("la_code").loc[sorted(flagged), "plans"].isna().all()
    # what rests on the flagged count is missing; its spend per head, which does not, is shown
    shown = profiles.summary.set_index("la_code").loc[sorted(flagged)]
    assert shown["spend_per_plan"].isna().all() and shown["spend_per_head"].notna().all()


def test_profile_figures_are_the_published_and_stored_ones(profiles, frame):
    row = profiles.summary.set_index("la_code").loc[WS]
    published = frame[(frame["la_code"] == WS) & (frame["year"] == profiles.last_year)].iloc[0]
    assert row["plans"] == published["ehcp_total"]
    assert row["plans_per_10k"] == pytest.approx(1e4 * published["ehcp_total"] / published["pop_0_25"], abs=0.05)
    stored = publish.read(publish.path_for(profiles.last_year + 1)).set_index("la_code").loc[WS]
    assert (row["forecast"], row["forecast_q05"], row["forecast_q95"]) == (stored["median"], stored["q05"], stored["q95"])
    assert row["forecast_q05"] < row["forecast"] < row["forecast_q95"]


def test_neighbours_median_is_the_median_of_the_ten_neighbours(profiles, frame):
    ev = experiment.load()
    near = ev.neighbours[(ev.neighbours["la_code"] == WS) & ~ev.neighbours["old_group"]]["neighbour_code"]
    year = profiles.last_year
    rows = frame[frame["la_code"].isin(near) & (frame["year"] == year)]
    expected = (1e4 * rows["ehcp_total"] / rows["pop_0_25"]).median()
    h = profiles.history
    got = h[(h["la_code"] == WS) & (h["measure"] == "plans_per_10k") & (h["year"] == year)]["neighbours"].iloc[0]
    assert len(near) == 10 and got == pytest.approx(expected)


def test_a_programme_la_is_compared_with_its_own_matches(profiles, frame):
    ev = experiment.load()
    row = profiles.programmes[(profiles.programmes["la_code"] == BURY) & (profiles.programmes["programme"] == "Safety Valve")].iloc[0]
    per_head = (frame.assign(v=frame["hn_spend"] / frame["pop_2_18"]).pivot(index="la_code", columns="year", values="v"))
    base, end = int(row["base_year"]), int(row["per_head_end_year"])
    change = lambda c: 100 * (per_head.at[c, end] / per_head.at[c, base] - 1)
    matches = ev.matches("safety_valve").query("treated == @BURY")["control"]
    gaps = np.array([change(BURY) - change(c) for c in matches])
    assert len(gaps) == 3
    assert row["per_head_change"] == pytest.approx(change(BURY))
    assert row["per_head_gap"] == pytest.approx(gaps.mean())
    assert (row["per_head_gap_min"], row["per_head_gap_max"]) == pytest.approx((gaps.min(), gaps.max()))
    # the interval: ordinary variation of the change among every LA matched to Bury's cohort
    members = ev.cohorts.query("programme == 'safety_valve' and la_code.notna()")
    cohort = members.loc[members["first_treated_year"] == members.set_index("la_code").at[BURY, "first_treated_year"], "la_code"]
    pool = np.array([change(c) for c in ev.matches("safety_valve").query("treated in @cohort")["control"].unique()])
    half = stats.t.ppf(0.95, len(pool) - 1) * pool.std(ddof=1) * np.sqrt(1 + 1 / 3)
    assert (row["per_head_gap_q05"], row["per_head_gap_q95"]) == pytest.approx((gaps.mean() - half, gaps.mean() + half))
    csv = profiles.la(BURY)
    gap_rows = csv[(csv["section"] == "programme") & csv["measure"].str.contains("spend per head.*matched", regex=True)]
    assert len(gap_rows) == 1 and gap_rows.iloc[0]["value"] == pytest.approx(round(gaps.mean(), 2))
    assert gap_rows.iloc[0]["q05"] < gap_rows.iloc[0]["value"] < gap_rows.iloc[0]["q95"]


def test_an_unknown_la_is_refused_by_name(profiles):
    with pytest.raises(KeyError, match="E99999999"):
        profiles.la("E99999999")


def test_the_stored_csv_files_are_current(profiles):
    """The book serves `downloads/profiles/`: each file must be what the profiles give now (rerun the chapter if not)."""
    folder = paths.ROOT / pr.DOWNLOADS
    assert sorted(p.stem for p in folder.glob("E*.csv")) == sorted(profiles.summary["la_code"])
    summary = pd.read_csv(folder / pr.SUMMARY_FILE, keep_default_na=False, na_values=[""])
    assert list(summary["la_code"]) == list(profiles.summary["la_code"])
    assert (folder / pr.DICTIONARY_FILE).read_text() == pr.dictionary(profiles)  # every column described (else KeyError)
    assert not any("." in line.split(",")[3] for line in (folder / pr.SUMMARY_FILE).read_text().splitlines()[1:])  # plans: whole
    for code in profiles.summary["la_code"]:
        stored = pd.read_csv(folder / f"{code}.csv")
        fresh = profiles.la(code).reset_index(drop=True)
        pd.testing.assert_frame_equal(stored, pd.read_csv(pd.io.common.StringIO(fresh.to_csv(index=False))), check_dtype=False)


def test_an_la_csv_holds_every_section_with_intervals(profiles):
    table = profiles.la(WS)
    assert {"history", "placement mix", "forecast", "unit cost", "child outcome"} <= set(table["section"])
    modelled = table[table["section"].isin(["forecast", "unit cost", "child outcome"])]
    assert modelled[["value", "q05", "q95"]].notna().all().all()
    assert (modelled["q05"] <= modelled["value"]).all() and (modelled["value"] <= modelled["q95"]).all()
    written = pd.read_csv(paths.ROOT / pr.DOWNLOADS / f"{WS}.csv", dtype=str)
    for column in ("year", "rank", "rank_q05", "rank_q95", "of"):  # whole numbers, written as 2025 and 12, not 2025.0
        assert not written[column].dropna().str.contains(".", regex=False).any(), column


def test_the_placement_mix_table_holds_each_las_first_and_last_january(profiles, frame):
    table = pr.mix_table(profiles).set_index("LA")
    assert len(table) == len(profiles.summary)
    ws = table.loc["West Sussex"]
    mix = profiles.mix[profiles.mix["la_code"] == WS]
    first, last = mix["year"].min(), mix["year"].max()
    assert ws["Januaries"] == f"{first}→{last}"
    row = frame[(frame["la_code"] == WS) & (frame["year"] == last)].iloc[0]
    state = 100 * row["ehcp_special_state"] / sum(row[c] for c in pr.PLACEMENTS)
    assert ws["State special"].split(" → ")[1] == f"{state:.0f}"
    for end in (0, 1):  # each January's shares add up to 100, give or take rounding
        shares = [float(c.split(" → ")[end]) for c in ws.drop("Januaries")]
        assert abs(sum(shares) - 100) <= 3


def test_the_rank_tables_hold_every_outcome_with_its_interval(profiles):
    tables = [pr.rank_table(profiles, g) for g in (("process", "attendance"), ("education",), ("transition",))]
    headings = [c for t in tables for c in t.columns if c != "LA"]
    m = profiles.modelled
    # each heading names its outcome, how many LAs were ranked and in which year; an outcome with no better
    # direction also says which end is 1
    expected = []
    for o in pr.OUTCOMES:
        r = m[m["label"] == o.label]
        expected.append(f"{o.short} ({'1 = highest, ' if o.better == 0 else ''}of {int(r['of'].max())}, {int(r['year'].max())})")
    assert sorted(headings) == sorted(expected)
    r = m[(m["la_code"] == WS) & (m["label"] == pr.OUTCOMES[0].label)].iloc[0]
    cell = tables[0].set_index("LA").loc["West Sussex", next(h for h in tables[0].columns if h.startswith(pr.OUTCOMES[0].short + " ("))]
    assert cell == f"{r['rank']:.0f} ({r['rank_q05']:.0f}–{r['rank_q95']:.0f})"
    with pytest.raises(KeyError, match="happiness"):
        pr.rank_table(profiles, ("process", "happiness"))


def _param(spec: dict, name: str) -> dict:
    return next(p for p in spec["params"] if p["name"] == name)


def _render(spec: dict, code: str, search: str = "") -> str:
    chosen = copy.deepcopy(spec)
    _param(chosen, "council_picked")["value"] = code
    _param(chosen, "council_search")["value"] = search
    return vlc.vegalite_to_svg(chosen, vl_version=charts._VLC_VERSION, format_locale=charts.LOCALE)


def _title(svg: str) -> str:
    return re.findall(r">((?:Profile|No council)[^<]*)<", svg)[0]


def test_the_profile_chart_shows_whichever_la_is_chosen(profiles):
    spec = charts._csv_datasets(pr.profile_chart(profiles, default=WS).to_dict())  # as the book stores it
    assert all(isinstance(d, str) for d in spec["datasets"].values() if len(d) > 10_000)
    options = _param(spec, "council_picked")["bind"]["options"]
    assert sorted(options) == sorted(profiles.summary["la_code"])
    ws, bury = _render(spec, WS), _render(spec, BURY)
    assert "Profile: West Sussex" in ws and "Profile: Bury" in bury
    assert "Safety Valve, 2020-21" in bury and "Safety Valve" not in ws
    assert f"{BURY}.csv" not in ws  # the download link follows the choice
    assert len(re.findall(r"<path", ws)) > 50  # the panels have data


def test_typing_part_of_a_name_shows_the_first_council_that_holds_it(profiles):
    """The search box: any case, spaces trimmed; a whole name first, then a name that starts with the text, then
    the first in alphabetical order that holds it; no match keeps the list's choice and says so; an empty box
    leaves the list in charge."""
    spec = charts._csv_datasets(pr.profile_chart(profiles, default=WS).to_dict())
    assert _title(_render(spec, WS, "  BURY ")) == "Profile: Bury" and "Safety Valve, 2020-21" in _render(spec, WS, "bury")
    assert _title(_render(spec, WS, "tyneside")) == "Profile: North Tyneside"  # before South Tyneside
    assert _title(_render(spec, WS, "Hull")) == "Profile: Kingston upon Hull, City of"
    assert _title(_render(spec, WS, "north")) == "Profile: North East Lincolnshire"  # the first name that starts with it
    assert _title(_render(spec, WS, "sussex")) == "Profile: East Sussex"
    assert _title(_render(spec, WS, "st helens")) == "Profile: St. Helens"  # punctuation and spacing do not matter
    assert _title(_render(spec, WS, "Stockton  on tees")) == "Profile: Stockton-on-Tees"
    assert _title(_render(spec, WS, "kingston upon hull city of")) == "Profile: Kingston upon Hull, City of"
    names = sorted(profiles.summary["la_name"], key=str.lower)
    hidden = [n for n in names if any(n.lower() in m.lower() and m != n for m in names[:names.index(n)])]
    assert {"York", "Somerset"} <= set(hidden)  # each is held by a name before it (East Riding of Yorkshire, Bath and …)
    for name in hidden:  # typed in full, such a name still shows its own council
        assert _title(_render(spec, WS, name)) == f"Profile: {name}"
    assert _title(_render(spec, BURY, "zzz")) == "No council’s name holds “zzz”. Profile: Bury"
    for odd in ("0600", "=", "|"):  # text found only in the index's codes or separators is not a name
        assert _title(_render(spec, BURY, odd)) == f"No council’s name holds “{odd}”. Profile: Bury", odd
    assert _title(_render(spec, BURY, "")) == "Profile: Bury"
    every = profiles.summary
    for code, name in zip(every["la_code"], every["la_name"]):  # every LA can be found by its full name
        index = _param(spec, "council_index")["value"]
        key = searchable(name)
        found = index[index.index(f"|{key}=") + len(key) + 2:][:len(code)]
        assert found == code, name


def test_a_name_that_would_break_the_search_index_is_refused(profiles):
    odd = profiles.summary.assign(la_name=lambda d: d["la_name"].where(d["la_code"] != WS, "West = Sussex"))
    with pytest.raises(ValueError, match="west = sussex"):
        pr._search_index(odd)


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium; .ci/run installs it)")
def test_the_council_selector_works_in_a_browser(profiles, tmp_path):
    """A reader's browser draws the selector with every LA and the search box, offline, from the book's own Vega
    bundle, and typing in the box (a script in the page stands in for the reader) changes the council shown."""
    figure = charts.show(pr.profile_chart(profiles, default=WS), name="profile", include_spec=False)
    charts.write_bundle(tmp_path)
    page = tmp_path / "chapters" / "profile.html"
    page.parent.mkdir()
    typing = ("<script>setTimeout(function () { var box = document.querySelector('input[type=search]');"
              " box.value = 'tyneside'; box.dispatchEvent(new Event('input'));"
              " var above = document.querySelector('.vega-bindings').getBoundingClientRect().bottom"
              " <= document.querySelector('#vis-profile svg').getBoundingClientRect().top;"
              " document.body.insertAdjacentHTML('beforeend', '<p>controls above the chart: ' + above + '</p>'); }, 5000);</script>")
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{figure.html}{typing}</body></html>")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                          f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
                         check=True, capture_output=True, text=True, timeout=180).stdout
    select = re.search(r"<select[^>]*>(.*?)</select>", dom, flags=re.S)
    assert select, "the chart did not become interactive (no council selector in the page)"
    names = re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))
    assert len(names) == len(profiles.summary) and "West Sussex" in names and "Bury" in names
    assert re.search(r"<input[^>]*type=\"search\"", dom), "no search box beside the list"
    assert "Profile: North Tyneside" in dom, "typing in the search box did not change the council shown"
    assert "controls above the chart: true" in dom, "the list and the search box are not above the chart, where the chapter says"


def test_the_gap_intervals_hold_zero_about_nine_times_in_ten_where_no_programme_acts(frame):
    """Placebos: every comparison LA taken in turn as a programme LA (`gap_calibration`). With about 100 placebos per
    measure, a calibrated 90% interval holds zero in about 84–96% of them. The band catches gross errors, not fine
    ones: a one-SD interval held zero in 75–77% of these placebos and one built on the SD of the pool's mean in
    35–44%, but dropping the √(1 + 1/k) (85–87%) or a normal quantile for the t (88–89%) stay inside it."""
    calibration = pr.gap_calibration(frame, experiment.load()).set_index("measure")
    assert set(calibration.index) == {"rate", "per_head"} and (calibration["placebos"] >= 80).all()
    assert calibration["coverage"].between(0.84, 0.96).all(), calibration
    text = pr.calibration_text(calibration.reset_index())
    assert "in line with a calibrated interval" in text
    low = calibration.assign(coverage=0.75).reset_index()
    assert "read the profiles' intervals with care" in pr.calibration_text(low) and "one in ten" not in pr.calibration_text(low)


def test_the_placement_mix_starts_after_the_move_to_ehc_plans(profiles):
    """Statements (to 2018) had no post-16 category: a mix from then would show shares falling only because
    post-16 plans began to be counted. The mix starts in the first January with no statements left."""
    from analysis.data import panel

    frame = panel.load()
    first = pr.mix_from(frame)
    assert frame.loc[frame["year"] == first - 1, "ehcp_statements"].sum() > 0
    assert not (frame.loc[frame["year"] >= first, "ehcp_statements"] > 0).any()
    assert profiles.mix["year"].min() == first
    starts = pr.mix_table(profiles)["Januaries"].str.extract(r"^(\d{4})")[0].dropna().astype(int)
    assert starts.min() == first and (starts == first).mean() > 0.9  # LAs created since start later


def test_a_council_formed_by_a_reorganisation_names_its_predecessors_programme(profiles):
    """Cumberland (E06000063) was formed from Cumbria in April 2023; Cumbria was in DBV's first tranche, which its
    profile says rather than only 'not in Safety Valve or DBV'."""
    facts = pr._facts(profiles)
    line = facts.loc[(facts["la_code"] == "E06000063") & (facts["line"] == 0), "text"].iloc[0]
    assert line == "Not in Safety Valve or DBV; the council it replaced (Cumbria) was in DBV, tranche 1"
    assert facts.loc[(facts["la_code"] == WS) & (facts["line"] == 0), "text"].iloc[0].startswith("DBV")


def test_a_profile_says_why_a_panel_is_empty_or_ends_early(profiles):
    facts = pr._facts(profiles)
    said = lambda name: " ".join(facts.loc[facts["la_code"] == _code(profiles, name), "text"])
    assert "No unit costs" in said("City of London") and "No unit costs" in said("Isles of Scilly")
    assert "No unit costs" in said("Newham") and "No forecast" in said("Newham")  # its January 2025 count is a flagged break
    last_mix = profiles.mix.groupby("la_code")["year"].max()
    early = last_mix[last_mix < profiles.last_year].index
    assert len(early) and all("Placement mix to January" in " ".join(facts.loc[facts["la_code"] == c, "text"]) for c in early)
    assert not any(w in said("Kent") for w in ("No forecast", "No unit costs", "No placement mix", "Placement mix to", "No outcome ranks"))


def _code(profiles, name: str) -> str:
    return profiles.summary.set_index("la_name").at[name, "la_code"]
