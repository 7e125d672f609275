"""Matched comparison pools for programme cohorts, and covariate balance.

Safety Valve LAs were chosen *because* their high-needs deficits were very
high, and DBV LAs because theirs were high, so the average LA is a poor
comparison. For each cohort (programme, first treated year *g*) every treated
LA is matched to its `K` nearest eligible LAs (never- or not-yet-treated at
the cohort's horizon: `programmes.eligible_controls`), with replacement, on
characteristics measured before treatment (`COVARIATES`, in year *g*−1):

* EHC plans per 10,000 aged 0–25 (log) and their growth (log change per year
  over up to three years to *g*−1),
* shares of plans in independent special and in mainstream schools,
* high-needs spend per head aged 2–18 (log) and its growth over two years,
* the cumulative DSG deficit as % of DSG (its latest value up to *g*−1; the
  panel has it for 2020–2022 only).

Distance: squared Mahalanobis distance on those (pooled within-group
covariance of the cohort's treated and eligible LAs), plus `REGION_PENALTY` when the two LAs are in
different regions and `NEIGHBOUR_PENALTY` when the control is not one of the
treated LA's ten DfE statistical neighbours. A penalty of 1 is what one
covariate one standard deviation apart costs, so region and neighbour status
break near-ties without overriding large differences in the numbers. The
comparison pool of a cohort is the union of its matched LAs, each used once
(`pool`); balance is reported as standardised mean differences (SMD, the
difference in means over the pooled SD of treated and all eligible LAs,
@stuart_2010_matching) before (all eligible LAs) and after (the pool).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.evaluation import programmes

K = 3
REGION_PENALTY = 1.0
NEIGHBOUR_PENALTY = 1.0
COVARIATES = {
    "log_ehcp_rate": "EHC plans per 10,000 (log)",
    "ehcp_growth": "EHC plan growth (log/yr)",
    "share_independent": "% in independent special",
    "share_mainstream": "% in mainstream",
    "log_spend_per_head": "High-needs spend per head (log)",
    "spend_growth": "Spend growth (log/yr)",
    "dsg_deficit_pct": "DSG deficit (% of DSG)",
}


def covariates(panel: pd.DataFrame, g: int) -> pd.DataFrame:
    """Pre-treatment characteristics of every LA for a cohort first treated in year g (index la_code).

    Placement shares are the January g−1 values, or the LA's latest in the two years
    before where g−1 is suppressed or flagged as a reporting break; the DSG deficit is
    the latest at or before g−1 (the series ends in 2022).
    """
    p = panel.set_index(["la_code", "year"]).sort_index()
    rate = programmes.OUTCOMES["ehcp_rate"].values(p.reset_index()).set_axis(p.index)
    spend = programmes.OUTCOMES["hn_spend_per_head"].values(p.reset_index()).set_axis(p.index)
    at = lambda s, y: s.xs(y, level="year") if y in s.index.get_level_values("year") else pd.Series(dtype=float)

    def growth(series: pd.Series, years: int) -> pd.Series:
        """Log change per year from the earliest available of g−1−years … g−2 to g−1."""
        end = at(series, g - 1)
        out = pd.Series(np.nan, index=end.index)
        for lag in range(years, 0, -1):
            start = at(series, g - 1 - lag).reindex(end.index)
            out = out.fillna((end - start) / lag)
        return out

    def latest(series: pd.Series, back: int = 0) -> pd.Series:
        """Each LA's value in g−1, or its latest in the `back` years before (a suppressed or flagged g−1)."""
        values = series.dropna().reset_index()
        values = values[values["year"].between(g - 1 - back, g - 1)].sort_values("year")
        return values.groupby("la_code")[series.name].last()

    deficit = latest(p["dsg_deficit_pct"], back=g)
    frame = pd.DataFrame(
        {
            "log_ehcp_rate": at(rate, g - 1),
            "ehcp_growth": growth(rate, 3),
            "share_independent": latest((100 * p["ehcp_special_independent"] / p["ehcp_total"]).rename("share"), back=2),
            "share_mainstream": latest((100 * p["ehcp_mainstream"] / p["ehcp_total"]).rename("share"), back=2),
            "log_spend_per_head": at(spend, g - 1),
            "spend_growth": growth(spend, 2),
        }
    )
    frame["dsg_deficit_pct"] = deficit.reindex(frame.index)
    frame["region_code"] = p["region_code"].groupby(level="la_code").last().reindex(frame.index)
    return frame


def match(
    features: pd.DataFrame,
    treated: list[str],
    eligible: list[str],
    neighbours: pd.DataFrame | None = None,
    k: int = K,
) -> pd.DataFrame:
    """Each treated LA's k nearest eligible LAs: treated, control, rank, distance.

    Treated LAs with a missing covariate raise `DataError` (naming them);
    eligible LAs with one are left out of the pool (short series of new LAs).
    """
    cols = list(COVARIATES)
    missing = [c for c in treated if c not in features.index or features.loc[c, cols].isna().any()]
    if missing:
        raise DataError(f"matching: treated LA(s) {missing} lack pre-treatment covariates {cols}; check the panel")
    overlap = sorted(set(treated) & set(eligible))
    if overlap:
        raise DataError(f"matching: LA(s) {overlap} are both treated and eligible as controls")
    pool = features.loc[[c for c in eligible if c in features.index]].dropna(subset=cols)
    if len(pool) < k:
        raise DataError(f"matching: only {len(pool)} eligible LAs with complete covariates; need at least {k}")
    t = features.loc[treated, cols].to_numpy(float)
    c = pool[cols].to_numpy(float)
    inv = np.linalg.pinv(_within_covariance(t, c))
    diff = t[:, None, :] - c[None, :, :]
    d2 = np.einsum("tci,ij,tcj->tc", diff, inv, diff)
    d2 += REGION_PENALTY * (features.loc[treated, "region_code"].to_numpy()[:, None] != pool["region_code"].to_numpy()[None, :])
    if neighbours is not None:
        pairs = set(zip(neighbours["la_code"], neighbours["neighbour_code"]))
        is_sn = np.array([[(a, b) in pairs for b in pool.index] for a in treated])
        d2 += NEIGHBOUR_PENALTY * ~is_sn
    rows = []
    for i, code in enumerate(treated):
        order = np.argsort(d2[i], kind="stable")[:k]
        rows += [{"treated": code, "control": pool.index[j], "rank": r + 1, "distance": float(np.sqrt(d2[i, j]))} for r, j in enumerate(order)]
    return pd.DataFrame(rows)


def concentration(matches: pd.DataFrame) -> pd.DataFrame:
    """How much of a design rests on each comparison LA: control, the programme LAs it is matched to (`treated`),
    their share of all programme LAs, and the share of all matched pairs it takes; most-used first (ties by code).

    Matching with replacement lets one LA be the match of many: it then enters the
    comparison pool of each of their cohorts once, but a fault in its series moves
    every one of their estimates, which this shows before any sensitivity does."""
    n_treated, n_pairs = matches["treated"].nunique(), len(matches)
    out = (matches.groupby("control").agg(treated=("treated", "nunique"), pairs=("treated", "size"))
           .reset_index().sort_values(["treated", "control"], ascending=[False, True], kind="stable"))
    out["treated_share"] = out["treated"] / n_treated
    out["pair_share"] = out["pairs"] / n_pairs
    return out.reset_index(drop=True)


def _within_covariance(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Pooled within-group covariance of treated and eligible LAs (as MatchIt does): the covariance of
    the whole sample would count the treated-vs-eligible gap itself as spread and discount it."""
    centred = np.vstack([t - t.mean(axis=0), c - c.mean(axis=0)])
    return centred.T @ centred / (len(centred) - 2)


def smd(features: pd.DataFrame, treated: list[str], controls: list[str], reference: list[str]) -> pd.Series:
    """Standardised mean differences (treated − controls) over the SD pooled from treated and `reference` LAs."""
    cols = list(COVARIATES)
    t, c, r = (features.loc[ix, cols].astype(float) for ix in (treated, controls, reference))
    sd = np.sqrt((t.var() + r.var()) / 2)
    return (t.mean() - c.mean()) / sd


def exclude_deficit_like(features: pd.DataFrame, eligible: list[str], threshold: float, candidates: set[str]) -> list[str]:
    """Eligible LAs, less the `candidates` whose latest pre-period DSG deficit is above `threshold`.

    Used for the sensitivity analysis on the two unidentified Safety Valve
    members: they had very high deficits and their names sort after "Norfolk"
    (the `candidates`), so LAs that fit both are removed from the comparison pool.
    """
    deficit = features["dsg_deficit_pct"].reindex(eligible)
    return [c for c in eligible if not (c in candidates and deficit[c] > threshold)]
