"""The published key numbers re-create: exactly where the numerics are pinned, within Monte Carlo error elsewhere."""

from __future__ import annotations

import json

import pytest

from analysis.report import findings

from analysis import numerics
from analysis.report.findings import KeyNumber


@pytest.fixture(scope="module")
def fresh():
    return findings.key_numbers()


def test_every_key_number_agrees_with_the_stored_one_within_monte_carlo_error(fresh):
    table = findings.agree(findings.load(), fresh)
    assert table["agree"].all(), f"key numbers that moved beyond Monte Carlo error:\n{table[~table['agree']].to_string()}"


@pytest.mark.skipif(bool(numerics.check()), reason="numerics not pinned here: agreement within Monte Carlo error is the test")
def test_pinned_numerics_re_create_the_key_numbers_exactly(fresh):
    record = json.loads(findings.STORED.read_text())
    assert record["numerics"] == "pinned"
    stored = findings.load()
    assert {k: v.value for k, v in fresh.items()} == {k: v.value for k, v in stored.items()}


def test_every_key_number_has_a_positive_monte_carlo_error(fresh):
    assert len(fresh) >= 15
    assert all(v.mcse > 0 for v in fresh.values()), {k: v.mcse for k, v in fresh.items() if not v.mcse > 0}


def test_agreement_is_judged_by_combined_monte_carlo_error():
    stored = {"x": KeyNumber(1.0, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}
    close = {"x": KeyNumber(1.05, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}  # 0.05 < 4·√2·0.01
    far = {"x": KeyNumber(1.06, 0.01, "", ""), "y": KeyNumber(5.0, 0.1, "", "")}  # 0.06 > 0.0566
    assert findings.agree(stored, close)["agree"].all()
    assert findings.agree(stored, far).set_index("number").loc["x", "agree"] == False  # noqa: E712
    assert not findings.agree(stored, {"x": stored["x"]})["agree"].all()  # a number that disappeared


def test_the_key_findings_are_written_from_the_stored_numbers():
    """`_key-findings.md` (included at the top of the preface) is generated, never edited: rewrite it with
    `python -m analysis findings --save`."""
    assert findings.HEADLINES.read_text() == findings.headlines(findings.load())


def test_the_preface_includes_the_key_findings():
    from analysis import paths

    assert "{{< include _key-findings.md >}}" in (paths.ROOT / "index.qmd").read_text()


def test_key_findings_show_each_number_at_its_supported_precision():
    numbers = findings.load()
    text = findings.headlines(numbers)
    assert findings.shown(numbers["ehcp.england_2029_median"]) in text
    noisy = {k: KeyNumber(v.value, v.mcse * 1000, v.unit, v.what) for k, v in numbers.items()}
    assert findings.shown(noisy["ehcp.england_2029_median"]) in findings.headlines(noisy)  # coarser when the error is larger
    assert findings.headlines(noisy) != text


def test_key_findings_link_to_chapters():
    """Each finding links to the chapter that shows it: a chapter's own label, not a section of another chapter."""
    import re

    from analysis.report import preview

    chapters = {k for p in preview.book_pages() for k, v in p.labels.items() if v["level"] == 1}
    links = set(re.findall(r"@(sec-[\w-]+)", findings.HEADLINES.read_text()))
    assert links and links <= chapters, f"links to sections that are not chapters: {sorted(links - chapters)}"
