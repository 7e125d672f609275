"""Faults that only show when Quarto renders the book, caught here without Quarto.

Each test stands for a class of fault found in a real `quarto render` (HTML and
Typst PDF) of the stored chapters: duplicate labels, tables cut or mangled,
charts wider than the text column or with colliding labels, equations past the
margins, anything loaded from a CDN, and a failed render crashing the build.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections import Counter
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from analysis.report import book

from analysis.report import charts

from analysis import paths

from analysis.report import tables
from analysis.errors import BookError

ROOT = paths.ROOT


def _sources() -> dict[str, str]:
    out = {"index.qmd": (ROOT / "index.qmd").read_text()}
    for name in book.chapter_list():
        path = ROOT / name
        if path.suffix == ".ipynb":
            out[name] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        else:
            out[name] = path.read_text()
    return out


def _outputs():
    """(chapter, cell index, output) for every stored output of every chapter."""
    for nb_path in book.notebooks():
        for i, cell in enumerate(nbformat.read(nb_path, as_version=4).cells):
            for out in cell.get("outputs", []):
                yield nb_path.name, i, out


def _markdown_tables():
    """(chapter, cell, rows) for every stored Markdown table output; rows are lists of cell texts."""
    for name, i, out in _outputs():
        text = out.get("data", {}).get("text/markdown", "")
        lines = [ln for ln in text.splitlines() if ln.startswith("|")]
        if len(lines) >= 2 and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[1].replace(" ", "")):
            rows = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]
            yield name, i, rows


# --------------------------------------------------------------------------- labels and references


def test_labels_are_unique_across_the_book():
    """Typst stops on a label defined twice; HTML silently links to the wrong one."""
    labels = Counter()
    for text in _sources().values():
        labels.update(re.findall(r"#\|\s*label:\s*((?:fig|tbl)-[\w-]+)", text))
        labels.update(re.findall(r"\{#((?:sec|fig|tbl|eq)-[\w-]+)", text))
    dupes = sorted(k for k, n in labels.items() if n > 1)
    assert not dupes, f"labels defined more than once in the book: {dupes}"


def _fences(text: str) -> list[tuple[str, str]]:
    """The fenced-div lines of Markdown, in order: ('open', its attributes) or ('close', '')."""
    found = []
    for line in text.splitlines():
        m = re.match(r"^(:{3,})\s*(.*)$", line.strip())
        if m:
            found.append(("open", m.group(2)) if m.group(2) else ("close", ""))
    return found


def _fence_faults(text: str) -> list[str]:
    """What is wrong with the fenced divs of `text`: a close with nothing open, a div left open, or a
    content-visible/hidden div that names no format."""
    faults, depth = [], 0
    for kind, attrs in _fences(text):
        depth += 1 if kind == "open" else -1
        if depth < 0:
            faults.append("a ':::' closes a div that is not open")
            depth = 0
        if (".content-visible" in attrs or ".content-hidden" in attrs) and not re.search(r'(when|unless)-format="(html|typst|pdf)"', attrs):
            faults.append(f"{attrs} names no format")
    return faults + ([f"{depth} fenced div(s) never closed"] if depth else [])


def test_fenced_divs_open_and_close_in_order_across_cells():
    """A chapter may open a fenced div (`::: {.content-visible …}`) in one Markdown cell and close it in a later one
    (chapter 8's HTML-only and PDF-only blocks); Quarto joins the cells, so the fences must balance over the whole
    chapter, never close one that is not open, and name a format where they select one. An unbalanced fence drops
    or duplicates content in one format only."""
    for nb_path in book.notebooks():
        text = "\n".join(c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "markdown")
        assert not _fence_faults(text), f"{nb_path.name}: {_fence_faults(text)}"


def test_the_fence_check_sees_each_fault():
    html = '::: {.content-visible when-format="html"}\nx\n:::\n'
    assert _fence_faults(html) == []
    assert _fence_faults(html + "::: {.callout-note}\ny") == ["1 fenced div(s) never closed"]
    assert _fence_faults(":::\n" + html) == ["a ':::' closes a div that is not open"]
    assert _fence_faults("::: {.content-visible}\nx\n:::") == ["{.content-visible} names no format"]


def test_the_pdf_block_of_the_profiles_holds_a_static_stand_in_for_the_interactive_profile():
    """The interactive profile is HTML-only; the block shown in every other format must exist and point to tables
    and figures that are defined outside the HTML-only block, so the PDF loses no part of the profile."""
    cells = nbformat.read(ROOT / "chapters" / "08-profiles.ipynb", as_version=4).cells
    html_only, other, stack = [], [], []
    for cell in cells:
        inside = "html" in stack  # a cell that opens the HTML-only block is counted in it
        for kind, attrs in _fences(cell.source) if cell.cell_type == "markdown" else []:
            if kind == "open":
                stack.append("html" if 'when-format="html"' in attrs else "other")
                inside = inside or stack[-1] == "html"
            else:
                stack.pop()
        (html_only if inside and cell.cell_type == "code" else other).append(cell.source)
    html_text, other_text = "\n".join(html_only), "\n".join(other)
    assert "label: fig-profile\n" in html_text, "the interactive profile is not in the HTML-only block"
    pdf_block = next(c.source for c in cells if 'unless-format="html"' in c.source)
    referenced = set(re.findall(r"@((?:tbl|fig)-[\w-]+)", pdf_block))
    assert len(referenced) >= 5, referenced
    for label in referenced:
        assert f"label: {label}\n" in other_text, f"{label}, named by the PDF block, is defined only in the HTML-only block"


def test_the_chapters_end_with_a_references_page():
    import yaml as _yaml

    last = _yaml.safe_load((ROOT / "_quarto.yml").read_text())["book"]["chapters"][-1]
    text = (ROOT / last).read_text()
    assert re.search(r"^# References", text, flags=re.M) and "{#refs}" in text, f"{last} is not a references page"


def test_no_chapter_output_is_a_warning_or_an_error():
    """stderr in a stored output is a fault: it carries a machine's paths (so nbval fails elsewhere) and it is noise to a reader."""
    noisy = [(name, i, out.get("text", "")[:120]) for name, i, out in _outputs()
             if out.get("output_type") == "error" or (out.get("output_type") == "stream" and out.get("name") == "stderr")]
    assert not noisy, f"chapter outputs on stderr or errors: {noisy}"


def test_no_stored_image_links_off_site_by_accident():
    """A relative link rendered without the book's base would point at Vega's example data sets."""
    offenders = [(name, i) for name, i, out in _outputs()
                 if any("vega-datasets" in "".join(v) for v in out.get("data", {}).values() if isinstance(v, (str, list)))]
    assert not offenders, f"outputs linking to Vega's example data (a relative link rendered without its base): {offenders}"


# --------------------------------------------------------------------------- tables


def test_tables_are_markdown_not_pandas_html():
    """pandas' HTML repr cuts long cells to '...', shows its index and switches to scientific notation."""
    offenders = [
        (name, i) for name, i, out in _outputs()
        if "<table" in out.get("data", {}).get("text/html", "") and "send-chart" not in out["data"]["text/html"]
    ]
    assert not offenders, f"cells showing a DataFrame's HTML repr (use analysis.tables.show_table): {offenders}"


def test_table_cells_are_whole_plain_numbers_and_breakable():
    found = 0
    for name, i, rows in _markdown_tables():
        found += 1
        header, body = rows[0], rows[2:]
        assert header[0] not in ("", "index", "Unnamed: 0"), f"{name} cell {i}: a row index is shown as a column"
        for row in body:
            assert len(row) == len(header), f"{name} cell {i}: ragged row {row}"
            for cell in row:
                where = f"{name} cell {i}: {cell!r}"
                assert not cell.endswith(("...", "…")), f"{where} is cut"
                literal = re.fullmatch(r"`[^`]*`", cell)  # a code span (a file's hash) is an identifier, not a number
                assert literal or not re.search(r"\d[eE][+−-]?\d", cell), f"{where} is in scientific notation"
                shown = re.sub(r"\]\([^)]*\)", "]", cell)  # a link's target is not printed, only its text
                long = [w for w in shown.split() if len(w.replace(tables.BREAK, " ").split(" ")[0]) > 30]
                assert not [w for w in long if tables.BREAK not in w], f"{where} has a word too long to wrap in a PDF column"
        years = [j for j, h in enumerate(header) if any(w in h.lower() for w in tables.YEAR_NAMES)]
        for row in body:
            for j in years:
                looks = re.fullmatch(r"\d,\d{3}", row[j]) and 1990 <= int(row[j].replace(",", "")) <= 2100
                assert not looks, f"{name} cell {i}: year {row[j]!r} printed with a thousands separator"
    assert found >= 20, f"only {found} Markdown tables found in the chapters"


def test_years_are_printed_without_thousands_separators():
    frame = pd.DataFrame({"cohort": [2022, 2023], "January": [2025, 2026], "first_treated_year": [2024, 2025], "plans": [2022, 12000]})
    cells = tables.show_table(frame).frame()
    assert cells.iloc[0].tolist() == ["2022", "2025", "2024", "2,022"]


def test_show_table_formats_without_truncation_or_index():

    frame = pd.DataFrame({"variable": ["ehcp_special_independent", "x"], "gap": [1.19e-13, 2.5], "n": [1200, -3]})
    table = tables.show_table(frame)
    cells = table.frame()
    assert list(cells.columns) == ["variable", "gap", "n"]
    assert cells["gap"].tolist() == ["0.00", "2.50"] and cells["n"].tolist() == ["1,200", "−3"]
    assert tables.BREAK in cells.loc[0, "variable"]
    long = pd.DataFrame({"text": ["word " * 80]})
    assert "..." not in tables.show_table(long).to_markdown()
    with pytest.raises(KeyError, match="no column"):
        tables.show_table(frame, {"missing": ".1f"})


# --------------------------------------------------------------------------- charts


def _svgs():
    for name, i, out in _outputs():
        svg = out.get("data", {}).get("image/svg+xml")
        if svg:
            yield name, i, svg


def test_every_chart_fits_the_text_column():
    too_wide = []
    for name, i, svg in _svgs():
        width = float(re.search(r'<svg[^>]*?\bwidth="([\d.]+)"', svg).group(1))
        if width > charts.MAX_WIDTH:
            too_wide.append((name, i, width))
    assert not too_wide, f"charts wider than {charts.MAX_WIDTH} px (clipped in HTML): {too_wide}"


#: Advance widths of Liberation Sans (= Arial metrics), in em, for the characters labels use.
_EM = {**dict.fromkeys("0123456789£$#_?", 0.556), **dict.fromkeys(" .,:;!|'ijlIft[]()/-", 0.278),
       **dict.fromkeys("%", 0.889), **dict.fromkeys("mwMW", 0.833), **dict.fromkeys("ABCDEFGHKNOPQRSTUVXYZ", 0.667)}


def _text_width(text: str, size: float) -> float:
    return size * sum(_EM.get(ch, 0.556) for ch in text)


def _label_collisions(svg: str) -> list[str]:
    found = []
    for group in re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, flags=re.S):
        labels = []
        for attrs, text in re.findall(r"<text([^>]*)>([^<]*)</text>", group):
            if 'opacity="0"' in attrs or "rotate(" in attrs or not text.strip():
                continue
            x, y = map(float, re.search(r"translate\(([-\d.e]+),([-\d.e]+)\)", attrs).groups())
            size = float(re.search(r'font-size="([\d.]+)px"', attrs).group(1))
            labels.append((x, y, size, text))
        if len({y for _, y, _, _ in labels}) == 1:  # a horizontal axis: labels side by side
            labels.sort()
            for (x1, _, s1, t1), (x2, _, s2, t2) in zip(labels, labels[1:]):
                if x2 - x1 < (_text_width(t1, s1) + _text_width(t2, s2)) / 2 + 2:
                    found.append(f"{t1!r} and {t2!r}")
        elif len({x for x, _, _, _ in labels}) == 1:  # a vertical axis: labels stacked
            labels.sort(key=lambda lab: lab[1])
            for (_, y1, s1, t1), (_, y2, _, t2) in zip(labels, labels[1:]):
                if y2 - y1 < s1:
                    found.append(f"{t1!r} and {t2!r}")
    return found


def test_axis_labels_do_not_run_together():
    collisions = {f"{name} cell {i}": c[:3] for name, i, svg in _svgs() if (c := _label_collisions(svg))}
    assert not collisions, f"axis labels that overlap: {collisions}"


def test_the_label_collision_check_sees_a_crowded_axis():
    import altair as alt
    import pandas as pd

    def years(n: int, width: int) -> str:
        chart = alt.Chart(pd.DataFrame({"year": list(range(2000, 2000 + n)), "v": 1})).mark_bar().encode(x="year:O", y="v")
        return charts.show(chart.properties(width=width), name="years").static

    assert _label_collisions(years(26, 300))
    assert not _label_collisions(years(10, 500))


def test_show_refuses_a_chart_wider_than_the_column():
    import altair as alt
    import pandas as pd

    wide = alt.Chart(pd.DataFrame({"a": [1], "b": [2]})).mark_point().encode(x="a", y="b").properties(width=900)
    with pytest.raises(ValueError, match="wider than the book's text column"):
        charts.show(wide, name="wide")


# --------------------------------------------------------------------------- equations


def _math_width(line: str) -> int:
    """Rough width in characters of one line of display math as typeset."""
    t = re.sub(r"\\(begin|end)\{[^}]*\}", "", line)
    t = re.sub(r"\\text(?:bf|rm|it)?\{([^{}]*)\}", lambda m: m.group(1), t)
    t = re.sub(r"\\qquad", " " * 4, t)
    t = re.sub(r"\\quad", " " * 2, t)
    t = re.sub(r"\\(left|right|big|Big|bigg|,|;|:|!|\s)", "", t)
    t = re.sub(r"[_^]\{([^{}]*)\}", lambda m: "x" * max(1, round(0.7 * len(re.sub(r"\\[A-Za-z]+", "x", m.group(1))))), t)
    t = re.sub(r"\\[A-Za-z]+", "x", t)
    return len(re.sub(r"[{}&]", "", t))


#: Widest line of display math (characters) that fits an A4 Typst page at the book's font size.
MATH_WIDTH = 72


def test_display_equations_fit_the_page():
    wide = []
    for name, text in _sources().items():
        for block in re.findall(r"\$\$(.*?)\$\$", text, flags=re.S):
            for line in re.split(r"\\\\", block):
                if _math_width(line) > MATH_WIDTH:
                    wide.append((name, line.strip()[:60]))
    assert not wide, f"display-math lines too wide for the PDF page (split them): {wide}"


def test_the_equation_width_check_flags_joined_equations():
    joined = r"\ell_{it} = \gamma x_i + u_i + d_i (t - 2022), \qquad \log c_{kit} = \log \hat c_k + \beta_{g(k)} (t - 2022) + \ell_{it}"
    assert _math_width(joined) > MATH_WIDTH
    assert _math_width(r"\log c_{kit} = \log \hat c_k + \beta_{g(k)} (t - 2022) + \ell_{it}") <= MATH_WIDTH


# --------------------------------------------------------------------------- offline HTML and the Quarto configuration


def test_charts_load_nothing_from_a_cdn():
    for name, i, out in _outputs():
        html = out.get("data", {}).get("text/html", "")
        # what is left once the static SVG (XML namespaces) and the spec (its $schema URL) are set aside
        code = re.sub(r"<svg.*?</svg>|<script type=\"application/json\".*?</script>", "", html, flags=re.S)
        url = re.search(r"https?://\S+", code)
        assert not url, f"{name} cell {i} loads from the web: {url and url[0]}"
        if "send-chart" in html:
            assert "<svg" in html and charts.BUNDLE in html, f"{name} cell {i}: no static chart or no local bundle"


def test_quarto_config_renders_offline_from_stored_outputs():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert config["execute"]["enabled"] is False, "Quarto must render stored outputs, not re-execute the chapters"
    html, typst = config["format"]["html"], config["format"]["typst"]
    assert html["html-math-method"] == "mathml", "MathJax loads from a CDN"
    assert typst.get("citeproc") is True, "Typst would number citations while HTML shows author–date"
    header = (ROOT / typst["include-in-header"]).read_text()
    assert re.search(r"#show figure: set block\(breakable: true\)", header), "long tables would lose rows in the PDF"
    scss = [ROOT / t for t in html["theme"] if str(t).endswith(".scss")]
    assert scss and "$web-font-path: false" in scss[0].read_text(), "the theme would load Google Fonts"
    assert charts.BUNDLE in config["project"]["resources"]


def test_quarto_leftovers_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for pattern in ("_book/", ".quarto/", "index.typ", "*.quarto_ipynb", "quarto-render.log"):
        assert pattern in ignored, f"{pattern} is not in .gitignore"


def test_the_vega_bundle_is_committed_as_the_pinned_vl_convert_writes_it(tmp_path):
    """`quarto render` on a fresh clone, before any Python has run, needs the bundle to make charts interactive:
    it is committed, and must be exactly what the pinned vl-convert writes (else `python -m analysis book`)."""
    text = charts.write_bundle(tmp_path).read_text()
    assert "window.vegaEmbed=" in text and not re.search(r"^(import|export) ", text, flags=re.M)
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", charts.BUNDLE], cwd=ROOT, capture_output=True, text=True)
    assert tracked.returncode == 0, f"{charts.BUNDLE} is not committed: a fresh clone's `quarto render` would draw static charts"
    assert (ROOT / charts.BUNDLE).read_text() == text, f"{charts.BUNDLE} is not what the pinned vl-convert writes: run `python -m analysis book`"


# --------------------------------------------------------------------------- a failed render


def test_a_failed_render_is_reported_and_leaves_the_preview(tmp_path, monkeypatch):
    fake = tmp_path / "quarto"
    fake.write_text("#!/bin/sh\necho 'ERROR: label <tbl-cohorts> occurs multiple times'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(book, "RENDER_LOG", tmp_path / "quarto-render.log")
    monkeypatch.setattr(book, "BOOK", tmp_path / "_book")
    monkeypatch.setattr(book, "preview", lambda out=tmp_path / "_book": _fake_preview(out))
    monkeypatch.setattr(book, "execute", lambda *args, **kwargs: False)
    with pytest.raises(BookError) as err:
        book.build(log=lambda _: None)
    message = str(err.value)
    assert "quarto render` failed (exit 1)" in message and str(tmp_path / "quarto-render.log") in message
    assert "occurs multiple times" in message and "preview" in message
    assert (tmp_path / "_book" / "index.html").exists()


def _fake_preview(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text("<p>preview</p>")
    return out / "index.html"


# --------------------------------------------------------------------------- chapters executed in parallel


def _chapter(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)
    return path


_TIMED = "import pathlib, time\nstart = time.time()\ntime.sleep(3)\npathlib.Path('{name}.times').write_text(f'{{start}} {{time.time()}}')"


def test_two_jobs_execute_chapters_at_once_and_a_failure_names_its_chapter_after_the_others_are_saved(tmp_path):
    a, b = (_chapter(tmp_path, f"{n}.ipynb", _TIMED.format(name=n)) for n in "ab")
    assert book.execute_all([a, b], jobs=2, log=lambda _: None) == [a, b]
    (a0, a1), (b0, b1) = (map(float, (tmp_path / f"{n}.times").read_text().split()) for n in "ab")
    assert a0 < b1 and b0 < a1, "the two chapters did not run at the same time"
    assert book.execute_all([a, b], jobs=2, log=lambda _: None) == [], "unchanged chapters were executed again"

    broken = _chapter(tmp_path, "broken.ipynb", "raise ValueError('a cell failed')")
    c = _chapter(tmp_path, "c.ipynb", _TIMED.format(name="c"))
    with pytest.raises(BookError, match=r"(?s)broken\.ipynb failed to execute.*a cell failed") as err:
        book.execute_all([broken, c], jobs=2, log=lambda _: None)
    assert "c.ipynb" not in str(err.value).splitlines()[0]
    assert nbformat.read(c, as_version=4).metadata[book.STAMP_KEY]["inputs"], "the chapter that ran was not saved"
    with pytest.raises(ValueError, match="at least 1"):
        book.execute_all([a], jobs=0)
