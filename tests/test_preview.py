"""The preview without Quarto reads like the book: numbered, cross-referenced, cited, navigable, offline.

The preview is rendered with pandoc, then read back as a reader's browser would:
its visible text, its links, and screenshots from headless Chromium (installed by
`.ci/run`; Debian package `chromium`).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.report import preview

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    preview.render(out)
    return out


def _pages(book: Path) -> dict[str, str]:
    return {p.relative_to(book).as_posix(): p.read_text() for p in sorted(book.rglob("*.html"))}


def _visible(page: str) -> str:
    body = re.sub(r"<(script|style|head)[^>]*>.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<(code|pre)[^>]*>.*?</\1>", " ", body, flags=re.S)  # code shown as code may hold any text
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_every_page_of_the_book_is_rendered(book):
    pages = _pages(book)
    assert set(pages) == {p.href for p in preview.book_pages()}
    assert all("<nav class=\"book\">" in text and "<nav class=\"pager\">" in text and 'id="TOC"' in text for text in pages.values())


def test_no_quarto_markup_is_left_in_the_visible_text(book):
    for name, page in _pages(book).items():
        raw = re.findall(r"\{#[^}]*\}|\{\.[^}]*\}|@(?:sec|fig|tbl|eq)-[\w-]+|\[@[^\]]*\]", _visible(page))
        assert not raw, f"{name}: {raw[:5]}"


def test_every_citation_resolves_to_a_bibliography_entry(book):
    cited_total = 0
    for name, page in _pages(book).items():
        cited = set(re.findall(r'href="#(ref-[^"]+)"', page))
        entries = set(re.findall(r'id="(ref-[^"]+)"', page))
        cited_total += len(cited)
        assert cited <= entries, f"{name}: citations without an entry: {sorted(cited - entries)}"
        assert "???" not in _visible(page), f"{name}: citeproc could not resolve a citation"
    assert cited_total >= 20
    references = _pages(book)["references.html"]
    assert len(re.findall(r'class="csl-entry"', references)) >= 20


def test_every_cross_reference_is_a_numbered_working_link(book):
    pages = _pages(book)
    ids = {name: set(re.findall(r'id="([^"]+)"', text)) for name, text in pages.items()}
    found = 0
    for name, page in pages.items():
        for href, text in re.findall(r'<a href="([^"]+)" class="quarto-xref">([^<]+)</a>', page):
            found += 1
            target, _, anchor = href.partition("#")
            target_page = os.path.normpath(Path(name).parent / target) if target else name
            assert target_page in pages, f"{name}: {href} points to no page"
            assert anchor in ids[target_page], f"{name}: {href} points to no element"
            assert re.fullmatch(r"(Chapter|Appendix|Section|Figure|Table)\xa0[A-Z0-9][\d.]*", html.unescape(text)), text
    assert found >= 40


def test_figures_and_tables_are_numbered_with_their_captions(book):
    national = _pages(book)["chapters/02-national.html"]
    assert re.search(r"<figcaption>Figure\xa02\.1: Active EHC plans", html.unescape(national))
    data = html.unescape(_pages(book)["chapters/01-data.html"])
    assert re.search(r"Table\xa01\.1:</strong> Every input file", data)
    for image in re.findall(r'<img src="([^"]+)"', national):
        assert (book / "chapters" / image).resolve().is_file(), image


def test_nothing_is_loaded_from_the_web(book):
    for name, page in _pages(book).items():
        loads = re.findall(r"<(?:script|img|link|iframe)[^>]+(?:src|href)=\"(https?://[^\"]+)\"", page)
        assert not loads, f"{name} loads {loads[:3]}"


@pytest.mark.parametrize("page", ["index.html", "chapters/02-national.html", "chapters/04-spend.html", "chapters/08-profiles.html"])
def test_pages_render_in_headless_chromium(book, tmp_path, page):
    assert CHROMIUM, "headless Chromium is needed to look at the preview: apt-get install chromium (.ci/run does)"
    import matplotlib.image

    shot = tmp_path / (Path(page).stem + ".png")
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1100,1600",
                    f"--screenshot={shot}", (book / page).as_uri()], check=True, capture_output=True, timeout=120)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1100) and pixels.std() > 0.05, "the page rendered blank"
    saved = Path(__file__).resolve().parent.parent / "_book" / "screenshots"
    saved.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, saved / shot.name)  # kept for people to look at
