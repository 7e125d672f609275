"""Model 2, high-needs spend: each LA's spend as its plans by placement type × unit costs, plus a base per head.

::

    m = SpendModel(panel.load())        # FY 2017-18 … 2024-25 (panel years 2018–2025)
    m.fit(); m.diagnostics()            # cached; R-hat, bulk ESS, divergences
    m.unit_costs()                      # £ per plan per year by placement type (top-up), England
    m.unit_costs(place_part=PlaceFundingModel(panel.load()).place_part())   # with the full public cost (`places`)
    m.la_unit_costs("special_independent")
    m.category_check()                  # each category source against its posterior predictive
    m.growth_decomposition(2019, 2022)  # plans vs placement mix vs unit costs, where categories pin them
    m.benchmark_crosscheck()            # FY 2021-22 outturn by category

Its parts: `data` (the model frame and descriptive spend series), `model` (the
specification, simulation and fitting), `results` (what a fit says),
`calibration` (its SBC and held-out grids), `places` (the place funding per plan
that completes a full cost, and its SBC grid) and `cli` (`fit spend --json`).
"""

from analysis.models.spend.data import (
    BM_YEAR,
    ENGLAND,
    FIRST_YEAR,
    MIN_PLANS,
    PANEL_COLUMNS,
    PLACEMENT_COLUMNS,
    TYPE_LABELS,
    TYPES,
    england_per_head,
    last_financial_year,
    model_frame,
    national_high_needs_cost,
    spend_per_head,
)
from analysis.models.spend.model import (
    BASE_PRIOR,
    PRIORS,
    SETTINGS,
    SpendModel,
    synthetic_panel,
)
from analysis.models.spend.results import lmdi

__all__ = [
    "BASE_PRIOR", "BM_YEAR", "ENGLAND", "FIRST_YEAR", "MIN_PLANS", "PANEL_COLUMNS", "PLACEMENT_COLUMNS", "PRIORS", "SETTINGS", "TYPES", "TYPE_LABELS",
    "SpendModel", "england_per_head", "last_financial_year", "lmdi", "model_frame", "national_high_needs_cost", "spend_per_head",
    "synthetic_panel",
]
