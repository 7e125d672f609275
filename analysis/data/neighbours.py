"""DfE children's services statistical neighbours (May 2025): each LA's ten most similar LAs.

The workbook lists the current LAs, then, under an 'Old SNs:' row, groups for
the LAs abolished in reorganisations (Bournemouth, Poole, old Dorset,
Northamptonshire, Cumbria), so older panel years can be benchmarked too.
Neighbours are identified by old 3-digit DfE numbers and mapped to `la_code`s.
"""

from __future__ import annotations

import pandas as pd

from analysis.data.geography import codes_from_old
from analysis.data.parsing import require_columns
from analysis.data.sources import Store
from analysis.errors import SourceFormatError

N_NEIGHBOURS = 10
_HEADER_ROW = 2  # two rows of spreadsheet column letters and numbers sit above the names
_OLD_GROUPS = "Old SNs:"


def read_statistical_neighbours(store: Store, las: pd.DataFrame) -> pd.DataFrame:
    """Long table: la_code, neighbour_code, rank (1 = closest), closeness, old_group.

    `closeness` is DfE's band ('extremely close' … 'not close'); `old_group`
    marks the groups of abolished LAs listed after 'Old SNs:'.
    """
    path = store.path("statistical_neighbours")
    where = f"{path.name}, sheet 'LA SN Groups'"
    sheet = pd.read_excel(path, sheet_name="LA SN Groups", header=_HEADER_ROW, dtype=str)
    ranks = [f"SN{i}" for i in range(1, N_NEIGHBOURS + 1)]
    bands = ["SNP"] + [f"SNP.{i}" for i in range(1, N_NEIGHBOURS)]
    require_columns(sheet, ["LA num", "LA Name"] + ranks + bands, where=where)
    marker = sheet.index[sheet["LA Name"].str.strip() == _OLD_GROUPS]
    if len(marker) != 1:
        raise SourceFormatError(
            f"{where}: expected one '{_OLD_GROUPS}' row in column 'LA Name', found {len(marker)}; "
            "the layout has changed: update analysis.data.neighbours."
        )
    sheet["old_group"] = sheet.index > marker[0]
    sheet = sheet[sheet["LA num"].notna()]
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "la_number": sheet["LA num"],
                    "neighbour_number": sheet[rank],
                    "rank": i,
                    "closeness": sheet[band].str.strip().str.lower(),
                    "old_group": sheet["old_group"],
                }
            )
            for i, (rank, band) in enumerate(zip(ranks, bands), start=1)
        ],
        ignore_index=True,
    )
    blank = long["neighbour_number"].isna()
    if blank.any():
        raise SourceFormatError(
            f"{where}: {int(blank.sum())} neighbour cells are blank (LAs "
            f"{sorted(long.loc[blank, 'la_number'].unique())}); every LA should have {N_NEIGHBOURS}."
        )
    long["la_code"] = codes_from_old(long["la_number"], las, where=f"{where}, column 'LA num'")
    long["neighbour_code"] = codes_from_old(long["neighbour_number"], las, where=f"{where}, columns SN1-SN10")
    columns = ["la_code", "neighbour_code", "rank", "closeness", "old_group"]
    return long[columns].sort_values(["old_group", "la_code", "rank"]).reset_index(drop=True)
