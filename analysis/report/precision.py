"""Numbers at the precision their Monte Carlo error supports.

A posterior summary moves by about its Monte Carlo standard error (MCSE) when the
sampler is run again with another seed, so a digit finer than that is noise. The
rule, used for the key numbers and for every effect the chapters show: the unit
of a number's last digit is at least twice its MCSE. It lives in its own module,
with no imports from the package, so a chapter that formats numbers does not
depend on the models behind the key numbers.
"""

from __future__ import annotations

import numpy as np


def places(mcse: float) -> int:
    """Decimal places (negative: tens, hundreds …) a number with this Monte Carlo standard error
    supports: the unit of its last digit is at least twice the MCSE, so a rerun moves it by at
    most about one unit."""
    return 6 if not mcse > 0 else int(np.floor(-np.log10(2 * mcse)))


def interval_places(mid: float, lo: float, hi: float, most: int | None = None) -> tuple[int, int]:
    """Decimal places (`places`) for a median whose Monte Carlo standard error is `mid` and for both ends of its
    interval (errors `lo`, `hi`): the median at the precision its own error supports, both ends at the coarser of
    theirs, so that the two ends read alike; none finer than `most` where given."""
    cap = (lambda d: d) if most is None else (lambda d: min(d, most))
    return cap(places(mid)), cap(places(max(lo, hi)))


def signed_at(x: float, mcse: float = 0.0, most: int = 1) -> str:
    """`x` with its sign, to `most` decimal places or fewer where its Monte Carlo standard error does not
    support that many (`places`; no error, or an unknown one, gives `most`). A number that rounds to zero is
    shown without a sign ('0.0'): at the precision shown it lies on neither side of zero, and '+0.0' for −0.04
    would say it lay above."""
    d = min(most, places(mcse))
    text = f"{round(x, d):+.{max(d, 0)}f}"
    return text[1:] if float(text) == 0 else text


def reading(lo: float, hi: float, digits: int) -> int:
    """+1 or −1 when an interval, its ends shown to `digits` decimal places (negative: tens, hundreds …), lies
    wholly above or below zero; 0 when it includes zero as shown. Reading the ends as shown, not as computed, means
    two intervals that look the same read the same, and an end that rounds to zero is no difference."""
    lo, hi = round(lo, digits), round(hi, digits)
    return 1 if lo > 0 else -1 if hi < 0 else 0
