"""Turning published cells into numbers: suppression codes become missing, never zero."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.errors import SourceFormatError

#: Codes DfE, ONS and MoJ publish in place of a number (suppressed, not
#: applicable, not available, unreliable, low). All mean "missing".
SUPPRESSION_CODES = frozenset({"c", "x", "z", ":", "u", "low", "..", ".", "-", "–", "*", "n/a", "na", "#", "~", "[c]", "[x]", "[z]", "[low]", "[u]", "dnr", "ne"})

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def numeric(values: pd.Series, *, where: str) -> tuple[pd.Series, pd.Series]:
    """Parse a column to floats; return (values, code) where code holds the suppression code or <NA>.

    Blank cells become missing with no code. Any other text raises
    `SourceFormatError` naming `where` (file and column) and the offending rows.
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float), pd.Series(pd.NA, index=values.index, dtype="string")
    text = values.astype("string").str.strip().str.replace(",", "", regex=False).str.replace("£", "", regex=False)
    text = text.str.replace("%", "", regex=False)
    lower = text.str.lower()
    is_code = lower.isin(SUPPRESSION_CODES)
    is_blank = text.isna() | (text == "")
    is_num = text.fillna("").str.match(_NUMBER)
    bad = ~(is_code | is_blank | is_num)
    if bad.any():
        rows = list(values.index[bad][:5])
        examples = list(values[bad].astype(str).unique()[:5])
        raise SourceFormatError(
            f"{where}: {int(bad.sum())} cells are neither numbers nor known suppression codes "
            f"(e.g. {examples} at rows {rows}). Add the code to analysis.data.parsing.SUPPRESSION_CODES "
            "if it is a publisher's marker for a missing value, else fix the reader."
        )
    out = pd.to_numeric(text.where(is_num), errors="coerce").astype(float)
    code = lower.where(is_code).astype("string")
    return out.where(~is_code, np.nan), code


def require_columns(frame: pd.DataFrame, columns: list[str] | set[str], *, where: str) -> None:
    """Fail clearly when a release has dropped or renamed a column a reader needs."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SourceFormatError(
            f"{where}: column(s) {missing} not found; the file has {list(frame.columns)[:40]}. "
            "The publisher may have renamed them in a new release: update the reader's column map."
        )
