"""What DfE committed to each Safety Valve LA, as published by the LA, DfE or the press.

DfE publishes each agreement as a PDF but no table of amounts, and the data mirror holds none, so
`data/safety_valve_funding.csv` is curated by hand like `data/cohorts.csv`: one row per LA with a
citable amount (£m of revenue towards the historic DSG deficit, over the agreement's life; capital
top-ups excluded), its source and the sentence quoted. LAs without a citable amount have no row.
"""

from __future__ import annotations

import pandas as pd

from analysis import paths
from analysis.data.geography import codes_from_names
from analysis.errors import DataError

SAFETY_VALVE_FUNDING = paths.DATA / "safety_valve_funding.csv"
COLUMNS = ["la_name", "amount_m", "agreement_year", "source_url", "source", "quote"]
#: The financial years in which agreements were made.
AGREEMENT_YEARS = {"2020-21", "2021-22", "2022-23", "2023-24"}


def load_safety_valve_funding(las: pd.DataFrame, path=SAFETY_VALVE_FUNDING) -> pd.DataFrame:
    """The curated amounts with each LA's code; `DataError` naming the row for a missing column, an amount
    that is not a positive number, an unknown agreement year, an LA listed twice or a row without a source."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    amount = pd.to_numeric(frame["amount_m"], errors="coerce")
    for i in frame.index:
        where = f"{path}, row {i + 2} ({frame.at[i, 'la_name']})"
        if not amount[i] > 0:
            raise DataError(f"{where}: amount_m must be a positive number of £ millions, not {frame.at[i, 'amount_m']!r}")
        if frame.at[i, "agreement_year"] not in AGREEMENT_YEARS:
            raise DataError(f"{where}: agreement_year {frame.at[i, 'agreement_year']!r} is not one of {sorted(AGREEMENT_YEARS)}")
        if not frame.at[i, "source_url"].startswith("http") or not frame.at[i, "quote"].strip():
            raise DataError(f"{where}: every amount needs its source_url and the sentence quoted from it")
    frame["amount"] = amount * 1e6
    frame["la_code"] = codes_from_names(frame["la_name"], las, 2023, where=str(path))
    twice = frame[frame["la_code"].duplicated(keep=False)]
    if len(twice):
        raise DataError(f"{path}: LAs listed twice: {twice['la_name'].tolist()}")
    return frame
