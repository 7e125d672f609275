"""What every reader returns: LA-by-year values, published national totals, suppression flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Kind = Literal["count", "money", "rate", "share", "index"]


@dataclass(frozen=True)
class Variable:
    """One panel column: what it measures, in what unit, over which period, from where.

    `kind` decides the checks: "count" and "money" are additive, so LA sums
    are compared with the published national figure; rates and shares are not.
    """

    name: str
    description: str
    unit: str
    period: str
    source: str
    kind: Kind


@dataclass
class SourceTable:
    """A reader's output.

    - `la`: one row per (`la_code`, `year`), harmonised codes, one column per variable.
    - `national`: published England figures per `year` for the additive variables
      (None when the source publishes none).
    - `suppressed`: long table (`la_code`, `year`, `variable`, `code`) of cells that
      were published as a suppression code and are missing in `la`.
    - `tolerance`: allowed |LA sum − national| / national, for sources that round.
    """

    name: str
    la: pd.DataFrame
    variables: list[Variable]
    national: pd.DataFrame | None = None
    suppressed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["la_code", "year", "variable", "code"])
    )
    tolerance: float = 0.0
    notes: list[str] = field(default_factory=list)
