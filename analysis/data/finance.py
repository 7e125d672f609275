"""High-needs money by LA: s251 spend, DSG allocations and deficits, and a benchmarking cross-check.

Readers (each returns a `SourceTable`; money in £, panel year Y = financial year (Y-1)-(Y)):

- `read_hn_spend`: net expenditure on s251 lines 1.2.x ("High needs (SEND)") from
  third-party JSON buckets (DERIVED, keys `s251_2017` … `s251_2024`, file year =
  start of the financial year). Excludes high-needs place funding (line 1.0.2).
- `read_hn_benchmarking`: DfE's high needs benchmarking tool 2021-22: s251 outturn
  by category, the 2–18 population it uses, and EHCP counts by placement. The
  EHCP counts equal the SEN2 caseload of January 2021 (checked for all 149 LAs
  that have them), so they go to panel year 2021; money and population to 2022.
- `benchmark_crosscheck`: the derived FY 2021-22 series against the tool's outturn.
- `read_hn_allocations`: ESFA high needs block allocation before and after
  deductions (academy recoupment, ESFA-funded places) and total DSG allocation.
- `read_dsg_deficit`: cumulative DSG balance carried forward as % of DSG (DERIVED
  by DfE's dashboard team), positive = deficit.
- `read_specialist_spend`: spend on pupils in state special schools and in
  independent and non-maintained special schools, FY 2018-19 … 2021-22 (DERIVED
  by DfE's dashboard team from s251 outturn).
- `read_place_deductions`: ESFA's direct funding of high needs places in
  academies, free schools and colleges (the "deductions" from the high needs
  block), by provider type, FY 2020-21 … 2023-24, with special academy places.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from analysis.data.geography import (
    codes_from_names,
    codes_from_old,
    harmonise_codes,
    la_units,
)
from analysis.data.parsing import numeric, require_columns
from analysis.data.sources import Store
from analysis.data.table import SourceTable, Variable
from analysis.errors import SourceFormatError, UnknownLAError

FY_PERIOD = "financial year `year`-1 to `year` (April–March)"


def financial_year(year: int) -> str:
    """A panel year as the financial year ending in its March, as DfE writes it: 2025 → "2024-25"."""
    return f"{year - 1}-{year % 100:02d}"

# --- s251 high-needs spend (derived JSON) -------------------------------------------------

#: File years of the s251 JSON buckets (start of the financial year).
S251_FILE_YEARS = range(2017, 2025)
HN_BUCKET = "High needs (SEND)"

HN_SPEND = Variable(
    "hn_spend",
    "Net LA expenditure on high needs: sum of s251 outturn lines 1.2.x (top-ups to maintained, academy, "
    "independent and non-maintained providers, SEN support, AP, hospital education, therapies …); "
    "excludes place funding (line 1.0.2)",
    "£",
    FY_PERIOD,
    "DfE LA and school expenditure (s251 outturn), bucketed by a third party (DERIVED; s251_2017 … s251_2024)",
    "money",
)


def read_hn_spend(store: Store, las: pd.DataFrame) -> SourceTable:
    """High-needs net expenditure per LA, panel years 2018–2025 (FY 2017-18 … 2024-25)."""
    la = pd.concat([_s251_year(store, start, las) for start in S251_FILE_YEARS], ignore_index=True)
    notes = [
        "hn_spend: DERIVED by a third party from DfE's s251 outturn release 2024-25 (JSON buckets); "
        "the file has no England row, so national is None.",
        "hn_spend 2024 (FY 2023-24): the derived file has no row for Cumbria's successors, Cumberland and "
        "Westmorland and Furness (nor Cumbria), so they are missing for that year.",
    ]
    return SourceTable(name="hn_spend", la=la, variables=[HN_SPEND], national=None, notes=notes)


def _s251_year(store: Store, start: int, las: pd.DataFrame) -> pd.DataFrame:
    """One JSON file's 'High needs (SEND)' bucket per LA, in panel year `start` + 1."""
    path = store.path(f"s251_{start}")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{path.name}: not valid JSON ({exc}); fetch the file again.") from exc
    if not isinstance(entries, dict) or not entries:
        raise SourceFormatError(f"{path.name}: expected an object keyed by LA code; the layout has changed.")
    codes, values, lacking = [], [], []
    for code, entry in entries.items():
        buckets = {b.get("name"): b.get("value") for b in entry.get("education_breakdown", [])}
        if str(entry.get("year")) != str(start):
            raise SourceFormatError(
                f"{path.name}: LA {code} has year {entry.get('year')!r}, expected {start} (start of the "
                "financial year); the file is not the one registered for this year."
            )
        if HN_BUCKET not in buckets:
            lacking.append(code)
        codes.append(code)
        values.append(buckets.get(HN_BUCKET))
    if lacking:
        raise SourceFormatError(
            f"{path.name}: no '{HN_BUCKET}' bucket in 'education_breakdown' for {len(lacking)} LAs "
            f"(e.g. {lacking[:5]}). The third party may have renamed its buckets: update analysis.data.finance.HN_BUCKET."
        )
    where = f"{path.name}, bucket '{HN_BUCKET}'"
    spend, _ = numeric(pd.Series(values, dtype="object"), where=where)
    frame = pd.DataFrame({"la_code": harmonise_codes(pd.Series(codes), las, where=path.name), "year": start + 1})
    frame["hn_spend"] = spend.to_numpy()
    _no_duplicates(frame, where=path.name)
    return frame


# --- High needs benchmarking tool 2021-22 -------------------------------------------------

BM_YEAR = 2022  # FY 2021-22
BM_EHCP_YEAR = 2021  # the tool's EHCP counts are the SEN2 caseload of January 2021
_BM_SOURCE = "DfE high needs benchmarking tool 2021-22, 'Outturn data' (hn_benchmarking_2122)"

#: Outturn category header (normalised) → variable.
BM_OUTTURN: dict[str, str] = {
    "place funding": "bm_place_funding",
    "top up funding (maintained schools, academies, free schools and colleges)": "bm_topup_maintained",
    "top up funding (non-maintained and independent schools and colleges)": "bm_topup_independent",
    "sen support and inclusion services": "bm_sen_support",
    "alternative provision services": "bm_alternative_provision",
    "hospital education services": "bm_hospital",
    "therapies and other health related services": "bm_therapies",
}
#: The categories that make up s251 lines 1.2.x (all but place funding).
BM_NON_PLACE = [v for v in BM_OUTTURN.values() if v != "bm_place_funding"]

#: Placement header under 'of these, placements in:' (normalised) → variable.
BM_PLACEMENTS: dict[str, str] = {
    "mainstream schools or academies": "bm_ehcp_mainstream",
    "resourced provision or sen units": "bm_ehcp_resourced_sen_unit",
    "maintained special schools or special academies": "bm_ehcp_special",
    "nmss or independent schools": "bm_ehcp_independent",
    "hospital schools or alternative provision": "bm_ehcp_ap_hospital",
    "post 16": "bm_ehcp_post16",
    "other": "bm_ehcp_other",
}
_BM_POPULATION = "2-18 population"  # header prefix
_BM_EHCP_TOTAL = "no. aged up to 25 with sen statement or ehcp"  # header prefix

_OUTTURN_TEXT = {
    "bm_place_funding": "High-needs place funding (s251 outturn, as reported; excludes ESFA academy place deductions)",
    "bm_topup_maintained": "Top-up funding to maintained schools, academies, free schools and colleges, net of income",
    "bm_topup_independent": "Top-up funding to non-maintained and independent schools and colleges, net of income",
    "bm_sen_support": "SEN support and inclusion services",
    "bm_alternative_provision": "Alternative provision services",
    "bm_hospital": "Hospital education services",
    "bm_therapies": "Therapies and other health related services",
}
_PLACEMENT_TEXT = {
    "bm_ehcp_mainstream": "mainstream schools or academies",
    "bm_ehcp_resourced_sen_unit": "resourced provision or SEN units",
    "bm_ehcp_special": "maintained special schools or special academies",
    "bm_ehcp_independent": "non-maintained special or independent schools",
    "bm_ehcp_ap_hospital": "hospital schools or alternative provision",
    "bm_ehcp_post16": "post-16 settings",
    "bm_ehcp_other": "other settings",
}
_EHCP_PERIOD = "January `year` (SEN2 caseload, as reproduced in the tool)"

BM_VARIABLES = (
    [Variable(v, f"{_OUTTURN_TEXT[v]}: s251 outturn", "£", FY_PERIOD, _BM_SOURCE, "money") for v in BM_OUTTURN.values()]
    + [
        Variable(
            "bm_pop_2_18",
            "Population aged 2-18 used by the tool for per-head figures (ONS mid-2021 projection)",
            "persons",
            "mid-2021, used for financial year `year`-1 to `year`",
            _BM_SOURCE,
            "count",
        ),
        Variable("bm_ehcp_total", "Children and young people up to 25 with an EHC plan or statement", "persons",
                 _EHCP_PERIOD, _BM_SOURCE, "count"),
    ]
    + [
        Variable(v, f"EHC plans with placement in {_PLACEMENT_TEXT[v]}", "persons", _EHCP_PERIOD, _BM_SOURCE, "count")
        for v in BM_PLACEMENTS.values()
    ]
)
_BM_EHCP_VARS = ["bm_ehcp_total", *BM_PLACEMENTS.values()]
_BM_FY_VARS = [*BM_OUTTURN.values(), "bm_pop_2_18"]


def read_hn_benchmarking(store: Store, las: pd.DataFrame) -> SourceTable:
    """The tool's outturn by category and population (panel year 2022) and EHCP counts (panel year 2021)."""
    path = store.path("hn_benchmarking_2122")
    wide, where = _bm_table(path)
    wide = wide.assign(la_code=codes_from_old(wide["old_la_code"], las, where=f"{where}, column 'LA code'"))
    parts = [
        _alive(wide[["la_code", *_BM_FY_VARS]].assign(year=BM_YEAR), las),
        _alive(wide[["la_code", *_BM_EHCP_VARS]].assign(year=BM_EHCP_YEAR), las),
    ]
    dropped = sorted(set(wide["la_code"]) - set(parts[0]["la_code"]) - set(parts[1]["la_code"]))
    la = pd.concat(parts, ignore_index=True)[["la_code", "year", *_BM_FY_VARS, *_BM_EHCP_VARS]]
    _no_duplicates(la, where=where)
    notes = [
        "hn_benchmarking: EHCP counts equal SEN2 January 2021 and are placed in panel year 2021; outturn "
        "(FY 2021-22) and the mid-2021 2-18 population in panel year 2022. No England row (national is None).",
        f"hn_benchmarking: rows for LAs not alive in the panel year are dropped (the tool keeps empty or zero rows "
        f"for them, and Northamptonshire's population in 2022); LAs with no row kept: {dropped}.",
        "hn_benchmarking: place funding is raw outturn; DfE's own benchmarking adds academy place deductions back.",
    ]
    return SourceTable(name="hn_benchmarking", la=la, variables=BM_VARIABLES, national=None, notes=notes)


def _alive(frame: pd.DataFrame, las: pd.DataFrame) -> pd.DataFrame:
    """Rows whose LA existed on 1 January of the row's panel year."""
    units = la_units(las).set_index("la_code")
    first = frame["la_code"].map(units["first_year"])
    last = frame["la_code"].map(units["last_year"]).astype("Float64")
    keep = (first <= frame["year"]) & (last.isna() | (last >= frame["year"])).fillna(False).astype(bool)
    return frame[keep]


def _normalise(cell: object) -> str:
    """A header cell as lower-case text with single spaces ('' for numbers and blanks)."""
    return " ".join(cell.split()).lower() if isinstance(cell, str) else ""


def _bm_sheet(path: Path) -> tuple[np.ndarray, pd.DataFrame, str]:
    """The sheet holding the outturn table: 'Outturn data', or the one sheet with its header labels.

    The mirrored workbook keeps only that sheet, renamed 'Sheet1'; the labels identify it either way.
    """
    sheets = pd.read_excel(path, sheet_name=None, header=None)
    for name in sorted(sheets, key=lambda n: n != "Outturn data"):
        labels = sheets[name].map(_normalise).to_numpy(dtype=str)
        if (labels == "la code").any() and (labels == "section 251 outturn").any():
            return labels, sheets[name], f"{path.name}, sheet '{name}'"
    raise SourceFormatError(
        f"{path.name}: no sheet holds the high needs benchmarking 'Outturn data' table (header cells "
        f"'LA code' and 'Section 251 outturn'); sheets found: {list(sheets)}. Check the file registered as "
        "hn_benchmarking_2122."
    )


def _one_cell(labels: np.ndarray, text: str, *, where: str, prefix: bool = False) -> tuple[int, int]:
    """(row, column) of the single header cell reading `text` (or starting with it)."""
    hits = np.argwhere(np.char.startswith(labels, text) if prefix else labels == text)
    columns = {int(c) for _, c in hits}
    if len(columns) != 1:
        raise SourceFormatError(
            f"{where}: expected one column headed '{text}', found {len(columns)}. "
            "The workbook layout has changed: update the header labels in analysis.data.finance."
        )
    return int(hits[0][0]), int(hits[0][1])


def _columns_under(labels: np.ndarray, row: int, start: int, wanted: dict[str, str], *, where: str) -> dict[str, int]:
    """Variable → column for the headers in `wanted`, read along `row` from `start` to the first blank cell."""
    end = start
    while end < labels.shape[1] and labels[row, end]:
        end += 1
    span = {labels[row, c]: c for c in range(start, end)}
    missing = [text for text in wanted if text not in span]
    if missing:
        raise SourceFormatError(
            f"{where}: header(s) {missing} not found in row {row + 1}, columns "
            f"{get_column_letter(start + 1)}-{get_column_letter(max(end, start + 1))} (found {list(span)}). "
            "Update the header labels in analysis.data.finance."
        )
    return {var: span[text] for text, var in wanted.items()}


def _bm_table(path: Path) -> tuple[pd.DataFrame, str]:
    """One row per LA: old 3-digit code and every benchmarking variable, located by header labels."""
    labels, grid, where = _bm_sheet(path)
    head_row, code_col = _one_cell(labels, "la code", where=where)
    title_row, outturn_col = _one_cell(labels, "section 251 outturn", where=where)
    columns = _columns_under(labels, title_row + 1, outturn_col, BM_OUTTURN, where=f"{where}, 'Section 251 outturn'")
    _, placed_col = _one_cell(labels, "of these, placements in:", where=where)
    columns |= _columns_under(labels, head_row + 1, placed_col, BM_PLACEMENTS, where=f"{where}, EHCP placements")
    columns["bm_pop_2_18"] = _one_cell(labels, _BM_POPULATION, where=where, prefix=True)[1]
    columns["bm_ehcp_total"] = _one_cell(labels, _BM_EHCP_TOTAL, where=where, prefix=True)[1]
    body = grid.iloc[head_row + 2 :]
    codes = _old_codes(body[code_col])
    body, codes = body[codes.notna()], codes.dropna()
    if body.empty:
        raise SourceFormatError(f"{where}: no LA rows (3-digit codes) under the 'LA code' header.")
    out = pd.DataFrame({"old_la_code": codes.to_numpy()})
    for var, col in columns.items():
        header = get_column_letter(col + 1)
        out[var] = numeric(body[col], where=f"{where}, column {header} ({var})")[0].to_numpy()
    return out, where


def benchmark_crosscheck(store: Store, las: pd.DataFrame) -> pd.DataFrame:
    """Derived s251 `hn_spend` for FY 2021-22 against the benchmarking tool's non-place outturn, per LA.

    Columns: la_code, la_name, bm_place_funding, bm_non_place (sum of the 1.2.x categories), hn_spend,
    difference (hn_spend − bm_non_place, £) and rel_difference. An outer join, so LAs in one source only
    show as NaN. `attrs` holds the summary: n_both, correlation, median and max |rel_difference|, totals.
    """
    bm = read_hn_benchmarking(store, las).la
    bm = bm[bm["year"] == BM_YEAR]
    bm = bm.assign(bm_non_place=bm[BM_NON_PLACE].sum(axis=1, min_count=len(BM_NON_PLACE)))
    spend = _s251_year(store, BM_YEAR - 1, las)
    out = bm[["la_code", "bm_place_funding", "bm_non_place"]].merge(spend[["la_code", "hn_spend"]], on="la_code", how="outer")
    out.insert(1, "la_name", out["la_code"].map(la_units(las).set_index("la_code")["la_name"]))
    out["difference"] = out["hn_spend"] - out["bm_non_place"]
    out["rel_difference"] = out["difference"] / out["bm_non_place"]
    both = out.dropna(subset=["hn_spend", "bm_non_place"])
    out.attrs = {
        "n_both": len(both),
        "correlation": float(both["hn_spend"].corr(both["bm_non_place"])),
        "median_abs_rel_difference": float(both["rel_difference"].abs().median()),
        "max_abs_rel_difference": float(both["rel_difference"].abs().max()),
        "total_hn_spend": float(both["hn_spend"].sum()),
        "total_bm_non_place": float(both["bm_non_place"].sum()),
    }
    return out.sort_values("la_code", ignore_index=True)


# --- DSG allocations -----------------------------------------------------------------------

#: Panel year → sheet of the ESFA allocation summaries (dsg_allocations).
ALLOCATION_SHEETS: dict[int, str] = {
    2020: "Allocations_1920",
    2021: "Allocations_2021",
    2022: "Allocations_2122",
    2023: "Allocations_2223",
    2024: "Allocations_2324",
}
_ALLOC_SOURCE = "ESFA dedicated schools grant allocations, local authority summaries (dsg_allocations)"
ALLOCATION_VARIABLES = [
    Variable(
        "hn_block_before_deductions",
        "DSG high needs block allocation before academy recoupment and ESFA direct funding of high needs places",
        "£", FY_PERIOD, _ALLOC_SOURCE, "money",
    ),
    Variable(
        "hn_block_after_deductions",
        "DSG high needs block allocation after deductions for academies recoupment and ESFA direct funding "
        "of high needs places (what the LA receives)",
        "£", FY_PERIOD, _ALLOC_SOURCE, "money",
    ),
    Variable(
        "dsg_total",
        "Total DSG allocation (all four blocks) before recoupment and deductions, March publication",
        "£", FY_PERIOD, "ESFA dedicated schools grant: total allocation by LA (dsg_totals)", "money",
    ),
]
_DSG_TOTAL_COLUMN = "Total DSG allocation (£s)"


def read_hn_allocations(store: Store, las: pd.DataFrame) -> SourceTable:
    """High needs block before/after deductions and total DSG, panel years 2020–2024, with England totals."""
    path = store.path("dsg_allocations")
    blocks = [_allocation_sheet(path, sheet, year, las) for year, sheet in ALLOCATION_SHEETS.items()]
    hn_la = pd.concat([b[0] for b in blocks], ignore_index=True)
    hn_nat = pd.concat([b[1] for b in blocks], ignore_index=True)
    tot_la, tot_nat = _dsg_totals(store, las)
    la = hn_la.merge(tot_la, on=["la_code", "year"], how="outer", validate="one_to_one")
    national = hn_nat.merge(tot_nat, on="year", how="outer", validate="one_to_one")
    names = [v.name for v in ALLOCATION_VARIABLES]
    notes = ["hn_allocations: 2019-20 (panel year 2020) is published in £ million and converted to £."]
    return SourceTable(
        name="hn_allocations",
        la=la[["la_code", "year", *names]].sort_values(["year", "la_code"], ignore_index=True),
        variables=ALLOCATION_VARIABLES,
        national=national[["year", *names]].sort_values("year", ignore_index=True),
        tolerance=1e-6,
        notes=notes,
    )


def _allocation_sheet(path: Path, sheet: str, year: int, las: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(LA rows, England row) of the high needs block before and after deductions, in £."""
    where = f"{path.name}, sheet '{sheet}'"
    try:
        grid = pd.read_excel(path, sheet_name=sheet, header=None)
    except ValueError as exc:
        raise SourceFormatError(f"{where}: cannot read the sheet ({exc}); update analysis.data.finance.ALLOCATION_SHEETS.") from exc
    labels = grid.map(_normalise).to_numpy(dtype=str)
    england_row, code_col = _one_cell(labels, "england", where=where)
    columns = _before_after(labels, "high needs block", where=where)
    codes = _old_codes(grid[code_col])
    rows = grid[codes.notna()]
    la = pd.DataFrame({"la_code": codes_from_old(codes[rows.index], las, where=f"{where}, LA code column"), "year": year})
    national = pd.DataFrame({"year": [year]})
    for var, (col, scale) in columns.items():
        cell = f"{where}, column {get_column_letter(col + 1)} ({var})"
        la[var] = numeric(rows[col], where=cell)[0].to_numpy() * scale
        national[var] = numeric(grid.loc[[england_row], col], where=cell)[0].to_numpy() * scale
    _no_duplicates(la, where=where)
    return la.reset_index(drop=True), national


def _before_after(labels: np.ndarray, text: str, *, where: str) -> dict[str, tuple[int, float]]:
    """Columns headed `text` under the 'before' and 'after' deductions block titles, with their £ scale."""
    hits = np.argwhere(np.char.find(labels, text) >= 0)
    out: dict[str, tuple[int, float]] = {}
    for row, col in hits:
        title = next((labels[r, c] for r in range(row - 1, -1, -1) for c in range(col, -1, -1) if labels[r, c]), "")
        when = "before" if ("before" in title or "prior to" in title) else "after" if "after" in title else None
        if when is None:
            continue
        label = labels[row, col]
        scale = 1e6 if "million" in label else 1.0 if "£" in label else None
        if scale is None:
            raise SourceFormatError(f"{where}: cannot tell the unit of '{label}' (neither '£ million' nor '£s').")
        out[f"hn_block_{when}_deductions"] = (int(col), scale)
    if len(out) != 2 or len(hits) != 2:
        raise SourceFormatError(
            f"{where}: expected one '{text}' column under the 'before' and one under the 'after' deductions "
            f"headings, found {len(hits)} column(s) ({sorted(out)}). The summary layout has changed."
        )
    return out


def _dsg_totals(store: Store, las: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Total DSG allocation per LA and England, one sheet per financial year (time_period 'YYYYyy')."""
    path = store.path("dsg_totals")
    frames = []
    for sheet, table in pd.read_excel(path, sheet_name=None, dtype={"la_code": str, "time_period": str}).items():
        require_columns(table, ["la_code", "time_period", _DSG_TOTAL_COLUMN], where=f"{path.name}, sheet '{sheet}'")
        frames.append(table.assign(sheet=sheet))
    table = pd.concat(frames, ignore_index=True)
    table["year"] = table["time_period"].str[:4].astype(int) + 1
    table["dsg_total"] = numeric(table[_DSG_TOTAL_COLUMN], where=f"{path.name}, column '{_DSG_TOTAL_COLUMN}'")[0]
    national = table.loc[table["la_code"].str.strip().str.upper() == "ENGLAND", ["year", "dsg_total"]]
    rows = table[_old_codes(table["la_code"]).notna()]
    la = pd.DataFrame(
        {"la_code": codes_from_old(rows["la_code"], las, where=path.name), "year": rows["year"], "dsg_total": rows["dsg_total"]}
    )
    _no_duplicates(la, where=path.name)
    if national["year"].duplicated().any() or set(national["year"]) != set(la["year"]):
        raise SourceFormatError(f"{path.name}: expected one ENGLAND row per time_period; found years {list(national['year'])}.")
    return la.reset_index(drop=True), national.reset_index(drop=True)


# --- DSG deficit (derived) -----------------------------------------------------------------

DSG_DEFICIT = Variable(
    "dsg_deficit_pct",
    "Cumulative DSG balance carried forward (s251 line 1.9.3) as % of total DSG income; positive = deficit",
    "% of DSG",
    "end of financial year `year`-1 to `year` (31 March `year`)",
    "DfE SEND and AP Inclusion Dashboard, derived from s251 outturn (DERIVED; dsg_deficit)",
    "share",
)
_DEFICIT_COLUMNS = ["time_period", "geographic_level", "la_name", "deficit", "DSG cumulative balance as a % of the total income"]


def read_dsg_deficit(store: Store, las: pd.DataFrame) -> SourceTable:
    """DSG cumulative deficit as % of DSG per LA, panel years 2020–2022 (FY 2019-20 … 2021-22)."""
    path = store.path("dsg_deficit")
    where = f"{path.name}, first sheet"
    table = pd.read_excel(path, sheet_name=0, dtype={"time_period": str})
    require_columns(table, _DEFICIT_COLUMNS, where=where)
    table["year"] = table["time_period"].str[:4].astype(int) + 1
    deficit = numeric(table["deficit"], where=f"{where}, column 'deficit'")[0]
    balance = numeric(table[_DEFICIT_COLUMNS[-1]], where=f"{where}, column '{_DEFICIT_COLUMNS[-1]}'")[0]
    if ((deficit + balance).abs() > 0.005).any():
        raise SourceFormatError(
            f"{where}: 'deficit' is not minus the cumulative balance in every row; the sign convention "
            "(positive = deficit) can no longer be trusted: check the file."
        )
    rows = table["geographic_level"].str.strip() == "Local authority"
    names = table.loc[rows, "la_name"]
    la = pd.DataFrame(
        {
            "la_code": codes_from_names(names, las, table.loc[rows, "year"], where=f"{where}, column 'la_name'"),
            "year": table.loc[rows, "year"],
            "dsg_deficit_pct": deficit[rows],
        }
    ).sort_values(["year", "la_code"], ignore_index=True)
    _no_duplicates(la, where=where)
    england = table[table["geographic_level"].str.strip() == "National"].set_index("year")["deficit"]
    notes = [
        "dsg_deficit_pct: DERIVED by DfE's SEND and AP Inclusion Dashboard from s251 outturn; LA names only. "
        f"England (not additive, so not in national): {england.sort_index().to_dict()} (% of DSG, positive = deficit)."
    ]
    return SourceTable(name="dsg_deficit", la=la, variables=[DSG_DEFICIT], national=None, notes=notes)


def _old_codes(cells: pd.Series) -> pd.Series:
    """DfE 3-digit LA numbers as text ('831' from 831, 831.0 or ' 831'); <NA> for any other cell."""
    text = cells.map(lambda c: str(int(c)) if pd.api.types.is_number(c) and pd.notna(c) else str(c).strip())
    return text.astype("string").where(text.str.fullmatch(r"\d{3}"))


def _no_duplicates(frame: pd.DataFrame, *, where: str) -> None:
    """Fail if an LA appears twice in a year (e.g. two published codes harmonised to one)."""
    dup = frame[frame.duplicated(["la_code", "year"], keep=False)]
    if len(dup):
        raise SourceFormatError(f"{where}: LA-years {sorted(set(zip(dup['la_code'], dup['year'])))[:5]} appear twice.")


# --------------------------------------------------------------------------- category-level money

_SPECIALIST_SOURCE = "DfE SEND and AP Inclusion Dashboard, prepared data, table specialist_spend (dashboard)"
SPECIALIST_VARIABLES = [
    Variable(
        "special_state_spend",
        "Spend on pupils in state special schools (maintained, academy and free special schools): DERIVED by DfE's "
        "SEND and AP Inclusion Dashboard from s251 outturn",
        "£", FY_PERIOD, _SPECIALIST_SOURCE, "money",
    ),
    Variable(
        "special_independent_spend",
        "Spend on pupils in independent and non-maintained special schools: DERIVED by DfE's SEND and AP "
        "Inclusion Dashboard from s251 outturn",
        "£", FY_PERIOD, _SPECIALIST_SOURCE, "money",
    ),
]
_SPECIALIST_CATEGORIES = {"State": "special_state_spend", "Independent or non-maintained": "special_independent_spend"}


def read_specialist_spend(store: Store, las: pd.DataFrame) -> SourceTable:
    """State and independent special school spend by LA, panel years 2019–2022 (FY 2018-19 … 2021-22)."""
    import pyreadr

    path = store.path("dashboard")
    try:
        frames = pyreadr.read_r(str(path), use_objects=["specialist_spend", "nat_specialist_spend"])
    except (pyreadr.custom_errors.PyreadrError, KeyError) as exc:
        raise SourceFormatError(f"{path.name}: cannot read specialist_spend ({exc}); check the file.") from exc
    where = f"{path.name}, table specialist_spend"
    table = frames["specialist_spend"]
    require_columns(table, ["la_name", "category", "year", "total_spend"], where=where)
    unknown = sorted(set(table["category"]) - set(_SPECIALIST_CATEGORIES) - {"Total"})
    if unknown:
        raise SourceFormatError(f"{where}: unknown categories {unknown}; expected {sorted(_SPECIALIST_CATEGORIES)} and Total.")
    total = table[table["category"] == "Total"].set_index(["la_name", "year"])["total_spend"]
    parts = table[table["category"] != "Total"].groupby(["la_name", "year"])["total_spend"].sum(min_count=2)
    gap = (parts.reindex(total.index) - total).abs()
    if (gap > 1.0).any():
        raise SourceFormatError(f"{where}: State + Independent differs from Total for {gap.idxmax()} by £{gap.max():,.0f}.")
    table = table[table["category"] != "Total"]
    table = table.assign(year=table["year"].str[:4].astype(int) + 1, variable=table["category"].map(_SPECIALIST_CATEGORIES))
    table["total_spend"] = numeric(table["total_spend"], where=f"{where}, column 'total_spend'")[0]
    # LAs created or abolished in 2019 or 2021 appear in the other years with zero spend: rows of no LA, dropped
    zero = table["total_spend"].fillna(0) == 0
    gone = pd.Series(False, index=table.index)
    for (name, year), rows in table[zero].groupby(["la_name", "year"]):
        try:
            codes_from_names(pd.Series([name]), las, year, where=where)
        except UnknownLAError:
            gone[rows.index] = True
    table = table[~gone].copy()
    table["la_code"] = codes_from_names(table["la_name"], las, table["year"], where=f"{where}, column 'la_name'")
    life = la_units(las).set_index("la_code").reindex(table["la_code"])
    alive = (table["year"].to_numpy() >= life["first_year"].to_numpy()) & (
        life["last_year"].isna().to_numpy() | (table["year"].to_numpy() <= life["last_year"].to_numpy()))
    table = table[alive | ~zero[table.index].to_numpy()]
    la = table.pivot_table(index=["la_code", "year"], columns="variable", values="total_spend", aggfunc="sum").reset_index()
    names = [v.name for v in SPECIALIST_VARIABLES]
    la = la.rename_axis(columns=None)[["la_code", "year", *names]].sort_values(["year", "la_code"], ignore_index=True)
    nat = frames["nat_specialist_spend"]
    nat = nat[nat["category"] != "Total"]
    nat = nat.assign(year=nat["year"].str[:4].astype(int) + 1, variable=nat["category"].map(_SPECIALIST_CATEGORIES))
    national = nat.pivot_table(index="year", columns="variable", values="total_spend").reset_index().rename_axis(columns=None)
    notes = ["specialist_spend: DERIVED by DfE's SEND and AP Inclusion Dashboard from s251 outturn; LA names only."]
    return SourceTable(name="specialist_spend", la=la, variables=SPECIALIST_VARIABLES, national=national, tolerance=1e-6, notes=notes)


_DEDUCTION_SOURCE = "ESFA dedicated schools grant, sheet High_needs_deductions (dsg_2021 … dsg_2024)"
#: Panel year → the registry key of the DSG workbook whose High_needs_deductions sheet covers that financial year.
DEDUCTION_WORKBOOKS = {2021: "dsg_2021", 2022: "dsg_2022", 2023: "dsg_2023", 2024: "dsg_2024"}
#: Deduction groups (row 1 of the sheet, or row 0 where row 1 is blank) → panel variable.
_DEDUCTION_GROUPS = {
    ("special academies", "sen"): "special",
    ("special free schools", "sen"): "special",
    ("mainstream academies", "sen"): "mainstream_units",
    ("mainstream academies", "alternative"): "ap",
    ("special academies", "ap"): "ap",
    ("special free schools", "ap"): "ap",
    ("alternative provision", "sen"): "ap",
    ("alternative provision", "ap"): "ap",
    ("hospital", "hospital"): "hospital",
    ("16-19", "sen"): "post16",
    ("further education", "fe"): "post16",
}
DEDUCTION_VARIABLES = [
    Variable(name, description, "places" if name.endswith("places") else "£", FY_PERIOD, _DEDUCTION_SOURCE,
             "count" if name.endswith("places") else "money")
    for name, description in (
        ("ded_total", "High needs place funding deducted from the DSG and paid by ESFA directly to academies, free "
                      "schools, colleges and other providers (all types)"),
        ("ded_special", "ESFA direct place funding of special academies and special free schools (£10,000 a place)"),
        ("ded_special_places", "Places in special academies and special free schools funded directly by ESFA "
                               "(September–March of the financial year)"),
        ("ded_mainstream_units", "ESFA direct place funding of SEN units and resourced provision in mainstream "
                                 "academies (£6,000 or £10,000 a place)"),
        ("ded_ap", "ESFA direct place funding of alternative provision places in academies and free schools"),
        ("ded_post16", "ESFA direct place funding of post-16 SEN places in 16-19 academies, FE colleges and "
                       "independent learning providers"),
        ("ded_hospital", "ESFA direct funding of hospital academies"),
    )
]


def read_place_deductions(store: Store, las: pd.DataFrame) -> SourceTable:
    """ESFA's direct funding of high needs places by LA and provider type, panel years 2021–2024."""
    sheets = [_deduction_sheet(store.path(key), year, las) for year, key in DEDUCTION_WORKBOOKS.items()]
    names = [v.name for v in DEDUCTION_VARIABLES]
    la = pd.concat([s[0] for s in sheets], ignore_index=True)[["la_code", "year", *names]]
    la = la.sort_values(["year", "la_code"], ignore_index=True)
    national = pd.concat([s[1] for s in sheets], ignore_index=True)[["year", *names]]
    return SourceTable(name="place_deductions", la=la, variables=DEDUCTION_VARIABLES, national=national, tolerance=1e-6,
                       notes=["place_deductions: places are the count for September–March (August–March for post-16)."])


def _deduction_sheet(path: Path, year: int, las: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(LA rows, England row) of one High_needs_deductions sheet, grouped into the panel's variables."""
    where = f"{path.name}, sheet 'High_needs_deductions'"
    try:
        grid = pd.read_excel(path, sheet_name="High_needs_deductions", header=None)
    except ValueError as exc:
        raise SourceFormatError(f"{where}: cannot read the sheet ({exc}); check the workbook.") from exc
    labels = grid.iloc[:3].map(_normalise)
    provider = labels.iloc[0].replace("", np.nan).ffill().fillna("")
    kind = labels.iloc[1].replace("", np.nan).ffill().fillna("")
    england_row, _ = _one_cell(grid.map(_normalise).to_numpy(dtype=str), "england", where=where)
    total_col = [j for j in grid.columns if provider[j].startswith("total deduction")]
    if len(total_col) != 1:
        raise SourceFormatError(f"{where}: no single 'Total deduction …' column in row 1; the layout changed.")
    columns: dict[str, list[tuple[int, bool]]] = {}
    for j in grid.columns[2:total_col[0]]:
        group = next((v for (p, k), v in _DEDUCTION_GROUPS.items() if provider[j].startswith(p) and k in kind[j]), None)
        if group is None:
            raise SourceFormatError(f"{where}: column {get_column_letter(j + 1)} ({provider[j]!r} / {kind[j]!r}) is not a "
                                    "known deduction type; update analysis.data.finance._DEDUCTION_GROUPS.")
        is_money = "deduction" in labels.iloc[2, j]
        is_late_count = not is_money and not ("april" in labels.iloc[2, j])
        if is_money or (group == "special" and is_late_count):
            columns.setdefault(group if is_money else "special_places", []).append((j, is_money))
    codes = _old_codes(grid[0])
    rows = grid[codes.notna()]
    la = pd.DataFrame({"la_code": codes_from_old(codes[rows.index], las, where=f"{where}, LA code column"), "year": year})
    national = pd.DataFrame({"year": [year]})

    def values(frame: pd.DataFrame, cols: list[int]) -> np.ndarray:
        return sum(numeric(frame[c], where=f"{where}, column {get_column_letter(c + 1)}")[0].to_numpy(dtype=float) for c in cols)

    for group, cols in columns.items():
        name = "ded_special_places" if group == "special_places" else f"ded_{group}"
        la[name] = values(rows, [c for c, _ in cols])
        national[name] = values(grid.loc[[england_row]], [c for c, _ in cols])
    la["ded_total"] = values(rows, total_col)
    national["ded_total"] = values(grid.loc[[england_row]], total_col)
    parts = [f"ded_{g}" for g in ("special", "mainstream_units", "ap", "post16", "hospital")]
    gap = (la[parts].sum(axis=1) - la["ded_total"]).abs()
    if (gap > 1.0 + 1e-6 * la["ded_total"]).any():
        bad = la.loc[gap.idxmax(), "la_code"]
        raise SourceFormatError(f"{where}: the deduction types do not add up to the total for {bad} (gap £{gap.max():,.0f}); "
                                "a column was misread or the layout changed.")
    _no_duplicates(la, where=where)
    return la.reset_index(drop=True), national
