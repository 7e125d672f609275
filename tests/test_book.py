"""The book's frame: chapter list, citations, cross-references, and CI's test command."""

from __future__ import annotations

import re
import subprocess

import nbformat

from analysis import dependencies
from analysis.report import book

from analysis import paths

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


def test_the_readme_names_every_source_only_the_mirror_can_supply():
    """A registry entry whose URL is not the registered file itself (a release page, a zip around it, the page its
    facts were compiled from) cannot be fetched online; the README's prerequisites name each such entry."""
    from pathlib import PurePosixPath

    from analysis.data.sources import load_registry

    words = {5: "five", 6: "six", 4: "four"}
    mirror_only = sorted(k for k, e in load_registry().items() if not e.url.lower().endswith(PurePosixPath(e.mirror_path).suffix.lower()))
    readme = " ".join((ROOT / "README.md").read_text().split())
    start = readme.index("Online, most files come from their official URLs")
    passage = readme[start:readme.index("```", start)]
    assert sorted(re.findall(r"`(\w+)`", passage)) == mirror_only
    assert f"those {words.get(len(mirror_only), len(mirror_only))} need the mirror" in passage


def test_the_citation_file_names_the_book_s_title_and_both_licences():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    book_title = yaml.safe_load((ROOT / "_quarto.yml").read_text())["book"]["title"]
    assert cff["title"] == book_title and (ROOT / "README.md").read_text().startswith(f"# {book_title}\n")
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}  # code, and text and figures (LICENSE)
    assert all(name in (ROOT / "LICENSE").read_text() for name in ("MIT", "CC BY 4.0"))


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


#: A stored chapter larger than this bloats every clone with each re-execution: thin its charts' data. The
#: profiles chapter is the largest (about 5 MB): every LA's small multiples, stored as SVG for the PDF and as
#: interactive HTML, so that the PDF loses none of the interactive profile.
MAX_NOTEBOOK_BYTES = 5_500_000


def test_stored_chapters_stay_small():
    sizes = {p.name: p.stat().st_size for p in book.notebooks()}
    large = {name: f"{size / 1e6:.1f} MB" for name, size in sizes.items() if size > MAX_NOTEBOOK_BYTES}
    assert not large, f"chapters over {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB: {large}"


def test_the_repository_tracks_only_text_files():
    """Data, fits, packages and build outputs are made or fetched, never committed: a binary among the tracked files
    (a wheel, a parquet, an image) is a slip that a clone would carry for ever."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    binary = [name for name in filter(None, tracked) if (ROOT / name).is_file() and b"\0" in (ROOT / name).read_bytes()[:8192]]
    assert not binary, f"binary files are committed: {binary}; remove them with `git rm --cached` and ignore them"


def test_a_second_build_executes_nothing(capsys):
    for nb_path in book.notebooks():
        assert not book.execute(nb_path, log=lambda _: None), f"{nb_path.name} is stale: run python -m analysis book"


def test_chapter_staleness_follows_imports_through_the_package():
    """A chapter is stale when any module it uses changes: through an alias, another module, or an import inside a function."""
    used = dependencies.imported_modules("import pandas as pd\nfrom analysis.report import ehcp as er, charts\n")
    assert {"analysis.report.ehcp", "analysis.report.charts", "analysis.models.ehcp.model", "analysis.models.ehcp.predict",
            "analysis.models.fitting", "analysis.atomic"} <= used
    assert "analysis.data.cohorts" not in used
    assert dependencies.imported_modules("from analysis.paths import ROOT\n") == {"analysis.paths"}
    lazy = dependencies.imported_modules("from analysis.report import findings\n")  # imports its models inside functions
    assert {"analysis.models.spend.model", "analysis.evaluation.experiment"} <= lazy


def test_a_stamp_follows_what_the_code_does_not_its_wording():
    """Docstrings, comments and layout leave the hash of the code unchanged; a changed constant or statement, or a
    string that is not a docstring, changes it."""
    code = 'def f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n\nLABEL = "a"\n'
    same = '"""A module."""\n\n\ndef f(x):\n    """Two times x, reworded."""\n\n    return 2 * x\n\nLABEL = "a"\n'
    assert dependencies.meaning(code) == dependencies.meaning(same)
    for changed in (code.replace("2 * x", "3 * x"), code.replace('"a"', '"b"'), code.replace("    return", "    print()\n    return")):
        assert dependencies.meaning(changed) != dependencies.meaning(code)
    only_docstring = 'def g():\n    """Nothing but a docstring."""\n'
    assert dependencies.meaning(only_docstring) == dependencies.meaning("def g():\n    pass\n")


def test_a_chapter_is_stale_when_a_grid_summary_it_loads_changes():
    """Grid summaries are found from `stored.load("name")` in the chapter or in the package modules it
    uses, so a rerun grid re-executes the chapters that show it without anyone declaring it."""
    direct = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('from analysis.models import stored\nx = stored.load("spend-sbc")')])
    through_package = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from analysis.evaluation import experiment")])
    assert book.reads(direct) == ["results/spend-sbc.json"]
    assert "results/placebos.json" in book.reads(through_package)
    for nb in book.notebooks():
        code = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code")
        for name in re.findall(r'stored\.load\("([\w-]+)"\)', code):
            assert f"results/{name}.json" in book.reads(nbformat.read(nb, as_version=4)), nb.name


def test_a_chapter_is_stale_when_a_published_forecast_it_reads_changes():
    """The profiles show the EHCP forecast as published (`publish.read`), not as refitted: a re-issued forecast
    file must re-execute them (a missed one left chapter 8 showing the previous issue's numbers)."""
    from analysis.models.ehcp import publish

    forecasts = {p.relative_to(ROOT).as_posix() for p in publish.FOLDER.glob("*.csv")}
    assert forecasts
    profiles = nbformat.read(ROOT / "chapters" / "08-profiles.ipynb", as_version=4)
    assert forecasts <= set(book.reads(profiles))
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from analysis.models import stored")])
    assert not forecasts & set(book.reads(plain))


def test_a_chapter_is_stale_when_a_benchmark_record_it_reads_changes():
    """Benchmark records read with `computation.record("name")` are found in the chapter's code."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('from analysis.report import computation\nt = computation.record("tests")')])
    assert book.reads(nb) == ["benchmarks/results/tests.json"]
    appendix = nbformat.read(ROOT / "chapters" / "06-computation.ipynb", as_version=4)
    assert {f"benchmarks/results/{n}.json" for n in ("cpu_identity", "samplers", "book", "tests")} <= set(book.reads(appendix))


LAYERS = ["data", "models", "evaluation", "report"]


def test_imports_point_one_way_data_models_evaluation_report():
    """The package's folders show the flow; no module imports from a later layer."""
    for path in sorted((ROOT / "analysis").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if len(parts) < 3 or parts[1] not in LAYERS:
            continue
        layer = LAYERS.index(parts[1])
        for name in dependencies.direct_imports(path.read_text()):
            target = name.split(".")
            if len(target) > 1 and target[1] in LAYERS:
                assert LAYERS.index(target[1]) <= layer, f"{path.relative_to(ROOT)} imports {name}, a later layer"


#: Dated facts that stay true when a later year is added: a flagged reporting break and how the model was built.
DATED_FACTS = ("Newham's January 2025", "(Newham 2025)", "over-predicted 2023–2025", "forecast £57,000–£66,000 for 2025-26")


def test_no_prose_or_caption_names_the_latest_data_year():
    """Prose, captions and alt text cannot be recomputed, so they must not name the years that move when a new
    release lands (the last January, the last financial year with spend, the forecast horizon): those belong in
    computed text, or the words say "the last January". Dated facts about a named event are allowed."""
    from analysis.data import panel
    from analysis.data.finance import financial_year
    from analysis.models.ehcp import FORECAST_YEARS, last_january
    from analysis.models.spend import last_financial_year

    frame = panel.load()
    january, spend_year = last_january(frame), last_financial_year(frame)
    moving = re.compile(rf"January {january}\b|mid-{january - 1}\b|\b{january + FORECAST_YEARS}\b|(?:to |and |–){january}\b|–{january - 1}\b|"
                        rf"{re.escape(financial_year(spend_year))}|{re.escape(financial_year(spend_year + 1))}")
    found = []
    for nb_path in [ROOT / "index.qmd", *book.notebooks()]:
        cells = ([nbformat.v4.new_markdown_cell(nb_path.read_text())] if nb_path.suffix == ".qmd"
                 else nbformat.read(nb_path, as_version=4).cells)
        for cell in cells:
            text = " ".join((cell.source if cell.cell_type == "markdown" else "\n".join(
                line for line in cell.source.splitlines() if line.startswith("#|"))).split())
            for fact in DATED_FACTS:
                text = text.replace(fact, "")
            found += [f"{nb_path.name}: …{text[max(0, m.start() - 40):m.end() + 20]}…" for m in moving.finditer(text)]
    assert not found, "text that a new release would make wrong:\n" + "\n".join(found)


def test_every_file_and_module_the_text_names_exists():
    """A package path (`analysis/…py`) or module (`analysis.x.y`) named in the book (its chapters' cells, the
    report modules that write its text) or the README must exist: a module moved into a sub-package otherwise
    leaves the reader a path that leads nowhere."""
    texts = {p.name: p.read_text() for p in [ROOT / "README.md", ROOT / "index.qmd", *(ROOT / "analysis" / "report").glob("*.py")]}
    for nb_path in book.notebooks():
        texts[nb_path.name] = "\n".join(c.source for c in nbformat.read(nb_path, as_version=4).cells)
    missing = []
    for name, text in texts.items():
        missing += [f"{name}: {p}" for p in re.findall(r"\banalysis/[\w/]+\.py\b", text) if not (ROOT / p).is_file()]
        missing += [f"{name}: {m}" for m in re.findall(r"\banalysis(?:\.[a-z_]\w*)+", text) if not _names_something(m)]
    assert not missing, "named in the text but not in the package:\n" + "\n".join(missing)


def _names_something(dotted: str) -> bool:
    """Whether `analysis.x.y` is a package module, or a function, class or constant defined in module `analysis.x`."""
    if dependencies._is_module(dotted):
        return True
    parent, attr = dotted.rsplit(".", 1)
    base = ROOT.joinpath(*parent.split("."))
    source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    return source.is_file() and re.search(rf"^(?:def |class ){attr}\b|^{attr}\s*[:=]", source.read_text(), re.M) is not None


def test_a_dotted_name_is_checked_against_the_package():
    assert _names_something("analysis.data.sources") and _names_something("analysis.models.fitting.cached_fit")
    assert not _names_something("analysis.sources") and not _names_something("analysis.models.fitting.no_such_function")
