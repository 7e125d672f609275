"""Model 2: high-needs spend built from placements: the generative model and its fitting
(how to use it: `analysis.models.spend`).

What is modelled
----------------
``hn_spend`` is net LA expenditure on s251 lines 1.2.x: top-ups to schools and
colleges of every kind, SEN support and inclusion services, alternative
provision, hospital education and therapies. It EXCLUDES place funding (line
1.0.2: £6,000 / £10,000 per commissioned place in resourced units, special
schools, AP and colleges, much of it paid by ESFA direct to academies). So the
"unit cost" this model can identify is **what the LA itself pays per plan per
year, net of place funding** — mostly top-up (element 3) funding. It is not
the full cost of a placement (place funding, the school's own first £6,000 in
mainstream, transport, health and social care contributions are all outside
it).

For LA *i* in panel year *t* (financial year t−1 to t; ``s = t − 2022``, so
levels refer to FY 2021-22, the year of the benchmarking cross-check):

    ℓ_it   = γ·x_i + σ_u u_i + σ_d d_i·s + η_t                           (the LA's price level and drift, the year)
    c_kit  = exp(log ĉ_k + β_g(k)·s + ℓ_it)                              (unit cost of type k, £ per plan)
    b_it   = exp(log b̂ + β_state·s + ℓ_it)                               (base spend, £ per head aged 2–18)
    μ_it   = Σ_k n_kit c_kit + P_it b_it                                  (expected spend, £)
    log y_it ~ StudentT(ν, log μ_it, σ_obs),   u_i, d_i ~ N(0, 1)        (non-centred)

``n_kit`` are the LA's EHC plans in January t (the census inside the financial
year) by placement type k, ``P_it`` its ONS 2–18 population (mid t−1) and
``x_i`` its mean log plans per head over the window, standardised (γ < 0: LAs
that give plans more readily pay less per plan). β_g(k) is one growth rate for
the state-funded placement types and one for those bought from independent
providers (`INDEPENDENT`); the
base shares the state-funded rate (with a rate of its own it fell steeply after
2021-22 while unit costs rose fast: two readings of the same totals that no data
after 2021-22 can tell apart). η_t = (B e)_t is a national year effect on
every price, built on a basis B with no level and no slope (so it cannot stand
in for the costs or their trends), e ~ N(0, σ_η), σ_η ~ HalfNormal(0.05);
centred, because every LA's spend informs it (non-centred, σ_η and e formed a
funnel that mixed slowly).

Why this structure (and not a separate LA effect and trend for every type):
a first version with an independent LA effect per type and per-type trends
did not converge (R-hat 1.5 after 8 minutes: chains settled on different
splits of spend between state special schools, mainstream and the base, whose
counts all rise together); per-type trends for the state-funded types traded
off against each other and the base (R-hat 1.1); an LA-specific base on top of
the LA price level converged but could not be split from it. What the data
can see is each LA's overall level and drift.

Nor does each LA get an independent special cost of its own. A version that
gave it one (σ_v v_i on that type's cost, seen in the LA's total and in its
independent special spend) failed the held-out check below: with half the LAs'
category data withheld, its 90 % intervals held 73 % and 82 % of their
independent special figures, because the LAs' totals moved their estimated
costs a long way (a spread of 0.26 to 0.32 on the log scale) in directions that
correlated only 0.15 to 0.21 with what the withheld data showed. Given both that
cost and the booking offset below, the data put the spread of the cost at 0.1
and could not tell the two apart (R-hat 1.12). So the differences between LAs in
independent special spend per plan that the category source shows are not borne
out by their totals; the model reads them as how each LA books its spend, and
an LA's independent special cost is the national cost at the LA's price level.
The Student-t error (heavy tails) keeps a few LA-years with implausible
counts from dragging the national costs (counts flagged as reporting breaks
are treated as missing: see `analysis.data.breaks`).

Category-level spend as data
----------------------------
Totals alone cannot split spend between the base and plans whose counts all
rise together (a first version made a mainstream plan dearer than a state
special one). So every category-level source we hold is observed as a part of
the same spend, with its own error σ_j ~ HalfNormal(0.3):

    log S_jit ~ StudentT(ν, log μ_jit + σ_rj r_ij − σ_rj²/2, σ_j),   r_ij ~ N(0, 1)

where μ_jit is the sum of the model terms the source covers (`CATEGORIES`) and,
for the two special school sources (four years each, so an LA's
persistent offset can be told from the year-to-year error), r_ij is the LA's
own offset in what the source books to the category, for instance how it
splits spend between s251 lines; it moves the source's figures, not the LA's
spend. Its mean in pounds is one (the −σ²/2), so across LAs a source books what
the model spends (an average over LAs, not weighted by their plans). The one-year
sources have no offset (σ_r ≡ 0): it could not be told from the source's error.

* state special and independent special school spend, FY 2018-19 … 2021-22
  (DfE's dashboard: s251 top-ups, lines 1.2.1 + 1.2.2 and 1.2.3, in the special
  school and AP/PRU columns; μ = n_k c_k for the two special school types);
* services not tied to a plan (SEN support, AP, hospital, therapies), FY 2021-22
  (the benchmarking outturn; μ = P b);
* top-ups to maintained schools, academies, free schools and colleges, FY 2021-22
  (the benchmarking outturn; μ = Σ n_k c_k over state mainstream, state special,
  further education and other plans);
* top-ups to non-maintained and independent schools and colleges, FY 2021-22
  (the benchmarking outturn; μ = Σ n_k c_k over independent mainstream,
  independent special and specialist post-16 plans). This is why those two are
  types of their own: fitted with them inside mainstream and post-16, the
  maintained top-ups pushed the gap between the two independent sources into the
  independent special cost, above DfE's published figures.

The parts and the total share one mean structure, so the categories add up to
the total (in FY 2021-22 the three benchmarking categories sum to within 0.2 % of
the fitted LAs' total spend). After 2021-22 there is no category data and the
split rests on totals again: the trends from 2022 on are the model's
extrapolation.

Placement types (SEN2 categories, January census)
-------------------------------------------------
``mainstream`` (state mainstream schools incl. resourced provision and SEN
units), ``mainstream_independent`` (independent mainstream schools),
``special_state`` (maintained special schools and special academies / free
schools), ``special_independent`` (independent and non-maintained special
schools), ``post16`` (general FE and tertiary colleges, sixth forms, other FE
and training providers, apprenticeships …), ``post16_specialist`` (specialist
post-16 institutions: independent and non-maintained specialist colleges) and
``other`` (AP / PRUs plus every other
arrangement: early years, home education, NEET, awaiting provision …; AP/PRU
is merged in because it is only ~1 % of plans and has no separate signal).

Priors, in pounds (median and the log-normal's 90 % interval)
-------------------------------------------------------------
``PRIORS`` holds (median £, sd of log). They are set from published figures; DfE's
own spend per plan, the firmest check of the fitted costs, is not among them. The
councils' figures below also appear in the chapter's comparison with published
costs, where agreement with them is partly built in:

* independent special: £50,000 (≈ £22k–£114k). Councils' FOI returns gave an
  average £52,000 per pupil in 2015-16 [@schoolsweek_2017_private] and £565m for
  10,520 pupils (≈ £54,000) in 2017-18 [@tes_2018_private]; 51 councils forecast
  £57,000–£66,000 for 2025-26 [@schoolsweek_2026_private]. Part of some fees is
  paid by health or social care, so the education share may be lower: wide.
* state special: £14,000 (≈ £5k–£38k). The same councils forecast a state special
  place at ≈ £24,000 in 2025-26 [@schoolsweek_2026_private], of which £10,000 is
  place funding outside ``hn_spend`` [@esfa_hn_operational_guide].
* mainstream: £6,000 (≈ £1.9k–£19k). Schools meet the first £6,000 of extra
  support from their own budgets [@esfa_hn_operational_guide]; the LA's top-up
  pays the rest, typically a few thousand pounds in banded systems.
* further education (post-16): £5,000 (≈ £1.6k–£16k). Colleges get the first
  £6,000 as element 2 place funding; top-ups are small for most.
* specialist post-16 institutions: £35,000 (≈ £13k–£94k). Our judgement: fees of
  residential and day specialist colleges run to tens of thousands of pounds,
  less the £6,000 element 2 ESFA pays for the places it funds; no published cost
  per plan was found.
* independent mainstream: £15,000 (≈ £4k–£56k). Our judgement: of the order of
  an independent school's day fee, left wide because some of these placements are
  made by parents, and some schools registered as mainstream specialise in SEND.
* other: £5,000 (≈ £1k–£26k). A mixed bag from AP top-ups to nothing paid at all.
* base: £80 per head aged 2–18 (≈ £25–£250 per head): SEN support,
  inclusion, AP and hospital services and therapies not tied to a plan; our
  judgement of "of the order of £1bn across 11 million children", left wide.
* trends β (state-funded types), β (independent providers), β_b ~ N(0.03, 0.04) a
  year (nominal: pay and price inflation was 2–10 % a year over 2017–2025, but LAs
  have also tightened top-up bands). Levels and trends are sampled standardised
  by their priors (unit scale for the sampler).
* σ_u ~ HalfNormal(0.4): an LA's costs typically within ±40 % of the national
  level, occasionally double or half; σ_d ~ HalfNormal(0.03): an LA's costs drift
  from the national trend by up to a few % a year; γ ~ N(0, 0.3) per SD of plan rate.
* σ_obs ~ HalfNormal(0.15) (spend within ~±15 % of the model in a typical
  LA-year); σ_j ~ HalfNormal(0.3) for the category parts and σ_r ~ HalfNormal(0.3) for the
  booking offsets (an LA's books within about ±30 % of its spend on the type); ν ~ Gamma(2, 0.1) (Juárez & Steel 2010; mean 20: between heavy-tailed
  and normal).

"""

from __future__ import annotations

import copy
from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.linalg import null_space

from analysis.data import breaks
from analysis.errors import ValidationError
from analysis.models import fitting
from analysis.models.fitting import SEED, Diagnostics, SamplerSettings
from analysis.models.spend.data import (
    CATEGORIES,
    CENTRE_YEAR,
    FIRST_YEAR,
    FRAME_COLUMNS,
    TYPES,
    last_financial_year,
    model_frame,
)
from analysis.models.spend.results import Summaries

#: Prior median (£ per plan per year, FY 2021-22) and sd of the log, by type; see the module docstring.
PRIORS: dict[str, tuple[float, float]] = {
    "mainstream": (6_000.0, 0.7),
    "mainstream_independent": (15_000.0, 0.8),
    "special_state": (14_000.0, 0.6),
    "special_independent": (50_000.0, 0.5),
    "post16": (5_000.0, 0.7),
    "post16_specialist": (35_000.0, 0.6),
    "other": (5_000.0, 1.0),
}
BASE_PRIOR = (80.0, 0.7)  #: £ per head aged 2–18
TREND_PRIOR = (0.03, 0.04)
SIGMA_LA_PRIOR = 0.4
SIGMA_DRIFT_PRIOR = 0.03
GAMMA_PRIOR = 0.3
SIGMA_OBS_PRIOR = 0.15
SIGMA_CATEGORY_PRIOR = 0.3
SIGMA_REPORT_PRIOR = 0.3
#: Placement types bought from independent and non-maintained providers, whose prices share a trend.
INDEPENDENT = ("mainstream_independent", "special_independent", "post16_specialist")
#: Categories published over several years, whose LA-specific offsets the model can tell from year-to-year noise.
REPORTED = ("special_state", "special_independent")
SIGMA_YEAR_PRIOR = 0.05

#: nutpie with its low-rank mass matrix (the category data tie each national unit cost to the LA
#: levels: with a diagonal mass matrix R-hat was 1.03), 4 chains × (1500 tune + 2000 draws): with
#: 1000 + 1000 a fit without half the LAs' category data (the held-out check) missed R-hat ≤ 1.01
#: (1.014, bulk ESS 313, on a small LA's booking offset).
SETTINGS = SamplerSettings(sampler="nutpie", chains=4, draws=2000, tune=1500, target_accept=0.95, seed=SEED, low_rank=True)


#: The years of each category's data in the real panel, which the synthetic panel copies.
CATEGORY_YEARS = {"special_state": range(2019, 2023), "special_independent": range(2019, 2023), "base": (2022,),
                  "topups_maintained": (2022,), "topups_independent": (2022,)}


def synthetic_panel(n_las: int = 40, years: tuple[int, int] = (2018, 2025), seed: int = SEED) -> pd.DataFrame:
    """A small panel with the columns the model reads, at realistic sizes and placement mixes.

    `hn_spend` and the category spend (special schools FY 2018-19 … 2021-22 and services
    FY 2021-22, as in the real panel) are placeholders (the national prior medians applied to
    the counts); tests replace them with `SpendModel.simulate`.
    """
    rng = np.random.default_rng(seed)
    position = {t: i for i, t in enumerate(TYPES)}
    rows = []
    for i in range(n_las):
        pop = rng.uniform(30_000, 250_000)
        rate = rng.uniform(0.02, 0.04)
        # mainstream (state, independent), state special, independent special, post-16 (FE, specialist), other
        mix = rng.dirichlet([13.6, 0.4, 11, 2, 5.4, 0.6, 3])
        for year in range(years[0], years[1] + 1):
            total = pop * rate * 1.09 ** (year - years[0])
            mix = rng.dirichlet(mix * 400)
            n = np.round(total * mix)
            spend = n * [PRIORS[t][0] for t in TYPES]  # by type, in TYPES order
            rows.append(
                {
                    "la_code": f"E0{i:07d}",
                    "la_name": f"LA {i}",
                    "region_code": f"E1200000{i % 4}",
                    "year": year,
                    "pop_2_18": round(pop * 1.003 ** (year - years[0])),
                    "ehcp_total": float(n.sum()),
                    "ehcp_mainstream": n[0] + n[1],
                    "ehcp_mainstream_independent": n[1],
                    "ehcp_special_state": n[2],
                    "ehcp_special_independent": n[3],
                    "ehcp_post16": n[4] + n[5],
                    "ehcp_post16_specialist": n[5],
                    "ehcp_ap_pru": np.round(n[6] * 0.1),
                    "ehcp_other": n[6] - np.round(n[6] * 0.1),
                    "hn_spend": float(spend.sum() + pop * BASE_PRIOR[0]),
                    **{col: np.nan if year not in CATEGORY_YEARS[c] else pop * BASE_PRIOR[0] / len(cols) if c == "base"
                       else spend[[position[t] for t in types]].sum()
                       for c, (cols, types) in CATEGORIES.items() for col in cols},
                }
            )
    return pd.DataFrame(rows)


class SpendModel(Summaries):
    """High-needs spend by LA and financial year as plans × unit costs + a base per head.

    Parameters
    ----------
    panel : the LA-by-year panel (`analysis.data.panel.load()`) or a frame with `PANEL_COLUMNS`.
    first_year, last_year : panel years fitted (default 2018 to the panel's last year of spend, `last_financial_year`:
        FY 2017-18 … 2024-25 in the current data).
    settings : sampler settings (default `SETTINGS`).
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        first_year: int = FIRST_YEAR,
        last_year: int | None = None,
        settings: SamplerSettings = SETTINGS,
    ) -> None:
        last_year = last_financial_year(panel) if last_year is None else last_year
        if last_year - first_year < 2:
            raise ValueError("spend model: needs at least three financial years")
        self.panel = breaks.mask(panel)
        self.first_year, self.last_year, self.settings = first_year, last_year, settings
        self._frame = model_frame(self.panel, first_year, last_year)
        if self._frame.empty:
            raise ValidationError(f"spend model: no LA-year in {first_year}–{last_year} has spend, plans and population")
        self._idata: az.InferenceData | None = None

    def __repr__(self) -> str:
        return f"SpendModel(years={self.first_year}–{self.last_year}, n_las={len(self.las)}, n_obs={len(self._frame)})"

    @property
    def name(self) -> str:
        return f"spend-{self.first_year}-{self.last_year}"

    def data(self) -> pd.DataFrame:
        """The model frame (see `model_frame`)."""
        return self._frame.copy()

    def with_spend(self, spend: np.ndarray, category_spend: np.ndarray | None = None) -> SpendModel:
        """A copy of this model whose spend is `spend` (in `data()` row order) and, if given, whose category
        spend is `category_spend` (in `category_observations()` order): e.g. simulated ones."""
        other = copy.copy(self)
        frame = self._frame.assign(spend=np.asarray(spend, dtype=float))
        if category_spend is not None:
            cats = self.category_observations()
            for k in CATEGORIES:
                sel = (cats["category"] == k).to_numpy()
                frame.loc[frame.index[cats.loc[sel, "row"]], f"cat_{k}"] = np.asarray(category_spend, dtype=float)[sel]
        other._frame, other._idata = frame, None
        return other

    def without_categories(self, la_codes: list[str]) -> SpendModel:
        """A copy of this model that does not see the category spend of `la_codes` (a held-out check)."""
        other = copy.copy(self)
        frame = self._frame.copy()
        frame.loc[frame["la_code"].isin(la_codes), [f"cat_{k}" for k in CATEGORIES]] = np.nan
        other._frame, other._idata = frame, None
        return other

    @cached_property
    def las(self) -> pd.DataFrame:
        """LAs fitted, in model order: la_code, la_name, region_code."""
        g = self._frame.groupby("la_code", sort=True)
        return pd.DataFrame({"la_name": g["la_name"].first(), "region_code": g["region_code"].first()}).reset_index()

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def counts(self) -> np.ndarray:
        """Plans by type, (rows, types), in `data()` order."""
        return self._frame[[f"n_{k}" for k in TYPES]].to_numpy(dtype=float)

    def la_index(self) -> np.ndarray:
        return self._frame["la_code"].map({c: j for j, c in enumerate(self.las["la_code"])}).to_numpy()

    def plan_rate(self) -> np.ndarray:
        """Per LA (model order): its mean log plans per head aged 2–18 over the years fitted, standardised."""
        f = self._frame
        rate = np.log(f["total"] / f["pop"]).groupby(f["la_code"]).mean().reindex(self.las["la_code"]).to_numpy()
        return (rate - rate.mean()) / rate.std()

    def data_hash(self) -> str:
        return fitting.data_hash(self._frame[FRAME_COLUMNS])

    def year_index(self) -> np.ndarray:
        return (self._frame["year"] - self.first_year).to_numpy()

    def year_basis(self) -> np.ndarray:
        """(years, years − 2): year effects that sum to zero and have no linear trend, with unit variance."""
        s_years = np.array(self.years, dtype=float) - CENTRE_YEAR
        n = len(s_years)
        return null_space(np.column_stack([np.ones(n), s_years]).T) * np.sqrt(n / (n - 2))

    def category_observations(self) -> pd.DataFrame:
        """Observed spend by category, long: row (in `data()`), category, spend (£)."""
        rows = []
        for k in CATEGORIES:
            values = self._frame[f"cat_{k}"]
            keep = np.flatnonzero(values.notna().to_numpy())
            rows.append(pd.DataFrame({"row": keep, "category": k, "spend": values.to_numpy()[keep]}))
        return pd.concat(rows, ignore_index=True)

    @staticmethod
    def category_terms() -> np.ndarray:
        """(category, type + base): 1 where the category's spend includes the term (`CATEGORIES`), else 0."""
        terms = [*TYPES, "base"]
        return np.array([[float(t in parts) for t in terms] for _, parts in CATEGORIES.values()])

    def build(self) -> pm.Model:
        """The PyMC model (one generative function for prior checks, fitting and simulation)."""
        f = self._frame
        types = list(TYPES)
        coords = {
            "type": types,
            "trend_group": ["state-funded placements", "independent providers"],
            "la": list(self.las["la_code"]),
            "year": self.years,
            "obs": [f"{c}:{y}" for c, y in zip(f["la_code"], f["year"])],
            "year_basis": list(range(len(self.years) - 2)),
        }
        la, s = self.la_index(), f["s"].to_numpy(dtype=float)
        x_rate = self.plan_rate()
        s_years = np.array(self.years, dtype=float) - CENTRE_YEAR
        median = np.array([PRIORS[k][0] for k in types])
        spread = np.array([PRIORS[k][1] for k in types])
        indep = np.array([k in INDEPENDENT for k in types], dtype=float)
        with pm.Model(coords=coords) as model:
            # national levels and trends, each standardised by its prior (unit scale for the sampler)
            log_cost = pm.Deterministic("log_cost", np.log(median) + spread * pm.Normal("log_cost_z", 0.0, 1.0, dims="type"), dims="type")
            # one trend for the state-funded placement types, one for independent providers
            trend_z = pm.Normal("trend_z", 0.0, 1.0, dims="trend_group")
            trend = pm.Deterministic("trend", TREND_PRIOR[0] + TREND_PRIOR[1] * trend_z[indep.astype(int)], dims="type")
            log_base = pm.Deterministic("log_base", np.log(BASE_PRIOR[0]) + BASE_PRIOR[1] * pm.Normal("log_base_z", 0.0, 1.0))
            # services not tied to a plan are bought in the same state-funded market as state-funded places: one trend
            trend_base = pm.Deterministic("trend_base", TREND_PRIOR[0] + TREND_PRIOR[1] * trend_z[0])
            sigma_la = pm.HalfNormal("sigma_la", SIGMA_LA_PRIOR)
            z_la = pm.Normal("z_la", 0.0, 1.0, dims="la")
            sigma_drift = pm.HalfNormal("sigma_drift", SIGMA_DRIFT_PRIOR)
            z_drift = pm.Normal("z_drift", 0.0, 1.0, dims="la")
            sigma_obs = pm.HalfNormal("sigma_obs", SIGMA_OBS_PRIOR)
            nu = pm.Gamma("nu", 2.0, 0.1)
            pm.Deterministic("cost", pt.exp(log_cost[:, None] + trend[:, None] * s_years[None, :]), dims=("type", "year"))
            gamma = pm.Normal("gamma", 0.0, GAMMA_PRIOR)
            # the LA's price level (partly predicted by how many plans it has per head) and drift: all its spend
            # a national year effect on every price (a dearer or cheaper year for all LAs), with no level or slope
            # of its own so that it cannot stand in for the costs or their trends
            sigma_year = pm.HalfNormal("sigma_year", SIGMA_YEAR_PRIOR)
            # centred: every LA's spend informs each year's effect, so a non-centred one mixed slowly (a funnel)
            u_year = pm.Normal("u_year", 0.0, sigma_year, dims="year_basis")
            year_effect = pm.Deterministic("year_effect", pt.dot(self.year_basis(), u_year), dims="year")
            level = (gamma * x_rate + sigma_la * z_la)[la] + (sigma_drift * z_drift)[la] * s + year_effect[self.year_index()]
            log_c = log_cost[:, None] + trend[:, None] * s[None, :] + level[None, :]
            log_b = log_base + trend_base * s + level
            n = pm.Data("n", self.counts().T, dims=("type", "obs"))
            pop = pm.Data("pop", f["pop"].to_numpy(dtype=float), dims="obs")
            terms = pt.concatenate([n * pt.exp(log_c), (pop * pt.exp(log_b))[None, :]], axis=0)  # (type + base, obs)
            mu = terms.sum(axis=0)
            pm.StudentT("log_spend", nu=nu, mu=pt.log(mu), sigma=sigma_obs, observed=np.log(f["spend"].to_numpy()), dims="obs")
            cats = self.category_observations()
            if len(cats):
                # the parts of the same spend that a category-level source publishes, each with its own error
                model.add_coords({"category": list(CATEGORIES),
                                  "cat_obs": [f"{c}:{k}" for c, k in zip(np.asarray(coords["obs"])[cats["row"]], cats["category"])]})
                sigma_cat = pm.HalfNormal("sigma_cat", SIGMA_CATEGORY_PRIOR, dims="category")
                which = cats["category"].map({k: j for j, k in enumerate(CATEGORIES)}).to_numpy()
                part = (self.category_terms()[which].T * terms[:, cats["row"].to_numpy()]).sum(axis=0)
                # each LA's persistent offset in what a multi-year source books to the category (how it codes
                # spend across s251 lines): it moves the source's figures, not the LA's spend; mean one in pounds
                model.add_coords({"reported": list(REPORTED)})
                sigma_report = pm.HalfNormal("sigma_report", SIGMA_REPORT_PRIOR, dims="reported")
                z_report = pm.Normal("z_report", 0.0, 1.0, dims=("reported", "la"))
                reported = cats["category"].isin(REPORTED).to_numpy()
                r = cats["category"].map({k: j for j, k in enumerate(REPORTED)}).fillna(0).astype(int).to_numpy()
                offset = reported * (sigma_report[r] * z_report[r, la[cats["row"].to_numpy()]] - sigma_report[r] ** 2 / 2)
                pm.StudentT("log_category", nu=nu, mu=pt.log(part) + offset, sigma=sigma_cat[which],
                            observed=np.log(cats["spend"].to_numpy()), dims="cat_obs")
        return model

    #: Parameters checked for convergence (with `sigma_cat` when category spend is observed: see `params`).
    PARAMS = ["log_cost", "trend", "log_base", "trend_base", "sigma_la", "z_la", "sigma_drift", "z_drift",
              "gamma", "sigma_obs", "nu", "sigma_year", "u_year"]

    @property
    def params(self) -> list[str]:
        """The parameters of this model: `PARAMS`, and the category errors where categories are observed."""
        return self.PARAMS + (["sigma_cat", "sigma_report", "z_report"] if len(self.category_observations()) else [])

    # ----------------------------------------------------------------- simulation and prior checks

    def simulate(self, params: dict[str, float | np.ndarray], seed: int = SEED) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Spend (£, `data()` order) drawn from `build()` with `params` fixed and the rest from the prior.

        Returns the spend and every parameter's value used (fixed or drawn), for recovery checks;
        where categories are observed, ``truth["category_spend"]`` holds their simulated spend
        (`category_observations()` order), for `with_spend`.
        """
        model = self.build()
        given = pm.do(model, params)
        names = [n for n in self.params if n not in params]
        observed = ["log_spend", *(["log_category"] if "log_category" in given.named_vars else [])]
        # the parameters first, then the observations given all of them (one function drawing both
        # trips the PyTensor graph rewrite described in `prior_predictive`)
        free = [v.name for v in given.free_RVs]
        values = pm.draw([given[n] for n in free + names], random_seed=seed)
        drawn = dict(zip(free + names, values))
        fixed = pm.do(model, {**params, **{n: drawn[n] for n in free}})
        data = pm.draw([fixed[o] for o in observed], random_seed=seed + 1)
        truth = {n: np.asarray(v) for n, v in params.items()} | {n: np.asarray(drawn[n]) for n in names}
        if len(observed) == 2:
            truth["category_spend"] = np.exp(data[1])
        return np.exp(data[0]), truth

    def prior_predictive(self, draws: int = 500) -> az.InferenceData:
        """Draws of the observed quantities (log spend and its category parts) from the prior (fixed seed).

        Only those: compiling every parameter and the observations into one function trips a graph
        rewrite in PyTensor 2.38 (FusionOptimizer, KeyError), which it logs as an error and skips.
        """
        model = self.build()
        with model:
            names = [v.name for v in model.observed_RVs]
            return pm.sample_prior_predictive(draws=draws, random_seed=self.settings.seed, var_names=names)

    # ----------------------------------------------------------------- fitting

    def fit(self) -> az.InferenceData:
        """Sample the posterior and the posterior predictive; cached by model, data and settings."""
        if self._idata is None:
            extra = {"first_year": self.first_year, "last_year": self.last_year}
            self._idata = fitting.cached_fit(self.name, self.build, self.data_hash(), self.settings, check=self.params, extra=extra)
        return self._idata

    def diagnostics(self) -> Diagnostics:
        """R-hat (max), bulk ESS (min) and divergences over `params`."""
        return fitting.stored_diagnostics(self.fit())
