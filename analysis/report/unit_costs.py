"""England's unit costs as the chapters and the key findings show them: each at the precision its Monte Carlo
error supports. A module of its own, importing the spend model and nothing that draws charts or maps, so that a
chapter quoting a unit cost does not depend on the map boundaries the spend chapter's figures use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models.fitting import quantile
from analysis.models.spend import TYPES, SpendModel
from analysis.report.precision import interval_places


def england_average_draws(model: SpendModel, year: int) -> dict[str, np.ndarray]:
    """Per placement type: draws (stacked chain by chain) of England's plan-weighted average unit cost in `year`,
    the model's national spend on the type over its plans (`unit_costs`' `mean_la`)."""
    comp = model.components(year)
    rows = np.flatnonzero(model.data()["year"].to_numpy() == year)
    plans = model.counts()[rows].sum(axis=0)
    return {k: comp[k].sum(axis=1) / plans[j] for j, k in enumerate(TYPES)}


def unit_costs(model: SpendModel, year: int | None = None) -> pd.DataFrame:
    """`model.unit_costs(year)` with the places (`precision.places`: −2 is £100, −3 £1,000) that each median
    (`mid_places`) and both ends of its interval (`end_places`) support, given their Monte Carlo errors, and
    never finer than £100: what the chapter and the key findings show."""
    year = model.last_year if year is None else year
    chains = model.settings.chains
    mean = england_average_draws(model, year)
    typical = model.fit().posterior["cost"].sel(year=year).stack(sample=("chain", "draw")).transpose("sample", "type").values
    rows = []
    for j, k in enumerate(TYPES):
        # the full cost adds a constant to the average, so it has the average's errors
        for measure, draws in (("mean_la", mean[k]), ("typical_la", typical[:, j]), ("full_mean_la", mean[k])):
            mid, ends = interval_places(*(quantile(draws, chains, p)[1] for p in (0.5, 0.05, 0.95)), most=-2)
            rows.append({"type": k, "measure": measure, "mid_places": mid, "end_places": ends})
    return model.unit_costs(year).merge(pd.DataFrame(rows), on=["type", "measure"], validate="one_to_one")


def cost_text(r: pd.Series, interval: bool = True) -> str:
    """'£60,100 (90% interval £58,800 to £61,400)' for a row of `unit_costs`, each figure at its supported precision."""
    at = lambda x, places: f"£{round(x, int(places)):,.0f}"  # noqa: E731  (places ≤ −2: whole pounds)
    mid = at(r["median"], r["mid_places"])
    return f"{mid} (90% interval {at(r['q05'], r['end_places'])} to {at(r['q95'], r['end_places'])})" if interval else mid
