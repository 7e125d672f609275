"""The book as HTML without Quarto: each page rendered by pandoc, numbered and cross-referenced like Quarto's.

Most readers who clone the study have no Quarto, and the machines it is built on
cannot have it, so `python -m analysis book` always writes this preview to
`_book/` (Quarto's render, when there is one, replaces it). It is made with
pandoc (the binary that `pypandoc-binary` ships), not by rewriting text:

- every chapter's stored outputs become pandoc Markdown, as in the PDF: results
  without code; each chart as its static SVG in a figure, each table as a table,
  both with their captions and labels from the cell options;
- the book's labels (sections, figures, tables) are numbered here, once, in
  Quarto's way (chapter.section, "Figure 2.1", appendices lettered), and handed to
  a small Lua filter (`assets/crossref.lua`) that numbers each page's headings,
  figures and tables and turns `@sec-…`, `@fig-…`, `@tbl-…` into numbered links,
  across pages too;
- citations go through pandoc's citeproc with `references.bib` (the same
  author–date style as Quarto's HTML), each page listing what it cites, the
  references page listing everything the book cites;
- every page has the table of contents, the chapter list and previous/next links;
  equations are MathML, styles are inline: nothing is loaded from the web.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pypandoc
import yaml

from analysis import paths
from analysis.atomic import write_atomic

TITLE = "Value for money in England's high-needs SEND system"
FILTER = paths.ROOT / "assets" / "crossref.lua"
BIBLIOGRAPHY = paths.ROOT / "references.bib"
_HEADER = re.compile(r"^(#{1,6})\s+(.*?)\s*(\{[^}]*\})?\s*$", re.M)
_OPTION = re.compile(r"^#\|\s*([\w-]+):\s*(.*)$", re.M)
_INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")

STYLE = """
body{max-width:52rem;margin:0 auto;padding:0 1.2rem 4rem;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.55;color:#222}
nav.book{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:baseline;border-bottom:1px solid #ddd;padding:.8rem 0;margin-bottom:1.5rem;font-size:.92rem}
nav.book .title{font-weight:600;margin-right:auto}
nav.pager{display:flex;justify-content:space-between;border-top:1px solid #ddd;margin-top:3rem;padding-top:1rem}
#TOC{background:#f7f7f9;border:1px solid #e3e3e8;border-radius:6px;padding:.6rem 1.2rem;margin:1rem 0 2rem;font-size:.92rem}
#TOC ul{padding-left:1.2rem;margin:.2rem 0}
figure{margin:1.5rem 0;text-align:center}figure img{max-width:100%;height:auto}
figcaption,.table-figure>p:first-child{font-size:.92rem;color:#333;text-align:left;margin-top:.4rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;vertical-align:top}th{border-bottom:2px solid #999;text-align:left}
.header-section-number{color:#666;margin-right:.3rem}
a{color:#0b5cad}code{font-size:.9em}
.csl-entry{margin-bottom:.5rem;padding-left:1.5rem;text-indent:-1.5rem}
.preview-note{font-size:.85rem;color:#555;background:#fffbe6;border:1px solid #f0e2a0;padding:.4rem .8rem;border-radius:4px}
[class^="callout"]{border-left:4px solid #0b5cad;background:#f4f8fc;padding:.4rem 1rem;margin:1rem 0;border-radius:4px}
[class^="callout"][title]::before{content:attr(title);display:block;font-weight:600;margin:.2rem 0}
"""


@dataclass
class Page:
    """One page of the book: its source, where it is written, its number (or none) and its label."""

    source: Path
    href: str
    title: str = ""
    number: str = ""
    appendix: bool = False
    labels: dict[str, dict] = field(default_factory=dict)


def book_pages(config: Path = paths.ROOT / "_quarto.yml") -> list[Page]:
    """The pages in order, with every label numbered as Quarto numbers it."""
    book = yaml.safe_load(config.read_text())["book"]
    chapters = [c if isinstance(c, str) else c["file"] for c in book["chapters"]]
    appendices = [c if isinstance(c, str) else c["file"] for c in book.get("appendices", [])]
    pages, chapter, letter = [], 0, 0
    for name in chapters + appendices:
        source = paths.ROOT / name
        page = Page(source, str(Path(name).with_suffix(".html")), appendix=name in appendices)
        text, cells = _markdown_and_options(source)
        first = _HEADER.search(text)
        unnumbered = first is None or "unnumbered" in (first.group(3) or "") or first.group(3) == "{-}"
        if not unnumbered:
            if page.appendix:
                page.number = chr(ord("A") + letter)
                letter += 1
            else:
                chapter += 1
                page.number = str(chapter)
        page.title = re.sub(r"\s*\{[^}]*\}\s*$", "", first.group(2)) if first else source.stem
        page.labels = _number(page, text, cells)
        pages.append(page)
    return pages


def _markdown_and_options(source: Path) -> tuple[str, list[dict]]:
    """A page's Markdown (all of it, Quarto's `{{< include file >}}` expanded) and, for a notebook, each code cell's
    options in order."""
    if source.suffix != ".ipynb":
        text = re.sub(r"\A---\n.*?\n---\n", "", source.read_text(), flags=re.S)
        return _INCLUDE.sub(lambda m: (source.parent / m.group(1)).read_text(), text), []
    nb = nbformat.read(source, as_version=4)
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return text, [dict(_OPTION.findall(c.source)) for c in nb.cells if c.cell_type == "code"]


def _number(page: Page, text: str, cells: list[dict]) -> dict[str, dict]:
    """Numbers of the page's section, figure and table labels ('' where unnumbered)."""
    out: dict[str, dict] = {}
    counters = [0] * 6
    for hashes, _, attrs in _HEADER.findall(text):
        level = len(hashes)
        ident = re.search(r"#([\w-]+)", attrs or "")
        numbered = page.number and "unnumbered" not in (attrs or "")
        if level > 1 and numbered:
            counters[level - 1] += 1
            counters[level:] = [0] * (6 - level)
        number = ".".join([page.number, *map(str, counters[1:level])]) if numbered else ""
        if ident:
            out[ident.group(1)] = {"number": number, "level": level, "appendix": page.appendix}
    for kind in ("fig", "tbl"):
        labels = [c["label"] for c in cells if c.get("label", "").startswith(f"{kind}-")]
        for k, label in enumerate(labels, start=1):
            out[label] = {"number": f"{page.number}.{k}" if page.number else str(k), "level": 0, "appendix": page.appendix}
    return out


def _relative(target: str, page: str) -> str:
    depth = page.count("/")
    return "../" * depth + target


def page_markdown(page: Page, figures: Path) -> str:
    """The page as pandoc Markdown: Markdown cells as written, code cells as their stored results."""
    if page.source.suffix != ".ipynb":
        return _markdown_and_options(page.source)[0]
    nb = nbformat.read(page.source, as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code":
            parts.append(_results(cell, page, figures))
    return "\n\n".join(p for p in parts if p)


def _results(cell, page: Page, figures: Path) -> str:
    options = dict(_OPTION.findall(cell.source))
    label = options.get("label", "")
    caption = _unquote(options.get("fig-cap") or options.get("tbl-cap") or "")
    out = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/svg+xml" in data:
            name = f"{page.source.stem}-{label or 'figure'}-{len(list(figures.glob(page.source.stem + '-*')))}.svg"
            write_atomic(figures / name, lambda tmp, svg=data["image/svg+xml"]: tmp.write_text(svg))
            alt = _unquote(options.get("fig-alt", caption)).replace('"', "'")
            ident = f"#{label} " if label.startswith("fig-") else ""
            src = _relative(f"figures/{name}", page.href)
            out.append(f'![{caption}]({src}){{{ident}fig-alt="{alt}"}}')
        elif "text/markdown" in data:
            text = data["text/markdown"]
            if label.startswith("tbl-"):
                out.append(f"::: {{#{label} .table-figure}}\n\n{caption}\n\n{text}\n\n:::")
            else:
                out.append(text)
    return "\n\n".join(out)


def _unquote(text: str) -> str:
    text = text.strip()
    return json.loads(text) if text.startswith('"') else text.strip("'")


def render(out: Path = paths.ROOT / "_book") -> Path:
    """Write the preview of every page to `out`; return the index page."""
    pages = book_pages()
    everything = {k: v | {"href": p.href} for p in pages for k, v in p.labels.items()}
    cited = _cited(pages)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.svg"):
        old.unlink()
    style = out / "assets" / "preview.css"
    write_atomic(style, lambda tmp: tmp.write_text(STYLE))
    for i, page in enumerate(pages):
        crossref = {k: {**v, "href": _relative(v["href"], page.href) + f"#{k}"} for k, v in everything.items()}
        meta = {"crossref": crossref, "lang": "en-GB", "link-citations": True, "reference-section-title": "References",
                "pagetitle": f"{page.title} – {TITLE}"}
        if page.source.name == "references.qmd":
            meta["nocite"] = ", ".join(f"@{k}" for k in sorted(cited))
            meta["reference-section-title"] = ""
        body = page_markdown(page, figures)
        text = pypandoc.convert_text(
            body, "html5", format="markdown",
            extra_args=["--lua-filter", str(FILTER), "--citeproc", "--wrap=none", f"--bibliography={BIBLIOGRAPHY}", "--mathml",
                        "--standalone", "--toc", "--toc-depth=2", f"--css={_relative('assets/preview.css', page.href)}",
                        f"--metadata-file={_metadata_file(out, meta)}", f"--include-before-body={_nav_file(out, pages, i)}",
                        f"--include-after-body={_pager_file(out, pages, i)}"],
        )
        write_atomic(out / page.href, lambda tmp, t=text: tmp.write_text(t))
    downloads = paths.ROOT / "downloads"
    if downloads.is_dir():  # the files chapters link to (each LA's CSV), served beside the pages as Quarto does
        shutil.copytree(downloads, out / "downloads", dirs_exist_ok=True)
    for helper in (out / ".meta.json", out / ".nav.html", out / ".pager.html"):
        helper.unlink(missing_ok=True)
    return out / pages[0].href


def _cited(pages: list[Page]) -> set[str]:
    """Bibliography keys cited anywhere in the book (not cross-reference labels)."""
    keys = set(re.findall(r"^@\w+\{([^,]+),", BIBLIOGRAPHY.read_text(), flags=re.M))
    found = set()
    for page in pages:
        text = _markdown_and_options(page.source)[0]
        found |= {k for k in re.findall(r"(?<![\w.])@([A-Za-z][\w:-]*[\w])", text) if k in keys}
    return found


def _metadata_file(out: Path, meta: dict) -> Path:
    path = out / ".meta.json"
    path.write_text(json.dumps(meta))
    return path


def _nav_file(out: Path, pages: list[Page], i: int) -> Path:
    page = pages[i]
    links = " ".join(
        f'<a href="{_relative(p.href, page.href)}">{html.escape((p.number + " ") if p.number else "")}{html.escape(p.title)}</a>'
        for p in pages
    )
    note = ("<p class='preview-note'>A preview of the book made without Quarto (pandoc; charts are static images). "
            "With Quarto installed, <code>python -m analysis book</code> renders the full HTML and PDF book.</p>")
    path = out / ".nav.html"
    path.write_text(f'<nav class="book"><span class="title">{html.escape(TITLE)}</span>{links}</nav>{note if i == 0 else ""}')
    return path


def _pager_file(out: Path, pages: list[Page], i: int) -> Path:
    page = pages[i]
    prev = f'<a rel="prev" href="{_relative(pages[i - 1].href, page.href)}">← {html.escape(pages[i - 1].title)}</a>' if i else "<span></span>"
    nxt = f'<a rel="next" href="{_relative(pages[i + 1].href, page.href)}">{html.escape(pages[i + 1].title)} →</a>' if i + 1 < len(pages) else "<span></span>"
    path = out / ".pager.html"
    path.write_text(f'<nav class="pager">{prev}{nxt}</nav>')
    return path
