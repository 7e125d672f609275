"""The evaluation report completed with its cross-checks: per programme and outcome, the least-squares
estimate (pyfixest), the imputation estimate (CausalPy) with its two-stage twin (pyfixest), and the
synthetic control's average change since the year before the start, each with its coverage on the placebo
groups where it has one, entropy balancing beside the preferred estimate; per programme, each design's balance on pre-period levels and trends against
`TARGET_SMD`; and, for the programme the simulation study imitates, each estimator's coverage there.

Why a module of its own: `experiment.report` holds what the placebo grid's code builds on; the
cross-checks use other libraries and estimators, and are added here so that `python -m analysis evaluate`
reports everything the chapter shows without the grid's code depending on them.
"""

from __future__ import annotations

import pandas as pd

from analysis.evaluation import balancing, imputation, matching, placebo_crosschecks, programmes, robustness, simulation, two_stage
from analysis.evaluation.experiment import Evaluation
from analysis.models import stored
from analysis.models.fitting import interval

#: Why the event study's average difference after the start is the estimate the study quotes.
PREFERRED = ("event study: every programme LA and every year after its start against matched comparison LAs, "
             "cohorts pooled, intervals that allow for the correlation of an LA's years, with placebo, "
             "leave-one-out and trend-sensitivity checks; the other estimators are cross-checks")


def _interval(median: float, lo: float, hi: float) -> dict:
    return {"median": round(float(median), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}


#: The largest absolute standardised mean difference a design should leave on what it relies on.
TARGET_SMD = 0.25


def design_balance(smd: pd.DataFrame, column: str, relies_on: tuple[str, ...]) -> dict:
    """One design's balance (`smd`: covariate and SMD columns) on pre-period levels and on pre-period trends
    (`balancing.TRENDS`), the largest on what the design relies on, and whether that meets `TARGET_SMD`."""
    values = smd.set_index("covariate")[column]
    trends = values[values.index.isin(balancing.TRENDS)].abs()
    levels = values[~values.index.isin(balancing.TRENDS)].abs()
    relied = values[list(relies_on)].abs().dropna()
    if relied.empty:
        raise ValueError(f"no standardised difference on {list(relies_on)}: every one is missing")
    # two decimals, as balance is reported (and as the chapter quotes it: a third would be rounded twice)
    return {"relies_on": list(relies_on), "max_abs_smd_relied_on": round(float(relied.max()), 2), "worst": str(relied.idxmax()),
            "meets_target": bool(round(float(relied.max()), 2) < TARGET_SMD), "max_abs_smd_levels": round(float(levels.max()), 2),
            "max_abs_smd_trends": round(float(trends.max()), 2), "smd": {k: round(float(v), 2) for k, v in values.items()}}


def balance_by_design(ev: Evaluation, programme: str, weighted: list[balancing.Reweighted]) -> dict:
    """Balance before any design (every eligible LA) and under each design, against `TARGET_SMD`: matching relies
    on every matching characteristic; the later-members design and the event study it feeds difference from
    the year before the start, so they rely on pre-period trends; entropy balancing on what it balanced."""
    matched = ev.balance(programme)
    out = {"target_max_abs_smd": TARGET_SMD, "before": design_balance(matched, "before", tuple(matching.COVARIATES)),
           "matched": design_balance(matched, "after", tuple(matching.COVARIATES))}
    later = ev.later_waves_balance(programme)
    if len(later.dropna()):
        out["later_waves"] = design_balance(later, "later_waves", balancing.TRENDS)
    for w in weighted:
        if w.programme == programme and w.found:
            out[f"reweighted: {balancing.NAMES[w.covariates]}"] = design_balance(w.balance, "after", w.covariates)
    return out


def _direction_settled(main: dict, later: dict) -> bool:
    """False when the preferred estimate and the design against the programme's own later members (selected
    alike) both give a clear difference and in opposite directions: then the data do not settle the direction."""
    clear = lambda d: d["lo"] > 0 or d["hi"] < 0
    return not (clear(main) and clear(later) and (main["median"] > 0) != (later["median"] > 0))


def complete(out: dict, ev: Evaluation) -> dict:
    """`out` (from `experiment.report`) with, per programme and outcome, `preferred` and `cross_checks`."""
    imputed = {(r.programme, r.outcome): r for r in imputation.estimates(ev)}
    twin = {(t.programme, t.outcome): t for t in two_stage.estimates(ev)}
    weighted = [balancing.reweight(ev, p, covariates) for p in programmes.PROGRAMMES for covariates in balancing.SPECIFICATIONS.values()]
    bayes, ls, imp = stored.load("placebos"), stored.load("placebo-crosschecks"), stored.load("placebo-imputation")
    synth = stored.load("placebo-synthetic")
    coverage = (placebo_crosschecks.coverage(bayes.results, ls.results, imp.results, synth.results)
                .set_index(["estimator", "programme", "outcome", "family"]).sort_index())

    simulated = stored.load("simulation")
    simulated_coverage = simulation.coverage(simulated.results).set_index(["outcome", "scenario"]).sort_index()

    def simulation_study(outcome: str) -> dict:
        cells = simulated_coverage.loc[outcome]
        return {"stale": simulated.stale, **{
            sc: {r.estimator: {"n": int(r.n), "coverage_90": round(float(r.coverage_90), 3),
                               "coverage_interval_90": [round(float(r.coverage_lo), 3), round(float(r.coverage_hi), 3)],
                               "mean_estimate": round(float(r.mean), 4)} for r in part.itertuples()}
            for sc, part in cells.groupby(level=0, sort=False)}}

    def placebo_space(estimator: str, saved: stored.Stored, programme: str, outcome: str) -> dict:
        cells = coverage.loc[(estimator, programme, outcome)]
        return {"stale": saved.stale, **{fam: {"n": int(r.n), "coverage_90": round(float(r.coverage_90), 3)} for fam, r in cells.iterrows()}}

    for programme, entry in out["programmes"].items():
        entry["balance_by_design"] = balance_by_design(ev, programme, weighted)
        fixest = robustness.fixest_att(ev.frame(programme, "main")).query("block == 'after'").set_index("outcome")
        for outcome, o in entry["outcomes"].items():
            o["preferred"] = {**o["att_post"], "estimator": PREFERRED}
            if "later_waves" in o.get("sensitivities", {}):
                o["preferred"]["direction_settled"] = _direction_settled(o["att_post"], o["sensitivities"]["later_waves"])
            f = fixest.loc[outcome]
            checks: dict = {"least_squares_pyfixest": {
                "estimate": round(float(f["estimate"]), 4), "lo": round(float(f["lo"]), 4), "hi": round(float(f["hi"]), 4),
                "n_treated": int(f["n_treated"]), "placebo_space": placebo_space("least squares (pyfixest)", ls, programme, outcome)}}
            if outcome in programmes.HEADLINE:
                checks["synthetic_control"] = {
                    **_interval(*interval(programmes.in_units(outcome, ev.synthetic_control(programme, outcome).att_post_from_base()))),
                    "placebo_space": placebo_space("synthetic control (Bayesian)", synth, programme, outcome)}
            if (programme, outcome) in imputed:
                r = imputed[(programme, outcome)]
                checks["imputation_causalpy"] = {
                    **_interval(r.post["median"], r.post["lo"], r.post["hi"]),
                    "fake_start": {"shift_years": imputation.PLACEBO_SHIFT,
                                   **_interval(r.fake_start["median"], r.fake_start["lo"], r.fake_start["hi"]),
                                   "diagnostics": r.fake_start_diagnostics.as_dict()},
                    "n_treated": r.treated, "n_comparison": r.comparisons, "diagnostics": r.diagnostics.as_dict(),
                    "placebo_space": placebo_space("imputation (CausalPy)", imp, programme, outcome)}
            if (programme, outcome) in twin:
                t = twin[(programme, outcome)]
                checks["two_stage_did_pyfixest"] = {**_interval(t.estimate, t.lo, t.hi), "n_treated": t.treated, "n_las": t.las}
            for w in weighted:
                if w.programme != programme:
                    continue
                row = w.effects[(w.effects["outcome"] == outcome) & (w.effects["period"] == "after")]
                if len(row):
                    checks.setdefault("entropy_balancing", {})[balancing.NAMES[w.covariates]] = {
                        "found": w.found, **(_interval(row["estimate"].iloc[0], row["lo"].iloc[0], row["hi"].iloc[0]) if w.found else {}),
                        "max_abs_smd_after": round(float(w.balance.loc[w.balance["covariate"].isin(w.covariates), "after"].abs().max()), 3)
                        if w.found else None}
            o["cross_checks"] = checks
            o["calibration"] = (  # the coverage the preferred estimate is read with, and whose it is
                {"estimator": "event study (Bayesian)", "proxy": False, "placebo_space": o["placebo_space"]} if "placebo_space" in o else
                {"estimator": "least squares (pyfixest) on the same stacks, standing in for the event study, whose own placebos "
                              "cover the headline outcomes only", "proxy": True, "placebo_space": checks["least_squares_pyfixest"]["placebo_space"]})
            if programme == simulation.PROGRAMME and outcome in programmes.HEADLINE:
                o["simulation"] = simulation_study(outcome)
    return out

