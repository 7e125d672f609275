"""England's unit costs as the chapters and the key findings show them, each at the precision its Monte Carlo
error supports, and the published costs per plan they are set beside.

A module of its own, importing the spend model and nothing that draws charts or maps, so that a chapter quoting
a unit cost does not depend on the map boundaries the spend chapter's figures use."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.models.fitting import quantile
from analysis.models.spend import BM_YEAR, TYPES, SpendModel
from analysis.models.spend.results import full_cost
from analysis.report.precision import interval_places


def england_average_draws(model: SpendModel, year: int) -> dict[str, np.ndarray]:
    """Per placement type: draws (stacked chain by chain) of England's plan-weighted average unit cost in `year`,
    the model's national spend on the type over its plans (`unit_costs`' `mean_la`)."""
    comp = model.components(year)
    rows = np.flatnonzero(model.data()["year"].to_numpy() == year)
    plans = model.counts()[rows].sum(axis=0)
    return {k: comp[k].sum(axis=1) / plans[j] for j, k in enumerate(TYPES)}


def unit_costs(model: SpendModel, year: int | None = None, place_part: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """`model.unit_costs(year, place_part)` with the places (`precision.places`: −2 is £100, −3 £1,000) that each
    median (`mid_places`) and both ends of its interval (`end_places`) support, given their Monte Carlo errors, and
    never finer than £100: what the chapter and the key findings show."""
    year = model.last_year if year is None else year
    chains = model.settings.chains
    mean = england_average_draws(model, year)
    typical = model.fit().posterior["cost"].sel(year=year).stack(sample=("chain", "draw")).transpose("sample", "type").values
    full = full_cost_draws(model, place_part, year) if place_part is not None else {}
    rows = []
    for j, k in enumerate(TYPES):
        for measure, draws in (("mean_la", mean[k]), ("typical_la", typical[:, j]), ("full_mean_la", full.get(k))):
            if draws is not None:
                mid, ends = interval_places(*(quantile(draws, chains, p)[1] for p in (0.5, 0.05, 0.95)), most=-2)
                rows.append({"type": k, "measure": measure, "mid_places": mid, "end_places": ends})
    return model.unit_costs(year, place_part).merge(pd.DataFrame(rows), on=["type", "measure"], validate="one_to_one")


def cost_text(r: pd.Series, interval: bool = True) -> str:
    """'£60,100 (90% interval £58,800 to £61,400)' for a row of `unit_costs`, each figure at its supported precision."""
    at = lambda x, places: f"£{round(x, int(places)):,.0f}"  # noqa: E731  (places ≤ −2: whole pounds)
    mid = at(r["median"], r["mid_places"])
    return f"{mid} (90% interval {at(r['q05'], r['end_places'])} to {at(r['q95'], r['end_places'])})" if interval else mid


class PublishedCost(NamedTuple):
    """A published cost per plan: its source's bibliography key, the financial year it is for (by its end), the
    placement, £ per plan per year, what it measures (as the table shows it) and, for a figure split by where the
    school is, where (as a sentence says it)."""

    source: str
    year: int
    placement: str
    value: int
    what: str
    where: str = ""


#: Published costs per plan, for comparison with the model (never used in it). DfE's figures are spending on
#: independent and non-maintained special schools (with the £10,000 non-maintained place funding) over the plans
#: placed there [@dfe_pq_100030_2026]; the others are councils' freedom-of-information returns [@tes_2018_private;
#: @schoolsweek_2026_private].
PUBLISHED_COSTS = [
    PublishedCost("dfe_pq_100030_2026", 2021, "special_independent", 54_000, "DfE: LA spend ÷ plans"),
    PublishedCost("dfe_pq_100030_2026", 2022, "special_independent", 57_000, "DfE: LA spend ÷ plans"),
    PublishedCost("dfe_pq_100030_2026", 2023, "special_independent", 62_000, "DfE: LA spend ÷ plans"),
    PublishedCost("dfe_pq_100030_2026", 2024, "special_independent", 63_000, "DfE: LA spend ÷ plans"),
    PublishedCost("dfe_pq_100030_2026", 2025, "special_independent", 64_000, "DfE: LA spend ÷ plans"),
    PublishedCost("tes_2018_private", 2018, "special_independent", 54_000, "councils' FOI returns: fees ÷ pupils"),
    PublishedCost("schoolsweek_2026_private", 2026, "special_independent", 57_074,
                  "51 councils' forecast, schools in the council's own area (FOI)", "in the council's own area"),
    PublishedCost("schoolsweek_2026_private", 2026, "special_independent", 65_528,
                  "51 councils' forecast, schools in other areas (FOI)", "in other areas"),
    PublishedCost("schoolsweek_2026_private", 2026, "special_state", 23_907, "51 councils' forecast (FOI)"),
]


def later_published(model: SpendModel) -> dict[str, list[tuple[float, int]]]:
    """Per placement type, the published costs per plan for years after `BM_YEAR` (those where the model carries its
    trend beyond its category data), each with the year of the model it is set beside (its own, or the model's last)."""
    out: dict[str, list[tuple[float, int]]] = {}
    for c in PUBLISHED_COSTS:
        if c.year > BM_YEAR:
            out.setdefault(c.placement, []).append((float(c.value), min(c.year, model.last_year)))
    return out


def full_cost_draws(model: SpendModel, place_part: dict[str, np.ndarray], year: int) -> dict[str, np.ndarray]:
    """`england_average_draws` plus each type's place funding per plan (`PlaceFundingModel.place_part`), draw by
    draw: the full public cost."""
    return {k: full_cost(v, place_part[k]) for k, v in england_average_draws(model, year).items()}
