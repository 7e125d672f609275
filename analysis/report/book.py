"""Build the book: data, then each chapter executed in order, then a render.

Chapters are executed with nbclient and saved in place with their outputs
(the stored outputs are what nbval re-creates in CI). A chapter is executed
only when its code, the package or the data changed since its last run; the
hash of those inputs is kept in the notebook's metadata. With Quarto on the
PATH the book is then rendered by `quarto render` from those stored outputs
(HTML and Typst PDF; Quarto executes nothing, see `_quarto.yml`); without it,
or when the render fails, an HTML preview of every chapter is written to
`_book/` with pandoc (`analysis.report.preview`), so the reader always gets a book.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from analysis import paths
from analysis.atomic import write_atomic
from analysis import dependencies
from analysis.data import panel
from analysis.errors import BookError
from analysis.report import charts
from analysis.report.preview import render as render_preview

BOOK = paths.ROOT / "_book"
CONFIG = paths.ROOT / "_quarto.yml"
STAMP_KEY = "send_vfm"
TIMEOUT = 1800  # seconds per cell: a cold model fit is the slowest cell
_STORED_LOAD = re.compile(r"""stored\.load\(\s*["']([\w-]+)["']""")
_RECORD = re.compile(r"""computation\.record\(\s*["']([\w-]+)["']""")
QUARTO_HELP = "https://quarto.org/docs/get-started/"
RENDER_LOG = paths.ROOT / "quarto-render.log"


def chapter_list(config: Path = CONFIG) -> list[str]:
    """The book's chapters in order, as listed in `_quarto.yml` (paths relative to the root)."""
    book = yaml.safe_load(config.read_text())["book"]
    items = book["chapters"] + book.get("appendices", [])
    return [item if isinstance(item, str) else item["file"] for item in items]


def notebooks(config: Path = CONFIG) -> list[Path]:
    return [paths.ROOT / c for c in chapter_list(config) if c.endswith(".ipynb")]


def input_hash(nb: nbformat.NotebookNode) -> str:
    """Hash of what a chapter's outputs depend on: its code, the package modules it uses, the data stamp,
    and the stored results it reads (`reads`)."""
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    digest = hashlib.sha256(panel.stamp().encode() + code.encode())
    digest.update(dependencies.code_hash(dependencies.imported_modules(code)).encode())
    for name in sorted(reads(nb)):
        path = paths.ROOT / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b"missing"))
    return digest.hexdigest()[:16]


def reads(nb: nbformat.NotebookNode) -> list[str]:
    """The stored results a chapter reads, found so that none can be forgotten: every grid summary
    loaded by name (``stored.load("name")``) in its code or in the package modules it uses, every
    benchmark record it reads (``computation.record("name")``), and the files it declares
    (``metadata.send_vfm.reads``: the key numbers)."""
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    sources = [code, *(paths.module_file(m).read_text() for m in sorted(dependencies.imported_modules(code)))]
    loaded = {f"results/{name}.json" for text in sources for name in _STORED_LOAD.findall(text)}
    records = {f"benchmarks/results/{name}.json" for name in _RECORD.findall(code)}
    return sorted(loaded | records | set(nb.metadata.get(STAMP_KEY, {}).get("reads", [])))


def execute(path: Path, *, force: bool = False, log: Callable[[str], None] = print) -> bool:
    """Execute one chapter in place if its inputs changed; return True if it ran."""
    nb = nbformat.read(path, as_version=4)
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


def preview(out: Path = BOOK) -> Path:
    """Write the HTML preview of the whole book (pandoc, no Quarto needed) and return its index page."""
    return render_preview(out)


def build(*, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Data → chapters → render. Returns the book's index page.

    Raises `BookError` when Quarto is installed but its render fails; the executed
    chapters are saved and the preview is written first, and the message names the log.
    """
    log("data:")
    panel.ensure(log=lambda m: log(f"  {m}"))
    log("chapters:")
    for nb_path in notebooks():
        execute(nb_path, force=force, log=log)
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
