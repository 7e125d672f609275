"""Rolling-origin backtests: fit to the Januaries up to an origin, forecast one to four years ahead, score.

A held-out January that shaped the model's design is no clean test of it. Here the
model is refitted as it would have been at each origin — January 2019, 2020, 2021
and 2022 the last January seen — and its forecasts for the following Januaries (up
to four years, as far as the panel reaches) are scored against what was later
published: coverage of the central 50% and 90% intervals, and CRPS (plans), for
every LA alive at the origin. Three baselines are scored the same way:

- *last count*: the origin's count, unchanged;
- *last growth*: the origin's count carried forward at the LA's growth over the
  year before the origin;
- *ETS*: automatic exponential smoothing (`statsforecast.AutoETS`, additive
  errors, trend chosen by AICc) of each LA's log count over every January up to
  the origin (from 2010), with its own 50% and 90% intervals, and a random walk with
  drift where a series is too short, and the last count (with the others' median
  spread) for a successor LA with a single January; its CRPS treats its predictive
  as log-normal with the spread of its 90% interval.

Each origin is one grid task (`analysis.grid`); `run` collects them and the
summary is stored as `results/backtest.json` (`python -m analysis grid backtest`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis import grid
from analysis.models.ehcp.scores import crps_draws, interval_coverage
from analysis.models.ehcp.data import last_january

ORIGINS = (2019, 2020, 2021, 2022)
HORIZONS = (1, 2, 3, 4)
#: The grid CI re-runs and compares with the stored result (one origin, every horizon it has).
REDUCED = (2022,)
METHODS = ("model", "ets", "last_growth", "last_count")
_Z90 = 1.6448536269514722


def origin_scores(origin: int) -> dict:
    """Fit the model to 2016 … `origin`, forecast what follows, score it and the baselines, per horizon."""
    from analysis.data import panel
    from analysis.models.ehcp.model import EHCPModel

    model = EHCPModel(panel.load(), last_year=origin)
    frame = model.panel  # reporting breaks masked: flagged counts are neither fitted nor scored
    last = last_january(frame)
    to_year = min(origin + max(HORIZONS), last)
    model.fit()
    draws_by_year = model.predictive_draws(to_year)
    counts = frame.pivot_table(index="la_code", columns="year", values="ehcp_total")
    ets = _ets(counts, origin, to_year - origin)
    out = {}
    for year, (codes, draws) in draws_by_year.items():
        actual = counts[year].reindex(codes)
        keep = actual.notna().to_numpy() & counts[origin].reindex(codes).notna().to_numpy()
        codes = [c for c, k in zip(codes, keep) if k]
        y, d = actual[keep].to_numpy(), draws[keep]
        base = counts[origin].reindex(codes).to_numpy()
        before = counts.get(origin - 1, pd.Series(dtype=float)).reindex(codes).to_numpy()
        growth = np.where(np.isfinite(before) & (before > 0), base / before, np.nan)
        growth = np.where(np.isfinite(growth), growth, np.nanmedian(growth))
        h = year - origin
        e = ets[ets["year"] == year].set_index("la_code").reindex(codes)
        out[str(h)] = {
            "year": year, "n_las": len(codes),
            "coverage_50": {"model": interval_coverage(d, y, 0.5), "ets": _inside(y, e["lo50"], e["hi50"])},
            "coverage_90": {"model": interval_coverage(d, y, 0.9), "ets": _inside(y, e["lo90"], e["hi90"])},
            "crps": {"model": float(crps_draws(d, y).mean()), "ets": float(_lognormal_crps(e["median"], e["sigma"], y).mean()),
                     "last_growth": float(np.abs(base * growth**h - y).mean()), "last_count": float(np.abs(base - y).mean())},
            "england": {"observed": float(y.sum()), "median": float(np.median(d.sum(axis=0))),
                        "q05": float(np.quantile(d.sum(axis=0), 0.05)), "q95": float(np.quantile(d.sum(axis=0), 0.95))},
        }
    return {"origin": origin, "horizons": out}


def tasks(reduced: bool = False) -> list[grid.Task]:
    """One task per origin: every origin, or CI's `REDUCED` subset."""
    return [grid.Task(f"origin-{o}", origin_scores, {"origin": o}) for o in (REDUCED if reduced else ORIGINS)]


def _inside(y: np.ndarray, lo: pd.Series, hi: pd.Series) -> float:
    return float(np.mean((y >= lo.to_numpy()) & (y <= hi.to_numpy())))


def _ets(counts: pd.DataFrame, origin: int, h: int) -> pd.DataFrame:
    """AutoETS forecasts of each LA's log count from its Januaries up to `origin`, back on the count scale."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, RandomWalkWithDrift

    history = counts.loc[:, [c for c in counts.columns if c <= origin]]
    alive = history[origin].dropna().index
    long = history.loc[alive].stack().rename("y").reset_index().rename(columns={"la_code": "unique_id", "year": "ds"})
    long = long[long["y"] > 0].assign(y=lambda d: np.log(d["y"]))
    sf = StatsForecast(models=[AutoETS(season_length=1, model="ZZN")], freq=1, n_jobs=1, fallback_model=RandomWalkWithDrift())
    enough = long.groupby("unique_id")["y"].transform("size") >= 2  # a successor LA's single January: last count instead
    with warnings.catch_warnings():  # short series make the fallback's variance formula divide by zero: expected
        warnings.simplefilter("ignore", RuntimeWarning)
        fc = sf.forecast(df=long[enough], h=h, level=[50, 90])
    lo90, hi90 = np.minimum(fc["AutoETS-lo-90"], fc["AutoETS-hi-90"]), np.maximum(fc["AutoETS-lo-90"], fc["AutoETS-hi-90"])
    lo50, hi50 = np.minimum(fc["AutoETS-lo-50"], fc["AutoETS-hi-50"]), np.maximum(fc["AutoETS-lo-50"], fc["AutoETS-hi-50"])
    out = pd.DataFrame({"la_code": fc["unique_id"], "year": fc["ds"].astype(int), "median": np.exp(fc["AutoETS"]),
                        "lo50": np.exp(lo50), "hi50": np.exp(hi50), "lo90": np.exp(lo90), "hi90": np.exp(hi90),
                        "sigma": (hi90 - lo90) / (2 * _Z90)})
    short = sorted(set(alive) - set(out["la_code"]))
    if short:  # the last count, with the median spread of the others at that horizon
        last = history.loc[short, origin]
        spread = out.groupby("year")["sigma"].median()
        rows = [{"la_code": c, "year": y, "median": last[c], "sigma": spread[y]} for c in short for y in spread.index]
        extra = pd.DataFrame(rows)
        for level, z in (("50", 0.6744897501960817), ("90", _Z90)):
            extra[f"lo{level}"] = extra["median"] * np.exp(-z * extra["sigma"])
            extra[f"hi{level}"] = extra["median"] * np.exp(z * extra["sigma"])
        out = pd.concat([out, extra[out.columns]], ignore_index=True)
    return out


def _lognormal_crps(median: pd.Series, sigma: pd.Series, y: np.ndarray, n: int = 2000) -> np.ndarray:
    """CRPS of log-normal predictives (median, σ of the log), by quasi-random quantiles (deterministic)."""
    u = (np.arange(n) + 0.5) / n
    from scipy.stats import norm

    draws = median.to_numpy()[:, None] * np.exp(np.maximum(sigma.to_numpy(), 1e-9)[:, None] * norm.ppf(u)[None, :])
    return crps_draws(draws, y)


def summary(results: dict[str, dict]) -> pd.DataFrame:
    """Long table: origin, horizon, year, n_las, method, coverage_50, coverage_90, crps."""
    rows = []
    for r in results.values():
        for h, s in r["horizons"].items():
            for m in METHODS:
                rows.append({"origin": r["origin"], "horizon": int(h), "year": s["year"], "n_las": s["n_las"], "method": m,
                             "coverage_50": s["coverage_50"].get(m), "coverage_90": s["coverage_90"].get(m), "crps": s["crps"][m]})
    return pd.DataFrame(rows)


def england(results: dict[str, dict]) -> pd.DataFrame:
    """Each backtest forecast of England's total (the sum over the LAs forecast at that origin) against the
    published sum: origin, horizon, year, observed, median, q05, q95, error (median / observed − 1) and whether
    the observed total fell inside the 90% interval."""
    rows = [{"origin": r["origin"], "horizon": int(h), "year": s["year"], **s["england"]}
            for r in results.values() for h, s in r["horizons"].items()]
    t = pd.DataFrame(rows).sort_values(["origin", "horizon"], ignore_index=True)
    return t.assign(error=t["median"] / t["observed"] - 1, inside=(t["q05"] <= t["observed"]) & (t["observed"] <= t["q95"]))


#: Share of the England backtests above the published total from which the national forecast is said to run high.
RUNS_HIGH = 0.8


def runs_high(england: pd.DataFrame) -> bool:
    """Whether the England backtests (`england`) were above the published total often enough (`RUNS_HIGH`)
    to say that the national forecast runs high."""
    return bool((england["error"] > 0).mean() >= RUNS_HIGH)


def by_horizon(results: dict[str, dict]) -> pd.DataFrame:
    """Per horizon and method: coverage and CRPS averaged over origins (weighted by LAs)."""
    s = summary(results)
    cols = ["coverage_50", "coverage_90", "crps"]
    weighted = s[cols].mul(s["n_las"], axis=0).assign(horizon=s["horizon"], method=s["method"], n_las=s["n_las"])
    g = weighted.groupby(["horizon", "method"], sort=False)
    out = g[cols].sum(min_count=1).div(g["n_las"].sum(), axis=0)
    out.insert(0, "origins", s.groupby(["horizon", "method"], sort=False)["origin"].nunique())
    return out.reset_index()
