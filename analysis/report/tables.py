"""Tables for the book: a frame shown as a Markdown pipe table, formatted once, here (and a label set in a sentence).

A DataFrame left as a cell's last value is shown by pandas' HTML repr, which
cuts long cells to "...", drops rows past 60, writes small numbers in
scientific notation and adds its row index; Quarto then turns that HTML into a
PDF table as best it can. `show_table` instead formats every cell as text (thousands
separators, a fixed number of decimals per column, "–" for missing values, the
typographic minus) and returns a Markdown pipe table, which Quarto renders
natively in both HTML and Typst and which pandoc (the preview) reads the same
way. Long identifiers (``ehcp_special_independent``) get invisible break
opportunities after their underscores so that a narrow PDF column can wrap them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Identifiers longer than this get break opportunities (zero-width spaces) after "_".
LONG_TOKEN = 18
BREAK = "\u200b"
MISSING = "–"
#: Column names that mark a column of years (printed without a thousands separator).
YEAR_NAMES = ("year", "cohort", "january")


@dataclass(frozen=True)
class Table:
    """A formatted table: `header`, `rows` (all text) and which columns are numeric (right-aligned)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]

    def __repr__(self) -> str:
        return f"<Table: {len(self.rows)} rows × {len(self.header)} columns>"

    def to_markdown(self) -> str:
        """The pipe table; column widths in the rule line are proportional to content, so long text wraps."""
        lengths = [max([len(h), *(len(r[j]) for r in self.rows)]) for j, h in enumerate(self.header)]
        total = sum(lengths)
        dashes = [max(3, round(60 * n / total)) for n in lengths]
        rule = ["-" * (d - 1) + ":" if num else ":" + "-" * (d - 1) for d, num in zip(dashes, self.numeric)]
        lines = [_row(self.header), _row(rule), *(_row(r) for r in self.rows)]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def frame(self) -> pd.DataFrame:
        """The formatted cells as a frame of strings (for tests and CSV)."""
        return pd.DataFrame(list(self.rows), columns=list(self.header))


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def show_table(frame: pd.DataFrame, formats: dict[str, str] | None = None, *, breaks: bool = True) -> Table:
    """Format `frame` for the book.

    `formats` maps a column to a Python format spec for its numbers (e.g. ``",.1f"``,
    ``".0%"``); numeric columns without one get a fixed number of decimals chosen from
    their largest absolute value (0 for whole numbers and for values ≥ 100, up to 3 for
    values below 1), and columns of years no thousands separator. A named (non-default) index becomes the first column; a default
    RangeIndex is dropped. `breaks=False` keeps long identifiers unbroken.
    """
    formats = formats or {}
    unknown = set(formats) - set(map(str, frame.columns)) - set(frame.index.names or [])
    if unknown:
        raise KeyError(f"show_table(): no column(s) {sorted(unknown)} to format (columns: {list(frame.columns)})")
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    header, columns, numeric = [], [], []
    for name in frame.columns:
        values = frame[name]
        is_num = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        header.append(_text(str(name), breaks))
        numeric.append(is_num)
        if is_num:
            spec = formats.get(str(name)) or ("d" if _is_year(str(name), values) else _default_format(values))
            columns.append([_number(v, spec) for v in values])
        else:
            columns.append([_text(_plain(v), breaks) for v in values])
    rows = tuple(tuple(col[i] for col in columns) for i in range(len(frame)))
    return Table(tuple(header), rows, tuple(numeric))


def _is_year(name: str, values: pd.Series) -> bool:
    """A column of calendar years (named '…year…', 'cohort' or 'January', whole numbers 1900–2100): no thousands separator."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    return any(w in name.lower() for w in YEAR_NAMES) and not v.empty and (v == v.round()).all() and v.between(1900, 2100).all()


def _default_format(values: pd.Series) -> str:
    finite = pd.to_numeric(values, errors="coerce").astype(float)
    finite = finite[np.isfinite(finite)]
    if finite.empty or (finite == finite.round()).all():
        return ",.0f"
    largest = float(finite.abs().max())
    decimals = 0 if largest >= 100 else 1 if largest >= 10 else 2 if largest >= 1 else 3
    return f",.{decimals}f"


def _number(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    text = format(int(value), spec) if spec == "d" else format(value, spec)
    if text.strip("-0.,%") == "":  # a value that rounds to zero has no sign
        text = text.lstrip("-")
    return text.replace("-", "−")


def _plain(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


def _text(text: str, breaks: bool) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    if not breaks:
        return text
    return " ".join(w.replace("_", "_" + BREAK) if len(w) > LONG_TOKEN and "_" in w else w for w in text.split(" "))


def and_join(items: list[str], sep: str = ", ") -> str:
    """'A, B and C' ('A; B and C' with `sep="; "`, for names that hold commas themselves)."""
    return items[0] if len(items) == 1 else sep.join(items[:-1]) + " and " + items[-1]


def in_sentence(label: str) -> str:
    """A label set inside a sentence: 'New plans …' → 'new plans …', but an abbreviation ('KS2 …', 'EHC plan growth')
    and a named measure ('Attainment 8 …', 'Progress 8 …') keep their capital."""
    return label if label[1:2].isupper() or re.match(r"\w+ \d", label) else label[0].lower() + label[1:]
