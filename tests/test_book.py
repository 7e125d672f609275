"""The book's frame: chapter list, citations, cross-references, and CI's test command."""

from __future__ import annotations

import re

import nbformat

from analysis import book, paths

ROOT = paths.ROOT


def _texts() -> dict[str, str]:
    """Prose and code of every book source, keyed by path."""
    out = {"index.qmd": (ROOT / "index.qmd").read_text()}
    for nb_path in book.notebooks():
        nb = nbformat.read(nb_path, as_version=4)
        out[nb_path.name] = "\n".join(c.source for c in nb.cells)
    return out


def test_chapter_list_matches_the_chapters_folder():
    listed = {c for c in book.chapter_list() if c.startswith("chapters/")}
    present = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").glob("*.ipynb")}
    assert listed == present
    assert book.chapter_list()[0] == "index.qmd"
    assert all((ROOT / c).exists() for c in book.chapter_list())


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), flags=re.M))
    cited = set()
    for text in _texts().values():
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        cited |= {k for k in re.findall(r"(?<![\w.])@([A-Za-z][\w:-]*[\w])", prose) if not k.startswith(("fig-", "tbl-", "sec-", "eq-"))}
    assert cited, "the book cites nothing"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_every_cross_reference_has_a_target():
    texts = "\n".join(_texts().values())
    labels = set(re.findall(r"#\|\s*label:\s*((?:fig|tbl)-[\w-]+)", texts)) | set(re.findall(r"\{#((?:sec|fig|tbl)-[\w-]+)", texts))
    refs = set(re.findall(r"@((?:fig|tbl|sec)-[\w-]*[\w])", texts))
    assert refs <= labels, f"cross-references without targets: {sorted(refs - labels)}"


def test_every_figure_has_a_caption_and_alt_text():
    for name, text in _texts().items():
        for label in re.findall(r"#\|\s*label:\s*(fig-[\w-]+)", text):
            cell = text[text.index(f"label: {label}"):].split("\n\n", 1)[0]
            assert "fig-cap:" in cell and "fig-alt:" in cell, f"{name}: {label} lacks fig-cap or fig-alt"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command.*?-->\s*```bash\n(.+?)\n```", readme, flags=re.S).group(1).strip()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == command


def test_every_chart_is_stored_interactive_and_static():
    charts = 0
    for nb_path in book.notebooks():
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "<Figure" in data.get("text/plain", ""):
                    charts += 1
                    assert "vegaEmbed" in data.get("text/html", "") and data.get("image/svg+xml", "").lstrip().startswith("<svg"), nb_path.name
    assert charts >= 8


def test_a_second_build_executes_nothing(capsys):
    for nb_path in book.notebooks():
        assert not book.execute(nb_path, log=lambda _: None), f"{nb_path.name} is stale: run python -m analysis book"


def test_chapter_staleness_follows_imports_through_the_package():
    """A chapter is stale when any module it uses changes, including through an alias or another module."""
    used = book.imported_modules("import pandas as pd\nfrom analysis import ehcp_results as er, charts\n")
    assert {"ehcp_results", "charts", "ehcp_model", "fitting", "atomic"} <= used
    assert "cohorts" not in used
    assert book.imported_modules("from analysis.paths import ROOT\n") == {"paths"}
