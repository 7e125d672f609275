"""pyfixest's two-stage difference-in-differences as the study calls it: on simulated LA-years (labelled: made
here, with a known effect) it recovers the effect, equals the least-squares imputation computed by hand, and
weighs each programme LA once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.evaluation import two_stage


def _rows(effect: float, seed: int = 0) -> pd.DataFrame:
    """Simulated imputation rows: 60 LAs, 2016–2025, LA and year effects, AR(1) noise; 20 LAs start in 2022 or
    2024 with a constant effect on the log scale; every row up to three years after the start."""
    rng = np.random.default_rng(seed)
    las, years = [f"L{i:02d}" for i in range(60)], np.arange(2016, 2026)
    alpha, lam = rng.normal(0, 0.3, len(las)), np.cumsum(rng.normal(0.04, 0.02, len(years)))
    rows = []
    for i, la in enumerate(las):
        g = (2022 if i < 10 else 2024) if i < 20 else np.inf
        u = 0.0
        for t, year in enumerate(years):
            u = 0.5 * u + rng.normal(0, 0.03)
            treated = int(year >= g)
            rows.append({"la_code": la, "year": int(year), "y": alpha[i] + lam[t] + u + effect * treated, "g": g, "treated": treated})
    frame = pd.DataFrame(rows)
    return frame[~(frame["year"] - frame["g"] > 3)].reset_index(drop=True)


def _by_hand(rows: pd.DataFrame) -> float:
    """The least-squares imputation: LA and year effects fitted to untreated rows, each treated LA's mean gap,
    averaged over LAs."""
    untreated = rows[rows["treated"] == 0]
    X = pd.get_dummies(untreated[["la_code", "year"]].astype(str), drop_first=False).to_numpy(float)
    beta = np.linalg.lstsq(X, untreated["y"].to_numpy(), rcond=None)[0]
    columns = pd.get_dummies(untreated[["la_code", "year"]].astype(str)).columns
    treated = rows[rows["treated"] == 1]
    Xt = pd.get_dummies(treated[["la_code", "year"]].astype(str)).reindex(columns=columns, fill_value=0).to_numpy(float)
    gap = treated["y"].to_numpy() - Xt @ beta
    return float(pd.Series(gap).groupby(treated["la_code"].to_numpy()).mean().mean())


def test_the_two_stage_estimate_recovers_a_known_effect_and_is_the_least_squares_imputation():
    rows = _rows(0.05)
    mid, lo, hi = two_stage.fit(rows)
    assert lo < 0.05 < hi and lo > 0
    assert abs(mid - _by_hand(rows)) < 1e-8
    zero = two_stage.fit(_rows(0.0))
    assert zero[1] < 0 < zero[2]


def test_a_singleton_la_is_left_out_before_pyfixest_would_misalign_the_weights():
    rows = _rows(0.05)
    single = pd.DataFrame({"la_code": ["S"], "year": [2018], "y": [1.0], "g": [np.inf], "treated": [0]})
    both = pd.concat([rows, single], ignore_index=True)
    pd.testing.assert_frame_equal(two_stage.usable(both), rows)
    assert two_stage.fit(two_stage.usable(both)) == two_stage.fit(rows)
