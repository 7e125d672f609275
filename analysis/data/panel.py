"""Build, validate and load the LA-by-year panel (`data/processed/panel.parquet`).

Panel year Y means *the twelve months around January Y*: the January Y
snapshot (EHCP caseload), flows in calendar year Y-1 (what the January-Y SEN2
collection reports), the financial year (Y-1)-(Y), the academic year
(Y-1)/(Y), and the ONS mid-(Y-1) population estimate. Each column's own
period is stated in the data dictionary (`variables.csv`).

The build runs one way: registered raw files → readers → panel. Nothing is
written until every check has passed, and each output is written atomically,
so a failed build leaves the previous panel in place.

Freshness is decided from content, never from timestamps or a flag: the
build's *stamp* (a hash of the source registry — which holds every input
file's sha256 — the programme cohorts and the data code) is computed before
the build starts, from the registry the build reads. The outputs are written
first and `build.json` last, holding that stamp and the sha256 of every output
file; before writing, the old `build.json` is removed. The panel is current
only if `build.json` exists, its stamp equals the stamp of the inputs now, and
every output still has the hash it was written with. So a build that dies
half-way (disk full, Ctrl-C), an input accepted while a build ran, or an
output truncated or edited later, is never reported as up to date.

Beyond its schema, every value must be plausible (`plausibility`): money and
counts within per-kind bounds, and no LA's money or count changing more than
tenfold from one year to the next (between values large enough for that to
mean an error, not a small category); England's sum of each money series may
not change by more than half in a year. A failure names the LA, the year, the
variable and its source table.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from analysis import paths
from analysis.atomic import clean_parts, exclusive, require_writable, write_atomic
from analysis.data import finance, geography, outcomes, population, sen2
from analysis.data.sources import Store, sha256_of
from analysis.data.table import SourceTable
from analysis.errors import DataError, SourceFormatError, ValidationError, raise_if_interrupted

#: The panel's first year. Its last is the latest year of the `CORE` sources (`build`), so a new release needs no
#: code change; every other source must fall inside it, so a reader that takes a wrong column or sheet for the year
#: is still caught (`_check_table`).
FIRST_YEAR = 2010
CORE = ("EHCP caseload (SEN2)", "High-needs spend (s251)")
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
    "Specialist spend (dashboard)": finance.read_specialist_spend,
    "High needs place deductions (ESFA)": finance.read_place_deductions,
    "Outcomes (LAIT)": outcomes.read_lait,
    "SEND tribunal appeals (MoJ)": outcomes.read_tribunals,
}

#: Modules whose code shapes the panel: a change to any of them rebuilds it.
DATA_MODULES = ["analysis.atomic", "analysis.errors", *(f"analysis.data.{m}" for m in
                ("cohorts", "finance", "geography", "outcomes", "panel", "parsing", "population", "sen2", "sources", "table"))]

#: Files the build writes, all under `data/processed/`.
OUTPUTS = {
    "panel": "panel.parquet",
    "suppressed": "suppressed.parquet",
    "variables": "variables.csv",
    "checks": "checks.json",
}
#: Written last: the build's stamp and the sha256 of every output.
MANIFEST = "build.json"


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
    las = _read("the DfE list of LAs", store, lambda: geography.load_las(store))
    tables = {}
    for label, reader in READERS.items():
        log(f"reading {label} …")
        tables[label] = _read(label, store, lambda: reader(store, las))
    last = max(int(tables[label].la["year"].max()) for label in CORE)
    log(f"panel years {FIRST_YEAR}–{last} (to the latest year of {' or '.join(CORE)})")
    frame = _frame(geography.la_units(las), last)
    variables: list[dict] = []
    suppressed, totals, notes = [], [], {}
    for table in tables.values():
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


def _read(label: str, store: Store, read: Callable[[], object]):
    """Run one reader; a failure becomes one `DataError` naming the reader, the source key and its file.

    Errors the readers raise themselves (`SourceFormatError`) already say what is wrong;
    they get the source prefixed. Anything else (a truncated zip, an undecodable file, a
    workbook pandas cannot open) is turned into a `SourceFormatError` with the remedy.
    """
    store.opened.clear()

    def where() -> str:
        source = store.registry.get(store.opened[-1]) if store.opened else None
        return f"source '{source.key}' ({paths.RAW / source.mirror_path})" if source else "its sources"

    try:
        return read()
    except SourceFormatError as exc:
        raise SourceFormatError(f"reading {label}, {where()}: {exc}") from exc
    except DataError:
        raise
    except (OSError, ValueError, LookupError, TypeError, UnicodeError, zipfile.BadZipFile, pd.errors.ParserError) as exc:
        raise_if_interrupted(exc)
        raise SourceFormatError(
            f"reading {label}: {type(exc).__name__}: {exc}\n"
            f"  while reading {where()}.\n"
            "  The file is not what the reader expects: if its sha256 was just accepted as a revision in "
            "data/sources.toml, check that release (the file may be truncated or in a new layout) and update the "
            "reader; otherwise delete the copy in data/raw/ to fetch it again."
        ) from exc


def _frame(units: pd.DataFrame, last_year: int) -> pd.DataFrame:
    """Every LA for every year it existed (on 1 January), `FIRST_YEAR` to `last_year`."""
    rows = []
    for unit in units.itertuples():
        last = last_year if pd.isna(unit.last_year) else min(int(unit.last_year), last_year)
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
            f"(e.g. {outside[KEYS].head(8).to_dict('records')}); see the harmonisation policy in analysis.data.geography."
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

#: Plausible range of one LA-year's money (£): net outturn lines can be slightly negative;
#: the largest LA's whole DSG is about £1.6bn.
MONEY_RANGE = (-5e6, 5e9)
#: Largest plausible year-on-year ratio (either way) of an LA's money or count, between
#: values at least this large (small categories legitimately jump: 3 → 40 plans).
YOY_RATIO, YOY_FLOOR = 10.0, {"money": 1e6, "count": 100}
#: Largest plausible year-on-year ratio of England's sum of a money series.
NATIONAL_YOY_RATIO = 1.5


def schema(dictionary: pd.DataFrame) -> pa.DataFrameSchema:
    """The panel's pandera schema: keys, one float column per variable with its plausible range."""
    columns = {
        "la_code": pa.Column(str, pa.Check.str_matches(r"^E\d{8}$")),
        "year": pa.Column(int, pa.Check.ge(FIRST_YEAR)),  # the last year is the core sources' (`build`)
        "la_name": pa.Column(str),
        "region_code": pa.Column(str, pa.Check.str_matches(r"^E12\d{6}$")),
        "region_name": pa.Column(str),
        "stable_area": pa.Column(str),
    }
    for var in dictionary.itertuples():
        lo, hi = MONEY_RANGE if var.kind == "money" else _RANGES[var.kind]
        checks = []
        if lo is not None:
            checks.append(pa.Check.ge(lo))
        if hi is not None:
            checks.append(pa.Check.le(hi))
        columns[var.name] = pa.Column(float, checks, nullable=True)
    return pa.DataFrameSchema(columns, unique=KEYS, strict=True, coerce=False)


def plausibility(panel: pd.DataFrame, dictionary: pd.DataFrame) -> pd.DataFrame:
    """Values no release should contain: tenfold year-on-year jumps of an LA's money or counts, and
    England money totals changing by more than `NATIONAL_YOY_RATIO` in a year.

    One row per failure: la_code, la_name, year, variable, table, value, rule.
    """
    rows = []
    ordered = panel.sort_values(KEYS)
    for var in dictionary[dictionary["kind"].isin(list(YOY_FLOOR))].itertuples():
        values = ordered[["la_code", "la_name", "year", var.name]].dropna()
        prev = values.groupby("la_code")[var.name].shift()
        prev_year = values.groupby("la_code")["year"].shift()
        both = (values[var.name].abs() >= YOY_FLOOR[var.kind]) & (prev.abs() >= YOY_FLOOR[var.kind]) & (values["year"] - prev_year == 1)
        ratio = values[var.name] / prev
        bad = both & ((ratio > YOY_RATIO) | (ratio < 1 / YOY_RATIO))
        for r, p in zip(values[bad].itertuples(index=False), prev[bad]):
            rows.append((r.la_code, r.la_name, r.year, var.name, var.table, getattr(r, var.name),
                         f"{getattr(r, var.name) / p:.3g}× the year before ({p:,.0f}); more than {YOY_RATIO:g}× either way"))
        if var.kind == "money":
            sums = values.groupby("year")[var.name].sum()
            change = sums / sums.shift()
            for year in change.index[(change > NATIONAL_YOY_RATIO) | (change < 1 / NATIONAL_YOY_RATIO)]:
                rows.append(("E92000001", "England (sum of LAs)", int(year), var.name, var.table, sums[year],
                             f"England's sum is {change[year]:.3g}× the year before; more than {NATIONAL_YOY_RATIO:g}× either way"))
    return pd.DataFrame(rows, columns=["la_code", "la_name", "year", "variable", "table", "value", "rule"])


def _schema_failures(exc: pa.errors.SchemaErrors, panel: pd.DataFrame, dictionary: pd.DataFrame) -> str:
    """pandera's failure cases, told as LA, year, variable and source table (not panel row numbers)."""
    cases = exc.failure_cases.copy()
    tables = dict(zip(dictionary["name"], dictionary["table"]))
    lines = []
    for case in cases.head(20).itertuples():
        index = case.index if pd.notna(case.index) else None
        row = panel.loc[int(index)] if index is not None and int(index) in panel.index else None
        who = f"{row['la_name']} ({row['la_code']}), {int(row['year'])}" if row is not None else "the panel"
        column = case.column if isinstance(case.column, str) else "?"
        lines.append(f"  {who}: {column} = {case.failure_case!r} fails {case.check} "
                     f"(source table '{tables.get(column, column)}')")
    return "\n".join(lines)


def validate(panel: pd.DataFrame, dictionary: pd.DataFrame, totals: pd.DataFrame) -> None:
    """Raise `ValidationError` with every failure: schema, ranges, plausibility, duplicates, national totals."""
    try:
        schema(dictionary).validate(panel, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ValidationError(
            f"the panel failed its schema ({len(exc.failure_cases)} failures):\n{_schema_failures(exc, panel, dictionary)}\n"
            "A value out of range usually means a misread or revised source file: check that source's release."
        ) from exc
    dupes = dictionary[dictionary["name"].duplicated()]["name"].tolist()
    if dupes:
        raise ValidationError(f"variables defined by more than one source: {dupes}")
    implausible = plausibility(panel, dictionary)
    if len(implausible):
        lines = "\n".join(f"  {r.la_name} ({r.la_code}), {r.year}: {r.variable} = {r.value:,.0f} (source table '{r.table}'): {r.rule}"
                          for r in implausible.head(20).itertuples())
        raise ValidationError(f"{len(implausible)} implausible value(s) in the panel:\n{lines}\n"
                              "Check the source release for these LA-years (a unit or sign error?) before accepting it.")
    bad = totals[totals["status"] == "mismatch"]
    if len(bad):
        raise ValidationError(f"LA sums differ from published national figures:\n{bad.to_string()}")


def write(result: Build, stamp: str, out: Path = paths.PROCESSED) -> None:
    """Write the outputs atomically, then `build.json` (stamp and output hashes) last.

    The old `build.json` goes first, so a build that stops part-way leaves outputs that
    are not current (the next run rebuilds) rather than a mix that claims to be.
    """
    (out / MANIFEST).unlink(missing_ok=True)
    write_atomic(out / OUTPUTS["suppressed"], lambda p: result.suppressed.astype(str).to_parquet(p, index=False))
    write_atomic(out / OUTPUTS["variables"], lambda p: result.variables.to_csv(p, index=False))
    report = {"national_totals": result.totals.to_dict("records"), "notes": result.notes}
    write_atomic(out / OUTPUTS["checks"], lambda p: Path(p).write_text(json.dumps(report, indent=1, default=str)))
    write_atomic(out / OUTPUTS["panel"], lambda p: result.panel.to_parquet(p, index=False))
    manifest = {"stamp": stamp, "outputs": {f: sha256_of(out / f) for f in OUTPUTS.values()}}
    write_atomic(out / MANIFEST, lambda p: Path(p).write_text(json.dumps(manifest, indent=1)))


def stamp(store: Store | None = None) -> str:
    """Hash of everything a build depends on: the registry (as `store` read it), cohorts and the data code.

    The registry holds every input file's sha256 and files are checksum-verified when
    fetched, so where they came from (mirror or URL) does not matter.
    """
    digest = hashlib.sha256()
    registry = store.registry_bytes if store is not None and store.registry_bytes is not None else paths.REGISTRY.read_bytes()
    digest.update(paths.REGISTRY.name.encode() + registry)
    for path in [paths.COHORTS, *(paths.module_file(m) for m in DATA_MODULES)]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def is_current(stamp_now: str, out: Path = paths.PROCESSED) -> bool:
    """True when `build.json` has this stamp and every output still has the hash it was written with."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        if manifest.get("stamp") != stamp_now or set(manifest.get("outputs", {})) != set(OUTPUTS.values()):
            return False
        return all(sha256_of(out / f) == h for f, h in manifest["outputs"].items())
    except (OSError, ValueError):
        return False


def ensure(store: Store | None = None, *, force: bool = False, log: Callable[[str], None] = lambda _: None) -> Path:
    """Build the panel unless a current one exists (or `force`); return its path.

    One build at a time: a second process waits for the first, then finds the panel current.
    """
    out = paths.PROCESSED
    require_writable(out)
    store = store or Store()
    with exclusive(out, "panel build", log):
        clean_parts(out)
        stamp_now = stamp(store)
        if not force and is_current(stamp_now, out):
            log(f"panel is up to date: {paths.PANEL}")
            return paths.PANEL
        result = build(store, log=log)
        write(result, stamp_now, out)
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
