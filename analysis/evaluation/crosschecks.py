"""The evaluation report completed with its cross-checks: per programme and outcome, the least-squares
estimate (pyfixest), the imputation estimate (CausalPy) and the synthetic control's average change since the
year before the start, each with its coverage on the placebo groups, and entropy balancing beside the
preferred estimate.

Why a module of its own: `experiment.report` holds what the placebo grid's code builds on; the
cross-checks use other libraries and estimators, and are added here so that `python -m analysis evaluate`
reports everything the chapter shows without the grid's code depending on them.
"""

from __future__ import annotations

from analysis.evaluation import balancing, imputation, placebo_crosschecks, programmes, robustness
from analysis.evaluation.experiment import Evaluation
from analysis.models import stored
from analysis.models.fitting import interval

#: Why the event study's average difference after the start is the estimate the study quotes.
PREFERRED = ("event study: every programme LA and every year after its start against matched comparison LAs, "
             "cohorts pooled, intervals that allow for the correlation of an LA's years, with placebo, "
             "leave-one-out and trend-sensitivity checks; the other estimators are cross-checks")


def _interval(median: float, lo: float, hi: float) -> dict:
    return {"median": round(float(median), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}


def _direction_settled(main: dict, later: dict) -> bool:
    """False when the preferred estimate and the design against the programme's own later members (selected
    alike) both give a clear difference and in opposite directions: then the data do not settle the direction."""
    clear = lambda d: d["lo"] > 0 or d["hi"] < 0
    return not (clear(main) and clear(later) and (main["median"] > 0) != (later["median"] > 0))


def complete(out: dict, ev: Evaluation) -> dict:
    """`out` (from `experiment.report`) with, per programme and outcome, `preferred` and `cross_checks`."""
    imputed = {(r.programme, r.outcome): r for r in imputation.estimates(ev)}
    weighted = [balancing.reweight(ev, p, covariates) for p in programmes.PROGRAMMES for covariates in balancing.SPECIFICATIONS.values()]
    names = {v: k for k, v in balancing.SPECIFICATIONS.items()}
    bayes, ls, imp = stored.load("placebos"), stored.load("placebo-crosschecks"), stored.load("placebo-imputation")
    synth = stored.load("placebo-synthetic")
    coverage = (placebo_crosschecks.coverage(bayes.results, ls.results, imp.results, synth.results)
                .set_index(["estimator", "programme", "outcome", "family"]).sort_index())

    def placebo_space(estimator: str, saved: stored.Stored, programme: str, outcome: str) -> dict:
        cells = coverage.loc[(estimator, programme, outcome)]
        return {"stale": saved.stale, **{fam: {"n": int(r.n), "coverage_90": round(float(r.coverage_90), 3)} for fam, r in cells.iterrows()}}

    for programme, entry in out["programmes"].items():
        fixest = robustness.fixest_att(ev.frame(programme, "main")).query("block == 'after'").set_index("outcome")
        for outcome, o in entry["outcomes"].items():
            o["preferred"] = {**o["att_post"], "estimator": PREFERRED}
            if "later_waves" in o.get("sensitivities", {}):
                o["preferred"]["direction_settled"] = _direction_settled(o["att_post"], o["sensitivities"]["later_waves"])
            checks: dict = {}
            if outcome in fixest.index:
                f = fixest.loc[outcome]
                checks["least_squares_pyfixest"] = {"estimate": round(float(f["estimate"]), 4), "lo": round(float(f["lo"]), 4), "hi": round(float(f["hi"]), 4), "n_treated": int(f["n_treated"])}
                if outcome in programmes.HEADLINE:
                    checks["least_squares_pyfixest"]["placebo_space"] = placebo_space("least squares (pyfixest)", ls, programme, outcome)
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
            for w in weighted:
                if w.programme != programme:
                    continue
                row = w.effects[(w.effects["outcome"] == outcome) & (w.effects["period"] == "after")]
                if len(row):
                    checks.setdefault("entropy_balancing", {})[names[w.covariates]] = {
                        "found": w.found, **(_interval(row["estimate"].iloc[0], row["lo"].iloc[0], row["hi"].iloc[0]) if w.found else {}),
                        "max_abs_smd_after": round(float(w.balance.loc[w.balance["covariate"].isin(w.covariates), "after"].abs().max()), 3)
                        if w.found else None}
            o["cross_checks"] = checks
    return out

