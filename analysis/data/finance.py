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
from analysis.errors import SourceFormatError

FY_PERIOD = "financial year `year`-1 to `year` (April–March)"

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
