"""`python -m analysis fit spend --json`: the spend model fitted and checked, its unit costs by placement type (top-up
and full public cost, with the place funding model of `analysis.models.spend.places`) and the base.

A module of its own so that the spend model's calibration grids, which import the model, do not import the place
funding model and its data: a change there does not send them back to be recomputed."""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import pandas as pd

from analysis.data import panel as panel_module
from analysis.models.spend.data import BM_YEAR, CENTRE_YEAR
from analysis.models.spend.model import SpendModel
from analysis.models.spend.places import PlaceFundingModel


def cli_fit(panel_frame: pd.DataFrame | None = None) -> dict:
    """`python -m analysis fit spend --json`: fit both models (cached), diagnose, report unit costs.

    Returns a JSON-ready dict: unit_costs and full_costs (type → median, q05, q95 in £ per plan per
    year, plan-weighted national, last year), place_funding (per type and per head, with the place
    funding model's checks), base_per_head, the spend model's rhat_max, ess_bulk_min, divergences,
    passed, posterior predictive coverage, years, n_las, n_obs and settings.
    """

    frame = panel_module.load() if panel_frame is None else panel_frame
    start = time.perf_counter()
    model = SpendModel(frame)
    model.fit()
    seconds = time.perf_counter() - start
    places = PlaceFundingModel(frame)
    costs = model.unit_costs(place_part=places.place_part())

    def by_type(measure: str) -> dict:
        rows = costs[costs["measure"] == measure]
        return {r.type: {"median": round(r.median, -2), "q05": round(r.q05, -2), "q95": round(r.q95, -2)} for r in rows.itertuples()}

    base = np.quantile(np.exp(model._draws("log_base") + model._draws("trend_base") * (model.last_year - CENTRE_YEAR)), [0.5, 0.05, 0.95])
    categories = model.category_check()
    return {
        "model": "spend",
        "years": [model.first_year, model.last_year],
        "unit_costs_year": model.last_year,
        "unit_costs": by_type("mean_la"),
        "unit_costs_note": "£ per EHC plan per year paid by the LA, net of place funding (s251 lines 1.2.x), to the nearest £100",
        "full_costs": by_type("full_mean_la"),
        "full_costs_note": "top-up plus the place funding per plan of the type, fitted to LAs' and ESFA's place funding "
                           "(analysis.models.spend.places; the £6,000 element 2 of a state mainstream plan; none for "
                           "independent schools): the full public cost per plan",
        "place_funding": {
            "per_plan": {r.type: {q: round(getattr(r, q), 0 if r.type == "per_head" else -2) for q in ("median", "q05", "q95")}
                         for r in places.table().itertuples()},
            "note": f"£ a year per plan (per_head: per resident aged 2–18, without a plan) fitted to FY {BM_YEAR - 1}-"
                    f"{BM_YEAR % 100:02d} place funding; mainstream: unit and resourced places only (the full cost adds "
                    "the £6,000 element 2 instead)",
            **places.diagnostics().as_dict(),
        },
        "base_per_head": {"median": round(base[0], 1), "q05": round(base[1], 1), "q95": round(base[2], 1),
                          "note": "£ per resident aged 2–18, typical LA: services not tied to a plan"},
        "category_coverage_90": {k: round(float(g["coverage_90"].mean()), 3) for k, g in categories.groupby("category")},
        **model.diagnostics().as_dict(),
        "posterior_predictive": model.posterior_predictive_check(),
        "n_las": len(model.las),
        "n_obs": len(model.data()),
        "fit_seconds": round(seconds, 1),
        "settings": asdict(model.settings),
    }
