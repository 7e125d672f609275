"""The design's systematic error, estimated from placebos, and intervals widened by it (empirical calibration).

A posterior interval for a programme's average difference carries the fit's sampling error: it assumes the
matched comparison is right. Placebo groups (`analysis.evaluation.placebos`: LAs in neither programme, given a
programme's start years and matched the same way, 100 drawn at random and 100 by deficit) have a true effect of
zero, so how far their estimates scatter beyond their own intervals measures what the design adds. As in the
empirical calibration of Schuemie et al. (2014, with negative controls only; 2018 adds positive controls, which
there are none of here), each placebo's estimate θ̂_i, on the model's scale (log for log outcomes), is taken as

    θ̂_i ~ Normal(μ, sqrt(σ² + se_i²)),

se_i its own posterior SD (from its 90% interval), and μ (the design's average error) and σ (its spread) are
fitted by maximum likelihood, both kinds of placebo together.

How it is used differs from theirs in one way. Their calibration subtracts μ. Here μ is counted as error of unknown
sign, added to the spread: a real estimate's draws become θ + e, e ~ Normal(0, sqrt(μ² + σ²)). The placebo LAs
were not selected as the programme LAs were (their deficits were smaller), and the real design's known problem
(spend already falling against matched LAs before the start) is not what the placebos' average shows, so their
average error is a measure of how wrong the design can be, not a correction to apply.

The uncertainty of μ and σ is carried too: they are refitted to `BOOTSTRAP` resamples of the grid's batches
(placebos that shared one fit move together, so batches, not placebos, are resampled), and each draw of the
real estimate takes its error from one refit in turn. The error is assumed the same whatever the true effect
(placebos show it only at zero).

We found no maintained Python package for this; the likelihood is a few lines, so it is written here.

What it cannot carry: error the placebos do not share with the real analysis, such as the programme LAs' own
selection and the choice between comparison designs (matched LAs against later members).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.evaluation import placebos, programmes
from analysis.models.fitting import SEED

#: z of a central 90% interval: a placebo's SD is its interval's width over 2·Z90.
Z90 = float(stats.norm.ppf(0.95))
#: Resamples of the grid's batches, each refitted, for the uncertainty of μ and σ.
BOOTSTRAP = 200


@dataclass(frozen=True)
class SystematicError:
    """The fitted systematic error of one programme's design for one outcome, on the model's scale: `mean` and `sd`
    from all placebos, `replicates` (μ, σ) from each resample of their batches."""

    programme: str
    outcome: str
    placebos: int
    mean: float
    sd: float
    replicates: np.ndarray = field(repr=False)

    @property
    def size(self) -> float:
        """The error's standard deviation as it is added: sqrt(μ² + σ²), μ counted as error of unknown sign."""
        return float(np.hypot(self.mean, self.sd))

    def calibrate(self, draws: np.ndarray, seed: int) -> np.ndarray:
        """`draws` of the real estimate (model scale) with the systematic error added: θ + sqrt(μ_b² + σ_b²)·z, each
        draw taking (μ_b, σ_b) from the replicates in turn."""
        draws = np.asarray(draws, dtype=float)
        sizes = np.hypot(self.replicates[:, 0], self.replicates[:, 1])
        z = np.random.default_rng(seed).standard_normal(draws.shape)
        return draws + np.resize(sizes, draws.shape) * z


def _model_scale(outcome: str, values: pd.Series) -> np.ndarray:
    """Placebo estimates from reporting units back to the model's scale (log for a % difference)."""
    x = values.to_numpy(float)
    return np.log1p(x / 100) if programmes.OUTCOMES[outcome].scale == "log" else x


def _maximum_likelihood(theta: np.ndarray, se: np.ndarray) -> tuple[float, float]:
    """(μ, σ) of θ̂_i ~ Normal(μ, sqrt(σ² + se_i²)): for each σ the best μ is the precision-weighted mean, so only σ is
    searched (between 0 and twice the estimates' SD), and σ = 0 is taken when it is at least as likely."""
    def profile(sd: float) -> tuple[float, float]:
        weight = 1 / (sd**2 + se**2)
        mean = float(np.sum(weight * theta) / np.sum(weight))
        return mean, 0.5 * float(np.sum(-np.log(weight) + weight * (theta - mean) ** 2))

    upper = max(2 * float(theta.std()), 1e-9)
    sd = float(optimize.minimize_scalar(lambda s: profile(s)[1], bounds=(0.0, upper), method="bounded",
                                        options={"xatol": upper * 1e-6}).x)
    if profile(0.0)[1] <= profile(sd)[1]:
        sd = 0.0
    return profile(sd)[0], sd


def fit(results: dict[str, dict], programme: str, outcome: str, bootstrap: int = BOOTSTRAP, seed: int = SEED) -> SystematicError:
    """μ and σ from the placebos of `programme` and `outcome` whose fits passed their checks, and their refits on
    `bootstrap` resamples of the batches. `results`: a stored placebo grid's results (`python -m analysis grid
    placebos`), one entry per batch."""
    batches = [placebos.estimates({key: batch}).assign(batch=key) for key, batch in results.items() if batch["programme"] == programme]
    part = pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(columns=["outcome", "passed", "batch"])
    part = part[(part["outcome"] == outcome) & part["passed"].astype(bool)]
    if len(part) < 10 or part["batch"].nunique() < 2:
        raise ValueError(f"systematic.fit(): {len(part)} passing placebos in {part['batch'].nunique()} batches for {programme}, "
                         f"{outcome}; at least 10 in 2 batches are needed to estimate the design's error (run `python -m "
                         "analysis grid placebos`)")
    theta = _model_scale(outcome, part["median"])
    se = (_model_scale(outcome, part["hi"]) - _model_scale(outcome, part["lo"])) / (2 * Z90)
    mean, sd = _maximum_likelihood(theta, se)
    keys = part["batch"].to_numpy()
    names = np.unique(keys)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(bootstrap):
        rows = np.concatenate([np.flatnonzero(keys == b) for b in rng.choice(names, size=len(names))])
        replicates.append(_maximum_likelihood(theta[rows], se[rows]))
    return SystematicError(programme, outcome, len(part), mean, sd, np.array(replicates))
