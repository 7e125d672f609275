"""Scoring forecasts of counts: CRPS, interval coverage, and the two naive baselines a model must beat."""

from __future__ import annotations

import numpy as np
import pandas as pd


def crps_draws(draws: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """CRPS of the empirical predictive distribution of `draws` (…, n_draws) at `observed` (…).

    Energy form, E|X − y| − ½ E|X − X'|, with both expectations over the empirical
    distribution (so a point mass scores exactly the absolute error). E|X − X'| uses
    the sorted-sample identity (2/n²) Σ_k (2k − n − 1) x_(k), O(n log n).
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=-1)
    y = np.asarray(observed, dtype=float)[..., None]
    n = x.shape[-1]
    first = np.abs(x - y).mean(axis=-1)
    weights = 2 * np.arange(1, n + 1) - n - 1
    spread = 2.0 * (x * weights).sum(axis=-1) / n**2
    return first - 0.5 * spread


def interval_coverage(draws: np.ndarray, observed: np.ndarray, width: float) -> float:
    """Share of `observed` inside the central `width` interval of their predictive `draws`."""
    lo, hi = np.quantile(draws, [(1 - width) / 2, (1 + width) / 2], axis=-1)
    y = np.asarray(observed, dtype=float)
    return float(np.mean((y >= lo) & (y <= hi)))


def score_draws(draws: np.ndarray, observed: np.ndarray) -> dict:
    """Coverage of the 50 % and 90 % intervals, mean CRPS (plans) and mean CRPS relative to the count."""
    crps = crps_draws(draws, observed)
    y = np.asarray(observed, dtype=float)
    return {
        "coverage_50": interval_coverage(draws, y, 0.5),
        "coverage_90": interval_coverage(draws, y, 0.9),
        "crps": float(crps.mean()),
        "crps_relative": float((crps / y).mean()),
        "mae_median": float(np.abs(np.median(draws, axis=-1) - y).mean()),
    }


def naive_forecasts(panel: pd.DataFrame, year: int, las: list[str]) -> pd.DataFrame:
    """The two naive point forecasts of January `year` for `las`, from the panel's counts.

    `last_count`: the January year−1 count. `last_growth`: year−1 count × (year−1 / year−2);
    an LA without a year−2 count (a new LA) takes England's growth over those two Januaries.
    """
    counts = panel.pivot_table(index="la_code", columns="year", values="ehcp_total")
    prev, prev2 = counts.get(year - 1), counts.get(year - 2)
    both = counts[[year - 1, year - 2]].dropna()
    national = both[year - 1].sum() / both[year - 2].sum()
    out = pd.DataFrame(index=pd.Index(las, name="la_code"))
    out["last_count"] = prev.reindex(las).to_numpy()
    growth = (prev / prev2).reindex(las).fillna(national).to_numpy()
    out["last_growth"] = out["last_count"] * growth
    return out


def naive_error_sd(panel: pd.DataFrame, first: int, last: int) -> dict[str, float]:
    """SD of each naive method's log one-step errors over Januaries first..last (all LAs)."""
    errors: dict[str, list] = {"last_count": [], "last_growth": []}
    for year in range(first, last + 1):
        actual = panel[panel["year"] == year].set_index("la_code")["ehcp_total"].dropna()
        naive = naive_forecasts(panel, year, list(actual.index)).dropna()
        for k in errors:
            errors[k] += list(np.log(actual.reindex(naive.index) / naive[k]).dropna())
    return {k: float(np.std(v)) for k, v in errors.items()}
