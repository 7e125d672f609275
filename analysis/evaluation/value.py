"""What LAs spend set against what children get: cost measures per LA, combined outcome scores under stated
weights, and how cost and outcomes go together across LAs and within LAs over time.

Everything here is an association. LAs that spend more per plan differ in many ways (need, deprivation,
the mix of needs, the local market for places), and outcomes move for reasons spend does not touch, so no
number here says what spending more or less would do.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pandas as pd
import pyfixest as pf

from analysis.data import breaks
from analysis.models.fitting import SEED
from analysis.models.outcomes import OUTCOMES, ChildOutcome, OutcomeModel
from analysis.models.spend.data import type_counts

#: Weightings of the combined score: equal, and each group of outcomes alone.
WEIGHTINGS = {"equal": None, "process only": "process", "education only": "education",
              "transition only": "transition", "attendance and behaviour only": "attendance"}


def costs(panel: pd.DataFrame, year: int, place_part: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per LA in financial year `year`: spend per head aged 2–18, per plan, full public cost per plan (spend plus
    the place funding of each plan, at the posterior median of its type's `place_part`, from
    `PlaceFundingModel.place_part`: the full costs of chapter 4) and the share of plans in special schools.
    An LA whose plan count that January is a reporting break (`analysis.data.breaks`) has no per-plan figures or
    shares, but keeps its spend per head, which does not rest on that count; one whose placement breakdown is
    suppressed or flagged has no full cost (its place funding cannot be counted)."""
    panel = breaks.mask(panel)
    p = panel[(panel["year"] == year) & panel["hn_spend"].notna()].copy()
    p["ehcp_total"] = p["ehcp_total"].where(p["ehcp_total"] > 0)
    counts = type_counts(p)
    place = sum(counts[f"n_{k}"] * float(np.median(draws)) for k, draws in place_part.items())
    return pd.DataFrame({
        "la_code": p["la_code"], "la_name": p["la_name"], "year": year,
        "spend_per_head": p["hn_spend"] / p["pop_2_18"],
        "spend_per_plan": p["hn_spend"] / p["ehcp_total"],
        "full_cost_per_plan": (p["hn_spend"] + place) / p["ehcp_total"],
        "special_share": (p["ehcp_special_state"] + p["ehcp_special_independent"]) / p["ehcp_total"],
        "independent_share": p["ehcp_special_independent"] / p["ehcp_total"],
    }).reset_index(drop=True)


#: Share of the chosen outcomes an LA needs data for to be scored (fewer, and its score is not comparable).
MIN_SHARE = 0.7


def combined(model: OutcomeModel, group: str | None = None) -> pd.DataFrame:
    """Each LA's combined score: the mean over outcomes with a better direction (or those of `group`) of its
    standardised level, signed so that higher is better; per draw, so its rank has an interval. LAs with data
    for at least `MIN_SHARE` of the outcomes are scored, on those they have. Columns: la_code, la_name, outcomes, median, q05, q95, rank,
    rank_q05, rank_q95 (1 = best)."""
    draws, seen = model.level_draws(), model.observed()
    chosen = [o for o in model.outcomes if o.better != 0 and (group is None or o.group == group)]
    total = np.zeros((next(iter(draws.values())).shape[0], len(model.las)))
    count = np.zeros(len(model.las))
    for o in chosen:
        have = np.isin(model.las, seen.loc[seen["outcome"] == o.column, "la_code"])
        x = o.better * (draws[o.column] - model.stats.at[o.column, "mean"]) / model.stats.at[o.column, "std"]
        total[:, have] += x[:, have]
        count[have] += 1
    keep = count >= MIN_SHARE * len(chosen)
    score = total[:, keep] / count[keep]
    ranks = (-score).argsort(axis=1).argsort(axis=1) + 1
    q, r = np.quantile(score, [0.5, 0.05, 0.95], axis=0), np.quantile(ranks, [0.5, 0.05, 0.95], axis=0)
    codes = np.array(model.las)[keep]
    return pd.DataFrame({"la_code": codes, "la_name": model.la_names.reindex(codes).to_numpy(), "outcomes": count[keep].astype(int),
                         "median": q[0], "q05": q[1], "q95": q[2], "rank": r[0], "rank_q05": r[1], "rank_q95": r[2]})


def weightings(model: OutcomeModel) -> pd.DataFrame:
    """How rankings move under other weights: each weighting's median rank per LA (columns), with the
    largest move of each LA's median rank from the equal-weight one."""
    ranks = {name: combined(model, group).set_index("la_code")["rank"] for name, group in WEIGHTINGS.items()}
    out = pd.DataFrame(ranks)
    out["largest_move"] = out.drop(columns="equal").sub(out["equal"], axis=0).abs().max(axis=1)
    return out


def across_las(model: OutcomeModel, cost: pd.DataFrame, measures: tuple[str, ...] = ("spend_per_plan", "special_share")) -> pd.DataFrame:
    """Correlation across LAs between each cost measure (log for money) and each outcome's pooled level, per
    posterior draw, with the sampling error of a correlation over this many LAs added (median and 90 % interval),
    oriented so that
    a positive value means more cost goes with better outcomes where one direction is better."""
    draws, seen = model.level_draws(), model.observed()
    rows = []
    for o in model.outcomes:
        for m in measures:
            # one generator per (outcome, measure), so a correlation does not depend on which others were asked for
            rng = np.random.default_rng([SEED, zlib.crc32(f"{o.column}:{m}".encode())])
            have = cost.dropna(subset=[m]).set_index("la_code")[m]
            codes = [c for c in seen.loc[seen["outcome"] == o.column, "la_code"] if c in have.index]
            x = draws[o.column][:, [model.las.index(c) for c in codes]]
            c = have.loc[codes].to_numpy(float)
            c = np.log(c) if m.startswith(("spend", "full")) else c
            xc = x - x.mean(axis=1, keepdims=True)
            cc = (c - c.mean()) / c.std()
            r = (xc @ cc) / (len(c) * xc.std(axis=1))
            # add the sampling error of a correlation over these LAs (Fisher's z), drawn with a fixed seed
            r = np.tanh(np.arctanh(r) + rng.standard_normal(r.shape) / np.sqrt(len(c) - 3))
            q = np.quantile(r, [0.5, 0.05, 0.95])
            rows.append({"outcome": o.column, "measure": m, "las": len(codes), "median": q[0], "q05": q[1], "q95": q[2]})
    return pd.DataFrame(rows)


#: What spend is divided by, for `within_las`: a plan, or a head of the 2–18 population the high-needs block serves.
PER = {"plan": "ehcp_total", "head": "pop_2_18"}


def within_las(panel: pd.DataFrame, outcomes: tuple[ChildOutcome, ...] = OUTCOMES, per: str = "plan") -> pd.DataFrame:
    """Within LAs over time: each outcome regressed on log spend per plan (or, with `per="head"`, per head aged
    2–18) with LA and year fixed effects (pyfixest), LA-clustered standard errors. The coefficient is the change
    in the outcome, in its own units (not signed for better or worse), that goes with 10 % more spend per plan
    (per head) in the same LA. LA-years whose plan count is a reporting break are left out.

    The two denominators answer different questions: spend per plan falls when plans grow faster than budgets,
    spend per head does not, so an association that holds under one and not the other is about who has a plan."""
    if per not in PER:
        raise KeyError(f"within_las(): per must be one of {list(PER)}, not {per!r}")
    panel = breaks.mask(panel)
    p = panel[panel["hn_spend"].notna() & (panel[PER[per]] > 0)].copy()
    p["log_spend"] = np.log(p["hn_spend"] / p[PER[per]])
    rows = []
    for o in outcomes:
        d = p.dropna(subset=[o.column]).assign(y=lambda f: f[o.column])
        with warnings.catch_warnings():  # LAs with one year of an outcome are dropped (singleton fixed effects)
            warnings.filterwarnings("ignore", message=".*singleton fixed effect", category=UserWarning)
            fit = pf.feols("y ~ log_spend | la_code + year", data=d, vcov={"CRV1": "la_code"})
        b, se = float(fit.coef().iloc[0]), float(fit.se().iloc[0])
        scale = np.log(1.1)
        rows.append({"outcome": o.column, "per": per, "la_years": int(fit._N), "years": f"{int(d['year'].min())}–{int(d['year'].max())}",
                     "per_10pct": b * scale, "lo": (b - 1.645 * se) * scale, "hi": (b + 1.645 * se) * scale})
    return pd.DataFrame(rows)
