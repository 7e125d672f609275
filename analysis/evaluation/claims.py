"""Published savings claims set against the study's estimates: West Sussex's DBV projection, DBV's national
extrapolation, and what Safety Valve funding bought.

Each claim is a shift of children between placement types that its authors say would save money. The study
prices the same shift with the placement scenario engine (`analysis.evaluation.scenarios`), from each LA's own
unit-cost posterior, and adds what the claim leaves out: the sampling uncertainty of shares estimated from a
handful of case reviews. The claims' inputs are typed from their public sources (`WEST_SUSSEX`, `DBV_NATIONAL`,
with the reference keys of `references.bib`); nothing computed is typed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.evaluation.experiment import Evaluation
from analysis.evaluation.scenarios import SEN_SUPPORT, Assumptions, Move, Scenario
from analysis.evaluation.systematic import SystematicError
from analysis.models.spend.model import SpendModel

SV = "safety_valve"
#: Jeffreys prior for a share estimated from k of n reviewed cases: Beta(k + ½, n − k + ½).
JEFFREYS = 0.5
#: Seed of the share draws paired with the unit-cost draws.
SEED = 20260514


@dataclass(frozen=True)
class WestSussexClaim:
    """West Sussex's DBV case reviews and its draft savings projection, as reported by Special Needs Jungle."""

    la: str = "West Sussex"
    #: panel year of the diagnostic: January 2023 plans, financial year 2022-23 costs
    year: int = 2023
    reviews: int = 28
    #: practitioners' view: two-thirds of reviewed children in each special type "could" have been in mainstream
    share_state: float = 2 / 3
    share_independent: float = 2 / 3
    #: "Annualised savings estimated at between £17.8m and £46.7m over a five-year period", "mostly shifting
    #: placements from state special to mainstream"
    claim_low: float = 17.8e6
    claim_high: float = 46.7e6
    #: "over a five-year period"
    years: int = 5
    source: str = "keer_2023_dbv"

    def as_total(self) -> WestSussexClaim:
        """The other reading of "annualised savings … over a five-year period": the range as a total over the
        period, so the same range a year divided by its years."""
        return replace(self, claim_low=self.claim_low / self.years, claim_high=self.claim_high / self.years)


WEST_SUSSEX = WestSussexClaim()

#: How the 28 reviewed children may have been split between state and independent special schools: the source
#: does not say. "Two-thirds" of each needs a multiple of three reviewed. With 18 and 9, the two-thirds make 18
#: children in the wrong placement, which with the one who needed more specialist provision is the "nearly
#: 70%" (19 of 28) the source reports; the other splits assume fewer reviews in special schools.
REVIEW_SPLITS = {
    "27 in special schools (18 state, 9 independent)": (18, 9),
    "15 in special schools (9 state, 6 independent)": (9, 6),
    "as the LA's plans": None,
}


@dataclass(frozen=True)
class DbvNationalClaim:
    """The DBV Phase One insight report's national extrapolation of its case reviews."""

    reviews: int = 1650
    #: the areas the reviews were made in: the independent units if reviews within an area judge alike
    areas: int = 54
    share_placed_differently: float = 0.65
    #: "in a mainstream setting rather than a specialist placement"
    to_mainstream: int = 35_000
    #: of those, in resourced provision (a mainstream placement in the spend model), "a 370% increase"
    to_resourced: int = 15_000
    resourced_increase: float = 3.7
    #: "having their needs met through SEN Support", i.e. without a plan
    to_sen_support: int = 30_000
    source: str = "dbv_2024_insight"


DBV_NATIONAL = DbvNationalClaim()


def reviewed_split(plans: pd.Series, reviews: int) -> tuple[int, int]:
    """Reviewed children in state and independent special schools if the reviews were spread as the LA's plans,
    each rounded to the nearest multiple of three (at least three: a share of two-thirds was reported for each)."""
    share = plans / plans.sum()
    thirds = lambda k: int(3 * max(1, round(reviews * share[k] / 3)))
    return thirds("special_state"), thirds("special_independent")


def share_draws(share: float, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Posterior draws of a share that `share` of `n` reviewed cases showed (k = round(share · n), Jeffreys prior)."""
    k = round(share * n)
    return rng.beta(k + JEFFREYS, n - k + JEFFREYS, size=size)


def per_child(model: SpendModel, la: str, source: str, destination: str, year: int, assumptions: Assumptions) -> dict[str, np.ndarray]:
    """Change in a year's spend per child moved from `source` to `destination` in `la` (draws)."""
    scenario = Scenario(model, [Move(source, destination, children=1.0)], la, replace(assumptions, year=year))
    return scenario.draws()


def _special_schools(model: SpendModel, la: str, year: int, assumptions: Assumptions) -> tuple[pd.Series, dict[str, dict[str, np.ndarray]]]:
    """The LA's plans by type in `year`, and the per-child change (draws) of moving a state or an independent
    special school plan to mainstream."""
    plans = Scenario(model, [Move("special_state", "mainstream", children=1.0)], la, Assumptions(year=year)).plans().iloc[0]
    unit = {k: per_child(model, la, k, "mainstream", year, assumptions) for k in ("special_state", "special_independent")}
    return plans, unit


def west_sussex(model: SpendModel, year: int, claim: WestSussexClaim = WEST_SUSSEX,
                assumptions: Assumptions = Assumptions()) -> pd.DataFrame:
    """The claimed shift priced in `year`, under each review split (`REVIEW_SPLITS`) and with the shares known.

    Per draw: children moved = share · the LA's plans of the type, the share drawn from its Beta posterior
    (independently of the unit costs); change = Σ moved × the per-child change of that type to mainstream.
    Columns: split, n_state, n_independent, plans_state, plans_independent, and per measure (top_up, full_cost)
    the draws of the change (£ a year; negative is a saving) and of the children moved.
    """
    plans, unit = _special_schools(model, claim.la, year, assumptions)
    size = len(unit["special_state"]["top_up"])
    rng = np.random.default_rng(SEED)
    rows = []
    splits = {"shares taken as exact": (0, 0)} | REVIEW_SPLITS
    for label, split in splits.items():
        n_s, n_i = reviewed_split(plans, claim.reviews) if split is None else split
        if label == "shares taken as exact":
            s_state, s_indep = np.full(size, claim.share_state), np.full(size, claim.share_independent)
        else:
            s_state = share_draws(claim.share_state, n_s, size, rng)
            s_indep = share_draws(claim.share_independent, n_i, size, rng)
        moved_s, moved_i = s_state * plans["special_state"], s_indep * plans["special_independent"]
        label = f"{label} ({n_s} state, {n_i} independent)" if split is None else label
        row = {"split": label, "n_state": n_s, "n_independent": n_i, "plans_state": plans["special_state"],
               "plans_independent": plans["special_independent"], "moved": moved_s + moved_i}
        for measure in ("top_up", "full_cost"):
            row[measure] = moved_s * unit["special_state"][measure] + moved_i * unit["special_independent"][measure]
        rows.append(row)
    return pd.DataFrame(rows)


def shares_for_claim(model: SpendModel, year: int, claim: WestSussexClaim = WEST_SUSSEX) -> pd.DataFrame:
    """What share of the LA's special school plans would have to move to mainstream to save each end of the
    claimed range: from state special alone, or from state and independent special in proportion to their
    plans; in top-ups and in full public cost (with place funding, which the high-needs block also pays).
    Columns: moved_from, measure, end, claim, median, q05, q95 (shares; above 1 is more children than there are)."""
    plans, unit = _special_schools(model, claim.la, year, Assumptions())
    rows = []
    for moved_from, sources in (("state special alone", ("special_state",)), ("state and independent special", ("special_state", "special_independent"))):
        for measure in ("top_up", "full_cost"):
            everyone = -sum(plans[k] * unit[k][measure] for k in sources)  # saving if every such plan moved
            for end, amount in (("low", claim.claim_low), ("high", claim.claim_high)):
                q = np.quantile(amount / everyone, [0.5, 0.05, 0.95])
                rows.append({"moved_from": moved_from, "measure": measure, "end": end, "claim": amount,
                             "plans": float(sum(plans[k] for k in sources)), "median": q[0], "q05": q[1], "q95": q[2]})
    return pd.DataFrame(rows)


def dbv_national(model: SpendModel, year: int, claim: DbvNationalClaim = DBV_NATIONAL,
                 assumptions: Assumptions = Assumptions()) -> dict:
    """DBV's national shift priced in `year`: the children to mainstream (resourced provision among them) come
    out of state and independent special schools pro rata to each LA's plans; those to SEN support out of
    mainstream plans. Resourced provision is a mainstream placement in the spend model (its cost:
    `destination_ratio` times the LA's average mainstream plan). Returns the scenarios' draws and the shares moved.

    `sampled` adds the sampling error of the 65%: the children moved scale with the share, drawn from its Jeffreys
    posterior (paired with the unit-cost draws; the change is linear in the children moved) with the 1,650 reviews
    as independent judgements ("reviews") or, if reviews within an area judge alike, the 54 areas ("areas"). The
    report gives no figures by area, so the truth lies between; neither prices how the cases were chosen."""
    first = Scenario(model, [Move("special_state", "mainstream", share=0.1)], None, Assumptions(year=year))
    plans = first.plans().sum()
    special = plans["special_state"] + plans["special_independent"]
    out_of_special = claim.to_mainstream / special
    to_support = claim.to_sen_support / plans["mainstream"]
    moves = [Move("special_state", "mainstream", share=out_of_special),
             Move("special_independent", "mainstream", share=out_of_special),
             Move("mainstream", SEN_SUPPORT, share=to_support)]
    scenario = Scenario(model, moves, None, replace(assumptions, year=year))
    parts = {"out of special schools": Scenario(model, moves[:2], None, scenario.assumptions).draws(),
             "mainstream plans to SEN support": Scenario(model, moves[2:], None, scenario.assumptions).draws()}
    draws = scenario.draws()
    rng = np.random.default_rng(SEED)
    sampled = {}
    for unit, n in (("reviews", claim.reviews), ("areas", claim.areas)):
        factor = share_draws(claim.share_placed_differently, n, len(draws["top_up"]), rng) / claim.share_placed_differently
        sampled[unit] = {measure: d * factor for measure, d in draws.items()}
    return {"draws": draws, "parts": parts, "sampled": sampled, "share_out_of_special": out_of_special,
            "share_to_sen_support": to_support, "plans": plans, "result": scenario.result()}


def safety_valve_value(ev: Evaluation, funding: pd.DataFrame, systematic: dict[str, SystematicError] | None = None) -> dict:
    """Safety Valve funding set beside the evaluation's estimated divergence of its LAs from matched LAs.

    The event study's average difference after the start (log scale, draws) is applied to what the Safety
    Valve LAs with a citable amount (`funding`) actually spent in their years after the start, and to their
    plans in the last panel year: the divergence in £ is spend · (1 − e^−τ), in plans plans · (1 − e^−τ).
    It is a divergence from comparison LAs, not a saving the programme caused (see the evaluation chapter's
    caveats: spend per head was already falling before the agreements), and it covers the one to four years
    observed since each start, while the funding is for the agreement's whole life (five to nine years), so
    the two are set side by side, not divided. What can be said is scale: the funding per plan in these LAs in
    the last year (`per_plan`, over the LAs with a count that year) and against one year's high-needs spend of
    theirs, the last (`years_of_spend`: the funding equals that many years of it). Returns per-LA rows and draws.

    `spend_difference_later_waves` applies the comparison with the programme's later members (`Evaluation.later_waves`)
    the same way. That comparison covers the members that had later ones to be compared with, so applied to every
    funded LA it gives the scale of the disagreement between designs, not a second estimate.

    The divergence's draws carry the event study's sampling error only. With `systematic` (per outcome, the design's
    error fitted to matched placebos: `analysis.evaluation.systematic`), `spend_difference_calibrated` and
    `plans_difference_calibrated` carry that error too.
    """
    es = ev.event_study(SV)
    post = es.att_post()
    draws = lambda group, o: post.loc[(post["group"] == group) & (post["outcome"] == o), "draws"].iloc[0]
    tau = {o: draws("main", o) for o in ("hn_spend_per_head", "ehcp_rate")}
    treated = ev.treatment[(ev.treatment["programme"] == SV) & ev.treatment["la_code"].notna()]
    members = treated.drop_duplicates("la_code").set_index("la_code")["first_treated_year"]
    unknown = sorted(set(funding["la_code"]) - set(members.index))
    if unknown:
        raise ValueError(f"Safety Valve funding listed for LAs that are not Safety Valve members in the cohorts file: {unknown}")
    panel = ev.panel
    last = int(panel.dropna(subset=["hn_spend"])["year"].max())
    rows = []
    for r in funding.itertuples():
        start = int(members[r.la_code])
        la = panel[panel["la_code"] == r.la_code]
        post_spend = la.loc[(la["year"] >= start) & (la["year"] <= last), "hn_spend"].sum()
        plans = la.loc[la["year"] == last, "ehcp_total"].sum(min_count=1)
        last_spend = la.loc[la["year"] == last, "hn_spend"].sum(min_count=1)
        rows.append({"la_code": r.la_code, "la_name": r.la_name, "amount": r.amount, "first_treated_year": start,
                     "post_years": int(((la["year"] >= start) & (la["year"] <= last) & la["hn_spend"].notna()).sum()),
                     "post_spend": post_spend, "plans": plans, "last_spend": last_spend})
    table = pd.DataFrame(rows)
    differences, spent = {}, table["post_spend"].sum()
    for k, (outcome, name, base) in enumerate((("hn_spend_per_head", "spend", spent),
                                              ("ehcp_rate", "plans", table["plans"].sum()))):
        differences[f"{name}_difference"] = base * (1 - np.exp(-tau[outcome]))
        if systematic is not None:
            error = systematic[outcome]
            if (error.programme, error.outcome) != (SV, outcome):
                raise ValueError(f"safety_valve_value(): the systematic error given for {outcome} is {error.programme}'s for "
                                 f"{error.outcome}; fit it with systematic.fit(results, {SV!r}, {outcome!r})")
            calibrated = error.calibrate(tau[outcome], seed=SEED + k)
            differences[f"{name}_difference_calibrated"] = base * (1 - np.exp(-calibrated))
    # the same arithmetic on the comparison with later members, which disagrees in sign: for scale, not as an estimate
    differences["spend_difference_later_waves"] = spent * (1 - np.exp(-draws("later_waves", "hn_spend_per_head")))
    return differences | {"table": table, "last_year": last, "funding": table["amount"].sum(),
            "members": len(members), "funded": len(table),
            "per_plan": table.dropna(subset=["plans"])["amount"].sum() / table["plans"].sum(),
            "years_of_spend": table.dropna(subset=["last_spend"])["amount"].sum() / table["last_spend"].sum()}
