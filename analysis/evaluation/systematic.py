"""The design's systematic error, estimated from placebos, and intervals widened by it (empirical calibration).

A posterior interval for a programme's average difference carries the fit's sampling error: it assumes the
matched comparison is right. Placebo groups (`analysis.evaluation.placebos`: LAs in neither programme, labelled
treated with a programme's timing and matched the same way) have a true effect of zero, so how far their estimates
scatter beyond their own intervals measures what the design adds. Following Schuemie et al. (2018), each placebo's
estimate θ̂_i, on the model's scale (log for log outcomes), is taken as

    θ̂_i ~ Normal(μ, sqrt(σ² + se_i²)),

se_i its own posterior SD (from its 90% interval), and μ (the design's average error) and σ (its spread) are
fitted by maximum likelihood. A real estimate's draws are then calibrated as θ − μ + σ·z, z standard normal: the
centre moved by the design's average error, the spread widened by its scatter. This assumes the error is the same
whatever the true effect (placebos only show it at zero), and leaves out the uncertainty of μ and σ themselves
(small beside σ with a couple of hundred placebos). The R package EmpiricalCalibration
does this for negative controls in epidemiology; no Python library does, and the likelihood is two lines, so it
is written here.

What it cannot carry: error the placebos do not share with the real analysis. Placebo LAs are drawn from LAs in
neither programme, whose deficits were smaller, so the programme LAs' own selection, and the choice between
comparison designs (matched LAs against later members), stay outside any calibrated interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.evaluation import programmes

#: z of a central 90% interval: a placebo's SD is its interval's width over 2·Z90.
Z90 = float(stats.norm.ppf(0.95))
#: Bounds of log σ in the fit (σ from e^-12, effectively none, to e^3).
LOG_SD_BOUNDS = (-12.0, 3.0)


@dataclass(frozen=True)
class SystematicError:
    """The fitted systematic error of one programme's design for one outcome, on the model's scale."""

    programme: str
    outcome: str
    placebos: int
    mean: float
    sd: float

    def calibrate(self, draws: np.ndarray, seed: int) -> np.ndarray:
        """`draws` of the real estimate (model scale) with the systematic error added: θ − μ + σ·z."""
        z = np.random.default_rng(seed).standard_normal(np.shape(draws))
        return np.asarray(draws) - self.mean + self.sd * z


def _model_scale(outcome: str, values: pd.Series) -> np.ndarray:
    """Placebo estimates from reporting units back to the model's scale (log for a % difference)."""
    x = values.to_numpy(float)
    return np.log1p(x / 100) if programmes.OUTCOMES[outcome].scale == "log" else x


def fit(estimates: pd.DataFrame, programme: str, outcome: str) -> SystematicError:
    """μ and σ by maximum likelihood from the placebos of `programme` and `outcome` whose fits passed their checks.

    `estimates`: `placebos.estimates` (programme, outcome, median, lo, hi in reporting units, passed)."""
    part = estimates[(estimates["programme"] == programme) & (estimates["outcome"] == outcome) & estimates["passed"]]
    if len(part) < 10:
        raise ValueError(f"systematic.fit(): {len(part)} passing placebos for {programme}, {outcome}; at least 10 are "
                         "needed to estimate the design's error (run `python -m analysis grid placebos`)")
    theta = _model_scale(outcome, part["median"])
    se = (_model_scale(outcome, part["hi"]) - _model_scale(outcome, part["lo"])) / (2 * Z90)

    def negative_log_likelihood(params: np.ndarray) -> float:
        variance = np.exp(2 * params[1]) + se**2
        return 0.5 * float(np.sum(np.log(variance) + (theta - params[0]) ** 2 / variance))

    start = [float(theta.mean()), float(np.clip(np.log(theta.std()), *LOG_SD_BOUNDS))]
    result = optimize.minimize(negative_log_likelihood, start, method="L-BFGS-B", bounds=[(None, None), LOG_SD_BOUNDS])
    if not result.success:
        raise RuntimeError(f"systematic.fit(): the likelihood for {programme}, {outcome} did not converge: {result.message}")
    return SystematicError(programme, outcome, len(part), float(result.x[0]), float(np.exp(result.x[1])))
