"""Programme membership: Safety Valve agreements and Delivering Better Value tranches.

`data/cohorts.csv` is hand-curated, one row per LA per programme, with the
evidence for each row. Timing is coded in panel years (see `panel`):
`first_treated_year` is the first January (and the financial year containing
it) that falls wholly after the LA joined:

- Safety Valve agreements are signed towards the end of their financial year
  (FY 2020-21 deals were announced in March 2021), so FY (Y-2)-(Y-1) → Y.
- DBV tranche 1 began in summer 2022 → 2023; tranche 2 in January 2023 and
  tranche 3 in summer 2023 → 2024.

Two 2022-23 Safety Valve members are not identified in any source we hold;
they are rows with `membership = "unidentified"` and no `la_code`. DfE lists
each year's agreements alphabetically and the readable copy of its 2022-23 list
stops after Norfolk, so both come after "Norfolk" in the alphabet
(`UNIDENTIFIED_AFTER`), and both had very high deficits (the programme's entry
condition): the evaluation's sensitivity pools use both facts. North Tyneside's
membership is inferred from the press, its year by elimination
(`membership = "inferred"`).
"""

from __future__ import annotations

import pandas as pd

from analysis import paths
from analysis.data.geography import codes_from_names
from analysis.errors import DataError

#: Agreements per financial year as counted on gov.uk; the file must add up to these.
SAFETY_VALVE_COUNTS = {"2020-21": 5, "2021-22": 9, "2022-23": 20, "2023-24": 4}
#: LAs per DBV tranche as published.
DBV_COUNTS = {"tranche 1": 20, "tranche 2": 21, "tranche 3": 14}
#: The last LA named in the readable copy of DfE's alphabetical 2022-23 list: the unidentified members sort after it.
UNIDENTIFIED_AFTER = "Norfolk"
COLUMNS = ["programme", "la_code", "la_name", "cohort", "start", "first_treated_year", "membership", "suspended", "evidence", "source"]


def load_cohorts(las: pd.DataFrame, path=paths.COHORTS) -> pd.DataFrame:
    """Read and check `data/cohorts.csv`; raise `DataError` naming the row on any inconsistency."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    frame["first_treated_year"] = frame["first_treated_year"].astype(int)
    named = frame["membership"] != "unidentified"
    expected = codes_from_names(frame.loc[named, "la_name"], las, 2023, where=str(path))
    wrong = frame.loc[named & (frame["la_code"] != expected.reindex(frame.index)), ["la_name", "la_code"]]
    if len(wrong):
        raise DataError(f"{path}: la_code does not match la_name in rows {wrong.index.tolist()}: {wrong.to_dict('records')}")
    for programme, counts in (("safety_valve", SAFETY_VALVE_COUNTS), ("dbv", DBV_COUNTS)):
        got = frame[frame["programme"] == programme].groupby("cohort").size().to_dict()
        if got != counts:
            raise DataError(f"{path}: {programme} rows per cohort {got} differ from the published counts {counts}")
    dupes = frame[named & frame.duplicated(["programme", "la_code"], keep=False)]
    if len(dupes):
        raise DataError(f"{path}: LAs listed twice in one programme: {dupes['la_name'].tolist()}")
    frame["la_code"] = frame["la_code"].replace("", pd.NA)
    return frame


def could_be_unidentified(names: pd.Series) -> pd.Series:
    """Whether each LA name sorts after `UNIDENTIFIED_AFTER`, as the unidentified members' names do."""
    return names.str.casefold() > UNIDENTIFIED_AFTER.casefold()


def membership(cohorts: pd.DataFrame) -> pd.DataFrame:
    """One row per identified LA: its Safety Valve and DBV cohorts and first treated years."""
    ident = cohorts.dropna(subset=["la_code"])
    wide = ident.pivot(index="la_code", columns="programme", values=["cohort", "first_treated_year", "membership", "suspended"])
    wide.columns = [f"{prog}_{field}" for field, prog in wide.columns]
    wide["in_both"] = wide["safety_valve_cohort"].notna() & wide["dbv_cohort"].notna()
    return wide.reset_index()


def summary(cohorts: pd.DataFrame) -> pd.DataFrame:
    """LAs per programme cohort by membership evidence, with the first treated panel year."""
    counts = cohorts.groupby(["programme", "cohort", "first_treated_year", "membership"]).size().unstack(fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index().rename_axis(columns=None)
