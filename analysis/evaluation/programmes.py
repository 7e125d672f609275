"""Who was treated when, which LAs may serve as comparisons, and the outcomes compared.

Treatment is staggered and absorbing: an LA counts as treated from its
`first_treated_year` (see `cohorts`) onwards, whatever happened later
(suspended Safety Valve agreements stay treated: an intention-to-treat
reading, since suspension is itself a response to how the LA fared).

Decisions, each applied in one place here:

* **Cohorts** are the programme's first treated panel years: Safety Valve
  2022–2025 (agreements of FY 2020-21 … 2023-24), DBV 2023 (tranche 1) and
  2024 (tranches 2 and 3, which start in the same panel year).
* **Clean comparisons** for a cohort starting in year *g* with a window to
  *g + post*: LAs in neither programme before the end of the window, i.e.
  never-treated or not-yet-treated at the horizon (`eligible_controls`).
  LAs in the *other* programme by then are excluded too, so every
  comparison is with "business as usual" rather than with another
  intervention.
* **LAs in both** (Bristol, Bracknell Forest, Wiltshire: DBV then Safety
  Valve in 2025) are treated in both evaluations. In the DBV evaluation
  their years from the Safety Valve start are dropped (censored), so DBV is
  not credited with Safety Valve; in the Safety Valve evaluation their
  pre-period already includes DBV, so their effect is "Safety Valve on top
  of DBV" (one post year only).
* **Cumbria** joined DBV tranche 1 (panel year 2023) and was abolished in
  April 2023: as a unit it has one post year and its successors (Cumberland,
  Westmorland and Furness, from 2024) have no pre-period. It is dropped from
  the treated set and the successors from every comparison pool.
* **Tiny LAs** (City of London, Isles of Scilly: a few dozen plans) are
  excluded: their rates move by tens of points from one child.
* **Unidentified Safety Valve members** (two 2022-23 agreements) cannot be
  treated; they may sit in the comparison pools. `exclude_deficit_like`
  builds the sensitivity pools that drop the LAs that could be them: names
  after "Norfolk" and a pre-period DSG deficit like a treated LA's.

Outcomes (`OUTCOMES`) are LA-year series on the scale the models use: logs for
rates of counts and money per head (effects are proportional differences) and
percentage points for shares and rates. An outcome is evaluated once the panel
can carry it (`evaluated`): in each programme, at least `MIN_TREATED` treated LAs
have its value in the year before their start and in a year after it. The DSG
deficit, the programmes' own target, is published to 2021-22 only, so today it
is not; it joins the evaluation by itself when later deficit data are added to
the source registry. Ceased plans are not evaluated: the panel has them for
2023–2025 only, so no cohort has a pre-period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.models import fitting

PROGRAMMES = {"safety_valve": "Safety Valve", "dbv": "Delivering Better Value"}
#: Event-time window of every stack (years relative to the first treated year).
PRE, POST = 4, 3
#: The reference event time (the last pre-treatment year).
REFERENCE = -1
EXCLUDED_UNITS = {"E09000001": "City of London", "E06000053": "Isles of Scilly"}
#: Cumbria's successors inherited DBV from 2024 but have no pre-period as units.
CUMBRIA, CUMBRIA_SUCCESSORS = "E10000006", ("E06000063", "E06000064")


@dataclass(frozen=True)
class Outcome:
    """An outcome series: how it is computed, its scale and label."""

    name: str
    label: str
    scale: str  # "log" (effect = proportional difference) or "pp" (percentage points) or "points"
    first_year: int
    headline: bool = False

    def values(self, panel: pd.DataFrame) -> pd.Series:
        """The series; a zero count or spend gives NaN on the log scale (no finite log)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _FORMULAE[self.name](panel).replace([np.inf, -np.inf], np.nan)

    def reads(self) -> frozenset[str]:
        """The panel columns the series is computed from, read off its formula (so the two cannot drift apart)."""
        seen = _Columns()
        _FORMULAE[self.name](seen)
        return frozenset(seen)


class _Columns(dict[str, pd.Series]):
    """A stand-in panel that records the columns a formula asks for (each reads as a one-row series of 1, so
    formulas that call series methods run too)."""

    def __missing__(self, column: str) -> pd.Series:
        self[column] = pd.Series([1.0])
        return self[column]


def _share(col: str):
    return lambda p: 100 * p[col] / p["ehcp_total"]


def _log_rate(num: str, den: str, per: float):
    return lambda p: np.log(per * p[num] / p[den])


_FORMULAE = {
    "ehcp_rate": _log_rate("ehcp_total", "pop_0_25", 1e4),
    "new_plans_rate": _log_rate("new_plans", "pop_0_25", 1e4),
    "share_independent": _share("ehcp_special_independent"),
    "share_mainstream": _share("ehcp_mainstream"),
    "refused_pct": lambda p: 100 * p["requests_refused"] / p["requests_received"],
    "hn_spend_per_head": _log_rate("hn_spend", "pop_2_18", 1.0),
    "timeliness_pct": lambda p: p["timeliness_20wk_pct"],
    "tribunal_rate": lambda p: p["tribunal_appeal_rate"],
    "ks4_att8_ehcp": lambda p: p["ks4_attainment8_ehcp"],
    "dsg_deficit_pct": lambda p: p["dsg_deficit_pct"],
}

OUTCOMES: dict[str, Outcome] = {
    o.name: o
    for o in [
        Outcome("ehcp_rate", "EHC plans per 10,000 aged 0–25 (growth)", "log", 2016, headline=True),
        Outcome("new_plans_rate", "New plans per 10,000 aged 0–25", "log", 2016),
        Outcome("share_independent", "Share of plans in independent special schools", "pp", 2015),
        Outcome("share_mainstream", "Share of plans in mainstream schools", "pp", 2015),
        Outcome("refused_pct", "Assessment requests refused (% of requests)", "pp", 2017),
        Outcome("hn_spend_per_head", "High-needs spend per head aged 2–18", "log", 2018, headline=True),
        Outcome("timeliness_pct", "New plans issued within 20 weeks (%)", "pp", 2016),
        Outcome("tribunal_rate", "Tribunal appeals per 100 appealable decisions", "pp", 2015),
        Outcome("ks4_att8_ehcp", "Attainment 8 of pupils with a plan (KS4)", "points", 2018),
        Outcome("dsg_deficit_pct", "DSG deficit (% of DSG income)", "pp", 2020),
    ]
}
HEADLINE = [o for o, spec in OUTCOMES.items() if spec.headline]
NOT_EVALUATED = {"ceased_plans": "the panel has ceased plans for 2023–2025 only: no cohort has a pre-period"}
#: Treated LAs per programme that must have an outcome's value in the year before their start and in a year
#: after it for the outcome to be evaluated (`evaluated`): fewer cannot carry a pooled estimate or its checks.
MIN_TREATED = 10


def in_units(outcome: str, draws: np.ndarray) -> np.ndarray:
    """Effect draws in reporting units: % difference for log-scale outcomes, else the outcome's own units."""
    return 100 * np.expm1(draws) if OUTCOMES[outcome].scale == "log" else draws


#: Reporting units by outcome scale.
UNITS = {"log": "%", "pp": "pp", "points": "points"}


def summary(outcome: str, draws: np.ndarray, chains: int) -> dict[str, float]:
    """Median and 90 % interval of effect draws in reporting units, each with its Monte Carlo standard error.

    `draws` are stacked chain by chain from `chains` independent chains (1 for bootstrap replicates); the
    MCSEs are ArviZ's for the median and the 5 % and 95 % quantiles, so a report can show each number at
    the precision its Monte Carlo error supports. Keys: median, lo, hi, median_mcse, lo_mcse, hi_mcse.
    """
    x = np.asarray(in_units(outcome, np.asarray(draws, dtype=float)))
    if x.size % chains:
        raise ValueError(f"{outcome}: {x.size} draws do not split into {chains} chains")
    (lo, lo_mcse), (mid, mid_mcse), (hi, hi_mcse) = (fitting.quantile(x, chains, p) for p in (0.05, 0.5, 0.95))
    return {"median": mid, "lo": lo, "hi": hi, "median_mcse": mid_mcse, "lo_mcse": lo_mcse, "hi_mcse": hi_mcse}


def outcome_frame(panel: pd.DataFrame, outcomes: list[str] | None = None) -> pd.DataFrame:
    """Long frame la_code, year, outcome, y for the evaluated outcomes (NaN rows dropped)."""
    names = outcomes or list(OUTCOMES)
    unknown = [o for o in names if o not in OUTCOMES]
    if unknown:
        raise KeyError(f"unknown outcome(s) {unknown}; known: {list(OUTCOMES)}")
    needed = {"la_code", "year", "ehcp_total", "pop_0_25", "pop_2_18"}
    missing = sorted(needed - set(panel.columns))
    if missing:
        raise DataError(f"panel is missing column(s) {missing} needed for the evaluation outcomes")
    frames = []
    for name in names:
        spec = OUTCOMES[name]
        try:
            y = spec.values(panel)
        except KeyError as exc:
            raise DataError(f"panel is missing column {exc} needed for outcome '{name}'") from exc
        frame = pd.DataFrame({"la_code": panel["la_code"], "year": panel["year"], "outcome": name, "y": y})
        frames.append(frame[(frame["year"] >= spec.first_year) & frame["y"].notna()])
    return pd.concat(frames, ignore_index=True)


def evaluated(outcomes: pd.DataFrame, treatment: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The outcomes of `OUTCOMES` the panel can evaluate, in order, and why each of the others cannot (with
    `NOT_EVALUATED`).

    `outcomes` is `outcome_frame` of the panel, `treatment` `treatment_table`. An outcome is evaluated when, in
    every programme, at least `MIN_TREATED` treated LAs have its value in the year before their start (the
    event study's reference year) and in at least one of the `POST` + 1 years from the start. The rule reads the
    data, so a series that is too short today (the DSG deficit) is evaluated once later years are added."""
    keep, reasons = [], dict(NOT_EVALUATED)
    for name in OUTCOMES:
        rows = outcomes[outcomes["outcome"] == name]
        seen = set(zip(rows["la_code"], rows["year"]))
        carried = {p: sum((c, g - 1) in seen and any((c, g + e) in seen for e in range(POST + 1))
                          for c, g in zip(part["la_code"], part["first_treated_year"]))
                   for p, part in treatment.groupby("programme")}
        if all(carried.get(p, 0) >= MIN_TREATED for p in PROGRAMMES):
            keep.append(name)
            continue
        years = f"{rows['year'].min()}–{rows['year'].max()}" if len(rows) else "no year"
        counts = " and ".join(f"{carried.get(p, 0)} {PROGRAMMES[p]}" for p in PROGRAMMES)
        reasons[name] = (f"the panel has it for panel years {years} only: {counts} LAs have a value in the year before "
                         f"their start and in a year after it, and each programme needs at least {MIN_TREATED}")
    return keep, reasons


def treatment_table(cohorts: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """One row per identified LA per programme: first treated year and the censoring year.

    `censor_year` is the first year the LA is in the *other* programme, when
    that comes later (its years from then are dropped), else NaN. Raises
    `DataError` naming any LA code that is not in the panel.
    """
    ident = cohorts.dropna(subset=["la_code"])
    unknown = sorted(set(ident["la_code"]) - set(panel["la_code"]))
    if unknown:
        names = ident.loc[ident["la_code"].isin(unknown), "la_name"].tolist()
        raise DataError(f"cohorts: LA code(s) {unknown} ({names}) are not in the panel; fix data/cohorts.csv")
    table = ident[["programme", "la_code", "la_name", "cohort", "first_treated_year", "membership", "suspended"]].copy()
    first = table.pivot(index="la_code", columns="programme", values="first_treated_year")
    other = {"safety_valve": "dbv", "dbv": "safety_valve"}
    table["censor_year"] = [
        first.at[c, other[p]] if other[p] in first and first.at[c, other[p]] > g else np.nan
        for p, c, g in zip(table["programme"], table["la_code"], table["first_treated_year"])
    ]
    return table[table["la_code"] != CUMBRIA].reset_index(drop=True)


def first_year_any(cohorts: pd.DataFrame) -> pd.Series:
    """Each identified LA's first treated year in either programme (Cumbria's successors from 2024)."""
    first = cohorts.dropna(subset=["la_code"]).groupby("la_code")["first_treated_year"].min()
    return pd.concat([first, pd.Series(2024, index=list(CUMBRIA_SUCCESSORS))])


def eligible_controls(panel: pd.DataFrame, cohorts: pd.DataFrame, horizon: int) -> list[str]:
    """LAs in neither programme up to and including `horizon` (never- or not-yet-treated), bar tiny LAs."""
    first = first_year_any(cohorts)
    units = panel["la_code"].unique()
    return sorted(c for c in units if c not in EXCLUDED_UNITS and first.get(c, 9999) > horizon)


def cohort_years(treatment: pd.DataFrame, programme: str) -> list[int]:
    return sorted(treatment.loc[treatment["programme"] == programme, "first_treated_year"].unique().tolist())


def horizon(g: int, last_year: int) -> int:
    """Last year of the stack for cohort g: g + POST or the panel's end."""
    return min(g + POST, last_year)
