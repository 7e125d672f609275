"""Build, validate and load the LA-by-year panel (`data/processed/panel.parquet`).

Panel year Y means *the twelve months around January Y*: the January Y
snapshot (EHCP caseload), flows in calendar year Y-1 (what the January-Y SEN2
collection reports), the financial year (Y-1)-(Y), the academic year
(Y-1)/(Y), and the ONS mid-(Y-1) population estimate. Each column's own
period is stated in the data dictionary (`variables.csv`).

The build runs one way: registered raw files → readers → panel. Nothing is
written until every check has passed, and each output is written atomically,
so a failed build leaves the previous panel in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from . import finance, geography, outcomes, paths, population, sen2
from .atomic import write_atomic
from .errors import ValidationError
from .sources import Store
from .table import SourceTable

FIRST_YEAR, LAST_YEAR = 2010, 2025
KEYS = ["la_code", "year"]
ID_COLUMNS = ["la_code", "year", "la_name", "region_code", "region_name", "stable_area"]

Reader = Callable[[Store, pd.DataFrame], SourceTable]
READERS: dict[str, Reader] = {
    "EHCP caseload (SEN2)": sen2.read_caseload,
    "EHCP flows (SEN2)": sen2.read_flows,
    "Population (ONS)": population.read_population,
    "High-needs spend (s251)": finance.read_hn_spend,
    "High-needs benchmarking 2021-22": finance.read_hn_benchmarking,
    "DSG allocations (ESFA)": finance.read_hn_allocations,
    "DSG deficit": finance.read_dsg_deficit,
    "Outcomes (LAIT)": outcomes.read_lait,
    "SEND tribunal appeals (MoJ)": outcomes.read_tribunals,
}

#: Modules whose code shapes the panel: a change to any of them rebuilds it.
DATA_MODULES = ["atomic", "cohorts", "finance", "geography", "outcomes", "panel", "parsing", "population", "sen2", "sources", "table"]

#: Files the build writes, all under `data/processed/`.
OUTPUTS = {
    "panel": "panel.parquet",
    "suppressed": "suppressed.parquet",
    "variables": "variables.csv",
    "checks": "checks.json",
}


@dataclass
class Build:
    """Everything one build produced, before it is written."""

    panel: pd.DataFrame
    variables: pd.DataFrame
    suppressed: pd.DataFrame
    totals: pd.DataFrame
    notes: dict[str, list[str]]


def build(store: Store | None = None, *, log: Callable[[str], None] = lambda _: None) -> Build:
    """Read every source, harmonise and join them, and check the result. Writes nothing."""
    store = store or Store()
    las = geography.load_las(store)
    frame = _frame(geography.la_units(las))
    variables: list[dict] = []
    suppressed, totals, notes = [], [], {}
    for label, reader in READERS.items():
        log(f"reading {label} …")
        table = reader(store, las)
        _check_table(table, frame)
        frame = frame.merge(table.la, on=KEYS, how="left", validate="one_to_one")
        variables += [v.__dict__ | {"table": table.name} for v in table.variables]
        suppressed.append(table.suppressed.assign(source=table.name))
        totals.append(national_check(table, frame[KEYS]))
        notes[table.name] = table.notes
        log(f"  {table.name}: {len(table.la):,} LA-years, {len(table.variables)} variables")
    panel = frame.sort_values(KEYS).reset_index(drop=True)
    dictionary = pd.DataFrame(variables)
    totals_frame = pd.concat([t for t in totals if len(t)], ignore_index=True)
    validate(panel, dictionary, totals_frame)
    return Build(panel, dictionary, pd.concat([s for s in suppressed if len(s)], ignore_index=True), totals_frame, notes)


def _frame(units: pd.DataFrame) -> pd.DataFrame:
    """Every LA for every year it existed (on 1 January), 2010–2025."""
    rows = []
    for unit in units.itertuples():
        last = LAST_YEAR if pd.isna(unit.last_year) else int(unit.last_year)
        rows += [(unit.la_code, y) for y in range(max(FIRST_YEAR, unit.first_year), last + 1)]
    frame = pd.DataFrame(rows, columns=KEYS)
    return frame.merge(units[["la_code", "la_name", "region_code", "region_name", "stable_area"]], on="la_code")


def _check_table(table: SourceTable, frame: pd.DataFrame) -> None:
    """A reader's rows must be unique and fall within the LAs' lifetimes."""
    where = f"source table '{table.name}'"
    dup = table.la[table.la.duplicated(KEYS, keep=False)]
    if len(dup):
        raise ValidationError(f"{where}: duplicate LA-years {dup[KEYS].head(10).to_dict('records')}")
    outside = table.la.merge(frame[KEYS], on=KEYS, how="left", indicator=True)
    outside = outside[outside["_merge"] == "left_only"]
    if len(outside):
        raise ValidationError(
            f"{where}: {len(outside)} rows for LAs in years they did not exist "
            f"(e.g. {outside[KEYS].head(8).to_dict('records')}); see the harmonisation policy in analysis.geography."
        )
    declared = {v.name for v in table.variables}
    extra = set(table.la.columns) - declared - set(KEYS)
    if extra or declared - set(table.la.columns):
        raise ValidationError(f"{where}: columns and declared variables differ: {sorted(extra ^ (declared - set(table.la.columns)))}")


def national_check(table: SourceTable, expected: pd.DataFrame) -> pd.DataFrame:
    """Per additive variable and year: the LA sum beside the published England figure.

    `expected` lists the LA-years that should have a value (every LA alive that
    year). `status` is "match" within the table's tolerance, "incomplete" when
    some LAs have no value (then the sum may only fall short), else "mismatch".
    """
    cols = ["source", "variable", "year", "la_sum", "published", "n_las", "n_missing", "status"]
    additive = [v.name for v in table.variables if v.kind in ("count", "money")]
    if table.national is None or not additive:
        return pd.DataFrame(columns=cols)
    rows = []
    for var in additive:
        if var not in table.national.columns:
            continue
        values = expected.merge(table.la[KEYS + [var]], on=KEYS, how="left")
        values = values[values["year"].isin(table.national["year"])]
        sums = values.groupby("year")[var].agg(la_sum="sum", n_las="count", n_missing=lambda s: s.isna().sum())
        both = sums.join(table.national.set_index("year")[var].rename("published"), how="inner").dropna(subset=["published"])
        for year, r in both.iterrows():
            gap = abs(r.la_sum - r.published) / max(abs(r.published), 1.0)
            if gap <= table.tolerance:
                status = "match"
            elif r.n_missing and r.la_sum <= r.published * (1 + table.tolerance):
                status = "incomplete"
            else:
                status = "mismatch"
            rows.append((table.name, var, int(year), r.la_sum, r.published, int(r.n_las), int(r.n_missing), status))
    return pd.DataFrame(rows, columns=cols)


_RANGES = {"count": (0, None), "money": (None, None), "share": (-100, 100), "rate": (0, None), "index": (None, None)}


def schema(dictionary: pd.DataFrame) -> pa.DataFrameSchema:
    """The panel's pandera schema: keys, one float column per variable with its plausible range."""
    columns = {
        "la_code": pa.Column(str, pa.Check.str_matches(r"^E\d{8}$")),
        "year": pa.Column(int, pa.Check.in_range(FIRST_YEAR, LAST_YEAR)),
        "la_name": pa.Column(str),
        "region_code": pa.Column(str, pa.Check.str_matches(r"^E12\d{6}$")),
        "region_name": pa.Column(str),
        "stable_area": pa.Column(str),
    }
    for var in dictionary.itertuples():
        lo, hi = _RANGES[var.kind]
        checks = []
        if lo is not None:
            checks.append(pa.Check.ge(lo))
        if hi is not None:
            checks.append(pa.Check.le(hi))
        columns[var.name] = pa.Column(float, checks, nullable=True)
    return pa.DataFrameSchema(columns, unique=KEYS, strict=True, coerce=False)


def validate(panel: pd.DataFrame, dictionary: pd.DataFrame, totals: pd.DataFrame) -> None:
    """Raise `ValidationError` with every failure: schema, ranges, duplicates, national totals."""
    try:
        schema(dictionary).validate(panel, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(20).to_string()
        raise ValidationError(f"panel failed its schema ({len(exc.failure_cases)} failures):\n{cases}") from exc
    dupes = dictionary[dictionary["name"].duplicated()]["name"].tolist()
    if dupes:
        raise ValidationError(f"variables defined by more than one source: {dupes}")
    bad = totals[totals["status"] == "mismatch"]
    if len(bad):
        raise ValidationError(f"LA sums differ from published national figures:\n{bad.to_string()}")


def write(result: Build, out: Path = paths.PROCESSED, stamp: str = "") -> None:
    """Write the outputs atomically, panel last, with the build stamp in checks.json."""
    write_atomic(out / OUTPUTS["suppressed"], lambda p: result.suppressed.astype(str).to_parquet(p, index=False))
    write_atomic(out / OUTPUTS["variables"], lambda p: result.variables.to_csv(p, index=False))
    report = {"stamp": stamp, "national_totals": result.totals.to_dict("records"), "notes": result.notes}
    write_atomic(out / OUTPUTS["checks"], lambda p: Path(p).write_text(json.dumps(report, indent=1, default=str)))
    write_atomic(out / OUTPUTS["panel"], lambda p: result.panel.to_parquet(p, index=False))


def stamp() -> str:
    """Hash of everything a build depends on: the registry, cohorts and the data code.

    Files are checksum-verified, so where they came from (mirror or URL) does not matter.
    """
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in [paths.REGISTRY, paths.COHORTS, *(package / f"{m}.py" for m in DATA_MODULES)]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def is_current(store: Store, out: Path = paths.PROCESSED) -> bool:
    """True when the outputs exist and were built from the current inputs and code."""
    checks = out / OUTPUTS["checks"]
    if not all((out / f).exists() for f in OUTPUTS.values()):
        return False
    return json.loads(checks.read_text()).get("stamp") == stamp()


def ensure(store: Store | None = None, *, log: Callable[[str], None] = lambda _: None) -> Path:
    """Build the panel unless an up-to-date one exists; return its path."""
    store = store or Store()
    if is_current(store):
        log(f"panel is up to date: {paths.PANEL}")
        return paths.PANEL
    result = build(store, log=log)
    write(result, stamp=stamp())
    log(f"wrote {paths.PANEL} ({len(result.panel):,} rows × {result.panel.shape[1]} columns)")
    return paths.PANEL


def load() -> pd.DataFrame:
    """The built panel (build it first with `python -m analysis data`)."""
    return pd.read_parquet(ensure())


def load_variables() -> pd.DataFrame:
    """The data dictionary: one row per panel variable with unit, period, source and kind."""
    ensure()
    return pd.read_csv(paths.PROCESSED / OUTPUTS["variables"])


def coverage(panel: pd.DataFrame, dictionary: pd.DataFrame) -> pd.DataFrame:
    """Long table: for each variable and year, the number of LAs with a value (years with none omitted)."""
    long = panel.melt(id_vars=KEYS, value_vars=dictionary["name"].tolist(), var_name="variable").dropna(subset=["value"])
    counts = long.groupby(["variable", "year"]).size().rename("n_las").reset_index()
    return counts.merge(dictionary[["name", "table"]].rename(columns={"name": "variable"}), on="variable")


def report(panel: pd.DataFrame, dictionary: pd.DataFrame) -> dict:
    """Coverage (LAs with a value, per variable per year) and national totals of additive variables."""
    long = panel.melt(id_vars=KEYS, value_vars=dictionary["name"].tolist(), var_name="variable")
    present = long.dropna(subset=["value"])
    coverage = present.groupby(["variable", "year"]).size()
    additive = dictionary.loc[dictionary["kind"].isin(["count", "money"]), "name"]
    sums = present[present["variable"].isin(additive)].groupby(["variable", "year"])["value"].sum()
    nest = lambda s: {v: {int(y): (int(n) if float(n).is_integer() else float(n)) for y, n in g.droplevel(0).items()} for v, g in s.groupby(level=0)}
    sources = dictionary.groupby("table")["name"].agg(list).to_dict()
    return {"n_las": int(panel["la_code"].nunique()), "years": [int(panel["year"].min()), int(panel["year"].max())],
            "sources": sources, "coverage": nest(coverage), "national_totals": nest(sums)}
