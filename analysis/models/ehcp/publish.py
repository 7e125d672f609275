"""A dated forecast file: the model's forecast of one January for every LA, kept so the next SEN2 release can score it.

A forecast is only tested when the counts it forecast are published. The file
holds, for every LA and England, the forecast quantiles of active EHC plans in
the target January, the last count the model saw, and when and from what data it
was made. It is stored in `results/forecasts/` and not rewritten when the model
changes: a new forecast is a new file. Quantiles are rounded to three
significant figures, about the precision their Monte Carlo error supports
(quantiles of 4,000 draws move by ~1 % between seeds).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paths
from analysis.atomic import write_atomic
from analysis.models.ehcp.data import ENGLAND

FOLDER = paths.ROOT / "results" / "forecasts"
QUANTILES = ["q05", "q25", "median", "q75", "q95"]
COLUMNS = ["la_code", "la_name", "january", "last_count", *QUANTILES, "note", "data_through", "issued", "model"]


def path_for(january: int, folder: Path = FOLDER) -> Path:
    return folder / f"ehcp-forecast-january-{january}.csv"


def round_sig(values: pd.Series, digits: int = 3) -> pd.Series:
    """Round to `digits` significant figures (counts below 100 to the unit)."""
    v = values.to_numpy(dtype=float)
    scale = np.where(v > 0, 10.0 ** (np.floor(np.log10(np.where(v > 0, v, 1))) - digits + 1), 1.0)
    return pd.Series(np.round(np.round(v / np.maximum(scale, 1.0)) * np.maximum(scale, 1.0)), index=values.index)


def not_forecast(model, forecast: pd.DataFrame) -> pd.DataFrame:
    """The LAs (`la_code`, `la_name`, sorted by name) in the panel's last January that `forecast` leaves out: the
    model does not forecast an LA whose last count is flagged as a reporting break."""
    latest = model.panel[model.panel["year"] == model.last_year]
    return latest.loc[~latest["la_code"].isin(forecast["la_code"]), ["la_code", "la_name"]].sort_values("la_name")


def forecast_table(model, january: int, issued: dt.date | None = None) -> pd.DataFrame:
    """The forecast of `january` for every LA the model forecasts, England, and a row for every LA it cannot.

    LAs in the panel's last January that the model does not forecast (their last count
    is flagged as a reporting break) get a row with a note and no quantiles.
    """
    if january <= model.last_year:
        raise ValueError(f"January {january} is not after the model's last January ({model.last_year})")
    forecast = model.forecast(january)
    forecast = forecast[forecast["year"] == january]
    last = model.data().query("year == @model.last_year").set_index("la_code")["y"]
    out = forecast[["la_code", "la_name"]].copy()
    out["january"] = january
    out["last_count"] = out["la_code"].map(last)
    out.loc[out["la_code"] == ENGLAND[0], "last_count"] = last.sum()
    for q in QUANTILES:
        out[q] = round_sig(forecast[q]).to_numpy()
    out["note"] = ""
    out.loc[out["la_code"] == ENGLAND[0], "note"] = "sum over the LAs forecast"
    skipped = not_forecast(model, out)
    if len(skipped):
        out.loc[out["la_code"] == ENGLAND[0], "note"] = f"sum over the LAs forecast (all but {', '.join(skipped['la_name'])})"
        gaps = pd.DataFrame({"la_code": skipped["la_code"], "la_name": skipped["la_name"], "january": january,
                             "note": f"no forecast: the January {model.last_year} count is flagged as a reporting break"})
        out = pd.concat([out, gaps], ignore_index=True)
    out["data_through"] = f"January {model.last_year}"
    out["issued"] = (issued or dt.date.today()).isoformat()
    out["model"] = model.name
    out = out.astype({c: "Int64" for c in ["last_count", *QUANTILES]})
    return out[COLUMNS].sort_values("la_code", ignore_index=True)


def write(table: pd.DataFrame, folder: Path = FOLDER) -> Path:
    """Store the table as the forecast file of its January (atomically). A stored file with the same numbers is left
    as it is, so that it keeps the date it was issued; one with different numbers is not replaced."""
    january = int(table["january"].iloc[0])
    path = path_for(january, folder)
    if path.exists():
        if same_forecast(read(path), table):
            return path
        raise FileExistsError(
            f"{path} already holds a different forecast of January {january}; a published forecast is not "
            "rewritten. Move it aside (or delete it) if you mean to replace it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: table.to_csv(tmp, index=False))


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"note": str}, keep_default_na=False, na_values=[""])


def same_forecast(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two forecast tables forecast the same numbers (the issue date aside)."""
    cols = ["la_code", "january", "last_count", *QUANTILES]
    left = a[cols].sort_values("la_code", ignore_index=True).astype({c: float for c in cols[2:]})
    right = b[cols].sort_values("la_code", ignore_index=True).astype({c: float for c in cols[2:]})
    return left.equals(right)
