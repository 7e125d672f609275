"""Tables, figures and sentences of the value-for-money chapter."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from analysis.evaluation import claims, value
from analysis.evaluation.systematic import SystematicError
from analysis.models.fitting import interval, quantile
from analysis.models.outcomes import BY_COLUMN, OUTCOMES, OutcomeModel
from analysis.report import programme_effects
from analysis.report.precision import interval_places, places
from analysis.report.tables import and_join, in_sentence


#: How each outcome's better direction (`ChildOutcome.better`) is named in the tables.
BETTER = {1: "higher", -1: "lower", 0: "neither"}

def saving(draws: np.ndarray, chains: int | None = None) -> str:
    """'£29m a year (90% interval £24m to £33m)' for draws of a change in £ whose median is a saving: to the £m, or,
    given the `chains` the draws are stacked from, at the precision their Monte Carlo error supports (the median at
    its own, both ends at the coarser of theirs), as the key findings show it."""
    mid, lo, hi = (-v / 1e6 for v in interval(draws))
    if chains is None:
        return f"£{mid:,.0f}m a year (90% interval £{hi:,.0f}m to £{lo:,.0f}m)"
    d_mid, d_ends = interval_places(*(quantile(np.asarray(draws, dtype=float) / 1e6, chains, p)[1] for p in (0.5, 0.05, 0.95)), most=0)
    at = lambda v, d: f"£{round(v, d) + 0.0:,.{max(d, 0)}f}m"  # noqa: E731
    return f"{at(mid, d_mid)} a year (90% interval {at(hi, d_ends)} to {at(lo, d_ends)})"


def weightings_table(moves: pd.DataFrame, names: pd.Series, n: int = 10) -> pd.DataFrame:
    """The `n` LAs ranked best on equal weights, with their median rank when each group of outcomes is scored alone
    (`value.weightings`): how a league table moves with the weights chosen."""
    top = moves.dropna(subset=["equal"]).sort_values("equal").head(n)
    out = top.drop(columns="largest_move").round().astype("Int64")
    out.columns = [c.removesuffix(" only") for c in out.columns]
    return out.rename(columns={"equal": "equal weights"}).rename_axis(None).reset_index(names="LA").assign(
        LA=lambda d: d["LA"].map(names))


def rounded_scenario(result: dict) -> dict:
    """A `Scenario.result` with each estimate at the precision its Monte Carlo error supports (its MCSE to two
    significant figures), and the children moved (a share of every LA's plans, nationally) to a whole number, as the
    command line prints it and the chapter shows it."""
    out = dict(result) | {"children_moved": float(round(result["children_moved"]))}
    for key, item in result.items():
        if isinstance(item, dict) and "mcse" in item:
            d = places(item["mcse"])
            out[key] = {k: (round(v, d) if k != "mcse" else float(f"{v:.2g}")) for k, v in item.items()}
    return out


def dbv_sampling_text(dbv: dict, claim: claims.DbvNationalClaim = claims.DBV_NATIONAL, chains: int | None = None) -> str:
    """What the DBV saving becomes when the 65% carries its sampling error (`claims.dbv_national`'s `sampled`), at the
    precision the Monte Carlo error of draws from `chains` chains supports (see `saving`)."""
    return (f"Those intervals are the unit costs' alone. The {100 * claim.share_placed_differently:.0f}% is itself an estimate: "
            f"carrying its sampling error, the saving in top-ups is {saving(dbv['sampled']['reviews']['top_up'], chains)} if the "
            f"{claim.reviews:,} reviews were independent judgements, and {saving(dbv['sampled']['areas']['top_up'], chains)} if reviews "
            f"within an area judged alike, so that the {claim.areas} areas were the independent units (the report gives no "
            "figures by area, so the truth lies between). Neither prices the larger uncertainty: the cases were chosen, not "
            "sampled, and going from them to tens of thousands of children is a judgement no public data can test.")


def millions(draws: np.ndarray, dp: int = 0, figures: int | None = None) -> str:
    """'−£29m (−£34m to −£24m)' from draws of £: median and 90 % interval, to `dp` decimals of £m or, given
    `figures`, each rounded to that many significant figures (for sums of hundreds of £m, whose last digits
    a reader should not quote)."""
    mid, lo, hi = (v / 1e6 for v in interval(draws))
    if figures is not None:
        mid, lo, hi = (float(f"{v:.{figures}g}") for v in (mid, lo, hi))
    f = lambda v: (f"−£{abs(v):,.{dp}f}m" if v < 0 else f"£{v:,.{dp}f}m")
    return f"{f(mid)} ({f(lo)} to {f(hi)})"


def count(draws: np.ndarray, to: int = 10) -> str:
    mid, lo, hi = (round(v / to) * to for v in interval(draws))
    return f"{mid:,.0f} ({lo:,.0f} to {hi:,.0f})"


def signed(x: float, dp: int = 2) -> str:
    """'+0.16' or '−0.30' (typographic minus); '0.00' when it rounds to zero (`precision.signed_at`)."""
    text = f"{round(x, dp) + 0.0:+.{dp}f}".replace("-", "−")
    return text[1:] if float(text[1:]) == 0 else text


def west_sussex_table(ws: pd.DataFrame, claim: claims.WestSussexClaim = claims.WEST_SUSSEX) -> pd.DataFrame:
    """`claims.west_sussex` for reading: the saving (negative change) under each assumed review split."""
    return pd.DataFrame({
        "reviewed children assumed": ws["split"],
        "children moved to mainstream": [count(m) for m in ws["moved"]],
        "change in top-ups (£ a year)": [millions(d) for d in ws["top_up"]],
        "change in full public cost": [millions(d) for d in ws["full_cost"]],
        "chance the saving with place funding is in the claimed range": [
            f"{100 * ((-d >= claim.claim_low) & (-d <= claim.claim_high)).mean():.0f}%" for d in ws["full_cost"]],
    })


def shares_table(shares: pd.DataFrame) -> pd.DataFrame:
    """`claims.shares_for_claim` for reading: percentages of the plans, noting where the whole 90% interval is above
    100% ('more than there are') and where only its upper end is ('perhaps more than there are')."""
    pct = lambda v: f"{100 * v:,.0f}%"
    note = lambda lo, hi: " — more than there are" if lo > 1 else " — perhaps more than there are" if hi > 1 else ""
    return pd.DataFrame({
        "moved to mainstream from": shares["moved_from"] + " (" + shares["plans"].map("{:,.0f} plans".format) + ")",
        "cost counted": shares["measure"].map({"top_up": "top-ups", "full_cost": "with place funding"}),
        "to save": shares["claim"].map(lambda v: f"£{v / 1e6:.1f}m a year"),
        "share of those plans that must move": [f"{pct(m)} ({pct(lo)} to {pct(hi)})" + note(lo, hi)
                                                for m, lo, hi in zip(shares["median"], shares["q05"], shares["q95"])],
    })


def claim_share_text(shares: pd.DataFrame, moved_from: str, measure: str, end: str) -> str:
    """One row of `claims.shares_for_claim` in a sentence: '38% (90% interval 33% to 45%)'."""
    row = shares.set_index(["moved_from", "measure", "end"]).loc[(moved_from, measure, end)]
    return f"{100 * row['median']:,.0f}% (90% interval {100 * row['q05']:,.0f}% to {100 * row['q95']:,.0f}%)"


def outcome_checks_table(model: OutcomeModel) -> pd.DataFrame:
    """Per outcome: the years used, LAs, LA-years, predictive coverage and how far pooling pulls LAs in."""
    ppc = model.predictive_check().set_index("outcome")
    pulled = model.shrinkage().set_index("outcome")["pulled_in"]
    years = model.long.groupby("outcome")["year"].agg(["min", "max"])
    las = model.long.groupby("outcome")["la_code"].nunique()
    return pd.DataFrame([{
        "outcome": o.label, "better": BETTER[o.better],
        "panel years": f"{years.at[o.column, 'min']}–{years.at[o.column, 'max']}", "LAs": int(las[o.column]),
        "LA-years in 90% predictive interval": f"{100 * ppc.at[o.column, 'coverage']:.0f}% of {ppc.at[o.column, 'la_years']}",
        "gap to England removed by pooling": f"{100 * pulled[o.column]:.0f}%",
    } for o in OUTCOMES])


def holdout_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per outcome: the held-out year, LAs, predictive coverage and each prediction's error (`OutcomeModel.holdout_scores`)."""
    fmt = lambda x: f"{float(f'{x:.3g}'):g}"  # three significant figures: enough to tell the predictions apart
    return pd.DataFrame([{
        "outcome": BY_COLUMN[r.outcome].label, "held-out year": str(r.year), "LAs": r.las,
        "in 90% predictive interval": f"{100 * r.coverage:.0f}%", "error: pooled": fmt(r.rmse_pooled),
        "error: LA's own mean": fmt(r.rmse_own), "error: no LA differences": fmt(r.rmse_zero),
        "drift (1 = none)": f"{r.drift:.2f} ({r.drift_q05:.2f} to {r.drift_q95:.2f})",
    } for r in scores.itertuples()])


def holdout_text(scores: pd.DataFrame) -> str:
    """What the held-out check says, in words computed from it."""
    cov = 100 * scores["coverage"]
    better_own = scores[scores["rmse_pooled"] < scores["rmse_own"]]
    worse = [BY_COLUMN[c].short for c in scores.loc[scores["rmse_pooled"] >= scores["rmse_own"], "outcome"]]
    beats_zero = (scores["rmse_pooled"] < scores["rmse_zero"]).all()
    names = lambda part: ", ".join(BY_COLUMN[c].short for c in part["outcome"])
    shown = (100 * scores["coverage"]).round()  # the coverage as the table shows it, so the text reads as the table does
    low, drifting = scores[shown < 85], scores[scores["drift_q05"].round(2) > 1]
    held = drifting[shown[drifting.index] >= 88]
    short = (f"read a 90% predictive interval as covering {cov.min():.0f}% to {cov.max():.0f}% of next year's positions. The "
             "intervals shown for levels are narrower still, since they leave out a year's own noise: an LA's next published "
             "figure will often fall outside them")
    drift = (f"LAs' positions drift for {names(drifting)}: the spread of their change from the earliest year fitted to the "
             f"held-out year is {drifting['drift'].min():.2f} to {drifting['drift'].max():.2f} times that from the latest year "
             "fitted (90% intervals above 1), where a lasting level with independent yearly noise, as modelled, makes the "
             "two the same. "
             if len(drifting) else "LAs' positions do not drift away measurably from year to year. ")
    if cov.median() >= 87.5:
        reading = "That is close to the 90% intended. " + drift
    elif len(low) and set(low["outcome"]) <= set(drifting["outcome"]):
        reading = ("Below 90%, they are too narrow for a new year. " + drift + "That drift is what the intervals leave "
                   f"out, so the intervals of levels and ranks in this chapter understate the uncertainty about next year: {short}. ")
    else:
        reading = ("Below 90%, they are too narrow for a new year, so the intervals of levels and ranks in this "
                   f"chapter understate the uncertainty about next year: {short}. " + drift
                   + (f"The intervals fall furthest short for {names(low)}, of which {low['outcome'].isin(drifting['outcome']).sum()} "
                      "drift" + (f"; but positions also drift for {names(held)}, whose intervals hold" if len(held) else "")
                      + ". So drift is at most part of the reason, and this check does not establish the rest. " if len(low) else ""))
    back = scores[scores["drift_q95"].round(2) < 1]
    if len(back):
        reading += (f"For {names(back)}, on the other hand, the ratio is below 1 ("
                    + "; ".join(f"{r.drift:.2f}, 90% interval {r.drift_q05:.2f} to {r.drift_q95:.2f}" for r in back.itertuples())
                    + "): positions in the held-out year are nearer the earliest year's than the latest's, which the model "
                    "does not allow for either. ")
    return (f"Fitted without each outcome's last year, the model's 90% predictive intervals contained between {cov.min():.0f}% and "
            f"{cov.max():.0f}% (median {cov.median():.0f}%) of LAs' positions in that year (@tbl-value-outcome-holdout). "
            + reading
            + f"The pooled levels predicted the held-out year better than each LA's own mean for {len(better_own)} of the "
            f"{len(scores)} outcomes" + (f" (not for {', '.join(worse)})" if worse else "")
            + (", and better than treating every LA alike for all of them." if beats_zero else "."))


def association_table(across: pd.DataFrame, within: pd.DataFrame) -> pd.DataFrame:
    """Across-LA correlations with spend per plan and the special-school share, and the within-LA slope, in the
    outcomes' own directions (a + means a higher figure), beside which direction is better."""
    a = across.set_index(["outcome", "measure"])
    w = within.set_index("outcome")
    fmt = lambda m, lo, hi: signed(m) + f" ({signed(lo)} to {signed(hi)})"
    rows = []
    for o in OUTCOMES:
        sp, sh = a.loc[(o.column, "spend_per_plan")], a.loc[(o.column, "special_share")]
        rows.append({"outcome": o.label, "better": BETTER[o.better],
                     "across LAs: spend per plan (r)": fmt(sp["median"], sp["q05"], sp["q95"]),
                     "across LAs: special-school share (r)": fmt(sh["median"], sh["q05"], sh["q95"]),
                     "within LAs: 10% more spend per plan": _within_cell(w, o)})
    return pd.DataFrame(rows)


def _within_cell(within: pd.DataFrame, o) -> str:
    """A within-LA slope (`within` indexed by outcome) as a table cell: '+0.5 pp (−0.1 to +1.0)', two decimals
    when the interval is narrower than ±0.2."""
    est, lo, hi = within.at[o.column, "per_10pct"], within.at[o.column, "lo"], within.at[o.column, "hi"]
    d = 2 if max(abs(lo), abs(hi)) < 0.2 else 1
    return f"{signed(est, d)} {'pp' if o.unit == '%' else o.unit} ({signed(lo, d)} to {signed(hi, d)})"


#: How the chapter names each group of outcomes: as the combined score's other weightings name them.
GROUPS = {group: name.removesuffix(" only") for name, group in value.WEIGHTINGS.items() if group}


def reading_table() -> pd.DataFrame:
    """Each outcome, its group (scored alone in the combined score's other weightings), which direction the chapter
    counts as better, and what besides practice moves it."""
    return pd.DataFrame([{"outcome": o.label, "group": GROUPS[o.group], "better": BETTER[o.better], "read with care": o.caveat}
                         for o in OUTCOMES])


#: The cost measures set against outcomes across LAs (`value.costs`), as the chapter names them.
COST_MEASURES = {"spend_per_plan": "spend per plan", "full_cost_per_plan": "full cost per plan",
                 "spend_per_head": "spend per head", "independent_share": "independent-school share"}


def measures_table(across: pd.DataFrame, within_head: pd.DataFrame) -> pd.DataFrame:
    """Across-LA correlations of each outcome with every cost measure in `COST_MEASURES`, and the within-LA change
    with 10% more spend per head, in the outcomes' own directions, beside which direction is better."""
    a = across.set_index(["outcome", "measure"])
    w = within_head.set_index("outcome")
    fmt = lambda r: signed(r["median"]) + f" ({signed(r['q05'])} to {signed(r['q95'])})"
    rows = []
    for o in OUTCOMES:
        rows.append({"outcome": o.label, "better": BETTER[o.better],
                     **{f"across LAs: {label} (r)": fmt(a.loc[(o.column, m)]) for m, label in COST_MEASURES.items()},
                     "within LAs: 10% more spend per head": _within_cell(w, o)})
    return pd.DataFrame(rows)


def _readings(frame: pd.DataFrame, estimate: str, lo: str, hi: str) -> dict[str, int]:
    """Per outcome with a better direction: +1 (clearly better with more cost), −1 (clearly worse) or 0 (unclear)."""
    out = {}
    for r in frame.itertuples():
        o = BY_COLUMN[r.outcome]
        if o.better:
            clear = getattr(r, lo) > 0 or getattr(r, hi) < 0
            out[o.short] = int(np.sign(o.better * getattr(r, estimate))) if clear else 0
    return out


def measures_text(across: pd.DataFrame, within_plan: pd.DataFrame, within_head: pd.DataFrame) -> str:
    """Whether the associations with spend per plan survive measuring spend per head (across and within LAs)."""
    def compare(a: dict[str, int], b: dict[str, int], where: str) -> str:
        clear = [k for k, v in a.items() if v]
        if not clear:
            return f"{where}, no outcome goes clearly with spend per plan."
        kept = [k for k in clear if b[k] == a[k]]
        gone = [k for k in clear if b[k] == 0]
        flipped = [k for k in clear if b[k] == -a[k]]
        new = [k for k, v in b.items() if v and not a[k]]
        parts = [("none keeps its direction" if not kept else
                  f"{len(kept)} keep{'s' if len(kept) == 1 else ''} {'its' if len(kept) == 1 else 'their'} direction")]
        parts += [f"{len(gone)} become{'s' if len(gone) == 1 else ''} unclear ({', '.join(gone)})"] if gone else []
        parts += [f"{len(flipped)} reverse{'s' if len(flipped) == 1 else ''} ({', '.join(flipped)})"] if flipped else []
        text = (f"{where}, of the {len(clear)} outcome{'s that go' if len(clear) > 1 else ' that goes'} clearly with spend per plan, "
                + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] + " when spend is counted per head")
        return text + (f"; {', '.join(new)} go{'es' if len(new) == 1 else ''} clearly with spend per head alone." if new else ".")

    per_plan = _readings(across[across["measure"] == "spend_per_plan"], "median", "q05", "q95")
    per_head = _readings(across[across["measure"] == "spend_per_head"], "median", "q05", "q95")
    return (compare(per_plan, per_head, "Across LAs") + " "
            + compare(_readings(within_plan, "per_10pct", "lo", "hi"), _readings(within_head, "per_10pct", "lo", "hi"), "Within LAs"))


def _clear(frame: pd.DataFrame, estimate: str, lo: str, hi: str) -> tuple[list[str], list[str]]:
    """Outcomes with a better direction whose interval excludes zero, split into (better, worse) with more cost."""
    readings = _readings(frame, estimate, lo, hi)
    return [k for k, v in readings.items() if v > 0], [k for k, v in readings.items() if v < 0]


def _listing(better: list[str], worse: list[str]) -> str:
    """'better A, B and C, and worse D' (outcomes named by their short names)."""
    parts = ([f"better {and_join(better)}"] if better else []) + ([f"worse {and_join(worse)}"] if worse else [])
    return ", and ".join(parts) if parts else "no outcome clearly better or worse"


def across_text(across: pd.DataFrame, measure: str, what: str) -> str:
    """Across LAs: which outcomes go clearly (90 % interval excluding zero) with more of `measure`."""
    better, worse = _clear(across[across["measure"] == measure], "median", "q05", "q95")
    return f"Across LAs, {what} goes with {_listing(better, worse)} (90% intervals excluding zero; the rest unclear)."


def within_text(within: pd.DataFrame) -> str:
    """Within LAs: which outcomes moved clearly with the LA's own spend per plan from year to year."""
    better, worse = _clear(within, "per_10pct", "lo", "hi")
    return ("Within LAs, in years when an LA's spend per plan was higher than its own "
            f"usual (LA and year effects removed), it had {_listing(better, worse)} (90% intervals excluding zero; the "
            "rest unclear).")


def cost_outcome_chart(levels: pd.DataFrame, cost: pd.DataFrame, outcomes: list[str]) -> alt.FacetChart:
    """Small multiples: each LA's spend per plan against its pooled outcome level (point: median; line: 90 %
    interval), LA names on hover."""
    d = levels[levels["outcome"].isin(outcomes)].merge(cost[["la_code", "spend_per_plan", "special_share"]], on="la_code")
    d = d.assign(label=d["outcome"].map(lambda c: BY_COLUMN[c].label),
                 median=d["median"].round(2), q05=d["q05"].round(2), q95=d["q95"].round(2),
                 spend_per_plan=d["spend_per_plan"].round(-1))[["la_name", "label", "median", "q05", "q95", "spend_per_plan"]]
    lo, hi = d["spend_per_plan"].min() * 0.95, d["spend_per_plan"].max() * 1.05
    x = alt.X("spend_per_plan:Q", title="£ per plan", scale=alt.Scale(type="log", domain=[lo, hi], nice=False),
              axis=alt.Axis(format="~s", values=[10_000, 20_000, 30_000, 50_000]))
    base = alt.Chart().encode(x=x)
    bars = base.mark_rule(opacity=0.35).encode(y=alt.Y("q05:Q", title=None, scale=alt.Scale(zero=False)), y2="q95:Q")
    points = base.mark_circle(size=18).encode(y="median:Q", tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("median:Q", title="level"),
                                                                    alt.Tooltip("q05:Q", title="5%"), alt.Tooltip("q95:Q", title="95%"),
                                                                    alt.Tooltip("spend_per_plan:Q", title="£ per plan", format=",.0f")])
    return alt.layer(bars, points, data=d).properties(width=140, height=130).facet(
        facet=alt.Facet("label:N", title=None, sort=[BY_COLUMN[o].label for o in outcomes],
                        header=alt.Header(labelLimit=200, labelFontSize=9)), columns=3
    ).resolve_scale(y="independent")


def rank_chart(score: pd.DataFrame) -> alt.LayerChart:
    """Each LA's combined-score rank (point: median; line: 90 % interval), best first, LA names on hover."""
    d = score.sort_values(["rank", "median"], ascending=[True, False]).assign(order=lambda f: np.arange(1, len(f) + 1))
    d = d[["la_name", "order", "rank", "rank_q05", "rank_q95"]]
    base = alt.Chart(d).encode(x=alt.X("order:Q", title="LAs, best combined score first"))
    return alt.layer(
        base.mark_rule(opacity=0.4).encode(y=alt.Y("rank_q05:Q", title="Rank (1 = best)", scale=alt.Scale(reverse=True)), y2="rank_q95:Q"),
        base.mark_circle(size=14).encode(y="rank:Q", tooltip=[alt.Tooltip("la_name:N", title="LA"), alt.Tooltip("rank:Q", title="rank"),
                                                            alt.Tooltip("rank_q05:Q", title="5%"), alt.Tooltip("rank_q95:Q", title="95%")]),
    ).properties(width=600, height=220)


def pooling_text(model: OutcomeModel) -> str:
    """Which outcomes pooling moves most and least (from `OutcomeModel.shrinkage`)."""
    pulled = model.shrinkage().set_index("outcome")["pulled_in"].sort_values()
    name = lambda c: BY_COLUMN[c].short
    most, least = pulled.index[-2:][::-1], pulled.index[0]
    return (f"Pooling matters most for {name(most[0])} ({100 * pulled[most[0]]:.0f}% of an LA's gap to England removed, at the median) "
            f"and {name(most[1])} ({100 * pulled[most[1]]:.0f}%), where an LA's own years vary most for their size, and least for "
            f"{name(least)} ({100 * pulled[least]:.0f}%), where LAs differ steadily and their own figures settle them.")


def west_sussex_chart(ws: pd.DataFrame, claim: claims.WestSussexClaim = claims.WEST_SUSSEX) -> alt.LayerChart:
    """The annual saving with place funding under each review split (density of draws) against the claimed range (band)."""
    grid = np.linspace(0, 80, 161)
    rows = []
    for split, d in zip(ws["split"], ws["full_cost"]):
        x = -np.asarray(d) / 1e6
        if np.ptp(x) == 0:
            continue
        bw = 1.06 * x.std() * len(x) ** -0.2
        dens = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bw) ** 2).sum(axis=1) / (len(x) * bw * np.sqrt(2 * np.pi))
        rows.append(pd.DataFrame({"split": split, "saving": grid, "density": np.round(dens, 4)}))
    d = pd.concat(rows, ignore_index=True)
    band = alt.Chart(pd.DataFrame({"lo": [claim.claim_low / 1e6], "hi": [claim.claim_high / 1e6]})).mark_rect(opacity=0.12, color="#555").encode(
        x="lo:Q", x2="hi:Q")
    lines = alt.Chart(d).mark_line().encode(
        x=alt.X("saving:Q", title="Annual saving with place funding (£m)"), y=alt.Y("density:Q", title="Posterior density"),
        color=alt.Color("split:N", title="Reviewed children assumed", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)))
    return alt.layer(band, lines).properties(width=560, height=220)


#: The evaluation's outcomes that measure what children get rather than spend or plans.
CHILD_OUTCOMES = ("timeliness_pct", "tribunal_rate", "ks4_att8_ehcp")


def _effect_numbers(row, prefix: str) -> tuple[str, ...]:
    """A row of `experiment.headline_table`'s `prefix` estimate as median, lower and upper end, at the precision its
    Monte Carlo error supports (typographic minus)."""
    return tuple(x.replace("-", "−") for x in programme_effects.interval_numbers(programme_effects.stats(row, prefix)))


def sv_children_text(effects: pd.DataFrame) -> str:
    """The Safety Valve estimates for the evaluation's child outcomes (rows of `experiment.headline_table`)."""
    rows = effects.set_index("outcome").loc[list(CHILD_OUTCOMES)]
    clear = [programme_effects.is_clear(programme_effects.stats(r, "effect")) for r in rows.itertuples()]
    parts = [f"{in_sentence(r.label)} {m} {r.units} (90% interval {lo} to {hi})"
             for r in rows.itertuples() for m, lo, hi in [_effect_numbers(r, "effect")]]
    verdict = ("none of which can be told apart from no difference, which is not the same as showing there is none" if not any(clear) else
               "all of which differ from zero" if all(clear) else
               f"of which {sum(clear)} of {len(clear)} can be told apart from no difference")
    return ("Whether children were better or worse served is what the evaluation's child outcomes would have to show. For Safety "
            f"Valve LAs against matched LAs, they are: {'; '.join(parts)}; {verdict}.")


def sv_robustness_text(effects: pd.DataFrame, sv: dict) -> str:
    """How the Safety Valve spend estimate moves under the evaluation's other comparisons, the later-members one also in £
    (`claims.safety_valve_value`'s `spend_difference_later_waves`)."""
    r = effects.set_index("outcome").loc["hn_spend_per_head"]
    cell = lambda a: "{}% (90% interval {} to {})".format(*_effect_numbers(r, a))
    lower = -sv["spend_difference_later_waves"]
    way, amount = ("lower", lower) if np.median(lower) > 0 else ("higher", -lower)
    return (f"The divergence rests on the evaluation's main comparison, in which Safety Valve LAs' spend per head moved by "
            f"{cell('effect')} against matched LAs'. Compared instead with the programme's later members in the years before "
            f"those joined, it moved by {cell('later_waves')}: applied to the same spend, that would put it about "
            f"{millions(amount, figures=2)} {way} (for scale only: that comparison covers the members "
            f"that had later ones to be compared with). Before the start, against matched LAs, it had already moved by "
            f"{cell('pre_trend')}. The evaluation does not find the spend estimate robust (@sec-programmes), and so nor is this "
            "figure: neither of its intervals carries that disagreement between comparisons.")


def sv_calibrated_text(sv: dict, errors: dict[str, SystematicError]) -> str:
    """The Safety Valve divergence in £ and plans again, with the design's systematic error as the matched placebos show
    it (`claims.safety_valve_value` given `errors`, from `systematic.fit`), and how much that widens the spend interval."""
    spend, plans = errors["hn_spend_per_head"], errors["ehcp_rate"]
    sizes = [round(100 * e.size, 1) for e in (spend, plans)]
    check = (f"Those intervals allow only for chance in the main comparison. As a check on the comparison itself, the same method "
             f"was run on {spend.placebos} placebo groups (@sec-prog-robust): councils in neither programme, given the programme's "
             "start years and matched in the same way, where there was nothing to find. ")
    if not any(sizes):
        return check + "Their results were off zero by no more than chance explains, so the intervals stand as they are."

    def width(draws: np.ndarray) -> float:
        _, lo, hi = interval(draws)
        return hi - lo

    wider = width(sv["spend_difference_calibrated"]) / width(sv["spend_difference"]) - 1
    return (check + "Counting both how far their results were off zero on average and how much more they varied than chance "
            f"explains, the design's own error comes to about {sizes[0]:.1f}% either way in spend per head and {sizes[1]:.1f}% in "
            "plans per head. Allowing for error of that size, in either direction [the empirical calibration of "
            "@schuemie_2014_interpreting; @schuemie_2018_empirical, with the placebos' average error counted as error rather than "
            f"taken off], the spend figure is {millions(-sv['spend_difference_calibrated'], figures=2)} and the plans figure "
            f"{count(-sv['plans_difference_calibrated'], 100)}. That widens the spend interval by about {5 * round(20 * wider):.0f}% (to the "
            "nearest 5%, as the Monte Carlo error of an interval's width allows), and it cannot "
            "allow for how the programme LAs were chosen (the placebo councils had smaller deficits) or for the other comparisons "
            "below, which disagree.")
