"""Every LA's profile: its figures from the panel and the fitted models gathered in one place, with the
interactive chart, the static overview and the CSV files that put them in front of a reader.

Readers come with one question, "what about my council?". The figures are those the
rest of the book estimates, not new ones: the published counts and spend (panel), the
EHC plan forecast as stored for scoring (`results/forecasts/`), unit costs from the
spend model, child outcomes and their ranks from the pooled outcome model, and, for
programme LAs, how their path differs from their matched comparison LAs. Modelled
figures carry their 90% interval; published figures are shown as published, with
reporting breaks (`analysis.data.breaks`) marked missing as in the models.

`Profiles.build(...)` assembles the tables; `write_downloads` writes one CSV per LA (and
one of every LA's headline figures) for the book to serve; the charts are below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from analysis import paths
from analysis.atomic import write_atomic
from analysis.data import breaks, lineage
from analysis.data.geography import STABLE_AREAS
from analysis.data.finance import financial_year
from analysis.evaluation import value
from analysis.evaluation.scenarios import searchable
from analysis.evaluation.experiment import Evaluation
from analysis.models.outcomes import OUTCOMES, OutcomeModel
from analysis.models.spend import BM_YEAR, TYPE_LABELS, SpendModel, england_per_head, spend_per_head
from analysis.models.spend.places import PlaceFundingModel
from analysis.report import charts
from analysis.report.national import PLACEMENTS
from analysis.report.spend import sig

#: Where the book serves the per-LA files from, relative to the project root (listed in `_quarto.yml`).
DOWNLOADS = "downloads/profiles"
SUMMARY_FILE = "la-profiles.csv"
#: Years of history the interactive profile shows (the panel's EHCP series starts in 2010).
FIRST_YEAR = 2014
_SHORT_PLACEMENTS = {
    "ehcp_mainstream": "Mainstream",
    "ehcp_special_state": "State special",
    "ehcp_special_independent": "Independent special",
    "ehcp_ap_pru": "AP / PRU",
    "ehcp_post16": "Post-16 and FE",
    "ehcp_other": "Other",
}
_PROGRAMMES = {"safety_valve": "Safety Valve", "dbv": "DBV"}
#: The measures of each LA's history: column, label, unit.
MEASURES = {
    "plans": ("EHC plans (January)", "plans"),
    "plans_per_10k": ("EHC plans per 10,000 aged 0–25", "per 10,000"),
    "spend_per_head": ("High-needs spend per head aged 2–18", "£"),
    "allocation_per_head": ("High-needs block per head aged 2–18", "£"),
    "spend_per_plan": ("High-needs spend per plan", "£"),
    "deficit_pct": ("DSG deficit, % of DSG (+ = deficit)", "%"),
}


@dataclass
class Profiles:
    """Every LA's figures, as tidy tables keyed by `la_code`.

    - `summary`: one row per LA alive in the last January: headline figures with intervals.
    - `history`: long (la_code, year, measure, value, england, neighbours): each measure of `MEASURES`,
      England's figure and the median of the LA's ten DfE statistical neighbours.
    - `mix`: long (la_code, year, placement, share): where the LA's children with plans are placed.
    - `modelled`: long (la_code, section, label, year, value, q05, q95, rank, rank_q05, rank_q95, of, unit):
      the forecast, unit costs, child outcomes and the combined score.
    - `programmes`: programme LAs' membership and their change since joining against their matches.
    - `releases`: the data vintage, one row per source release (`analysis.data.lineage.vintage`).
    """

    summary: pd.DataFrame
    history: pd.DataFrame
    mix: pd.DataFrame
    modelled: pd.DataFrame
    programmes: pd.DataFrame
    last_year: int  # the last January with plans
    spend_year: int  # the last financial year of the spend model (ending in March of it), which may lag
    releases: pd.DataFrame

    @classmethod
    def build(cls, panel: pd.DataFrame, spend: SpendModel, outcomes: OutcomeModel, forecast: pd.DataFrame,
              evaluation: Evaluation, sources: list[str]) -> Profiles:
        """Assemble every LA's profile from the panel, the fitted spend and outcome models, the stored
        EHCP forecast (`analysis.models.ehcp.publish.read`) and the programme evaluation; `sources` are the
        registry keys of the data behind them (`analysis.report.vintage.sources`), whose releases each LA's
        figures state."""
        masked = breaks.mask(panel)
        last = int(masked.loc[masked["ehcp_total"].notna(), "year"].max())
        # every LA counted in that January, also one whose count is flagged as a reporting break (its count is shown as missing)
        alive = panel[(panel["year"] == last) & panel["ehcp_total"].notna()][["la_code", "la_name", "region_name"]]
        history = _history(masked, evaluation.neighbours, alive["la_code"])
        mix = _mix(masked, alive["la_code"])
        modelled = pd.concat([_forecast(forecast), _unit_costs(spend), _outcomes(outcomes)], ignore_index=True)
        programmes = _programmes(masked, evaluation)
        summary = _summary(alive, masked, history, modelled, programmes, value.costs(panel, spend.last_year, PlaceFundingModel(panel).place_part()), last)
        return cls(summary, history, mix, modelled, programmes, last, spend.last_year, lineage.vintage(sources))

    def la(self, la_code: str) -> pd.DataFrame:
        """One LA's figures as one long table (what its CSV holds): section, measure, year, value, interval,
        rank and its interval, unit; the last rows name the data releases they come from."""
        if la_code not in set(self.summary["la_code"]):
            raise KeyError(f"no profile for {la_code!r}: not an LA in January {self.last_year} (codes as in the panel)")
        h = self.history[self.history["la_code"] == la_code]
        hist = h.assign(section="history", label=h["measure"].map(lambda m: MEASURES[m][0]),
                        unit=h["measure"].map(lambda m: MEASURES[m][1]))
        m = self.mix[self.mix["la_code"] == la_code]
        mix = m.assign(section="placement mix", label="Share of plans: " + m["placement"], unit="%", value=m["share"])
        mod = self.modelled[self.modelled["la_code"] == la_code]
        progs = []
        for r in self.programmes[self.programmes["la_code"] == la_code].itertuples():
            for m, what in (("rate", "EHC plans per 10,000 aged 0–25"), ("per_head", "high-needs spend per head aged 2–18")):
                end = getattr(r, f"{m}_end_year")
                if pd.notna(getattr(r, f"{m}_gap")):
                    head = f"{r.programme} ({r.cohort}): {what}, {r.base_year} to {int(end)}"
                    progs += [{"section": "programme", "label": f"{head}, change", "year": end, "value": getattr(r, f"{m}_change"), "unit": "%"},
                              {"section": "programme", "label": f"{head}, change minus its 3 matched LAs' mean change", "year": end,
                               "value": getattr(r, f"{m}_gap"), "q05": getattr(r, f"{m}_gap_q05"), "q95": getattr(r, f"{m}_gap_q95"),
                               "unit": "percentage points (90% interval: ordinary variation of comparison LAs)"}]
        cols = ["section", "label", "year", "value", "q05", "q95", "rank", "rank_q05", "rank_q95", "of", "england", "neighbours", "unit"]
        r = self.releases
        releases = pd.DataFrame({"section": "data vintage", "label": r["title"] + " (" + r["publisher"] + ")",
                                 "unit": "released " + r["released"] + "; sha256 " + r["sha256"]})
        parts = [hist, mix, mod] + ([pd.DataFrame(progs)] if progs else []) + [releases]
        out = pd.concat(parts, ignore_index=True).reindex(columns=cols)
        numbers = ["value", "q05", "q95", "england", "neighbours"]
        out[numbers] = out[numbers].round(2)
        whole = ["year", "rank", "rank_q05", "rank_q95", "of"]  # written as 2025 and 12, not 2025.0 and 12.0
        out[whole] = out[whole].round().astype("Int64")
        return out.rename(columns={"label": "measure"})


# --------------------------------------------------------------------------- the tables


def _history(panel: pd.DataFrame, neighbours: pd.DataFrame, las: pd.Series) -> pd.DataFrame:
    p = panel[panel["year"] >= FIRST_YEAR].copy()
    p["plans"] = p["ehcp_total"]
    p["plans_per_10k"] = 1e4 * p["ehcp_total"] / p["pop_0_25"]
    p["deficit_pct"] = p["dsg_deficit_pct"]
    money = spend_per_head(p)[["la_code", "year", "spend_per_head", "allocation_per_head", "spend_per_plan"]]
    p = p.merge(money, on=["la_code", "year"], how="left")
    long = p.melt(id_vars=["la_code", "year"], value_vars=list(MEASURES), var_name="measure").dropna(subset=["value"])
    eng = _england(p)
    long = long.merge(eng, on=["year", "measure"], how="left")
    pairs = neighbours.loc[~neighbours["old_group"], ["la_code", "neighbour_code"]]
    near = pairs.merge(long.rename(columns={"la_code": "neighbour_code"}), on="neighbour_code")
    med = near.groupby(["la_code", "year", "measure"])["value"].median().rename("neighbours").reset_index()
    long = long.merge(med, on=["la_code", "year", "measure"], how="left")
    return long[long["la_code"].isin(las)].sort_values(["la_code", "measure", "year"], ignore_index=True)


def _england(p: pd.DataFrame) -> pd.DataFrame:
    """England's figure for each measure by year (sums over the LAs with both parts; the deficit has no England row
    in the panel, so the median LA stands in)."""
    both = p.dropna(subset=["ehcp_total", "pop_0_25"]).groupby("year")
    rate = 1e4 * both["ehcp_total"].sum() / both["pop_0_25"].sum()
    money = england_per_head(p).set_index("year")
    frames = {"plans": p.groupby("year")["ehcp_total"].sum(min_count=1), "plans_per_10k": rate,
              "spend_per_head": money["spend_per_head"], "allocation_per_head": money["allocation_per_head"],
              "spend_per_plan": money["spend_per_plan"], "deficit_pct": p.groupby("year")["dsg_deficit_pct"].median()}
    return pd.concat([s.rename("england").reset_index().assign(measure=m) for m, s in frames.items()], ignore_index=True)


def mix_from(panel: pd.DataFrame) -> int:
    """The first January in which no LA reported a statement of SEN: the move to EHC plans (2014–2018) was over.
    Until then the counts held statements, which had no post-16 category, so a placement mix from an earlier
    year would show shares falling only because post-16 plans began to be counted."""
    statements = panel.groupby("year")["ehcp_statements"].sum(min_count=1)
    return int(statements[statements > 0].index.max()) + 1 if (statements > 0).any() else int(panel["year"].min())


def _mix(panel: pd.DataFrame, las: pd.Series) -> pd.DataFrame:
    p = panel[(panel["year"] >= max(FIRST_YEAR, mix_from(panel))) & panel["la_code"].isin(las)].dropna(subset=list(PLACEMENTS))
    total = p[list(PLACEMENTS)].sum(axis=1)
    shares = p[list(PLACEMENTS)].div(total.where(total > 0), axis=0).mul(100).assign(la_code=p["la_code"], year=p["year"])
    long = shares.melt(id_vars=["la_code", "year"], var_name="placement", value_name="share").dropna(subset=["share"])
    long["placement"] = long["placement"].map(_SHORT_PLACEMENTS)
    return long.sort_values(["la_code", "year", "placement"], ignore_index=True)


def _forecast(forecast: pd.DataFrame) -> pd.DataFrame:
    f = forecast.dropna(subset=["median"])
    f = f[f["la_code"].str.match(r"E0[6-9]|E1[0-9]")]
    january = int(f["january"].iloc[0])
    plans = pd.DataFrame({"la_code": f["la_code"], "section": "forecast", "label": f"EHC plans, January {january} (forecast)",
                          "year": january, "value": f["median"], "q05": f["q05"], "q95": f["q95"], "unit": "plans"})
    last = f["last_count"].astype(float).to_numpy()
    growth = plans.assign(label=f"Growth in EHC plans to January {january} (forecast)", unit="%",
                          value=(100 * (f["median"].astype(float).to_numpy() / last - 1)).round(1),
                          q05=(100 * (f["q05"].astype(float).to_numpy() / last - 1)).round(1),
                          q95=(100 * (f["q95"].astype(float).to_numpy() / last - 1)).round(1))
    return pd.concat([plans, growth], ignore_index=True)


#: The unit costs' unit and caveat: the spend model's last year is its trend carried forward from the last year of
#: category data (chapter 4, "where the model falls short").
UNIT_COST_UNIT = (f"£ per plan per year (top-up; carried forward on the model's trend from {financial_year(BM_YEAR)}, "
                  "the last year of category data: chapter 4 sets them beside published figures)")


def _unit_costs(spend: SpendModel) -> pd.DataFrame:
    frames = []
    for placement, label in TYPE_LABELS.items():
        c = spend.la_unit_costs(placement)
        frames.append(pd.DataFrame({"la_code": c["la_code"], "section": "unit cost", "label": f"Unit cost (top-up): {label}",
                                    "year": spend.last_year, "value": sig(c["median"], 2), "q05": sig(c["q05"], 2),
                                    "q95": sig(c["q95"], 2), "unit": UNIT_COST_UNIT}))
    return pd.concat(frames, ignore_index=True)


#: What rank 1 means, by an outcome's better direction (`ChildOutcome.better`), for the CSV's unit column.
RANK_DIRECTION = {1: "rank 1 = best (highest)", -1: "rank 1 = best (lowest)", 0: "rank 1 = highest (no better direction)"}


def _outcomes(model: OutcomeModel) -> pd.DataFrame:
    lv = model.levels()
    by = {o.column: o for o in OUTCOMES}
    rounded = {c: lv[c].round(1) for c in ("median", "q05", "q95")}
    out = pd.DataFrame({"la_code": lv["la_code"], "section": "child outcome", "label": lv["outcome"].map(lambda c: by[c].label),
                        "year": lv["year"], "value": rounded["median"], "q05": rounded["q05"], "q95": rounded["q95"],
                        "rank": lv["rank"].round(), "rank_q05": lv["rank_q05"].round(), "rank_q95": lv["rank_q95"].round(),
                        "of": lv["of"], "unit": lv["outcome"].map(lambda c: f"{by[c].unit}; {RANK_DIRECTION[by[c].better]}")})
    score = value.combined(model)
    combined = pd.DataFrame({"la_code": score["la_code"], "section": "child outcome", "label": "Combined outcome score (equal weights)",
                             "year": int(max(model.last_year.to_numpy())), "value": score["median"].round(2),
                             "q05": score["q05"].round(2), "q95": score["q95"].round(2), "rank": score["rank"].round(),
                             "rank_q05": score["rank_q05"].round(), "rank_q95": score["rank_q95"].round(), "of": len(score),
                             "unit": f"standard deviations (higher is better); {RANK_DIRECTION[1]}"})
    return pd.concat([out, combined], ignore_index=True)


def _programmes(panel: pd.DataFrame, ev: Evaluation) -> pd.DataFrame:
    """Programme LAs: membership, and the change since the year before they joined in EHC plans per 10,000 and in
    spend per head, against the mean (and range) of the same change in their three matched comparison LAs.

    The gap of one LA from three others is mostly ordinary variation, so it carries a 90% interval for that
    variation: had the LA changed like a comparison LA, its change and its matches' mean would differ by
    t·s·√(1 + 1/k), where s is the SD of the same change over every LA matched to its cohort and k the matches
    with data (`gap_calibration` checks how often it holds zero where no programme acts). An interval that
    includes zero says the LA's path is within what comparison LAs' paths ordinarily differ by; it is not an
    estimate of the programme's effect in that LA."""
    wide = _per_la(panel)
    rows = []
    for programme, label in _PROGRAMMES.items():
        members = ev.cohorts[(ev.cohorts["programme"] == programme) & ev.cohorts["la_code"].notna()]
        matches = ev.matches(programme)
        for r in members.itertuples():
            base = r.first_treated_year - 1
            cohort = members.loc[members["first_treated_year"] == r.first_treated_year, "la_code"]
            pool = matches.loc[matches["treated"].isin(cohort), "control"].unique()
            row = {"la_code": r.la_code, "programme": label, "cohort": r.cohort, "membership": r.membership, "base_year": base}
            for m, w in wide.items():
                end = int(w.loc[r.la_code].last_valid_index()) if r.la_code in w.index and w.loc[r.la_code].notna().any() else None
                change = lambda code: 100 * (w.at[code, end] / w.at[code, base] - 1) if code in w.index and end and end > base else np.nan
                own = change(r.la_code)
                others = np.array([change(c) for c in matches.loc[matches["treated"] == r.la_code, "control"]], dtype=float)
                spread = np.array([change(c) for c in pool], dtype=float)
                spread, k = spread[np.isfinite(spread)], int(np.isfinite(others).sum())
                gap = own - others
                mean = np.nanmean(gap) if np.isfinite(gap).any() else np.nan
                half = _gap_half(spread, k)
                row |= {f"{m}_end_year": end, f"{m}_change": own, f"{m}_gap": mean,
                        f"{m}_gap_min": np.nanmin(gap) if np.isfinite(gap).any() else np.nan,
                        f"{m}_gap_max": np.nanmax(gap) if np.isfinite(gap).any() else np.nan,
                        f"{m}_gap_q05": mean - half, f"{m}_gap_q95": mean + half, f"{m}_pool": len(spread)}
            rows.append(row)
    return pd.DataFrame(rows)


def _per_la(panel: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """EHC plans per 10,000 aged 0–25 and spend per head aged 2–18, LA by year."""
    p = panel.assign(rate=1e4 * panel["ehcp_total"] / panel["pop_0_25"], per_head=panel["hn_spend"] / panel["pop_2_18"])
    return {m: p.pivot(index="la_code", columns="year", values=m) for m in ("rate", "per_head")}


def _gap_half(spread: np.ndarray, k: int) -> float:
    """Half-width of the 90% interval for the gap between one LA's change and the mean of k others', when changes
    vary across LAs as `spread` does: t(n − 1)·s·√(1 + 1/k)."""
    from scipy import stats

    return float(stats.t.ppf(0.95, len(spread) - 1) * spread.std(ddof=1) * np.sqrt(1 + 1 / k)) if k and len(spread) > 2 else np.nan


def gap_calibration(panel: pd.DataFrame, ev: Evaluation, matches: int = 3) -> pd.DataFrame:
    """How often a programme LA's gap interval (`_programmes`) contains zero where no programme acts, by measure.

    Each comparison LA in a cohort's pool is taken in turn as if it had joined with that cohort; its `matches`
    pool LAs whose change over the three years before the base year was closest to its own stand in for its
    matched LAs (matching chose on pre-start trends), and the rest of the pool gives the spread. Changes run to
    each LA's last year with data, as in the profiles. A calibrated interval contains zero in about 90% of
    these placebos; fewer would mean the profiles' intervals are too narrow. Values flagged as reporting
    breaks are left out, as in the profiles."""
    wide = _per_la(breaks.mask(panel))
    last_year = {m: w.apply(lambda row: row.last_valid_index(), axis=1) for m, w in wide.items()}
    rows = []
    for programme in _PROGRAMMES:
        members = ev.cohorts[(ev.cohorts["programme"] == programme) & ev.cohorts["la_code"].notna()]
        pairs = ev.matches(programme)
        for first_year in sorted(members["first_treated_year"].unique()):
            base = int(first_year) - 1
            pool = pairs.loc[pairs["treated"].isin(members.loc[members["first_treated_year"] == first_year, "la_code"]), "control"].unique()
            for m, w in wide.items():
                if base - 3 not in w.columns:
                    continue
                last = last_year[m]
                change = pd.Series({c: 100 * (w.at[c, last[c]] / w.at[c, base] - 1) for c in pool
                                    if c in w.index and pd.notna(last[c]) and last[c] > base}).dropna()
                before = (100 * (w[base] / w[base - 3] - 1)).reindex(change.index)
                for code in change.index:
                    rest = change.drop(code)
                    near = (before.drop(code) - before[code]).abs().dropna().nsmallest(matches).index
                    gap = change[code] - change[near].mean()
                    rows.append({"programme": programme, "cohort": int(first_year), "measure": m, "la_code": code,
                                 "inside": bool(abs(gap) <= _gap_half(rest.to_numpy(), len(near)))})
    placebos = pd.DataFrame(rows)
    return placebos.groupby("measure").agg(placebos=("inside", "size"), coverage=("inside", "mean")).reset_index()


def calibration_text(calibration: pd.DataFrame, prob: float = 0.9) -> str:
    """What `gap_calibration` found, in words, judged against the spread a calibrated interval gives by chance
    (two binomial SDs, treating the placebos as independent; they share LAs, so the real spread is wider)."""
    words = {"rate": "plans per 10,000 aged 0–25", "per_head": "spend per head"}
    parts, verdicts = [], []
    for r in calibration.itertuples():
        band = 2 * np.sqrt(prob * (1 - prob) / r.placebos)
        parts.append(f"{r.coverage:.0%} of {r.placebos} changes in {words[r.measure]}")
        verdicts.append("below" if r.coverage < prob - band else "above" if r.coverage > prob + band else "within")
    verdict = ("in line with a calibrated interval" if set(verdicts) == {"within"} else
               "outside what chance gives for a calibrated interval, so read the profiles' intervals with care")
    return (f"Each comparison LA of a cohort was taken in turn as if it had joined the programme, with the three LAs of "
            f"its pool whose change in the three years before was closest to its own as its matches, and given the "
            f"profiles' interval. Where no programme acts, the interval held zero for {' and '.join(parts)}: "
            f"{verdict} ({prob:.0%}, give or take about {100 * 2 * np.sqrt(prob * (1 - prob) / calibration['placebos'].min()):.0f} "
            "points by chance)."
            + (" So about one programme LA in ten would fall outside its interval with no programme effect at all, and "
               "one LA's gap outside it is weak evidence on its own." if set(verdicts) == {"within"} else ""))


def _summary(alive: pd.DataFrame, panel: pd.DataFrame, history: pd.DataFrame, modelled: pd.DataFrame,
             programmes: pd.DataFrame, cost: pd.DataFrame, last: int) -> pd.DataFrame:
    def latest(measure: str) -> pd.DataFrame:
        h = history[history["measure"] == measure].sort_values("year").groupby("la_code").tail(1)
        return h.set_index("la_code")[["value", "year"]]

    def model(label_start: str) -> pd.DataFrame:
        m = modelled[modelled["label"].str.startswith(label_start)]
        return m.set_index("la_code")

    out = alive.set_index("la_code").copy()
    plans = panel[panel["year"] == last].set_index("la_code")
    earlier = panel[panel["year"] == last - 5].set_index("la_code")["ehcp_total"]
    out["plans"] = plans["ehcp_total"]
    out["plans_per_10k"] = (1e4 * plans["ehcp_total"] / plans["pop_0_25"]).round(1)
    out["growth_5y_pct"] = (100 * (plans["ehcp_total"] / earlier - 1)).round(1)
    fc = model("EHC plans, January")
    out["forecast_year"] = fc["year"]
    out[["forecast", "forecast_q05", "forecast_q95"]] = fc[["value", "q05", "q95"]]
    c = cost.set_index("la_code")
    out["spend_per_head"] = c["spend_per_head"].round(-1)
    out["spend_per_plan"] = c["spend_per_plan"].round(-2)
    out["full_cost_per_plan"] = c["full_cost_per_plan"].round(-2)
    out["special_share_pct"] = (100 * c["special_share"]).round(1)
    deficit = latest("deficit_pct")
    out["deficit_pct"], out["deficit_year"] = deficit["value"].round(2), deficit["year"]
    score = model("Combined outcome score")
    out[["outcome_rank", "outcome_rank_q05", "outcome_rank_q95", "outcome_ranked_of"]] = score[["rank", "rank_q05", "rank_q95", "of"]]
    member = programmes.groupby("la_code").apply(lambda g: "; ".join(
        f"{r.programme} ({r.cohort}{', inferred' if r.membership == 'inferred' else ''})" for r in g.itertuples()),
                                                 include_groups=False)
    out["programmes"] = member.reindex(out.index).fillna("")
    return out.reset_index().sort_values("la_name", ignore_index=True)


# --------------------------------------------------------------------------- downloads


#: What each column of `SUMMARY_FILE` holds. Years follow the panel: a January is the census month; a financial
#: year is named by the year it ends in (2022 = April 2021 to March 2022).
SUMMARY_COLUMNS = {
    "la_code": "ONS code of the LA",
    "la_name": "LA name",
    "region_name": "region",
    "plans": "active EHC plans in the last January (empty where that count is flagged as a reporting break)",
    "plans_per_10k": "plans per 10,000 residents aged 0–25, same January",
    "growth_5y_pct": "% change in plans over the five Januaries to the last",
    "forecast_year": "the January forecast",
    "forecast": "EHC plan model's forecast of plans that January (median)",
    "forecast_q05": "lower end of its 90% interval",
    "forecast_q95": "upper end of its 90% interval",
    "spend_per_head": "high-needs spend (s251 lines 1.2.x, £) per resident aged 2–18, last financial year, nearest £10",
    "spend_per_plan": "the same spend per active plan (£, nearest £100): not a cost per plan, as the lines also pay for "
                      "services for children without plans and leave out place funding",
    "full_cost_per_plan": "spend per plan plus the place funding of its placements, at chapter 4's place funding per plan (£, nearest £100)",
    "special_share_pct": "% of plans in state or independent special schools, last January",
    "deficit_pct": "DSG deficit as % of the DSG (negative: a surplus), in the financial year ending in `deficit_year`",
    "deficit_year": "year the deficit's financial year ends in (2022 = 2021-22)",
    "outcome_rank": "rank on the combined child-outcome score, equal weights (1 = best; median over posterior draws)",
    "outcome_rank_q05": "lower end of the rank's 90% interval",
    "outcome_rank_q95": "upper end of the rank's 90% interval",
    "outcome_ranked_of": "LAs ranked",
    "programmes": "Safety Valve or DBV membership (cohort; 'inferred' where no source confirms it)",
}
#: Columns that hold whole numbers, written without a decimal point.
_WHOLE = ["plans", "forecast_year", "forecast", "forecast_q05", "forecast_q95", "spend_per_head", "spend_per_plan",
          "full_cost_per_plan", "deficit_year", "outcome_rank", "outcome_rank_q05", "outcome_rank_q95", "outcome_ranked_of"]
DICTIONARY_FILE = "README.md"


def dictionary(profiles: Profiles) -> str:
    """The downloads' data dictionary (Markdown): the summary file's columns and the per-LA files' layout."""
    lines = ["# LA profiles: what the files hold", "", f"`{SUMMARY_FILE}`: one row per LA, headline figures. Columns:", ""]
    lines += [f"- `{c}`: {SUMMARY_COLUMNS[c]}" for c in profiles.summary.columns]
    lines += ["", "`<LA code>.csv`: every figure of one LA, one row each: `section`, `measure`, `year` (a January for "
              "counts, the year a financial year ends in for money, the academic or calendar year the source names for "
              "outcomes), `value`, its 90% interval (`q05`, `q95`) where modelled, `rank` with its interval and `of` (LAs "
              "ranked) for child outcomes, `england` and `neighbours` (median of the LA's statistical neighbours) for "
              "comparison, and `unit`, which also says what rank 1 means. The last rows name the data releases used.", ""]
    return "\n".join(lines)


def write_downloads(profiles: Profiles, root: Path = paths.ROOT) -> list[Path]:
    """Write each LA's figures to `root/downloads/profiles/<la_code>.csv`, every LA's headline figures to
    `root/downloads/profiles/la-profiles.csv` (whole numbers without a decimal point) and the data dictionary,
    each atomically; files of LAs no longer profiled are removed."""
    folder = root / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    summary = profiles.summary.astype({c: "Int64" for c in _WHOLE})
    written = [write_atomic(folder / SUMMARY_FILE, lambda tmp: summary.to_csv(tmp, index=False))]
    write_atomic(folder / DICTIONARY_FILE, lambda tmp: tmp.write_text(dictionary(profiles)))
    for code in profiles.summary["la_code"]:
        written.append(write_atomic(folder / f"{code}.csv", lambda tmp, c=code: profiles.la(c).to_csv(tmp, index=False)))
    for stale in set(folder.glob("*.csv")) - set(written):
        stale.unlink()
    return written


def download_href(la_code: str) -> str:
    """Link to an LA's CSV from a chapter page (chapters sit one folder below the book's root)."""
    return f"../{DOWNLOADS}/{la_code}.csv"


# --------------------------------------------------------------------------- charts

_LA = "council"  # the name of the chart parameter that holds the chosen LA's code (the list's, or the search's)
_PICK, _FIND, _INDEX, _AT = "council_picked", "council_search", "council_index", "council_found_at"
_SERIES = {"la": "This council", "neighbours": "Its statistical neighbours (median)", "england": "England"}
_SERIES_COLOURS = [charts.OKABE_ITO[0], charts.OKABE_ITO[1], "#888888"]
_PANEL_W, _PANEL_H = 400, 130


_COUNCIL = f"datum.series == '{_SERIES['la']}'"


def _chosen() -> str:
    return f"datum.la_code == {_LA} || datum.la_code == 'England'"


def _search_index(summary: pd.DataFrame) -> str:
    """'|barnsley=E08000016|bath and north east somerset=E06000022|…|': LA names (`searchable`) with their codes,
    one string a Vega expression can search with `indexof` (its expression language has no loops)."""
    codes = summary["la_code"].astype(str)
    if not codes.str.len().eq(len(codes.iloc[0])).all():
        raise ValueError("LA codes of unequal length: the profile's search takes a fixed-length code after each name")
    raw = summary["la_name"].str.lower()
    if raw.str.contains(r"[|=]").any():
        raise ValueError(f"an LA name holds '|' or '=', which the profile's search index uses as separators: {raw[raw.str.contains(r'[|=]')].tolist()}")
    return "|" + "|".join(f"{searchable(n)}={c}" for n, c in zip(summary["la_name"], codes)) + "|"


#: The search box's text as `scenarios.searchable` writes names, in Vega's expression language.
_QUERY = ("trim(replace(replace(replace(lower({find}), regexp('-', 'g'), ' '), regexp('[^a-z0-9 ]', 'g'), ''), "
          "regexp(' +', 'g'), ' '))")


def _council_params(summary: pd.DataFrame, default: str) -> list[alt.Parameter]:
    """The chart's choice of council: a list of every LA, and a search box where typing a name or part of it (any
    case, spacing or punctuation: `scenarios.searchable`) shows the LA with that name, else the first in alphabetical order whose name starts with it, else the
    first whose name holds it ("york" is York, not East Riding of Yorkshire; "tyneside" is North Tyneside).
    `council` is the search's match while the box holds text that matches, else the list's choice."""
    width = len(str(summary["la_code"].iloc[0]))
    query = _QUERY.format(find=_FIND)
    exact, start = f"indexof({_INDEX}, '|' + {query} + '=')", f"indexof({_INDEX}, '|' + {query})"
    held = f"indexof({_INDEX}, {query})"
    after = f"slice({_INDEX}, {held})"
    # a match counts only inside a name: the name's end ('=') comes after the matched text and before the next '|'
    in_name = (f"{held} >= 0 && indexof({after}, '=') >= length({query}) && "
               f"indexof({after}, '=') < indexof({after}, '|')")
    rest = f"slice({_INDEX}, {_AT})"
    code = f"slice({rest}, indexof({rest}, '=') + 1, indexof({rest}, '=') + 1 + {width})"
    return [
        alt.param(name=_PICK, value=default, bind=alt.binding_select(
            options=summary["la_code"].tolist(), labels=summary["la_name"].tolist(), name="Choose a council: ")),
        alt.param(name=_FIND, value="", bind=alt.binding(input="search", placeholder="e.g. tyneside", name="or type part of its name: ",
                                                         autocomplete="off", debounce=150)),
        alt.param(name=_INDEX, value=_search_index(summary)),
        alt.param(name=_AT, expr=f"length({query}) > 0 ? ({exact} >= 0 ? {exact} : {start} >= 0 ? {start} : {in_name} ? {held} : -1) : -1"),
        alt.param(name=_LA, expr=f"{_AT} >= 0 ? {code} : {_PICK}"),
    ]


def _wide_history(profiles: Profiles) -> pd.DataFrame:
    """One row per LA-year and series (the LA, its neighbours' median), measures as columns, and England's rows
    once (la_code 'England'): the smallest form of the history for a chart that carries every LA."""
    h = profiles.history.rename(columns={"value": "la"})
    digits = h["measure"].map({"deficit_pct": 2, "plans_per_10k": 1}).fillna(0).astype(int)
    long = h.melt(id_vars=["la_code", "year", "measure"], value_vars=list(_SERIES), var_name="series")
    long["value"] = [round(v, d) if pd.notna(v) else np.nan for v, d in zip(long["value"], np.tile(digits.to_numpy(), len(_SERIES)))]
    england = long[long["series"] == "england"].drop_duplicates(["year", "measure"]).assign(la_code="England")
    long = pd.concat([long[long["series"] != "england"], england], ignore_index=True)
    out = long.pivot_table(index=["la_code", "year", "series"], columns="measure", values="value").reset_index()
    out["series"] = out["series"].map(_SERIES)
    return out


def _ticks(years: pd.Series) -> list[int]:
    """Every other year from `FIRST_YEAR`, as far as the data go: the labels of a profile's time axis."""
    return list(range(FIRST_YEAR, int(years.max()) + 1, 2))


def _lines(data: pd.DataFrame, measure: str, title: str, fmt: str, legend: bool = True, council_only: bool = False) -> alt.Chart:
    base = alt.Chart(data, width=_PANEL_W, height=_PANEL_H, title=title).transform_filter(_chosen()).transform_filter(
        f"isValid(datum.{measure})")
    if council_only:
        base = base.transform_filter(_COUNCIL)
    colour = alt.Color("series:N", title=None, scale=alt.Scale(domain=list(_SERIES.values()), range=_SERIES_COLOURS),
                       legend=alt.Legend(orient="bottom", direction="horizontal") if legend else None)
    line = base.mark_line(point=True).encode(
        x=alt.X("year:O", title=None, axis=alt.Axis(labelAngle=0, values=_ticks(data["year"]))),
        y=alt.Y(f"{measure}:Q", title=None, axis=alt.Axis(format=fmt)),
        color=colour, strokeDash=alt.condition("datum.series == 'This council'", alt.value([1, 0]), alt.value([4, 3])),
        tooltip=[alt.Tooltip("series:N", title=" "), alt.Tooltip("year:O", title="Year"), alt.Tooltip(f"{measure}:Q", title=title, format=fmt)],
    )
    return line


def profile_chart(profiles: Profiles, default: str) -> alt.ConcatChart:
    """The interactive profile: choose a council from the list, or type part of its name, and every panel shows it.

    Panels: EHC plans with the next January's forecast (90% interval); plans per 10,000 against its statistical
    neighbours and England; where its children with plans are placed; spend and the high-needs block per head;
    unit costs by placement type (90% intervals); its rank on each child outcome (90% interval); programme
    membership and a link to its CSV. The static image (PDF) shows `default` only.
    """
    s = profiles.summary
    wide = _wide_history(profiles)  # one data set for every line panel: the page carries it once
    plans = _lines(wide, "plans", "EHC plans (January) and forecast", ",.0f", legend=False, council_only=True)
    fc = profiles.modelled[profiles.modelled["label"].str.startswith("EHC plans, January")][["la_code", "year", "value", "q05", "q95"]]
    fc_base = alt.Chart(fc).transform_filter(_chosen())
    forecast = (fc_base.mark_rule(color=charts.OKABE_ITO[3], strokeWidth=2).encode(x="year:O", y="q05:Q", y2="q95:Q")
                + fc_base.mark_point(color=charts.OKABE_ITO[3], filled=True, shape="diamond", size=60).encode(
                    x="year:O", y="value:Q", tooltip=[alt.Tooltip("year:O", title="Forecast for January"),
                                                      alt.Tooltip("value:Q", title="Median", format=",.0f"),
                                                      alt.Tooltip("q05:Q", title="5%", format=",.0f"),
                                                      alt.Tooltip("q95:Q", title="95%", format=",.0f")]))
    rate = _lines(wide, "plans_per_10k", "EHC plans per 10,000 aged 0–25", ",.0f")
    mix_wide = profiles.mix.pivot_table(index=["la_code", "year"], columns="placement", values="share").round(1).reset_index()
    mix_wide.columns.name = None
    mix = alt.Chart(mix_wide, width=_PANEL_W, height=_PANEL_H, title="Placement of children with plans (%)").transform_filter(
        _chosen()).mark_bar().encode(
        x=alt.X("year:O", title=None, axis=alt.Axis(labelAngle=0, values=_ticks(mix_wide["year"]))),
        y=alt.Y("share:Q", title=None, stack="zero", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("placement:N", title=None, sort=list(_SHORT_PLACEMENTS.values()),
                        legend=alt.Legend(orient="bottom", columns=3)),
        order=alt.Order("placement_order:Q"),
        tooltip=[alt.Tooltip("year:O", title="January"), alt.Tooltip("placement:N", title="Placement"),
                 alt.Tooltip("share:Q", title="Share (%)", format=".1f")],
    ).transform_fold(list(_SHORT_PLACEMENTS.values()), as_=["placement", "share"]).transform_calculate(
        placement_order=f"indexof({list(_SHORT_PLACEMENTS.values())}, datum.placement)")
    per_head = alt.layer(
        _lines(wide, "spend_per_head", "", charts.GBP, legend=False),
        alt.Chart(wide).transform_filter(_chosen()).transform_filter(_COUNCIL).transform_filter("isValid(datum.allocation_per_head)").mark_line(
            color=charts.OKABE_ITO[2], strokeDash=[1, 2], point=alt.OverlayMarkDef(color=charts.OKABE_ITO[2], shape="square")
        ).encode(x="year:O", y="allocation_per_head:Q", tooltip=[alt.Tooltip("year:O", title="Year"), alt.Tooltip(
            "allocation_per_head:Q", title="High-needs block per head", format=charts.GBP)]),
        title=alt.Title("High-needs spend per head 2–18 (£)", subtitle="green squares: the council's high-needs block per head"),
    )
    costs = profiles.modelled[profiles.modelled["section"] == "unit cost"].assign(
        type=lambda d: d["label"].str.replace("Unit cost (top-up): ", "", regex=False))[["la_code", "type", "value", "q05", "q95"]]
    cost_base = alt.Chart(costs, width=_PANEL_W, height=_PANEL_H,
                          title=f"Unit cost per plan {financial_year(profiles.spend_year)} (top-up)").transform_filter(_chosen())
    y_type = alt.Y("type:N", title=None, sort=list(TYPE_LABELS.values()))
    cost = cost_base.mark_rule(color=charts.OKABE_ITO[0]).encode(
        x=alt.X("q05:Q", title=None, scale=alt.Scale(type="log"), axis=alt.Axis(format="$,.0f", values=[1000, 3000, 10000, 30000, 100000])),
        x2="q95:Q", y=y_type) + cost_base.mark_point(filled=True, color=charts.OKABE_ITO[0]).encode(
        x="value:Q", y=y_type, tooltip=[alt.Tooltip("type:N", title="Placement"), alt.Tooltip("value:Q", title="Median", format="$,.0f"),
                                        alt.Tooltip("q05:Q", title="5%", format="$,.0f"), alt.Tooltip("q95:Q", title="95%", format="$,.0f")])
    ranks = profiles.modelled[(profiles.modelled["section"] == "child outcome") & profiles.modelled["rank"].notna()]
    short = {o.label: o.short for o in OUTCOMES} | {"Combined outcome score (equal weights)": "Combined score"}
    ranks = ranks.assign(outcome=ranks["label"].map(short))[["la_code", "outcome", "rank", "rank_q05", "rank_q95", "of", "value", "q05", "q95", "unit"]]
    rank_base = alt.Chart(ranks, width=_PANEL_W, height=2 * _PANEL_H - 20,
                          title=alt.Title("Rank on each child outcome (1 = best)", subtitle="90% interval; outcomes with no better direction ranked highest first")
                          ).transform_filter(_chosen())
    y_outcome = alt.Y("outcome:N", title=None, sort=[o.short for o in OUTCOMES] + ["Combined score"],
                      )
    rank = rank_base.mark_rule(color=charts.OKABE_ITO[2]).encode(
        x=alt.X("rank_q05:Q", title=None, scale=alt.Scale(domain=[1, int(ranks["of"].max())])), x2="rank_q95:Q", y=y_outcome) + rank_base.mark_point(
        filled=True, color=charts.OKABE_ITO[2]).encode(
        x="rank:Q", y=y_outcome, tooltip=[alt.Tooltip("outcome:N", title="Outcome"), alt.Tooltip("rank:Q", title="Rank"),
                                          alt.Tooltip("rank_q05:Q", title="Rank 5%"), alt.Tooltip("rank_q95:Q", title="Rank 95%"),
                                          alt.Tooltip("of:Q", title="LAs ranked"), alt.Tooltip("value:Q", title="Level (median)", format=",.1f"),
                                          alt.Tooltip("unit:N", title="Unit")])
    facts = _facts(profiles)
    lines = int(facts.groupby("la_code")["line"].max().max()) + 1
    text = alt.Chart(facts, width=_PANEL_W, height=max(_PANEL_H, 15 * lines), title="Programmes, deficit, download").transform_filter(
        _chosen()).mark_text(align="left", baseline="top", fontSize=11, limit=_PANEL_W).encode(
        x=alt.value(0), y=alt.Y("line:O", axis=None), text="text:N", href="href:N",
        color=alt.condition("isValid(datum.href) && datum.href != ''", alt.value(charts.OKABE_ITO[0]), alt.value("#222222")))
    return alt.concat(
        alt.layer(plans, forecast), rate, mix, per_head, cost, text, rank,
        columns=1,  # one column: Vega-Lite aligns plot areas, so two would sit right of the outcome labels
        title=alt.Title(alt.expr(f"(length(trim({_FIND})) > 0 && {_AT} < 0 ? 'No council’s name holds “' + trim({_FIND}) + '”. ' : '')"
                                 f" + 'Profile: ' + {_label_lookup(s)}[{_LA}]"), anchor="start", fontSize=15),
    ).add_params(*_council_params(s, default)).resolve_scale(color="independent")


def _label_lookup(summary: pd.DataFrame) -> str:
    """A Vega expression object literal mapping each LA code to its name."""
    return json.dumps(dict(zip(summary["la_code"], summary["la_name"])), ensure_ascii=False)


def _predecessors(la_code: str, progs: pd.DataFrame, alive: set[str]) -> str:
    """'; the council it replaced (Cumbria) was in DBV, tranche 1' for an LA formed by a reorganisation whose
    predecessor was a programme member (its membership is the predecessor's, not its own); '' otherwise."""
    for label, codes in STABLE_AREAS.values():
        if la_code in codes:
            before = [c for c in codes if c in progs.index and c not in alive]
            if before:
                joined = "; ".join(f"{p.programme}, {p.cohort}" for c in before for p in progs.loc[[c]].itertuples())
                return f"; the council it replaced ({label.removesuffix(' (stable area)')}) was in {joined}"
    return ""


def _facts(profiles: Profiles) -> pd.DataFrame:
    """Per LA, lines of text: programme membership and change since joining against its matches, the latest DSG
    deficit, full cost per plan and where to download its figures."""
    rows = []
    progs = profiles.programmes.set_index("la_code")
    for r in profiles.summary.itertuples():
        lines = _gaps(profiles, r.la_code)
        if r.la_code in progs.index:
            for p in progs.loc[[r.la_code]].itertuples():
                lines.append(f"{p.programme}, {p.cohort} ({p.membership})")
                if pd.notna(p.per_head_gap):
                    lines.append(f"Spend per head {p.base_year}–{p.per_head_end_year}: {_signed(p.per_head_change)}%")
                    lines.append(f"  vs its 3 matches: {_gap(p, 'per_head')}")
                if pd.notna(p.rate_gap):
                    lines.append(f"Plans per head {p.base_year}–{p.rate_end_year}: {_signed(p.rate_change)}%")
                    lines.append(f"  vs its 3 matches: {_gap(p, 'rate')}")
        else:
            lines.append("Not in Safety Valve or DBV" + _predecessors(r.la_code, progs, set(profiles.summary["la_code"])))
        if pd.notna(r.deficit_pct):
            lines.append(f"DSG {'deficit' if r.deficit_pct > 0 else 'surplus'} {abs(r.deficit_pct):.1f}% of DSG ({financial_year(int(r.deficit_year))})")
        if pd.notna(r.full_cost_per_plan):
            lines.append(f"Full cost per plan {charts.fmt_gbp(r.full_cost_per_plan)} (with place funding)")
        lines.append("Data releases: 'Data vintage', end of this chapter")
        rows += [{"la_code": r.la_code, "line": i, "text": t, "href": ""} for i, t in enumerate(lines)]
        rows.append({"la_code": r.la_code, "line": len(lines) + 1, "text": "Download this council's figures (CSV)",
                     "href": download_href(r.la_code)})
    return pd.DataFrame(rows)


def _gaps(profiles: Profiles, la_code: str) -> list[str]:
    """Lines saying why a panel of the profile is empty or ends early for this LA, so that a gap is not read as a
    fault: no forecast (its latest count missing or flagged), no unit costs (the spend model leaves out an LA-year
    with very few plans or a flagged plan count), a placement mix that is empty or stops before the last January (a
    suppressed or flagged breakdown), no outcome ranks (data for too few outcomes)."""
    m = profiles.modelled[profiles.modelled["la_code"] == la_code]
    mix_years = profiles.mix.loc[profiles.mix["la_code"] == la_code, "year"]
    out = []
    if not m["label"].str.startswith("EHC plans, January").any():
        out.append("No forecast: its latest plan count is missing")
        out.append("  or flagged as a break")
    if not (m["section"] == "unit cost").any():
        out.append(f"No unit costs for {financial_year(profiles.spend_year)}: not in the spend model that year")
        out.append("  (very few plans, or a plan count flagged as a break)")
    if not len(mix_years):
        out.append("No placement mix: breakdowns suppressed or flagged")
    elif mix_years.max() < profiles.last_year:
        out.append(f"Placement mix to January {int(mix_years.max())} only: later")
        out.append("  breakdowns suppressed or flagged as breaks")
    if not ((m["section"] == "child outcome") & m["rank"].notna()).any():
        out.append("No outcome ranks: data for too few outcomes")
    return out


def _signed(x: float) -> str:
    """'+8', '−9': a whole number with its sign (typographic minus)."""
    return f"{x:+.0f}".replace("-", "−")


def _gap(row, measure: str) -> str:
    """A programme LA's gap from its matches on `measure` ('rate' or 'per_head'), with its 90% interval for
    ordinary variation (see `_programmes`): '−12 points (90% interval −25 to +1)'."""
    gap, lo, hi = (getattr(row, f"{measure}_{k}") for k in ("gap", "gap_q05", "gap_q95"))
    return f"{_signed(gap)} points" + (f" (90% interval {_signed(lo)} to {_signed(hi)})" if pd.notna(lo) else "")


# --------------------------------------------------------------------------- every LA at once (HTML and PDF)


def summary_table(profiles: Profiles) -> pd.DataFrame:
    """Every LA's headline figures for the book's table, intervals written out; each LA's name links to its CSV, so
    that a reader finds their council's figures from the table of contents in two clicks, in the static HTML too."""
    s = profiles.summary
    year, fy = profiles.last_year, financial_year(profiles.spend_year)
    ranked = s["outcome_ranked_of"].dropna()
    interval = lambda m, lo, hi, f: [f"{f(a)} ({f(b)}–{f(c)})" if pd.notna(a) else "–" for a, b, c in zip(m, lo, hi)]
    whole = lambda x: f"{x:,.0f}"
    return pd.DataFrame({
        "LA": [f"[{name}]({download_href(code)})" for name, code in zip(s["la_name"], s["la_code"])],
        f"plans, Jan {year}": [whole(x) if pd.notna(x) else "–" for x in s["plans"]],
        "per 10,000 aged 0–25": [f"{x:.0f}" if pd.notna(x) else "–" for x in s["plans_per_10k"]],
        f"growth since {year - 5} (%)": [f"{x:.0f}" if pd.notna(x) else "–" for x in s["growth_5y_pct"]],
        f"forecast, Jan {year + 1}": interval(s["forecast"], s["forecast_q05"], s["forecast_q95"], whole),
        f"spend per head {fy}": [charts.fmt_gbp(x) for x in s["spend_per_head"]],
        f"spend per plan {fy}": [charts.fmt_gbp(x) for x in s["spend_per_plan"]],
        f"outcome rank (of {ranked.max():.0f})" if len(ranked) else "outcome rank":
            interval(s["outcome_rank"], s["outcome_rank_q05"], s["outcome_rank_q95"], lambda x: f"{x:.0f}"),
        "programmes": s["programmes"].replace("", "–"),
    })


def years_text(profiles: Profiles) -> str:
    """The last year of each measure the profiles show: sources are published on different timetables, so a profile
    sets side by side each measure's latest year, not one year for all."""
    last = profiles.history.dropna(subset=["value"]).groupby("measure")["year"].max()
    sources = {"plans": "EHC plans", "spend_per_head": "high-needs spend", "allocation_per_head": "the high-needs block",
               "deficit_pct": "the DSG deficit"}
    when = lambda m: f"January {last[m]}" if m == "plans" else financial_year(int(last[m]))
    said = [f"{name} to {when(m)}" for m, name in sources.items() if m in last.index]
    if last.reindex(list(sources)).dropna().nunique() == 1:  # one panel year: a January and its financial year
        return "Every measure runs to the same panel year: " + "; ".join(said) + "."
    return ("The measures run to different years, as each source is published: " + "; ".join(said)
            + ". Each profile shows every measure's latest year.")


_NEIGHBOURS = "statistical neighbours (median)"


def small_multiples(profiles: Profiles, measure: str, ticks: list[float], fmt: str, neighbours: bool = False) -> alt.FacetChart:
    """One measure of `MEASURES` for every LA, one small panel each (alphabetical), with England's line and, with
    `neighbours`, the median of its statistical neighbours (as the interactive profile shows for plans per head):
    the static overview for readers of the PDF. `ticks` are the y-axis values labelled, `fmt` their d3 format."""
    label = MEASURES[measure][0]
    h = profiles.history[profiles.history["measure"] == measure].merge(profiles.summary[["la_code", "la_name"]], on="la_code")
    h = h.assign(panel=h["la_name"].map(_lines_of(14)))
    series = [h.assign(series="LA", v=h["value"].round(0)), h.assign(series="England", v=h["england"].round(0))]
    if neighbours:
        series.insert(1, h.assign(series=_NEIGHBOURS, v=h["neighbours"].round(0)))
    long = pd.concat(series).dropna(subset=["v"])
    shown = long["series"].unique().tolist()
    return alt.Chart(long[["panel", "year", "series", "v"]], width=44, height=30).mark_line(
        strokeWidth=1, aria=False,  # 300 lines: the figure's alt text describes them, not a label on each
    ).transform_calculate(la_name="join(split(datum.panel, '|'), ' ')").encode(
        x=alt.X("year:Q", title=None, axis=None),
        y=alt.Y("v:Q", title=None, axis=alt.Axis(values=ticks, format=fmt, labelFontSize=7, grid=True)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=shown, range=[
            dict(zip(["LA", _NEIGHBOURS, "England"], _SERIES_COLOURS))[k] for k in shown]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("year:Q", format="d", title="Year"),
                 alt.Tooltip("v:Q", title=label, format=fmt)],
    ).facet(
        facet=alt.Facet("panel:N", title=None, header=alt.Header(labelFontSize=6, labelLimit=0, labelPadding=1,
                                                              labelExpr="split(datum.label, '|')")),
        columns=10, spacing={"row": 4, "column": 4},
    )


def static_table(profiles: Profiles) -> pd.DataFrame:
    """Every LA's modelled unit costs (top-up, median and 90% interval), latest DSG deficit and, for programme LAs,
    the change in spend per head since joining against their matched LAs: the interactive profile's other panels,
    for readers of the PDF."""
    m = profiles.modelled
    cost = lambda label: m[m["label"] == f"Unit cost (top-up): {label}"].set_index("la_code").apply(
        lambda r: f"£{r['value']:,.0f} (£{r['q05']:,.0f}–£{r['q95']:,.0f})", axis=1)
    progs = profiles.programmes.dropna(subset=["per_head_gap"]).groupby("la_code").apply(
        lambda g: "; ".join(f"{r.programme}{' (inferred member)' if r.membership == 'inferred' else ''} {_gap(r, 'per_head')}"
                            for r in g.itertuples()), include_groups=False)
    s = profiles.summary.set_index("la_code")
    deficit = [f"{round(d, 1) + 0.0:.1f}".replace("-", "−") if pd.notna(d) else "–" for d in s["deficit_pct"]]  # + 0.0: never "−0"
    return pd.DataFrame({
        "LA": s["la_name"],
        "state mainstream": cost("State mainstream").reindex(s.index).fillna("–"),
        "state special": cost("State special").reindex(s.index).fillna("–"),
        "independent special": cost("Independent special").reindex(s.index).fillna("–"),
        f"DSG deficit {financial_year(int(s['deficit_year'].max()))}, % of DSG (− = surplus)": deficit,
        "change in spend per head since joining, less its matches' (percentage points; 90% interval of ordinary "
        "variation)": progs.reindex(s.index).fillna("–"),
    }).reset_index(drop=True)


def mix_table(profiles: Profiles) -> pd.DataFrame:
    """Every LA's placement mix (% of its children with plans) in the first January after the move to EHC plans
    (`mix_from`) and the last, "first → last": the interactive profile's placement panel, for readers of the PDF."""
    m = profiles.mix
    years = m.groupby("la_code")["year"].agg(first="min", last="max")
    m = m.join(years, on="la_code")
    at = {end: m[m["year"] == m[end]].pivot(index="la_code", columns="placement", values="share") for end in ("first", "last")}
    s = profiles.summary.set_index("la_code")
    years = years.reindex(s.index)
    out = pd.DataFrame({"LA": s["la_name"], "Januaries": [f"{a:.0f}→{b:.0f}" if pd.notna(a) else "–"
                                                          for a, b in zip(years["first"], years["last"])]})
    for label in _SHORT_PLACEMENTS.values():
        first, last = (at[end][label].reindex(s.index) if label in at[end] else pd.Series(np.nan, index=s.index) for end in at)
        out[label] = [f"{a:.0f} → {b:.0f}" if pd.notna(a) and pd.notna(b) else "–" for a, b in zip(first, last)]
    return out.reset_index(drop=True)


def rank_table(profiles: Profiles, groups: tuple[str, ...]) -> pd.DataFrame:
    """Every LA's rank (median and 90% interval; 1 = best, or 1 = highest for an outcome with no better direction,
    as its heading says) on each outcome of `groups` (see `ChildOutcome.group`):
    the interactive profile's rank panel, for readers of the PDF, a few outcomes per table."""
    chosen = [o for o in OUTCOMES if o.group in groups]
    if not chosen or len({o.group for o in chosen}) < len(groups):
        raise KeyError(f"rank_table(): unknown outcome group(s) in {groups}; groups: {sorted({o.group for o in OUTCOMES})}")
    m = profiles.modelled[profiles.modelled["section"] == "child outcome"].set_index("la_code")
    s = profiles.summary.set_index("la_code")
    out = pd.DataFrame({"LA": s["la_name"]})
    for o in chosen:
        r = m[m["label"] == o.label]
        cell = pd.Series([f"{a:.0f} ({b:.0f}–{c:.0f})" if pd.notna(a) else "–" for a, b, c in zip(r["rank"], r["rank_q05"], r["rank_q95"])],
                         index=r.index)
        ranked = f"of {int(r['of'].max())}, {int(r['year'].max())}"
        out[f"{o.short} ({'1 = highest, ' if o.better == 0 else ''}{ranked})"] = cell.reindex(s.index).fillna("–")
    return out.reset_index(drop=True)


def _lines_of(chars: int):
    """A function that breaks a name into lines of at most about `chars` characters, joined by '|'."""
    def lines(name: str) -> str:
        out: list[str] = []
        for word in name.split():
            if out and len(out[-1]) + 1 + len(word) <= chars:
                out[-1] += " " + word
            else:
                out.append(word)
        return "|".join(out)
    return lines


def _map_frame(profiles: Profiles, label_start: str) -> pd.DataFrame:
    m = profiles.modelled[profiles.modelled["label"].str.startswith(label_start)]
    if m.empty:
        raise KeyError(f"no modelled measure starts with {label_start!r}; measures: {sorted(profiles.modelled['label'].unique())}")
    return m.assign(width=m["q95"] - m["q05"])[["la_code", "value", "width", "year"]]


def modelled_maps(profiles: Profiles, label_start: str, legend: str, fmt: str) -> alt.HConcatChart:
    """A modelled measure by LA (posterior median) beside the width of its 90% interval."""
    m = _map_frame(profiles, label_start)
    return (charts.la_map(m, "value", year=profiles.last_year, title="Estimate (median)", legend_title=legend, fmt=fmt, width=225, height=280)
            | charts.la_map(m, "width", year=profiles.last_year, title="Width of the 90% interval", legend_title="Width", fmt=fmt,
                            scheme="greys", width=225, height=280))


def published_maps(profiles: Profiles) -> alt.HConcatChart:
    """Plans per 10,000 aged 0–25 (last January) beside spend per head aged 2–18 (last financial year)."""
    s = profiles.summary
    return (charts.la_map(s, "plans_per_10k", year=profiles.last_year, title=f"Plans per 10,000 aged 0–25, Jan {profiles.last_year}",
                          legend_title="Per 10,000", fmt=",.0f", width=235, height=290)
            | charts.la_map(s, "spend_per_head", year=profiles.last_year, title="Spend per head aged 2–18",
                            legend_title="£ per head", fmt=charts.GBP, clamp_outliers=True, width=235, height=290))


def deficit_map(profiles: Profiles) -> alt.LayerChart:
    """The DSG deficit as % of DSG in the latest year the panel holds, on a scale diverging at zero."""
    h = profiles.history[profiles.history["measure"] == "deficit_pct"]
    year = int(h["year"].max())
    latest = h[h["year"] == year][["la_code", "value"]]
    return charts.la_map(latest, "value", year=year, title=f"DSG deficit, % of DSG, {financial_year(year)}",
                         legend_title="% (+ deficit)", fmt=".1f", domain_mid=0.0)
