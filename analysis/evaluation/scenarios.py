"""Placement scenarios: what moving children with plans between placement types would do to annual high-needs spend.

A scenario moves children from one placement type to another, in one LA or in every LA
(a share of each LA's plans of the source type), and returns the posterior distribution
of the change in a year's spend, draw by draw of the spend model
(`analysis.models.spend`), using each LA's own unit costs in that year:

    Δ top-up   = Σ_moves n · (r_dest · c_dest,LA − r_src · c_src,LA)
    Δ full     = Δ top-up + Σ_moves n · (place_dest − place_src)

where c is the LA's unit cost (£ per plan a year, paid from its high-needs budget),
`place` the standard place or element 2 funding of the type (`PLACE_FUNDING`), and r
the cost of a moved child relative to the average plan of that type (1 by default).
A child can also leave plans for SEN support (`sen_support`, a destination only): no
top-up from the high-needs budget, and the school's element 2 spend assumed unchanged.

What a scenario assumes, and the user can change (`Assumptions`):

- a moved child costs what the average plan of the destination type costs in that LA,
  and saves what the average plan of the source type costs there (`destination_ratio`,
  `source_ratio`: children moved out of special schools may need more than the average
  mainstream plan);
- a one-off cost of moving each child (`transition_cost`, £), reported apart from the
  annual change;
- the destination has room (capacity, new places and their capital cost are not
  modelled);
- the year's unit costs (default the spend model's last year) hold after the move.

What no scenario can tell: whether the children's outcomes would be as good, which is
the question that matters to them and their families.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis.data.finance import financial_year
from analysis.models import fitting
from analysis.models.spend.data import TYPE_LABELS, TYPES
from analysis.models.spend.model import SpendModel
from analysis.models.spend.results import PLACE_FUNDING

#: Names a reader may use for a placement type, besides the model's own (`TYPES`).
ALIASES = {"state_special": "special_state", "special": "special_state", "independent": "special_independent",
           "independent_special": "special_independent", "non_maintained": "special_independent",
           "post_16": "post16", "fe": "post16", "state_mainstream": "mainstream",
           "independent_mainstream": "mainstream_independent", "specialist_post_16": "post16_specialist",
           "specialist_post16": "post16_specialist", "spi": "post16_specialist", "ap": "other", "pru": "other"}


#: Destinations outside the spend model's placement types: needs met on SEN support, without a plan.
SEN_SUPPORT = "sen_support"
#: Element 2 a mainstream school spends from its notional SEN budget, with or without a plan.
SEN_SUPPORT_FUNDING = PLACE_FUNDING["mainstream"]


class ScenarioError(ValueError):
    """A scenario that cannot be computed as asked (unknown LA or placement type, too many children)."""


def searchable(name: str) -> str:
    """An LA name as a reader's typing is compared with it (here and in the profiles' search): lower case, hyphens as
    spaces, other punctuation dropped, single spaces ('St. Helens' → 'st helens', 'Stockton-on-Tees' → 'stockton on
    tees')."""
    return " ".join(re.sub(r"[^a-z0-9 ]", "", name.lower().replace("-", " ")).split())


def placement(name: str, *, destination: bool = False) -> str:
    """The model's placement type for `name` (its own or an alias), or a `ScenarioError` listing them;
    a destination may also be `sen_support`."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if destination and key == SEN_SUPPORT:
        return key
    if key == SEN_SUPPORT:
        raise ScenarioError(f"{SEN_SUPPORT} can only be a destination: children on SEN support have no plan to move")
    if key not in TYPES:
        raise ScenarioError(f"unknown placement type {name!r}: use one of {', '.join(TYPES)} "
                            f"(or {', '.join(sorted(ALIASES))}; {SEN_SUPPORT} as a destination)")
    return key


@dataclass(frozen=True)
class Move:
    """Move `children` (in one LA) or a `share` of every LA's plans (national) from `source` to `destination`."""

    source: str
    destination: str
    children: float | None = None
    share: float | None = None

    @classmethod
    def parse(cls, amount: str, route: str, *, national: bool = False) -> Move:
        """From the command line's ``AMOUNT SOURCE:DESTINATION`` (e.g. ``120 state_special:mainstream``): children are
        counted in whole numbers there (a fraction of a child is an expected number, which `Move` itself accepts)."""
        if route.count(":") != 1:
            raise ScenarioError(f"a move is AMOUNT SOURCE:DESTINATION (e.g. 120 state_special:mainstream), not {amount} {route}")
        source, destination = route.split(":")
        source, destination = placement(source), placement(destination, destination=True)
        try:
            value = float(amount)
        except ValueError:
            raise ScenarioError(f"the amount of a move must be a number, not {amount!r}") from None
        if not national and np.isfinite(value) and value > 0 and not value.is_integer():
            raise ScenarioError(f"the number of children moved must be a whole number, not {amount}")
        return cls(source, destination, share=value) if national else cls(source, destination, children=value)

    def __post_init__(self) -> None:
        if self.source == self.destination:
            raise ScenarioError(f"a move needs two different placement types, not {self.source} to itself")
        if (self.children is None) == (self.share is None):
            raise ScenarioError("a move gives either a number of children (one LA) or a share of plans (every LA)")
        if self.children is not None and not (np.isfinite(self.children) and self.children > 0):
            raise ScenarioError(f"the number of children moved must be a positive number, not {self.children:g}")
        if self.share is not None and not 0 < self.share <= 1:
            raise ScenarioError(f"the share of plans moved must be in (0, 1], not {self.share:g}")


@dataclass(frozen=True)
class Assumptions:
    """What a scenario takes as given (see the module docstring)."""

    year: int | None = None
    destination_ratio: float = 1.0
    source_ratio: float = 1.0
    transition_cost: float = 0.0
    place_funding: dict[str, float] = field(default_factory=lambda: PLACE_FUNDING | {SEN_SUPPORT: SEN_SUPPORT_FUNDING})

    def __post_init__(self) -> None:
        for name in ("destination_ratio", "source_ratio"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ScenarioError(f"{name} (--{name.replace('_', '-')}) must be a positive number, not {getattr(self, name):g}")
        if not (np.isfinite(self.transition_cost) and self.transition_cost >= 0):
            raise ScenarioError(f"transition_cost (--transition-cost) is a cost (£ per child moved), so a number and not "
                                f"negative: {self.transition_cost:g}")


@dataclass(frozen=True)
class Estimate:
    """A posterior summary and the Monte Carlo standard error of its median."""

    median: float
    q05: float
    q95: float
    mcse: float


def estimate(draws: np.ndarray, chains: int) -> Estimate:
    median, mcse = fitting.quantile(draws, chains, 0.5)
    q05, q95 = np.quantile(np.asarray(draws, dtype=float), [0.05, 0.95])
    return Estimate(median, float(q05), float(q95), mcse)


class Scenario:
    """Moves of children between placement types in one LA (`la`, by name or code) or in every LA (`la=None`)."""

    def __init__(self, model: SpendModel, moves: list[Move], la: str | None = None, assumptions: Assumptions = Assumptions()):
        if not moves:
            raise ScenarioError("a scenario needs at least one move: --la LA --move CHILDREN SOURCE:DESTINATION for one LA, "
                                "or --share SHARE SOURCE:DESTINATION for every LA (see --help)")
        self.model, self.moves, self.assumptions = model, list(moves), assumptions
        self.year = model.last_year if assumptions.year is None else assumptions.year
        if self.year not in model.years:
            raise ScenarioError(f"year {self.year} is not one the spend model fitted ({model.first_year}–{model.last_year})")
        frame = model.data()
        self._rows = frame[frame["year"] == self.year].reset_index(drop=True)
        national = la is None
        for m in self.moves:
            if national and m.share is None:
                raise ScenarioError("a scenario for every LA moves a share of plans (e.g. 0.1), not a number of children")
            if not national and m.children is None:
                raise ScenarioError("a scenario for one LA moves a number of children, not a share")
        self.la_code = None if national else self._find(la)
        self._check_numbers()

    def _find(self, la: str) -> str:
        """The code of the LA named `la` (its code, or its name ignoring case, punctuation and extra spaces) among
        those the spend model has in the scenario's year; else an error saying which years it has, or what it
        might have meant."""
        rows, wanted = self._rows, searchable(la)
        by_code = rows[rows["la_code"].str.upper() == la.strip().upper()]
        by_name = rows[rows["la_name"].map(searchable) == wanted]
        match = by_code if len(by_code) else by_name
        if len(match) == 1:
            return str(match["la_code"].iloc[0])
        frame = self.model.data()
        elsewhere = frame[(frame["la_code"].str.upper() == la.strip().upper()) | (frame["la_name"].map(searchable) == wanted)]
        if len(elsewhere):
            years = sorted(int(y) for y in elsewhere["year"].unique())
            raise ScenarioError(f"{elsewhere['la_name'].iloc[0]} has no {self.year} data in the spend model (a figure it rests on "
                                f"is missing, or flagged as a reporting break); it has {years[0]}–{years[-1]}: try --year {years[-1]}")
        names = rows["la_name"].tolist()
        close = [n for n in names if wanted and wanted in searchable(n)][:3] or \
            difflib.get_close_matches(la, names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else " (give its name as DfE spells it, or its code)"
        raise ScenarioError(f"no LA called {la!r} in the spend model's {self.year} data{hint}")

    def plans(self) -> pd.DataFrame:
        """Plans by placement type (columns) in the scenario's LA or in every LA (rows) in its year."""
        rows = self._rows if self.la_code is None else self._rows[self._rows["la_code"] == self.la_code]
        return pd.DataFrame({k: rows[f"n_{k}"].to_numpy(float) for k in TYPES}, index=rows["la_code"].to_numpy())

    def _check_numbers(self) -> None:
        if self.la_code is None:
            total = pd.Series({k: 0.0 for k in TYPES})
            for m in self.moves:
                total[m.source] += m.share
            over = total[total > 1]
            if len(over):
                raise ScenarioError(f"the shares moved out of {over.index[0]} add up to {over.iloc[0]:g}, more than all its plans")
            return
        have = self.plans().iloc[0]
        moved = pd.Series({k: 0.0 for k in TYPES})
        for m in self.moves:
            moved[m.source] += m.children
        name = self._rows.loc[self._rows["la_code"] == self.la_code, "la_name"].iloc[0]
        for k in TYPES:
            if moved[k] > have[k]:
                raise ScenarioError(f"{name} had {have[k]:,.0f} plans in {TYPE_LABELS[k].lower()} placements in January {self.year}; "
                                    f"the scenario moves {moved[k]:,.0f} out of them")

    def children_moved(self) -> np.ndarray:
        """Children moved per (move, LA), in the order of `plans()`'s rows."""
        plans = self.plans()
        return np.array([np.full(len(plans), m.children) if m.share is None else m.share * plans[m.source].to_numpy() for m in self.moves])

    def draws(self) -> dict[str, np.ndarray]:
        """Per posterior draw: the change in the year's spend on top-ups and in full public cost (£)."""
        a = self.assumptions
        comp = self.model.components(self.year)
        at = pd.Index(comp["la_code"]).get_indexer(self.plans().index)  # the scenario's LAs among the model's
        top_up = np.zeros(comp["base"].shape[0])
        place = 0.0
        for m, n in zip(self.moves, self.children_moved()):
            dest = 0.0 if m.destination == SEN_SUPPORT else comp[f"cost_{m.destination}"][:, at]
            src = comp[f"cost_{m.source}"][:, at]
            top_up = top_up + ((a.destination_ratio * dest - a.source_ratio * src) * n).sum(axis=1)
            place += float(n.sum()) * (a.place_funding[m.destination] - a.place_funding[m.source])
        return {"top_up": top_up, "full_cost": top_up + place}

    def result(self) -> dict:
        """The scenario's answer, JSON-ready: changes in annual spend (negative: a saving) with their
        90 % intervals and Monte Carlo errors, the chance that it saves, per child moved, the one-off
        transition cost, and what it assumed."""
        d = self.draws()
        chains = self.model.settings.chains
        moved = float(self.children_moved().sum())
        name = f"England (the {len(self._rows)} LAs in the spend model's {self.year} data)" if self.la_code is None else \
            self._rows.loc[self._rows["la_code"] == self.la_code, "la_name"].iloc[0]
        return {
            "scope": name, "la_code": self.la_code, "year": self.year, "children_moved": moved,
            "moves": [asdict(m) for m in self.moves],
            "annual_change_top_up": asdict(estimate(d["top_up"], chains)),
            "annual_change_full_cost": asdict(estimate(d["full_cost"], chains)),
            "per_child_top_up": asdict(estimate(d["top_up"] / moved, chains)),
            "per_child_full_cost": asdict(estimate(d["full_cost"] / moved, chains)),
            "probability_saving_top_up": float((d["top_up"] < 0).mean()),
            "probability_saving_full_cost": float((d["full_cost"] < 0).mean()),
            "one_off_transition_cost": moved * self.assumptions.transition_cost,
            "assumptions": asdict(self.assumptions) | {"year": self.year},
            "caveats": CAVEATS,
        }


CAVEATS = [
    "Changes are in £ a year at the year's prices; negative is a saving.",
    "A moved child is assumed to cost what the average plan of the destination type costs in that LA "
    "(times destination_ratio) and to save what the average plan of the source type costs (times source_ratio).",
    "Capacity, new places and their capital cost are not modelled.",
    "Each LA's unit costs are England's at the LA's own price level, the same for every placement type: an LA whose "
    "independent special fees differ from others' by more than its price level does is not seen (the public data "
    "cannot tell its fees from how it books them), so moves into or out of independent special are priced at "
    "England's relative cost, not the LA's own.",
    "Nothing here says whether children's outcomes would be as good after the move.",
]


def text(result: dict) -> str:
    """A `Scenario.result` in plain words, for the command line."""

    def money(e: dict) -> str:
        return f"£{e['median']:,.0f} (90% interval £{e['q05']:,.0f} to £{e['q95']:,.0f})".replace("£-", "−£")

    lines = [f"{result['scope']}, unit costs of {financial_year(result['year'])}: moving "
             f"{result['children_moved']:,.0f} children with plans changes a year's spend by",
             f"  top-ups (the LA's high-needs budget): {money(result['annual_change_top_up'])}; "
             f"probability of a saving, given the assumptions, {100 * result['probability_saving_top_up']:.0f}%",
             f"  full public cost (with place funding): {money(result['annual_change_full_cost'])}; "
             f"probability of a saving, given the assumptions, {100 * result['probability_saving_full_cost']:.0f}%"]
    if result["one_off_transition_cost"]:
        lines.append(f"  plus a one-off £{result['one_off_transition_cost']:,.0f} to move them")
    lines.append("Negative is a saving. Assumptions and caveats: --json, or `analysis.evaluation.scenarios`.")
    return "\n".join(lines)
