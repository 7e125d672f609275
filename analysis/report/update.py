"""`python -m analysis update`: bring the book up to date when a source is revised or a new file appears.

It re-reads the source registry and looks at every registered file where it is
published (the mirror, `$SEND_DATA_MIRROR`, or the official URL when online):

- a file whose sha256 differs from the registry's is a **revision**. The panel is
  rebuilt from the revised files in a scratch folder and compared with the
  current one: which variables changed, in how many LA-years and LAs, rows added,
  and England's totals before and after. Nothing is accepted unless asked
  (`--accept-revisions`); without it the command reports and exits with status 3;
- a file missing where it is published is reported (status 4), never guessed;
- files in the mirror that no registry entry names are listed as **new files**:
  a new release needs a reader and a registry entry before the study can use it;
- with every file as registered, a panel built before the registry, `data/cohorts.csv`
  or the data code last changed (a new entry and its reader, a membership correction)
  is **out of date**: it is rebuilt in memory and compared with the one on disk in the
  same way, and installed without being asked, since the change that made it out of
  date was itself a deliberate edit (`python -m analysis data` would rebuild it too).

Then it says which chapters the change would re-execute (those whose declared
panel columns or sources change: `analysis.report.book`). With
`--accept-revisions` it records the new checksums in `data/sources.toml`,
installs the revised files and the panel built from them (the build it compared; it
is not built twice), executes exactly those chapters, and recomputes the key
numbers and the preface's key findings from the new fits; fits are refitted only
where a model's data changed, since the fit cache is keyed by the data. This is
all or nothing: if any step fails, the registry, the panel, the chapters, the
key numbers and findings and the LA downloads are put back as they were, and the
error is reported.

The stored grid summaries (`results/<grid>.json`: backtests, calibration,
placebos) take from minutes to the better part of an hour each, so `update`
does not rerun them. It lists those whose stamp no longer matches the code, data
or numerics, with the command that reruns each; until then the chapters that
read them say they are stale.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pooch

from analysis import paths
from analysis.atomic import exclusive, write_atomic
from analysis.data import lineage, panel
from analysis.data.sources import Source, Store, load_registry, sha256_of
from analysis.errors import BookError
from analysis.models import stored
from analysis.models.ehcp import EHCPModel, publish
from analysis.report import book, findings
from analysis.report.profiles import DOWNLOADS

#: Exit statuses of the command.
REVISIONS_PENDING, MISSING = 3, 4


@dataclass(frozen=True)
class Revision:
    """A registered file whose published copy has another sha256."""

    key: str
    path: str
    registered: str
    found: str
    where: str


@dataclass(frozen=True)
class Missing:
    """A registered file found neither in the mirror nor where it is published."""

    key: str
    path: str  #: where the mirror would hold it
    tried: str  #: where it was looked for
    reason: str = ""  #: why the download failed, in a few words (`failure`); "" when only the mirror was tried

    def __str__(self) -> str:
        return f"{self.key} ({self.path}): {self.tried}" + (f" failed: {self.reason}" if self.reason else "")


@dataclass
class Report:
    """What `check` found and what accepting it would do."""

    revisions: list[Revision] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    new_files: list[str] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    totals: list[dict] = field(default_factory=list)
    chapters: list[str] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)  # stored grids whose data the revision or rebuild would change
    vintage_changes: dict[str, list[str]] = field(default_factory=dict)
    accepted: bool = False
    executed: list[str] = field(default_factory=list)
    key_numbers: bool = False  # recomputed (with the key findings) after an accepted revision or a rebuilt panel
    outdated: str = ""  # why the panel on disk was out of date with every file as registered ("" when it was current)
    stale_grids: dict[str, list[str]] = field(default_factory=dict)  # grid → what changed since it ran
    forecast: str = ""  # the file name of the forecast this update stored (a new January in the data), "" if none

    def to_dict(self) -> dict:
        return asdict(self)


def locate(source: Source, store: Store, scratch: Path) -> tuple[Path, str] | Missing:
    """The published copy of `source` and where it came from: the mirror's file when the mirror has it, else a
    download into `scratch` (no checksum required, since a revision is what is being looked for); `Missing` when
    neither works."""
    mirrored = store.mirror / source.mirror_path
    if store.route in ("auto", "mirror") and mirrored.is_file():
        return mirrored, f"mirror {store.mirror}"
    if store.route == "mirror":
        return Missing(source.key, source.mirror_path, f"not in the mirror {store.mirror}")
    try:
        got = pooch.retrieve(source.url, known_hash=None, fname=source.filename, path=scratch / source.key, progressbar=False)
    except Exception as exc:  # network failures come in many types; all mean "not found"
        tried = f"{'not in the mirror, and ' if store.route == 'auto' else ''}the download from {source.url}"
        return Missing(source.key, source.mirror_path, tried, failure(exc))
    instead = not_the_file(Path(got), source)
    if instead:
        return Missing(source.key, source.mirror_path, f"the download from {source.url}",
                       f"it is {instead}; save the file from {source.page} as data/raw/{source.mirror_path}")
    return Path(got), source.url


#: The first bytes of a file of each kind the registry holds that has them (a zip, a workbook, a parquet file).
_MAGIC = {".zip": b"PK", ".xlsx": b"PK", ".ods": b"PK", ".xls": b"\xd0\xcf\x11\xe0", ".parquet": b"PAR1"}


def not_the_file(path: Path, source: Source) -> str:
    """What a download is instead of `source`'s file ('' when it can be that file): a web page (the URL names the
    release page, or the publisher moved the file and redirects to one), or another kind of file (a zip holding
    the registered spreadsheet). Either way its checksum differs, and it is not a revision of the file."""
    head = path.read_bytes()[:512]
    suffix = Path(source.mirror_path).suffix.lower()
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")) and suffix not in (".html", ".htm"):
        return "a web page, not the file"
    if suffix in _MAGIC and not head.startswith(_MAGIC[suffix]):
        return f"not a {suffix} file like the one registered"
    return ""


def failure(exc: Exception) -> str:
    """Why a download failed, in a few words: 'no connection to www.ons.gov.uk', 'HTTP 404', or the error's first
    line (a connection error's own text runs to hundreds of characters and repeats the URL)."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.ConnectionError):
        host = getattr(getattr(exc, "request", None), "url", None)
        return "no connection" + (f" to {requests.utils.urlparse(host).hostname}" if host else "")
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


def new_files(store: Store, registry: dict[str, Source]) -> list[str]:
    """Files in the mirror's SHA256SUMS that no registry entry names."""
    sums = store.mirror / "SHA256SUMS"
    if not sums.is_file():
        return []
    listed = {line.split(maxsplit=1)[1].strip().removeprefix("./") for line in sums.read_text().splitlines() if line.strip()}
    return sorted(listed - {s.mirror_path for s in registry.values()})


def revised_registry(text: str, revisions: list[Revision], on: str) -> str:
    """The registry text with each revised entry's sha256 replaced and `revised = "<on>"` (the date the revised
    file is taken up) after it, replacing an earlier one; comments, layout and other entries kept."""
    for r in revisions:
        header = re.compile(rf"^\[sources\.{re.escape(r.key)}\]\n(?:(?!^\[).*\n)*", re.M)
        match = header.search(text)
        entry = match.group(0) if match else ""
        if f'sha256 = "{r.registered}"\n' not in entry:
            raise ValueError(f"data/sources.toml: could not find sha256 = \"{r.registered}\" under [sources.{r.key}]")
        entry = re.sub(r'^revised = ".*"\n', "", entry, flags=re.M)
        entry = entry.replace(f'sha256 = "{r.registered}"\n', f'sha256 = "{r.found}"\nrevised = "{on}"\n')
        text = text[:match.start()] + entry + text[match.end():]
    return text


def compare(old: pd.DataFrame, new: pd.DataFrame, variables: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Per variable that changed: LA-years changed, LAs, years and rows added; and England's total (sum over LAs)
    before and after, by year, for the additive ones that changed."""
    keys = panel.KEYS
    merged = old.merge(new, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    added = merged[merged["_merge"] == "right_only"]
    changes, totals = [], []
    additive = set(variables.loc[variables["kind"].isin(["count", "money"]), "name"])
    for col in [c for c in new.columns if c not in panel.ID_COLUMNS]:
        a, b = merged.get(f"{col}_old"), merged.get(f"{col}_new")
        if a is None or b is None:
            changes.append({"variable": col, "note": "new variable" if a is None else "variable removed"})
            continue
        differ = ~((a == b) | (a.isna() & b.isna()))
        if not differ.any():
            continue
        rows = merged[differ]
        changes.append({"variable": col, "la_years": int(differ.sum()), "las": sorted(rows["la_code"].unique().tolist())[:20],
                        "n_las": int(rows["la_code"].nunique()), "years": sorted(int(y) for y in rows["year"].unique()),
                        "rows_added": int(len(added))})
        if col in additive:
            for year in sorted(rows["year"].unique()):
                at = merged["year"] == year
                before, after = float(a[at].sum(min_count=1) or 0), float(b[at].sum(min_count=1) or 0)
                totals.append({"variable": col, "year": int(year), "before": before, "after": after})
    return changes, totals


@dataclass
class Candidate:
    """A panel ready to be installed: the registry text it was built from (revised, or as it is), the store that
    holds its files (a scratch folder for revised files, else the study's own), its build and its stamp."""

    text: bytes
    store: Store
    build: panel.Build
    stamp: str


def check(scratch: Path, store: Store | None = None, log: Callable[[str], None] = print) -> tuple[Report, Candidate | None]:
    """Look for revisions, missing and new files; for revisions, or a panel out of date with every file as
    registered, build the candidate panel and say what changes. Returns the report and the candidate (None when
    there is nothing to install, or a file is missing)."""
    store = store or Store()
    registry = store.registry
    report = Report(new_files=new_files(store, registry))
    for key, source in registry.items():
        located = locate(source, store, scratch)
        if isinstance(located, Missing):
            report.missing.append(located)
            continue
        found, where = located
        digest = sha256_of(found)
        if digest != source.sha256:
            report.revisions.append(Revision(key, source.mirror_path, source.sha256, digest, where))
    if not report.revisions:
        return (report, None) if report.missing else _outdated(report, store, log)
    log(f"{len(report.revisions)} revised file(s): {', '.join(r.key for r in report.revisions)}; building the panel from them …")
    text = revised_registry(paths.REGISTRY.read_text(), report.revisions, date.today().isoformat()).encode()
    revised = Store(registry=load_registry(text=text), raw=scratch / "raw", mirror=store.mirror, route=store.route,
                    registry_bytes=text)
    shutil.copytree(store.raw, revised.raw, dirs_exist_ok=True)  # unrevised files are reused, checked again
    built = panel.build(revised)
    current = book.current_inputs()
    report.changes, report.totals = compare(current.panel, built.panel, built.variables)
    inputs = lineage.Inputs(built.panel, built.variables, current.lineage, revised.registry)
    report.chapters = [p.stem for p in book.stale(inputs)]
    report.grids = grids_reached(inputs)
    for chapter in report.chapters:
        nb = nbformat.read(paths.ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
        columns, direct = book.uses(nb, inputs)
        keys = set(lineage.source_keys(columns, inputs.variables, inputs.lineage)) | set(direct)
        report.vintage_changes[chapter] = sorted(keys & {r.key for r in report.revisions})
    return report, Candidate(text, revised, built, panel.stamp(revised))


def _outdated(report: Report, store: Store, log: Callable[[str], None]) -> tuple[Report, Candidate | None]:
    """With every file as registered: the candidate panel when the one on disk was built from another registry,
    cohorts file or data code (None when it is current), compared with the one on disk."""
    stamp = panel.stamp(store)
    if panel.is_current(stamp):
        return report, None
    if paths.PANEL.is_file():
        report.outdated = "the one on disk was built before the source registry, data/cohorts.csv or the data code last changed"
    else:
        report.outdated = "none had been built"
    log(f"the panel is out of date ({report.outdated}); building it …")
    built = panel.build(store)  # newly registered files are fetched into the raw store, a checksum-verified cache
    if paths.PANEL.is_file():
        report.changes, report.totals = compare(pd.read_parquet(paths.PANEL), built.panel, built.variables)
    else:
        report.changes = [{"variable": "(every variable)", "note": "no earlier panel to compare with"}]
    # lineage.trace writes nothing: the stored trace is rewritten after the snapshot, when the chapters run
    inputs = lineage.Inputs(built.panel, built.variables, lineage.trace(store), store.registry)
    report.chapters = [p.stem for p in book.stale(inputs)]
    report.grids = grids_reached(inputs)
    return report, Candidate(paths.REGISTRY.read_bytes(), store, built, stamp)


def install(candidate: Candidate, revisions: list[Revision], store: Store, log: Callable[[str], None]) -> None:
    """Record the new checksums and install the candidate: the revised files into the raw store and the panel
    built from them (the same build `check` compared, not a second one)."""
    write_atomic(paths.REGISTRY, lambda tmp: tmp.write_bytes(candidate.text))
    for revision in revisions:
        source = candidate.store.registry[revision.key]
        target = store.raw / source.mirror_path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda tmp, s=source: shutil.copyfile(candidate.store.fetch(s), tmp))
    with exclusive(paths.PROCESSED, "panel build", log):
        panel.write(candidate.build, candidate.stamp)
    log(f"  wrote {paths.PANEL} from the {'revised' if revisions else 'registered'} files")


def grids_reached(inputs: lineage.Inputs, folder: Path = stored.RESULTS) -> list[str]:
    """The stored grid summaries in `folder` whose data stamp `inputs` (a candidate panel and registry) would change:
    the grids a revision sends back to be rerun, named before it is accepted."""
    out = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if "module" in record:
            used = stored.modules(record["module"])
            if stored.data_hash(used, inputs) != stored.data_hash(used):  # against the data as they are, not as it ran
                out.append(path.stem)
    return out


def stale_grids(folder: Path = stored.RESULTS) -> dict[str, list[str]]:
    """The stored grid summaries in `folder` whose stamp no longer matches: name → what changed (code, data,
    software versions, numerical environment). A grid summary is a stored result that names the module that made it."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        if "module" in json.loads(path.read_text()):
            result = stored.load(path.stem, folder)
            if result.stale:
                out[path.stem] = result.stale
    return out


class _Snapshot:
    """Copies of everything `update` may change, put back if it fails: the registry, the raw copies of the
    revised files, the panel's outputs and the lineage, the chapters, the key numbers and findings, the LA
    downloads, the stored forecasts and the rendered book (kept in `scratch`)."""

    def __init__(self, scratch: Path, raw: list[Path]) -> None:
        self.files: dict[Path, bytes | None] = {}
        for path in [paths.REGISTRY, *raw, *paths.PROCESSED.glob("*"), *book.notebooks(), findings.STORED, findings.HEADLINES,
                     *(paths.ROOT / DOWNLOADS).glob("*"), *publish.FOLDER.glob("*")]:
            self.files[path] = path.read_bytes() if path.is_file() else None
        self.rendered = scratch / "rendered-book"
        if book.BOOK.is_dir():
            shutil.copytree(book.BOOK, self.rendered, symlinks=True)

    def restore(self) -> None:
        touched = {*paths.PROCESSED.glob("*"), *(paths.ROOT / DOWNLOADS).glob("*"), *publish.FOLDER.glob("*")}
        for path in touched - set(self.files):
            if path.is_file():
                path.unlink()  # written by the failed update
        for path, data in self.files.items():
            if data is None:
                path.unlink(missing_ok=True)
            elif not path.exists() or path.read_bytes() != data:
                write_atomic(path, lambda tmp, d=data: tmp.write_bytes(d))
        shutil.rmtree(book.BOOK, ignore_errors=True)
        if self.rendered.is_dir():
            shutil.copytree(self.rendered, book.BOOK, symlinks=True)


def run(*, accept: bool = False, store: Store | None = None, render: bool = True, log: Callable[[str], None] = print) -> tuple[Report, int]:
    """Check, and with `accept` apply, any revision; return the report and the exit status."""
    store = store or Store()
    with tempfile.TemporaryDirectory(prefix="send-update-") as scratch:
        return _run(Path(scratch), accept=accept, store=store, render=render, log=log)


def _run(scratch: Path, *, accept: bool, store: Store, render: bool, log: Callable[[str], None]) -> tuple[Report, int]:
    report, candidate = check(scratch, store, log)
    if report.missing:
        return report, MISSING
    if report.revisions and not accept:
        return report, REVISIONS_PENDING
    if candidate is None:
        log("every registered file is as registered, and the panel is current")
        report.stale_grids = stale_grids()
        store_forecast(report, log)
        _execute(report, log)
        if render:
            book.build(log=log)
        return report, 0
    snapshot = _Snapshot(scratch, [store.raw / store.registry[r.key].mirror_path for r in report.revisions])
    try:
        install(candidate, report.revisions, store, log)
        report.accepted = bool(report.revisions)
        book.forget_inputs()
        store_forecast(report, log)
        _execute(report, log)
        if report.revisions or report.changes or report.executed:
            log("recomputing the key numbers and the key findings …")
            fresh = findings.key_numbers()
            findings.save(fresh)
            findings.save_headlines(fresh)
            report.key_numbers = True
        report.stale_grids = stale_grids()
        if render:
            book.build(log=log)
    except BaseException as exc:
        snapshot.restore()
        book.forget_inputs()
        report.accepted, report.executed, report.key_numbers, report.stale_grids, report.forecast = False, [], False, {}, ""
        raise UpdateError(
            f"update failed ({type(exc).__name__}: {exc}); the registry, the panel, the chapters and the downloads are "
            "back as they were. Fix the cause and run `python -m analysis update"
            + (" --accept-revisions" if report.revisions else "") + "` again."
        ) from exc
    return report, 0


def store_forecast(report: Report, log: Callable[[str], None] = print) -> None:
    """Store the EHCP model's forecast of the January after the panel's last, unless it is stored already: a new
    January in the data is a new forecast to publish and score later, and the profiles read it, so it is made
    before any chapter runs (the model is refitted first if its data changed)."""
    model = EHCPModel(panel.load())
    path = publish.path_for(model.last_year + 1)
    if path.exists():
        return
    log(f"storing the forecast of January {model.last_year + 1} …")
    publish.write(publish.forecast_table(model, model.last_year + 1))
    report.forecast = path.name


def _execute(report: Report, log: Callable[[str], None]) -> None:
    """Re-execute the stale chapters one at a time, stopping at the first that fails: the update is then rolled
    back, so running the others (as `book` does, two at a time) would be wasted work."""
    for path in book.stale():
        book.execute(path, log=log)
        report.executed.append(path.stem)


class UpdateError(BookError):
    """An update that failed and was rolled back."""


def _missing_lines(missing: list[Missing]) -> list[str]:
    """'missing: key (path): why' per file, except that files whose download failed for one reason shared by more
    than three (no connection to a host, say) are one line naming them."""
    counts = pd.Series([m.reason for m in missing], dtype=object).value_counts()
    shared = {w for w, n in counts.items() if n > 3 and w}
    lines = [f"missing: {m}" for m in missing if m.reason not in shared]
    for w in [w for w in counts.index if w in shared]:  # most files first, in a fixed order
        keys = [m.key for m in missing if m.reason == w]
        lines.append(f"missing: {len(keys)} files ({', '.join(keys[:5])}{', …' if len(keys) > 5 else ''}): the download failed: {w}")
    if missing and all(m.reason.startswith("no connection") for m in missing):
        lines.append("no published copy could be reached: offline? `--from mirror` reads only the mirror "
                     "($SEND_DATA_MIRROR, else ../shared/data)")
    return lines


def summary(report: Report, accept: bool) -> str:
    """What a person reads: revisions and what they change, missing and new files, what ran."""
    lines = [f"the panel was out of date ({report.outdated}): rebuilt from the registered files"] if report.outdated else []
    for r in report.revisions:
        lines.append(f"revised: {r.key} ({r.path}) from {r.where}\n  registered sha256 {r.registered}\n  found      sha256 {r.found}")
    for c in report.changes:
        if "note" in c:
            lines.append(f"  {c['variable']}: {c['note']}")
        else:
            lines.append(f"  {c['variable']}: {c['la_years']} LA-year(s) in {c['n_las']} LA(s), years {c['years']}"
                         + (f"; {c['rows_added']} new LA-year rows" if c["rows_added"] else ""))
    for t in report.totals:
        lines.append(f"  England {t['variable']} {t['year']}: {t['before']:,.0f} → {t['after']:,.0f}")
    if report.revisions or report.outdated:
        lines.append("chapters that would be re-executed: " + (", ".join(report.chapters) or "none"))
        lines.append("grids whose data it changes (to rerun after accepting; times in the README): "
                     + (", ".join(report.grids) or "none"))
    if report.outdated and not report.changes:
        lines.append("  no panel value changed")
    lines += _missing_lines(report.missing)
    if report.new_files:
        lines.append(f"{len(report.new_files)} file(s) in the mirror are not registered (a new release needs a registry entry "
                     "and a reader before the study uses it): " + ", ".join(report.new_files[:10])
                     + (" …" if len(report.new_files) > 10 else ""))
    if report.revisions and not accept:
        lines.append("nothing was changed: check the revision, then run `python -m analysis update --accept-revisions`")
    if report.forecast:
        lines.append(f"stored: {(publish.FOLDER / report.forecast).relative_to(paths.ROOT)} (the forecast of the January after "
                     "the panel's last, to be scored when it is published)")
    if report.executed:
        lines.append("re-executed: " + ", ".join(report.executed))
    if report.key_numbers:
        lines.append(f"recomputed: {findings.STORED.relative_to(paths.ROOT)} and {findings.HEADLINES.relative_to(paths.ROOT)}")
    for name, what in report.stale_grids.items():
        lines.append(f"stale: results/{name}.json (its {' and '.join(what)} changed); rerun `python -m analysis grid {name}` "
                     "(times in the README), then `python -m analysis book`")
    return "\n".join(lines)
