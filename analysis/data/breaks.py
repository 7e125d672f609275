"""Reporting breaks in LAs' EHC plan counts: a documented rule that flags them, and a mask.

A count of plans moves slowly: England's total grew 5–11 % a year from 2016 to
2025 and no LA's total fell by a third in a year except through a change in how
it was reported. Such breaks happen — Newham's January 2025 total fell from 2,705
to 1,199 (state special 317 → 88) when SEN2 moved to a person-level collection —
and a model that reads them as growth is misled. The rule below flags them; the
panel keeps the published values (raw → processed, nothing edited), and the
models and the evaluation treat a flagged value as missing, like a suppressed one
(`mask`).

The rule, for each LA, January t and count v (the total, and plans in mainstream,
state special and independent special schools):

* r_t = log(v_t / v_{t−1}) minus England's median LA growth of v that year, so
  national changes (for example a reclassified school type) are not flagged;
* only where max(v_{t−1}, v_t) ≥ `MIN_COUNT` (small counts move by chance);
* **step**: |r_t| > log `STEP` (1.5 for the total, 2 for a placement type): the
  value jumps and the LA's series carries on from the new level (or ends);
* **dip or spike**: |r_t| > log `TRANSIENT` and r_{t+1} goes back the other way by
  more than log `TRANSIENT`: the value at t is out of line with both neighbours.

The January after a dip or spike is back in line and is not flagged. Which
values the rule flags is listed in the data chapter and tested.

Post-16, AP/PRU and "other" placements are not watched: post-16 placements were
phased into SEN2 from 2015 to 2018 and "other" is a residual whose boundary with
the rest moved from year to year, so they jump by design (the same rule flags
about 170 of their LA-years); the models use them only inside totals or summed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The counts the rule watches: total plans and plans by school type.
VARIABLES = ("ehcp_total", "ehcp_mainstream", "ehcp_special_state", "ehcp_special_independent")
#: Placement counts masked with a flagged total (their shares of a broken total mean nothing).
PLACEMENTS = ("ehcp_mainstream", "ehcp_special_state", "ehcp_special_independent", "ehcp_ap_pru", "ehcp_post16", "ehcp_other")
MIN_COUNT = 100
#: A step larger than this factor relative to England's median growth is a break.
STEP = {"ehcp_total": 1.5}
STEP_PLACEMENT = 2.0
#: A move out and back of more than this factor each way is a break (at the middle year).
TRANSIENT = 1.5

COLUMNS = ["la_code", "la_name", "year", "variable", "previous", "value", "next", "relative_change", "kind"]


def detect(panel: pd.DataFrame) -> pd.DataFrame:
    """Every flagged LA-January-count: the values around it, its change relative to England, and its kind.

    `relative_change` is v_t / v_{t−1} divided by England's median LA ratio that year.
    """
    las = panel[panel["la_code"].str.match(r"E0[6-9]|E1[0-9]")].sort_values(["la_code", "year"])
    rows = []
    for variable in (v for v in VARIABLES if v in las.columns):
        v = las[variable].where(las[variable] > 0)
        by_la = v.groupby(las["la_code"])
        prev, nxt = by_la.shift(1), by_la.shift(-1)
        consecutive = las.groupby("la_code")["year"].diff() == 1
        growth = np.log(v / prev).where(consecutive)
        r = growth - growth.groupby(las["year"]).transform("median")
        r_next = r.groupby(las["la_code"]).shift(-1)
        large = np.fmax(v, prev) >= MIN_COUNT
        step = large & (r.abs() > np.log(STEP.get(variable, STEP_PLACEMENT)))
        transient = large & (r.abs() > np.log(TRANSIENT)) & (np.sign(r_next) == -np.sign(r)) & (r_next.abs() > np.log(TRANSIENT))
        # a return from a flagged dip or spike is not itself a break
        returning = transient.groupby(las["la_code"]).shift(1, fill_value=False).astype(bool)
        flagged = (transient | (step & ~returning)).fillna(False)
        hit = las[flagged]
        rows.append(
            pd.DataFrame(
                {
                    "la_code": hit["la_code"],
                    "la_name": hit["la_name"],
                    "year": hit["year"],
                    "variable": variable,
                    "previous": prev[flagged],
                    "value": v[flagged],
                    "next": nxt[flagged],
                    "relative_change": np.exp(r[flagged]),
                    "kind": np.where(transient[flagged], "dip or spike", "step"),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
    return out[COLUMNS].sort_values(["la_code", "year", "variable"], ignore_index=True)


def mask(panel: pd.DataFrame, flags: pd.DataFrame | None = None) -> pd.DataFrame:
    """The panel with every flagged count set to missing (NaN), as a suppressed value is.

    A flagged total also masks the LA's placement counts that January: shares of a
    broken total are not comparable with the LA's other years.
    """
    flags = detect(panel) if flags is None else flags
    out = panel.copy()
    if flags.empty:
        return out
    keys = pd.MultiIndex.from_frame(out[["la_code", "year"]])
    for variable, group in flags.groupby("variable"):
        hit = keys.isin(pd.MultiIndex.from_frame(group[["la_code", "year"]]))
        targets = [v for v in ("ehcp_total", *PLACEMENTS) if v in out.columns] if variable == "ehcp_total" else [variable]
        out.loc[hit, targets] = np.nan
    return out
