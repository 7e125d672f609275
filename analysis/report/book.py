"""Build the book: data, then each chapter executed in order, then a render.

Chapters are executed with nbclient and saved in place with their outputs
(the stored outputs are what nbval re-creates in CI). A chapter is executed
only when something it uses changed since its last run; the hash of those
inputs is kept in the notebook's metadata. What a chapter uses is declared in
its metadata (`send_vfm.uses`: the panel columns, as names or globs, and the
registered files it reads directly, such as map boundaries), and the hash
covers exactly that: the content of those columns, the registry entries
(sha256 and release) of the files they come from (`analysis.data.lineage`),
the chapter's code and the package modules it imports, and the stored results
and data files it reads. A new release of one source therefore re-executes
only the chapters that use it. The declarations are checked against what the
code names (`scanned_uses`), so a chapter cannot quietly use an undeclared column. With Quarto on the
PATH the book is then rendered by `quarto render` from those stored outputs
(HTML and Typst PDF; Quarto executes nothing, see `_quarto.yml`); without it,
or when the render fails, an HTML preview of every chapter is written to
`_book/` with pandoc (`analysis.report.preview`), so the reader always gets a book.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from nbclient import NotebookClient

from analysis import paths
from analysis.atomic import write_atomic
from analysis import dependencies
from analysis.data import lineage, panel
from analysis.data.lineage import Inputs
from analysis.data.programme_funding import SAFETY_VALVE_FUNDING
from analysis.errors import BookError
from analysis.report import charts, computation, vintage
from analysis.report.preview import render as render_preview

BOOK = paths.ROOT / "_book"
CONFIG = paths.ROOT / "_quarto.yml"
STAMP_KEY = vintage.KEY
TIMEOUT = 1800  # seconds per cell: a cold model fit is the slowest cell
#: Held while a chapter's stamp is computed: the stamp parses Python (`ast`), and CPython 3.11's AST conversion
#: keeps its recursion depth per interpreter, not per thread (CPython gh-106905), so two chapters starting at once in `execute_all`
#: failed with "AST constructor recursion depth mismatch" (seen in an `update` run).
_HASHING = threading.Lock()
_STORED_LOAD = re.compile(r"""stored\.load\(\s*["']([\w-]+)["']""")
_RECORD = re.compile(r"""computation\.record\(\s*["']([\w-]+)["']""")
_FORECAST = re.compile(r"""publish\.read\(""")
QUARTO_HELP = "https://quarto.org/docs/get-started/"
#: Hand-curated data files, read by the module that holds them: a chapter importing the module reads the file.
DATA_FILES = {"analysis.data.cohorts": paths.COHORTS, "analysis.data.programme_funding": SAFETY_VALVE_FUNDING}
RENDER_LOG = paths.ROOT / "quarto-render.log"
#: Chapters executed at once by default, each in its own kernel. A chapter keeps one core busy with
#: compilation, pandas and plotting most of the time (nutpie's chains use more only while sampling),
#: so two at once keep a 2-core machine busy; each kernel, with the process it forks to sample a fit
#: (`fitting._in_fork`), peaks at about 1.7 GB (proportional set size).
JOBS = min(2, os.cpu_count() or 1)


def chapter_list(config: Path = CONFIG) -> list[str]:
    """The book's chapters in order, as listed in `_quarto.yml` (paths relative to the root)."""
    book = yaml.safe_load(config.read_text())["book"]
    items = book["chapters"] + book.get("appendices", [])
    return [item if isinstance(item, str) else item["file"] for item in items]


def notebooks(config: Path = CONFIG) -> list[Path]:
    return [paths.ROOT / c for c in chapter_list(config) if c.endswith(".ipynb")]


def _code(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


_INPUTS: list[Inputs] = []  # the current inputs, read once per process (`forget_inputs` after the data changed)


def current_inputs() -> Inputs:
    if not _INPUTS:
        _INPUTS.append(Inputs.current())
    return _INPUTS[0]


def forget_inputs() -> None:
    """Drop the inputs read so far (after the panel or the registry changed in this process)."""
    _INPUTS.clear()


def input_hash(nb: nbformat.NotebookNode, inputs: Inputs | None = None) -> str:
    """Hash of what a chapter's outputs depend on: its code, the package modules it uses, the content of the panel
    columns it declares with the registry entries of their sources and of the files it reads directly, and the
    stored results and data files it reads (`reads`)."""
    inputs = inputs or current_inputs()
    code = _code(nb)
    digest = hashlib.sha256(code.encode())
    digest.update(dependencies.code_hash(dependencies.imported_modules(code)).encode())
    columns, direct = uses(nb, inputs)
    digest.update(pd.util.hash_pandas_object(inputs.panel[panel.ID_COLUMNS + columns], index=False).values.tobytes())
    for key in sorted(set(lineage.source_keys(columns, inputs.variables, inputs.lineage)) | set(direct)):
        entry = inputs.registry[key]
        digest.update(f"{key}:{entry.sha256}:{entry.released}".encode())
    for name in sorted(reads(nb)):
        path = paths.ROOT / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b"missing"))
    return digest.hexdigest()[:16]


def uses(nb: nbformat.NotebookNode, inputs: Inputs | None = None) -> tuple[list[str], list[str]]:
    """The panel columns (patterns expanded) and the registry keys a chapter declares it uses."""
    inputs = inputs or current_inputs()
    return vintage.declared(nb, [c for c in inputs.panel.columns if c not in panel.ID_COLUMNS])


def scanned_uses(nb: nbformat.NotebookNode) -> tuple[set[str], set[str]]:
    """The panel columns and registry keys named (as string literals) in a chapter's code and in the package
    modules it uses, other than the data layer that builds the panel: what its declaration must cover."""
    code = _code(nb)
    modules = dependencies.imported_modules(code) - set(panel.DATA_MODULES)
    inputs = current_inputs()
    found: set[str] = set()
    for text in [code, *(paths.module_file(m).read_text(encoding="utf-8") for m in sorted(modules))]:
        found |= dependencies.named_strings(text)
    return found & (set(inputs.panel.columns) - set(panel.ID_COLUMNS)), found & set(inputs.registry)


def stale(inputs: Inputs | None = None) -> list[Path]:
    """The chapters whose stored stamp differs from their inputs' (as they are, or as `inputs` would make them)."""
    out = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if nb.metadata.get(STAMP_KEY, {}).get("inputs") != input_hash(nb, inputs):
            out.append(path)
    return out


def reads(nb: nbformat.NotebookNode) -> list[str]:
    """The stored results and data files a chapter reads, found so that none can be forgotten: every grid summary
    loaded by name (``stored.load("name")``) in its code or in the package modules it uses, every benchmark record
    it reads (``computation.record("name")``), the hand-curated data file of every data module it imports
    (`DATA_FILES`), every published forecast file when it reads them (``publish.read``), and the files it declares
    (``metadata.send_vfm.reads``: the key numbers)."""
    code = _code(nb)
    modules = dependencies.imported_modules(code)
    sources = [code, *(paths.module_file(m).read_text(encoding="utf-8") for m in sorted(modules))]
    loaded = {f"results/{name}.json" for text in sources for name in _STORED_LOAD.findall(text)}
    records = {f"benchmarks/results/{name}.json" for name in _RECORD.findall(code)}
    files = {DATA_FILES[m].relative_to(paths.ROOT).as_posix() for m in modules if m in DATA_FILES}
    if any(_FORECAST.search(text) for text in sources):
        from analysis.models.ehcp import publish

        files |= {p.relative_to(paths.ROOT).as_posix() for p in publish.FOLDER.glob("*.csv")}
    return sorted(loaded | records | files | set(nb.metadata.get(STAMP_KEY, {}).get("reads", [])))


def execute(path: Path, *, force: bool = False, log: Callable[[str], None] = print) -> bool:
    """Execute one chapter in place if its inputs changed; return True if it ran."""
    nb = nbformat.read(path, as_version=4)
    with _HASHING:
        stamp = input_hash(nb)
    if not force and nb.metadata.get(STAMP_KEY, {}).get("inputs") == stamp:
        log(f"  {path.name}: up to date")
        return False
    log(f"  {path.name}: executing …")
    start = time.perf_counter()
    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata[STAMP_KEY] = nb.metadata.get(STAMP_KEY, {}) | {"inputs": stamp}
    write_atomic(path, lambda tmp: nbformat.write(nb, tmp))
    log(f"  {path.name}: executed in {time.perf_counter() - start:.0f} s")
    return True


def execute_all(chapters: list[Path], *, jobs: int = JOBS, force: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Execute the chapters whose inputs changed, `jobs` at a time; return those that ran.

    Chapters do not read each other's outputs, so they can run in any order; the slowest
    (by the last recorded cold build, `benchmarks/results/book.json`) start first, so the
    jobs finish together. Fits two chapters share are sampled once (`fitting.cached_fit`
    makes the second wait for the first). If a chapter fails, the others still finish
    and are saved, then the first failure is raised.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    current_inputs()  # read once, before the threads share it
    recorded = (computation.record("book") or {}).get("cold", {}).get("chapters_s", {})
    order = sorted(chapters, key=lambda p: -recorded.get(p.name, 0.0))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = {path: pool.submit(execute, path, force=force, log=log) for path in order}
    failed = [(path, run.exception()) for path, run in runs.items() if run.exception() is not None]
    if failed:
        path, error = failed[0]
        others = f" (also failed: {', '.join(p.name for p, _ in failed[1:])})" if failed[1:] else ""
        raise BookError(f"{path.name} failed to execute{others}; the chapters that ran are saved.\n{error}") from error
    return [path for path in chapters if runs[path].result()]


def preview(out: Path = BOOK) -> Path:
    """Write the HTML preview of the whole book (pandoc, no Quarto needed) and return its index page."""
    return render_preview(out)


def build(*, force: bool = False, jobs: int = JOBS, log: Callable[[str], None] = print) -> Path:
    """Data → chapters (`jobs` at a time) → render. Returns the book's index page.

    Raises `BookError` when Quarto is installed but its render fails; the executed
    chapters are saved and the preview is written first, and the message names the log.
    """
    log("data:")
    panel.ensure(log=lambda m: log(f"  {m}"))
    forget_inputs()
    log("chapters:")
    execute_all(notebooks(), jobs=jobs, force=force, log=log)
    charts.write_bundle(paths.ROOT)
    quarto = shutil.which("quarto")
    if quarto:
        log(f"rendering with Quarto (HTML and Typst PDF, from the stored outputs; log: {RENDER_LOG}) …")
        with open(RENDER_LOG, "w") as out:
            result = subprocess.run([quarto, "render"], cwd=paths.ROOT, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode == 0:
            return BOOK / "index.html"
        index = preview()
        tail = "\n".join("    " + line for line in RENDER_LOG.read_text(errors="replace").splitlines()[-15:])
        raise BookError(
            f"`quarto render` failed (exit {result.returncode}); the whole log is {RENDER_LOG}. Its last lines:\n{tail}\n"
            f"The executed chapters are saved in chapters/, and an HTML preview without Quarto is at {index}."
        )
    index = preview()
    log(f"Quarto is not installed, so the book was previewed with pandoc: open {index}")
    log(f"For the full HTML and PDF book install Quarto ≥ 1.9 ({QUARTO_HELP}) and run this command again.")
    return index
