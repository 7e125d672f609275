"""Model 1, EHC plan growth: a hierarchical negative-binomial panel model of active plans by LA and January.

An experiment-like object in the style of CausalPy and the PyMC examples::

    m = EHCPModel(panel.load())                 # 2016 to the panel's last January, variant "full"
    idata = m.fit()                             # cached by model + data + sampler settings
    m.diagnostics()                             # R-hat, bulk ESS, divergences
    m.forecast()                                # to January m.forecast_to: LA and England, with intervals
    EHCPModel(panel.load(), holdout=m.last_year).holdout_scores()
    m.loo_compare()                             # full vs pooled / unpooled / no_mix

Its parts, each readable on its own: `data` (the model frame), `model` (the
specification, simulation and fitting), `predict` (checks, forecasts, held-out
scores, LOO) and `scores` (CRPS, coverage, naive baselines).
"""

from analysis.models.ehcp.data import (
    CENTRE_YEAR,
    ENGLAND,
    FIRST_YEAR,
    FORECAST_YEARS,
    MIX,
    last_january,
    model_frame,
    synthetic_panel,
)
from analysis.models.ehcp.model import (
    SETTINGS,
    VARIANTS,
    EHCPModel,
    cli_fit,
    holdout_range,
    settings_for,
)
from analysis.models.ehcp.predict import LOO_VARIANTS
from analysis.models.ehcp.scores import (
    crps_draws,
    interval_coverage,
    naive_forecasts,
    score_draws,
)

__all__ = [
    "CENTRE_YEAR", "ENGLAND", "FIRST_YEAR", "FORECAST_YEARS", "LOO_VARIANTS", "MIX", "SETTINGS", "VARIANTS",
    "EHCPModel", "cli_fit", "crps_draws", "holdout_range", "interval_coverage", "last_january", "model_frame", "naive_forecasts",
    "score_draws", "settings_for", "synthetic_panel",
]
