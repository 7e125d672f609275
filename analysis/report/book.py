"""Build the book: data, then each chapter executed in order, then a render.

Chapters are executed with nbclient and saved in place with their outputs
(the stored outputs are what nbval re-creates in CI). A chapter is executed
only when its code, the package or the data changed since its last run; the
hash of those inputs is kept in the notebook's metadata. With Quarto on the
PATH the book is then rendered by `quarto render` from those stored outputs
(HTML and Typst PDF; Quarto executes nothing, see `_quarto.yml`); without it,
or when the render fails, an HTML preview of every chapter is written to
`_book/` with nbconvert, so the reader always gets a book.
"""

from __future__ import annotations

import ast
import hashlib
import html
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from traitlets.config import Config

from analysis import paths
from analysis.atomic import write_atomic
from analysis.data import panel
from analysis.errors import BookError
from analysis.report import charts

BOOK = paths.ROOT / "_book"
CONFIG = paths.ROOT / "_quarto.yml"
STAMP_KEY = "send_vfm"
TIMEOUT = 1800  # seconds per cell: a cold model fit is the slowest cell
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
    """Hash of what a chapter's outputs depend on: its code, the package modules it uses, the data stamp."""
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    digest = hashlib.sha256(panel.stamp().encode() + code.encode())
    for module in sorted(imported_modules(code)):
        digest.update(module.encode() + paths.module_file(module).read_bytes())
    return digest.hexdigest()[:16]


def imported_modules(code: str) -> set[str]:
    """The `analysis` modules a chapter's code uses, and every package module those import in turn.

    Read from the syntax tree, so every form counts — `from analysis.models import ehcp as em`,
    `import analysis.report.charts`, imports inside functions — and a package's
    `__init__` counts with its modules. The package root (which only pins the numerics) is left out.
    """
    found: set[str] = set()
    todo = _direct_imports(code)
    while todo:
        name = todo.pop()
        if name not in found and name != "analysis":
            found.add(name)
            todo |= _direct_imports(paths.module_file(name).read_text())
    return found


def _direct_imports(code: str) -> set[str]:
    """Package modules named by the import statements of `code` (absolute imports, as the package uses)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in candidates:
            if name.split(".")[0] == "analysis" and _is_module(name):
                names.add(name)
                names |= {".".join(name.split(".")[:k]) for k in range(2, name.count(".") + 1)}  # parent packages
    return names


def _is_module(name: str) -> bool:
    base = paths.ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def execute(path: Path, *, force: bool = False, log: Callable[[str], None] = print) -> bool:
    """Execute one chapter in place if its inputs changed; return True if it ran."""
    nb = nbformat.read(path, as_version=4)
    stamp = input_hash(nb)
    if not force and nb.metadata.get(STAMP_KEY, {}).get("inputs") == stamp:
        log(f"  {path.name}: up to date")
        return False
    log(f"  {path.name}: executing …")
    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata[STAMP_KEY] = {"inputs": stamp}
    write_atomic(path, lambda tmp: nbformat.write(nb, tmp))
    return True


def preview(out: Path = BOOK) -> Path:
    """Write an HTML preview of the whole book (no Quarto needed) and return its index page."""
    # Static SVG before HTML: the preview must work offline, and the interactive
    # charts' HTML loads Vega from a CDN. Quarto's render keeps them interactive.
    config = Config({"NbConvertBase": {"display_data_priority": ["image/svg+xml", "text/html", "text/markdown", "image/png", "text/plain"]}})
    exporter = HTMLExporter(config=config, template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    links = []
    for nb_path in notebooks():
        body, _ = exporter.from_filename(str(nb_path))
        target = out / nb_path.relative_to(paths.ROOT).with_suffix(".html")
        write_atomic(target, lambda tmp, b=body: Path(tmp).write_text(b))
        title = _title(nbformat.read(nb_path, as_version=4)) or nb_path.stem
        links.append(f'<li><a href="{target.relative_to(out).as_posix()}">{html.escape(title)}</a></li>')
    text = re.sub(r"\A---\n.*?\n---\n", "", (paths.ROOT / "index.qmd").read_text(), flags=re.S)
    page = (
        "<!doctype html><html lang='en-GB'><head><meta charset='utf-8'>"
        "<title>Value for money in England's high-needs SEND system (preview)</title>"
        "<style>body{max-width:46rem;margin:2rem auto;font-family:system-ui,sans-serif;line-height:1.5;padding:0 1rem}</style>"
        "</head><body>"
        f"<p><em>Preview built without Quarto: cross-references and citations are shown as written. "
        f"Install Quarto (<a href='{QUARTO_HELP}'>{QUARTO_HELP}</a>) and run <code>python -m analysis book</code> "
        "again for the full HTML and PDF book.</em></p>"
        f"<h2>Chapters</h2><ol>{''.join(links)}</ol>{markdown2html_mistune(text)}</body></html>"
    )
    index = out / "index.html"
    write_atomic(index, lambda tmp: Path(tmp).write_text(page))
    charts.write_bundle(out)
    return index


def _title(nb: nbformat.NotebookNode) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if match:
                return re.sub(r"\s*\{#.*\}$", "", match.group(1))
    return None


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
    log(f"Quarto is not installed, so the book was previewed with nbconvert: open {index}")
    log(f"For the full HTML and PDF book install Quarto ≥ 1.9 ({QUARTO_HELP}) and run this command again.")
    return index
