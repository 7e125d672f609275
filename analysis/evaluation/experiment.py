"""Do Safety Valve and DBV LAs diverge from matched LAs? The analyses behind chapter 5.

`Evaluation(panel, cohorts, neighbours)` assembles, per programme:

* `design(programme)`: cohorts, matched comparison LAs and covariate balance
  (`matching`), with the clean-control rule of `programmes`;
* `event_study(programme)`: the stacked Bayesian event study (`event_study`)
  for every outcome, one model holding four independent analyses —
  "main"; "later_waves" (a design that needs no balance on deficit levels:
  each cohort against the programme's own later cohorts, not yet in it, each
  control's years from its own start dropped — they were chosen for their
  deficits too — so the windows end before the later wave starts and the
  follow-up is one or two years); "deficit" (the sensitivity for the two unidentified Safety Valve
  members: comparison pools without the LAs that could be them, those whose
  names sort after "Norfolk" and whose pre-period DSG deficit is above the
  25th percentile of the Safety Valve LAs'); "time" (placebo in time:
  each cohort pretends to start `PLACEBO_SHIFT` years early, using only its
  real pre-period, so any "effect" is spurious); placebos in space (matched
  placebo groups drawn with and without selection on deficits) are a grid of
  their own fits (`placebos`, stored in `results/placebos.json`);
* `sensitivity_study(programme)`: the same event study in a model of its own
  (so adding a sensitivity never moves the main estimates) for the analyses
  in `SENSITIVITIES` — "no_suspended" (the Safety Valve LAs whose agreements
  were later suspended left out, with the comparison LAs matched to them
  alone), "no_covid" (the pandemic's panel years `COVID_YEARS` dropped,
  so no pre-period or reference value comes from them and a cohort whose
  reference year is one of them drops out), "no_breaks" (every LA, programme
  or comparison, left out of an outcome when its stack's window holds a
  flagged reporting break (`breaks.detect`) in a count that outcome is
  computed from (`Evaluation.broken`), the others kept; every analysis already
  reads a flagged value as missing (`breaks.mask`), and this asks whether the
  LA's other years of that series mislead too; unlike "no_suspended", which
  removes programme LAs and so the matches made for them, it removes series,
  not LAs, so every stack keeps its comparison pool) and "no_top_comparisons" (the `TOP_COMPARISONS` comparison LAs matched
  to the most programme LAs in the main design left out of every pool, and
  the programme LAs matched again: with replacement, a few LAs can carry
  much of the comparison, and `matching.concentration` reports how much);
* `leave_one_out(programme)`: the pooled post-period ATT with each treated
  LA left out, by Pareto-smoothed importance sampling (PSIS) of the main
  fit rather than refits; valid where the Pareto k̂ < 0.7, which is reported;
* `synthetic_control(programme, outcome)`: the Bayesian synthetic control
  (`synthetic_control`) for the headline outcomes.

`report(ev)` is the JSON report of `python -m analysis evaluate`, which completes it with the cross-checks
by other estimators and libraries (`crosschecks`).
"""

from __future__ import annotations

from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd

from analysis.data import breaks
from analysis.data import cohorts as cohorts_mod
from analysis.data import geography, neighbours
from analysis.data import panel as panel_mod
from analysis.data.sources import Store
from analysis.evaluation import matching, programmes, robustness
from analysis.evaluation.programmes import UNITS, in_units
from analysis.evaluation.event_study import POST_AVERAGE, EventStudy, stack
from analysis.evaluation.event_study import SETTINGS as EVENT_SETTINGS
from analysis.evaluation.synthetic_control import SyntheticControl
from analysis.models.fitting import SEED

ANALYSES = ("main", "later_waves", "deficit", "time")
SENSITIVITIES = ("no_suspended", "no_covid", "no_breaks", "no_top_comparisons")
#: Panel 2020 is academic year 2019/20 (schools closed from March 2020, exams cancelled); panel 2021 is
#: the January 2021 census, FY 2020-21, academic year 2020/21 and plans issued in calendar 2020.
COVID_YEARS = (2020, 2021)
PLACEBO_SHIFT = 2
DEFICIT_QUANTILE = 0.25
PARETO_K_MAX = 0.7
#: How many of the most-used comparison LAs the "no_top_comparisons" sensitivity leaves out.
TOP_COMPARISONS = 2


class Evaluation:
    """Designs, fits and summaries for both programmes on one panel."""

    def __init__(self, panel: pd.DataFrame, cohorts: pd.DataFrame, neighbour_table: pd.DataFrame | None = None):
        self.breaks = breaks.detect(panel)
        self.panel = breaks.mask(panel, self.breaks)
        self.cohorts = cohorts
        self.neighbours = neighbour_table
        self.last_year = int(panel["year"].max())
        self.treatment = programmes.treatment_table(cohorts, self.panel)
        every = programmes.outcome_frame(self.panel)
        names, self.not_evaluated = programmes.evaluated(every, self.treatment)
        self.outcomes = every[every["outcome"].isin(names)].reset_index(drop=True)
        self._fits: dict[tuple, EventStudy | SyntheticControl] = {}
        self._loo: dict[str, pd.DataFrame] = {}

    @cached_property
    def features(self) -> dict[int, pd.DataFrame]:
        years = sorted(self.treatment["first_treated_year"].unique())
        return {g: matching.covariates(self.panel, g) for g in years}

    @cached_property
    def deficit_threshold(self) -> float:
        """25th percentile of the Safety Valve LAs' latest pre-period DSG deficit (% of DSG)."""
        sv = self.treatment[self.treatment["programme"] == "safety_valve"]
        values = [self.features[g].at[c, "dsg_deficit_pct"] for c, g in zip(sv["la_code"], sv["first_treated_year"])]
        return float(np.nanquantile(values, DEFICIT_QUANTILE))

    @cached_property
    def unidentified_candidates(self) -> set[str]:
        """LAs whose names sort where the unidentified Safety Valve members' do (after "Norfolk")."""
        names = self.panel.drop_duplicates("la_code", keep="last").set_index("la_code")["la_name"]
        return set(names.index[cohorts_mod.could_be_unidentified(names)])

    def treated(self, programme: str, g: int) -> pd.DataFrame:
        t = self.treatment
        return t[(t["programme"] == programme) & (t["first_treated_year"] == g)]

    def eligible(self, g: int, analysis: str = "main") -> list[str]:
        pool = programmes.eligible_controls(self.panel, self.cohorts, programmes.horizon(g, self.last_year))
        if analysis == "deficit":
            pool = matching.exclude_deficit_like(self.features[g], pool, self.deficit_threshold, self.unidentified_candidates)
        return pool

    def pool(self, programme: str, g: int, analysis: str = "main") -> list[str]:
        """The LAs a cohort's programme LAs may be matched to in an analysis (`eligible`, less the most-used
        comparison LAs of the main design where the analysis leaves them out)."""
        left_out = self.top_comparisons(programme) if analysis == "no_top_comparisons" else set()
        return [c for c in self.eligible(g, analysis) if c not in left_out]

    def matches(self, programme: str, analysis: str = "main") -> pd.DataFrame:
        """Matched pairs for every cohort of a programme: cohort, treated, control, rank, distance."""
        out = []
        for g in programmes.cohort_years(self.treatment, programme):
            treated = self.treated(programme, g)["la_code"].tolist()
            m = matching.match(self.features[g], treated, self.pool(programme, g, analysis), self.neighbours)
            out.append(m.assign(cohort=g))
        return pd.concat(out, ignore_index=True)

    def top_comparisons(self, programme: str) -> set[str]:
        """The `TOP_COMPARISONS` comparison LAs matched to the most programme LAs in the main design."""
        return set(matching.concentration(self.matches(programme))["control"].head(TOP_COMPARISONS))

    def broken(self, programme: str) -> pd.DataFrame:
        """The main design's LAs with a flagged reporting break inside their stack's window (before any censoring)
        in a count an evaluated outcome is computed from: stack, la_code, treated, outcome, variable (one row per
        break and outcome). A break in the total reaches the outcomes that read the total. A break in one
        placement count reaches every outcome that reads any placement count: it is as often plans moved between
        types as a change in one type (Peterborough's state special plans fell by 437 in 2021 as its mainstream
        plans rose by 397), and the other side of the move may be too small to be flagged. So a placement break
        leaves the plan rate, whose total did not break, and every outcome that reads no plan count alone."""
        placements = set(breaks.PLACEMENTS)

        def reaches(outcome: str, variable: str) -> bool:
            reads = programmes.OUTCOMES[outcome].reads()
            return variable in reads or (variable in placements and bool(reads & placements))

        pairs = [(o, v) for o in self.outcomes["outcome"].unique() for v in breaks.VARIABLES if reaches(o, v)]
        design = self.design(programme)
        hits = design.merge(self.breaks[["la_code", "year", "variable"]], on="la_code")
        hits = hits[hits["year"].between(hits["stack"] - programmes.PRE, hits["stack"] + programmes.POST) & ~(hits["year"] >= hits["censor_year"])]
        hits = hits.merge(pd.DataFrame(pairs, columns=["outcome", "variable"]), on="variable")
        columns = ["stack", "la_code", "treated", "outcome", "variable"]
        return hits[columns].drop_duplicates().sort_values(columns[:4]).reset_index(drop=True)

    def balance(self, programme: str, analysis: str = "main") -> pd.DataFrame:
        """SMD of each covariate before (all eligible LAs) and after matching (the pools), cohorts stacked."""
        m = self.matches(programme, analysis)
        frames = {"treated": [], "before": [], "after": []}
        for g, part in m.groupby("cohort"):
            f = self.features[g][list(matching.COVARIATES)]
            eligible = [c for c in self.pool(programme, g, analysis) if c in f.index and f.loc[c].notna().all()]
            frames["treated"].append(f.loc[part["treated"].unique()])
            frames["before"].append(f.loc[eligible])
            frames["after"].append(f.loc[part["control"].unique()])
        t, before, after = (pd.concat(v) for v in frames.values())
        sd = np.sqrt((t.var() + before.var()) / 2)
        out = pd.DataFrame({"before": (t.mean() - before.mean()) / sd, "after": (t.mean() - after.mean()) / sd})
        return out.rename_axis("covariate").reset_index().assign(label=lambda d: d["covariate"].map(matching.COVARIATES))

    def later_waves(self, programme: str) -> pd.DataFrame:
        """Each cohort's comparison LAs in the later-waves design: cohort, control, censor_year (its own start,
        or its first year in either programme if earlier). Cohorts with no later wave are left out."""
        t = self.treatment[self.treatment["programme"] == programme]
        first_any = programmes.first_year_any(self.cohorts)
        rows = [{"cohort": g, "control": c, "censor_year": float(first_any[c])}
                for g in programmes.cohort_years(self.treatment, programme)
                for c in sorted(t.loc[t["first_treated_year"] > g, "la_code"]) if first_any[c] > g]
        return pd.DataFrame(rows, columns=["cohort", "control", "censor_year"])

    def later_waves_balance(self, programme: str) -> pd.DataFrame:
        """SMD of each covariate (levels and pre-period trends) between programme LAs and their comparisons, in the
        matched design and in the later-waves design (pooled SD of programme LAs and all eligible LAs, as `balance`)."""
        cols = list(matching.COVARIATES)
        treated, matched, later, eligible = [], [], [], []
        m, lw = self.matches(programme), self.later_waves(programme)
        for g in sorted(lw["cohort"].unique()):
            f = self.features[g][cols]
            treated.append(f.loc[self.treated(programme, g)["la_code"]])
            matched.append(f.loc[m.loc[m["cohort"] == g, "control"].unique()])
            later.append(f.loc[lw.loc[lw["cohort"] == g, "control"]])
            eligible.append(f.loc[[c for c in self.eligible(g) if c in f.index]])
        t, a, b, e = (pd.concat(v) for v in (treated, matched, later, eligible))
        sd = np.sqrt((t.var() + e.var()) / 2)
        out = pd.DataFrame({"matched": (t.mean() - a.mean()) / sd, "later_waves": (t.mean() - b.mean()) / sd})
        return out.rename_axis("covariate").reset_index().assign(label=lambda d: d["covariate"].map(matching.COVARIATES))

    def design(self, programme: str, analysis: str = "main") -> pd.DataFrame:
        """LAs per stack: group, stack, la_code, treated, censor_year."""
        if analysis == "later_waves":
            lw = self.later_waves(programme)
            rows = []
            for g, part in lw.groupby("cohort"):
                t = self.treated(programme, g)
                rows.append(pd.DataFrame({"stack": g, "la_code": t["la_code"], "treated": True, "censor_year": t["censor_year"]}))
                rows.append(pd.DataFrame({"stack": g, "la_code": part["control"], "treated": False, "censor_year": part["censor_year"]}))
            return pd.concat(rows, ignore_index=True)
        m = self.matches(programme, analysis if analysis in ("deficit", "no_top_comparisons") else "main")
        if analysis == "no_suspended":
            m = m[~m["treated"].isin(self.suspended(programme))]
        rows = []
        for g, part in m.groupby("cohort"):
            t = self.treated(programme, g)
            t = t[t["la_code"].isin(part["treated"])]
            if t.empty:
                continue
            rows.append(pd.DataFrame({"stack": g, "la_code": t["la_code"], "treated": True, "censor_year": t["censor_year"]}))
            rows.append(pd.DataFrame({"stack": g, "la_code": sorted(part["control"].unique()), "treated": False, "censor_year": np.nan}))
        return pd.concat(rows, ignore_index=True)

    def frame(self, programme: str, analysis: str) -> pd.DataFrame:
        """The stacked, differenced frame of one analysis (its rows carry group = analysis)."""
        if analysis == "time":
            design = self.design(programme).assign(stack=lambda d: d["stack"] - PLACEBO_SHIFT, group="time")
            return stack(self.outcomes, design, programmes.PRE - PLACEBO_SHIFT, PLACEBO_SHIFT - 1, self.last_year)
        if analysis == "no_covid":
            outcomes = self.outcomes[~self.outcomes["year"].isin(COVID_YEARS)]
            return stack(outcomes, self.design(programme).assign(group=analysis), programmes.PRE, programmes.POST, self.last_year)
        if analysis == "no_breaks":  # each (stack, LA) left out of the outcomes its break reaches; the pools stay the stack's
            rows = stack(self.outcomes, self.design(programme).assign(group=analysis), programmes.PRE, programmes.POST, self.last_year)
            keys = ["stack", "la_code", "outcome"]
            hit = rows.set_index(keys).index.isin(self.broken(programme).set_index(keys).index)
            return rows[~hit].reset_index(drop=True)
        return stack(self.outcomes, self.design(programme, analysis).assign(group=analysis), programmes.PRE, programmes.POST, self.last_year)

    def event_study(self, programme: str) -> EventStudy:
        """The fitted (cached) event study of a programme: one model holding the analyses in
        `ANALYSES` as independent groups (one compilation)."""
        if programme not in self._fits:
            frame = pd.concat([self.frame(programme, a) for a in ANALYSES], ignore_index=True)
            self._fits[programme] = EventStudy(frame, name=f"event-{programme}-analyses", settings=EVENT_SETTINGS)
        return self._fits[programme]

    def suspended(self, programme: str) -> set[str]:
        """LAs of the programme whose agreement was later suspended (they stay treated in the main analysis)."""
        t = self.treatment
        return set(t.loc[(t["programme"] == programme) & (t["suspended"].fillna("").astype(str).str.strip() != ""), "la_code"])

    def sensitivities(self, programme: str) -> list[str]:
        """The `SENSITIVITIES` that differ from the main analysis for this programme."""
        same = {"no_suspended": not self.suspended(programme), "no_breaks": self.broken(programme).empty}
        return [a for a in SENSITIVITIES if not same.get(a, False)]

    def sensitivity_study(self, programme: str) -> EventStudy:
        """The fitted (cached) event study of the programme's `sensitivities`, apart from the main model."""
        key = (programme, "sensitivities")
        if key not in self._fits:
            frame = pd.concat([self.frame(programme, a) for a in self.sensitivities(programme)], ignore_index=True)
            self._fits[key] = EventStudy(frame, name=f"event-{programme}-sensitivities", settings=EVENT_SETTINGS)
        return self._fits[key]

    def leave_one_out(self, programme: str) -> pd.DataFrame:
        """Pooled post-period ATT per outcome without each treated LA (PSIS reweighting of the main fit).

        The outcomes' post-average blocks share no parameters, so each (LA, outcome) is left out of its own
        outcome's likelihood only; `pareto_k` > 0.7 flags an LA whose removal PSIS cannot emulate."""
        es = self.event_study(programme)
        keys, ll = es.log_likelihood_by_la("main")
        post = (es.tcells["event_time"] == POST_AVERAGE) & (es.tcells["group"] == "main")
        base = es.att_post().query("group == 'main'").set_index("outcome")
        rows = []
        for j, (g, code, outcome) in enumerate(keys):
            log_w, k_hat = az.psislw(-ll[:, j])
            w = np.exp(log_w - log_w.max())
            n = es.tcells["n_treated"] - ((es.tcells["stack"] == g) & post).astype(int)
            row = es.pooled(["group", "outcome"], where=post & (es.tcells["outcome"] == outcome), weights=n).iloc[0]
            rows.append({"stack": g, "la_code": code, "outcome": outcome, "pareto_k": float(k_hat),
                         "att_median": _weighted_median(row["draws"], w), "att_full": float(np.median(base.at[outcome, "draws"]))})
        self._loo[programme] = pd.DataFrame(rows)
        return self._loo[programme]

    def synthetic_control(self, programme: str, outcome: str) -> SyntheticControl:
        key = (programme, "synth", outcome)
        if key not in self._fits:
            donors = {}
            for g, part in self.matches(programme).groupby("cohort"):
                eligible = self.eligible(g)
                for code in part["treated"].unique():
                    donors[code] = eligible
            self._fits[key] = SyntheticControl(self.outcomes[self.outcomes["outcome"] == outcome], self.treatment[self.treatment["programme"] == programme],
                                               donors, name=f"synth-{programme}-{outcome}", last_year=self.last_year)
        return self._fits[key]


def _weighted_median(draws: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(draws)
    cum = np.cumsum(weights[order])
    return float(draws[order][np.searchsorted(cum, 0.5 * cum[-1])])


def load(store: Store | None = None) -> Evaluation:
    """The evaluation on the built panel, the curated cohorts and DfE statistical neighbours."""
    store = store or Store()
    las = geography.load_las(store)
    frame = panel_mod.load()
    return Evaluation(frame, cohorts_mod.load_cohorts(las), neighbours.read_statistical_neighbours(store, las))


# --------------------------------------------------------------------------- summaries


#: The statistics `summarise` gives for each row, and so the columns of the tables built from it.
STATS = ("median", "lo", "hi", "median_mcse", "lo_mcse", "hi_mcse")


def summarise(frame: pd.DataFrame, outcome_col: str = "outcome") -> pd.DataFrame:
    """Median and 90 % interval (reporting units) for each row of a frame of draws, each with its Monte
    Carlo standard error (`programmes.summary`)."""
    stats = [programmes.summary(o, d, c) for o, d, c in zip(frame[outcome_col], frame["draws"], frame["chains"])]
    out = frame.drop(columns=["draws", "chains"]).copy()
    out[list(STATS)] = pd.DataFrame(stats, index=out.index)[list(STATS)]
    out["units"] = out[outcome_col].map(lambda o: UNITS[programmes.OUTCOMES[o].scale])
    return out


def names(ev: Evaluation) -> dict[str, str]:
    return ev.panel.drop_duplicates("la_code", keep="last").set_index("la_code")["la_name"].to_dict()



def headline_table(ev: Evaluation, programme: str) -> pd.DataFrame:
    """Per outcome: average post-period ATT (main, later waves, deficit sensitivity), pre-trends and time placebo."""
    es = ev.event_study(programme)
    post = summarise(es.att_post()).pivot(index="outcome", columns="group", values=list(STATS))
    pre = summarise(es.att_pre()).query("group == 'main'").set_index("outcome")
    out = pd.DataFrame(index=post.index)
    pre_later = summarise(es.att_pre()).query("group == 'later_waves'").set_index("outcome")
    for group, label in (("main", "effect"), ("later_waves", "later_waves"), ("deficit", "deficit_sensitivity"), ("time", "placebo_time")):
        for stat in STATS:
            out[f"{label}_{stat}"] = post[(stat, group)]
    for stat in STATS:
        out[f"pre_trend_{stat}"] = pre[stat]
        out[f"later_waves_pre_{stat}"] = pre_later[stat]
    out["units"] = [UNITS[programmes.OUTCOMES[o].scale] for o in out.index]
    out["label"] = [programmes.OUTCOMES[o].label for o in out.index]
    return out.reindex([o for o in programmes.OUTCOMES if o in out.index]).reset_index()


def headline_sensitivities(ev: Evaluation) -> pd.DataFrame:
    """The headline outcomes' average effect after the start under every analysis of a programme (the main one,
    its sensitivities in the main model and those fitted apart): programme, analysis, outcome, n_treated,
    median, lo, hi and their Monte Carlo standard errors (reporting units). "no_breaks" is given only for the
    outcomes a break reaches: for the others its data are the main analysis' own."""
    frames = []
    for programme in programmes.PROGRAMMES:
        for model in (ev.event_study(programme), ev.sensitivity_study(programme)):
            post = model.att_post()
            frames.append(summarise(post[post["outcome"].isin(programmes.HEADLINE) & (post["group"] != "time")]).assign(programme=programme))
    order = {a: i for i, a in enumerate(("main", "later_waves", "deficit", *SENSITIVITIES))}
    out = pd.concat(frames, ignore_index=True).rename(columns={"group": "analysis"})
    reached = {(p, o) for p in programmes.PROGRAMMES for o in ev.broken(p)["outcome"]}
    reaches = pd.Series([(p, o) in reached for p, o in zip(out["programme"], out["outcome"])], index=out.index)
    out = out[(out["analysis"] != "no_breaks") | reaches]  # else its data are the main analysis' own
    out = out.sort_values(["programme", "outcome", "analysis"], key=lambda c: c.map(order) if c.name == "analysis" else c)
    return out[["programme", "analysis", "outcome", "n_treated", *STATS, "units"]].reset_index(drop=True)


def fitted_models(ev: Evaluation, programme: str) -> dict[str, EventStudy | SyntheticControl]:
    """Every model fitted for a programme, by the label the checks show."""
    return {f"event study ({', '.join(ANALYSES)})": ev.event_study(programme),
            f"event study ({', '.join(ev.sensitivities(programme))})": ev.sensitivity_study(programme),
            **{f"synthetic control: {o}": ev.synthetic_control(programme, o) for o in programmes.HEADLINE}}


def model_checks(ev: Evaluation) -> pd.DataFrame:
    """Convergence of every fitted model of the evaluation."""
    return pd.DataFrame([{"programme": programme, "model": label} | model.diagnostics().as_dict()
                         for programme in programmes.PROGRAMMES for label, model in fitted_models(ev, programme).items()])



def _cells(frame: pd.DataFrame) -> list[dict]:
    return [{"event_time": int(r.event_time), "n_treated": int(r.n_treated), "median": round(r.median, 4), "lo90": round(r.lo, 4), "hi90": round(r.hi, 4)}
            for r in frame.itertuples()]


def real_effects(ev: Evaluation) -> pd.DataFrame:
    """The main analysis' average effect after the start: programme, outcome, median, lo, hi (reporting units)."""
    return pd.concat([headline_table(ev, p)[["outcome", "effect_median", "effect_lo", "effect_hi"]].assign(programme=p)
                      for p in programmes.PROGRAMMES], ignore_index=True).rename(
        columns={"effect_median": "median", "effect_lo": "lo", "effect_hi": "hi"})


def report(ev: Evaluation) -> dict:
    """The JSON-ready report: per programme and outcome, effects, placebos, balance and LAs."""
    from analysis.evaluation import placebos  # the placebo grid builds on this module
    from analysis.models import stored

    checks = model_checks(ev)
    out: dict = {"passed": bool(checks["passed"].all()), "models": checks.to_dict("records"),
                 "units": {o: UNITS[s.scale] for o, s in programmes.OUTCOMES.items()}, "not_evaluated": ev.not_evaluated,
                 "deficit_threshold_pct": round(ev.deficit_threshold, 2), "programmes": {}}
    label = names(ev)
    saved = stored.load("placebos")
    space = placebos.summary(saved.results, real_effects(ev))
    sens = headline_sensitivities(ev)
    for programme in programmes.PROGRAMMES:
        es = ev.event_study(programme)
        by_e = summarise(es.att_by_event_time())
        table = headline_table(ev, programme).set_index("outcome")
        loo = ev.leave_one_out(programme)
        bal = ev.balance(programme)
        m = ev.matches(programme)
        synth = {o: summarise(ev.synthetic_control(programme, o).att_by_event_time().assign(outcome=o)) for o in programmes.HEADLINE}
        outcomes = {}
        for o in table.index:
            row = table.loc[o]
            entry = {
                "att_by_event_time": _cells(by_e[(by_e["group"] == "main") & (by_e["outcome"] == o)]),
                "att_post": {k: round(float(row[f"effect_{k}"]), 4) for k in ("median", "lo", "hi")},
                "pre_trend": {k: round(float(row[f"pre_trend_{k}"]), 4) for k in ("median", "lo", "hi")},
                "placebo_time": {"shift_years": PLACEBO_SHIFT, **{k: round(float(row[f"placebo_time_{k}"]), 4) for k in ("median", "lo", "hi")},
                                 "by_event_time": _cells(by_e[(by_e["group"] == "time") & (by_e["outcome"] == o)])},
                "deficit_sensitivity": {k: round(float(row[f"deficit_sensitivity_{k}"]), 4) for k in ("median", "lo", "hi")},
                "later_waves": {k: round(float(row[f"later_waves_{k}"]), 4) for k in ("median", "lo", "hi")}
                | {"pre_trend": {k: round(float(row[f"later_waves_pre_{k}"]), 4) for k in ("median", "lo", "hi")}},
                "leave_one_out": {"min": round(float(in_units(o, loo.loc[loo["outcome"] == o, "att_median"].to_numpy()).min()), 4),
                                  "max": round(float(in_units(o, loo.loc[loo["outcome"] == o, "att_median"].to_numpy()).max()), 4),
                                  "pareto_k_max": round(float(loo.loc[loo["outcome"] == o, "pareto_k"].max()), 3),
                                  "n_pareto_k_above_0_7": int((loo.loc[loo["outcome"] == o, "pareto_k"] > PARETO_K_MAX).sum())},
            }
            fake = space[(space["programme"] == programme) & (space["outcome"] == o)]
            if len(fake):
                entry["placebo_space"] = {"stale": saved.stale, **{
                    r.family: {"n": int(r.n), "coverage_90": round(r.coverage_90, 3), "q05": round(r.q05, 4), "q95": round(r.q95, 4),
                               "share_at_least_as_large": round(r.share_as_large, 3)} for r in fake.itertuples()}}
            if o in synth:
                entry["synthetic_control"] = _cells(synth[o])
                same = robustness.common_estimand(es, ev.synthetic_control(programme, o), o)
                entry["synthetic_control_from_base"] = [
                    {"event_time": int(r.event_time), "n_treated": int(r.n_treated), "median": round(r.median, 4), "lo90": round(r.lo, 4), "hi90": round(r.hi, 4)}
                    for r in same[same["estimator"] == "synthetic control"].itertuples()]
                entry["sensitivities"] = {
                    r.analysis: {"n_treated": int(r.n_treated), "median": round(r.median, 4), "lo": round(r.lo, 4), "hi": round(r.hi, 4)}
                    for r in sens[(sens["programme"] == programme) & (sens["outcome"] == o)].itertuples()}
            trend = robustness.trend_sensitivity(es, o)
            at_one = next(i for i in trend["intervals"] if i["m"] == 1.0)
            entry["trend_sensitivity"] = {"breakdown_m": trend["breakdown"], "pre_change": round(trend["pre_change"], 4),
                                          "robust_m1": [round(at_one["lo"], 4), round(at_one["hi"], 4)]}
            outcomes[o] = entry
        out["programmes"][programme] = {
            "treated_las": [{"la_code": c, "la_name": label[c], "cohort": int(g)} for c, g in m[["treated", "cohort"]].drop_duplicates().itertuples(index=False)],
            "comparison_las": sorted({label[c] for c in m["control"]}),
            "matches": [{"cohort": int(r.cohort), "treated": label[r.treated], "comparison": label[r.control], "rank": int(r.rank)} for r in m.itertuples()],
            "balance_without_top_comparisons": {k: round(float(v), 3) for k, v in
                                                ev.balance(programme, "no_top_comparisons")[["before", "after"]].abs().max().items()},
            "comparison_concentration": [{"la_name": label[r.control], "matched_to": int(r.treated), "share_of_programme_las": round(r.treated_share, 3),
                                          "share_of_pairs": round(r.pair_share, 3), "left_out_in_no_top_comparisons": i < TOP_COMPARISONS}
                                         for i, r in enumerate(matching.concentration(m).head(5).itertuples())],
            "balance": {"max_abs_smd_before": round(float(bal["before"].abs().max()), 3), "max_abs_smd_after": round(float(bal["after"].abs().max()), 3),
                        "smd": bal.set_index("covariate")[["before", "after"]].round(3).to_dict("index")},
            "outcomes": outcomes,
        }
    return out
