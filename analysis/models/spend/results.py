"""What a fitted spend model says: unit costs, posterior predictive checks, the growth decomposition and the 2021-22 cross-check.

`Summaries` is the half of `SpendModel` that reads a fit; the other half
(`analysis.models.spend.model`) specifies, simulates and fits the model. It uses
the model's `fit()`, data frame, `las`, `years`, `panel`, `counts()`,
`la_index()` and `plan_rate()`.

Identification
--------------
Unit costs are identified by how spend co-varies with the placement mix across
LAs and over time, and by the category sources. An LA's costs differ from the
national ones by its price level and drift, the same for every type (why there
is no LA-specific independent special cost: `analysis.models.spend.model`).
State special plans track an LA's child population
almost as closely as the base does, so those two are the least separable;
independent mainstream and specialist post-16 plans are seen apart from the
other independent placements only in one year of one category source, so their
costs are the least certain.
Recovery on data simulated from `build()` is checked in tests/test_spend_model.py.

"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models import fitting
from analysis.models.spend.data import BM_YEAR, CATEGORIES, ENGLAND, TYPE_LABELS, TYPES


def lmdi(v0: np.ndarray, v1: np.ndarray, n0: np.ndarray, n1: np.ndarray) -> dict[str, np.ndarray]:
    """Additive log-mean Divisia index (LMDI-I) of spend growth into plans, mix and unit costs.

    `v0`, `v1`: spend by type (…, type) at the two dates; `n0`, `n1`: plans by type (type,).
    With V_k = N·s_k·c_k (N all plans, s_k the type's share, c_k = V_k / n_k its unit cost),
    ΔV_k = L(V_k¹, V_k⁰)·[ln(N¹/N⁰) + ln(s_k¹/s_k⁰) + ln(c_k¹/c_k⁰)], L the logarithmic mean
    (L(a, b) = (a − b) / (ln a − ln b)). The three parts sum exactly to Σ_k ΔV_k.
    """
    weight = np.where(np.isclose(v1, v0), v0, (v1 - v0) / (np.log(v1) - np.log(v0)))
    growth = np.log(n1.sum() / n0.sum())
    mix = np.log((n1 / n1.sum()) / (n0 / n0.sum()))
    cost = np.log((v1 / n1) / (v0 / n0))
    return {"plans": (weight * growth).sum(axis=-1), "mix": (weight * mix).sum(axis=-1), "unit_costs": (weight * cost).sum(axis=-1)}


#: Standard funding of a plan's place outside the LA's top-up, £ a year [@esfa_hn_operational_guide]: what a child
#: moving between placements gives up or takes (the scenario engine's default) and the rate a place that chapter 4's
#: fitted place funding per plan is set beside (`analysis.models.spend.places`). A commissioned
#: place in a special school or AP (£10,000, through the LA's budget or from ESFA for academies); element 2 of a
#: mainstream school's or college's notional SEN budget (£6,000), which ESFA also pays specialist post-16
#: institutions for the places it funds; none for independent mainstream and special schools (the fee is the whole cost) and none
#: assumed for "other" arrangements (home education, awaiting provision and the like). Post-16 core (element 1)
#: funding, paid for every student with or without SEN, is left out.
PLACE_FUNDING = {"mainstream": 6_000.0, "mainstream_independent": 0.0, "special_state": 10_000.0, "special_independent": 0.0, "post16": 6_000.0,
                 "post16_specialist": 6_000.0, "other": 0.0}


def full_cost(top_up: np.ndarray, place: np.ndarray) -> np.ndarray:
    """Draws of a full public cost: a top-up's draws plus a place funding's (`PlaceFundingModel.place_part`), paired
    draw by draw (the two posteriors are independent: `analysis.models.spend.places`)."""
    if top_up.shape[-1] != place.shape[-1]:
        raise ValueError(f"full cost: {top_up.shape[-1]} top-up draws against {place.shape[-1]} place funding draws; "
                         "fit both with as many draws (`model.SETTINGS`, `places.SETTINGS`)")
    return top_up + place


def category_draws(components: dict, category: str) -> np.ndarray:
    """(draw, LA) of what the model puts in a category's spend: the sum of its terms (`CATEGORIES`) in one year's
    `Summaries.components`."""
    return sum(components[t] for t in CATEGORIES[category][1])


class Summaries:
    """Unit costs, predictive checks, growth decomposition and the benchmarking cross-check of a fitted `SpendModel`."""

    def _draws(self, name: str, thin: int = 1) -> np.ndarray:
        """Posterior draws of `name` with the sample dimension first."""
        da = self.fit().posterior[name].stack(sample=("chain", "draw"))
        return np.moveaxis(da.values, -1, 0)[::thin]

    def _la_costs(self, rows: np.ndarray, thin: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Unit costs (sample, type, row) and base per head (sample, row) for frame `rows`."""
        f = self._frame.iloc[rows]
        la = self.la_index()[rows]
        s = f["s"].to_numpy(dtype=float)
        x_rate = self.plan_rate()[la]
        level = self._draws("gamma", thin)[:, None] * x_rate + self._draws("sigma_la", thin)[:, None] * self._draws("z_la", thin)[:, la]
        level = level + self._draws("sigma_drift", thin)[:, None] * self._draws("z_drift", thin)[:, la] * s
        level = level + self._draws("year_effect", thin)[:, (f["year"] - self.first_year).to_numpy()]
        log_c = self._draws("log_cost", thin)[:, :, None] + self._draws("trend", thin)[:, :, None] * s + level[:, None, :]
        log_b = self._draws("log_base", thin)[:, None] + self._draws("trend_base", thin)[:, None] * s + level
        return np.exp(log_c), np.exp(log_b)

    def components(self, year: int, thin: int = 1) -> dict[str, np.ndarray]:
        """Model-implied spend (£, per draw) by type and base for each LA fitted in `year`.

        Returns {"la_code": codes, "<type>": (sample, la), "base": (sample, la), "cost_<type>": (sample, la)}.
        """
        rows = np.flatnonzero(self._frame["year"].to_numpy() == year)
        if not len(rows):
            raise ValueError(f"spend model: no LA-year fitted in {year} (fitted {self.first_year}–{self.last_year})")
        cost, base = self._la_costs(rows, thin)
        n = self.counts()[rows].T  # (type, la)
        out: dict[str, np.ndarray] = {"la_code": self._frame["la_code"].to_numpy()[rows]}
        for j, k in enumerate(TYPES):
            out[k] = n[j] * cost[:, j]
            out[f"cost_{k}"] = cost[:, j]
        out["base"] = self._frame["pop"].to_numpy()[rows] * base
        return out

    def unit_costs(self, year: int | None = None, place_part: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """England's unit cost by type in `year` (default the last), £ per plan per year.

        `mean_la`: plan-weighted average over LAs (national spend on the type ÷ its plans);
        `typical_la`: the national level exp(log ĉ_k + β_k s), the cost of an LA at the centre of
        the LA distribution; with `place_part` (`PlaceFundingModel.place_part`: draws by type, as
        many as this fit's) also `full_mean_la`: `mean_la` plus the place funding that goes with a
        plan of that type, draw by draw, the full public cost of the placement.
        Columns: type, label, year, measure, median, q05, q95.
        """
        year = self.last_year if year is None else year
        comp = self.components(year)
        rows = np.flatnonzero(self._frame["year"].to_numpy() == year)
        n = self.counts()[rows].sum(axis=0)
        typical = self._draws("cost")[:, :, self.years.index(year)]
        out = []
        for j, k in enumerate(TYPES):
            mean = comp[k].sum(axis=1) / n[j]
            measures = [("mean_la", mean), ("typical_la", typical[:, j])]
            if place_part is not None:
                measures.append(("full_mean_la", full_cost(mean, place_part[k])))
            for measure, draws in measures:
                q = np.quantile(draws, [0.5, 0.05, 0.95])
                out.append({"type": k, "label": TYPE_LABELS[k], "year": year, "measure": measure, "median": q[0], "q05": q[1], "q95": q[2]})
        return pd.DataFrame(out)

    def unit_cost_trends(self) -> pd.DataFrame:
        """Plan-weighted national unit cost by type and year with 90 % intervals."""
        return pd.concat([self.unit_costs(y).query("measure == 'mean_la'") for y in self.years], ignore_index=True)

    def la_unit_costs(self, placement: str, year: int | None = None) -> pd.DataFrame:
        """Each LA's unit cost for `placement` in `year` (default the last): median, q05, q95, plans, share."""
        if placement not in TYPES:
            raise ValueError(f"placement must be one of {list(TYPES)}, not {placement!r}")
        year = self.last_year if year is None else year
        comp = self.components(year)
        draws = comp[f"cost_{placement}"]
        rows = self._frame[self._frame["year"] == year]
        q = np.quantile(draws, [0.5, 0.05, 0.95], axis=0)
        return pd.DataFrame(
            {
                "la_code": comp["la_code"],
                "la_name": rows["la_name"].to_numpy(),
                "median": q[0],
                "q05": q[1],
                "q95": q[2],
                "plans": rows[f"n_{placement}"].to_numpy(),
                "share": (rows[f"n_{placement}"] / rows["total"]).to_numpy(),
            }
        ).sort_values("median", ignore_index=True)

    # ----------------------------------------------------------------- checks

    def posterior_predictive(self) -> pd.DataFrame:
        """Observed spend beside its posterior predictive, per LA-year and for England by year.

        Columns: la_code, la_name, year, observed, median, q05, q25, q75, q95 (£), pit.
        England rows sum the draws over the LAs fitted that year.
        """
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)["log_spend"].stack(sample=("chain", "draw"))
        draws = np.exp(pp.transpose("sample", "obs").values)  # (sample, obs)
        f = self._frame
        rows = [self._summary(draws.T, f["la_code"], f["la_name"], f["year"], f["spend"])]
        for year in self.years:
            sel = (f["year"] == year).to_numpy()
            rows.append(self._summary(draws[:, sel].sum(axis=1)[None, :], [ENGLAND[0]], [ENGLAND[1]], [year], [f.loc[sel, "spend"].sum()]))
        return pd.concat(rows, ignore_index=True)

    @staticmethod
    def _summary(draws: np.ndarray, codes, names, years, observed) -> pd.DataFrame:
        q = np.quantile(draws, [0.5, 0.05, 0.25, 0.75, 0.95], axis=1)
        obs = np.asarray(observed, dtype=float)
        return pd.DataFrame(
            {"la_code": list(codes), "la_name": list(names), "year": list(years), "observed": obs,
             "median": q[0], "q05": q[1], "q25": q[2], "q75": q[3], "q95": q[4], "pit": (draws < obs[:, None]).mean(axis=1)}
        )

    def category_check(self) -> pd.DataFrame:
        """Each category source against the model: per category and year, the LA-years observed, the share
        inside their 50 % and 90 % posterior predictive intervals, and England's observed sum beside the
        model's expected sum of those LAs' parts (£, median and 90 % interval; no observation noise, whose
        heavy tails would swamp a sum)."""
        cats = self.category_observations()
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)["log_category"].stack(sample=("chain", "draw"))
        # quantiles of the log draws, then pounds: the heavy-tailed draws' far tail overflows exp()
        q = np.exp(np.quantile(pp.transpose("cat_obs", "sample").values, [0.05, 0.25, 0.75, 0.95], axis=1))
        cats = cats.assign(year=self._frame["year"].to_numpy()[cats["row"]],
                           in50=(cats["spend"] >= q[1]) & (cats["spend"] <= q[2]), in90=(cats["spend"] >= q[0]) & (cats["spend"] <= q[3]))
        by_year = {year: self.components(year) for year in cats["year"].unique()}
        out = []
        for (category, year), group in cats.groupby(["category", "year"], sort=False):
            comp = by_year[year]
            la = pd.Index(comp["la_code"]).get_indexer(self._frame["la_code"].to_numpy()[group["row"]])
            total = category_draws(comp, category)[:, la].sum(axis=1)
            lo, mid, hi = np.quantile(total, [0.05, 0.5, 0.95])
            out.append({"category": category, "year": year, "n": len(group), "coverage_50": group["in50"].mean(),
                        "coverage_90": group["in90"].mean(), "observed": group["spend"].sum(), "median": mid, "q05": lo, "q95": hi})
        return pd.DataFrame(out)

    def posterior_predictive_check(self) -> dict:
        """Coverage of the 50 % and 90 % predictive intervals over LA-years and England's years."""
        pp = self.posterior_predictive()
        england = (pp["la_code"] == ENGLAND[0]).to_numpy()
        in50 = pp["observed"].between(pp["q25"], pp["q75"]).to_numpy()
        in90 = pp["observed"].between(pp["q05"], pp["q95"]).to_numpy()
        return {
            "coverage_50": float(in50[~england].mean()),
            "coverage_90": float(in90[~england].mean()),
            "england_coverage_90": float(in90[england].mean()),
            "n": int((~england).sum()),
        }

    # ----------------------------------------------------------------- findings

    def growth_decomposition(self, start: int | None = None, end: int | None = None, thin: int = 2) -> pd.DataFrame:
        """Split the model's national spend growth `start` → `end` into plans, mix, unit costs and base.

        `lmdi` per posterior draw on spend by type summed over the LAs fitted in both years, so that
        an LA entering or leaving the data (a boundary change, a year left out) is not counted as
        growth; the base term's change is its own component. The parts add up exactly to the change
        in modelled spend. Rows: plans, mix, unit_costs, base, total (£), with each one's share of the
        total; `attrs` name the LAs left out (`left_out`: {year: [names]}) and the observed spend of
        the LAs kept.
        """
        start, end = start or self.first_year, end or self.last_year
        ends = [self.components(y, thin) for y in (start, end)]
        both = np.intersect1d(ends[0]["la_code"], ends[1]["la_code"])
        keep = [np.isin(e["la_code"], both) for e in ends]
        rows0, rows1 = (np.flatnonzero(self._frame["year"].to_numpy() == y)[k] for y, k in zip((start, end), keep))
        n0, n1 = self.counts()[rows0].sum(axis=0), self.counts()[rows1].sum(axis=0)
        v0 = np.stack([ends[0][k][:, keep[0]].sum(axis=1) for k in TYPES], axis=1)
        v1 = np.stack([ends[1][k][:, keep[1]].sum(axis=1) for k in TYPES], axis=1)
        parts = lmdi(v0, v1, n0, n1)
        parts["base"] = ends[1]["base"][:, keep[1]].sum(axis=1) - ends[0]["base"][:, keep[0]].sum(axis=1)
        total = sum(parts.values())
        out = []
        for name, draws in [*parts.items(), ("total", total)]:
            q = np.quantile(draws, [0.5, 0.05, 0.95])
            share = np.quantile(draws / total, [0.5, 0.05, 0.95])
            out.append({"component": name, "median": q[0], "q05": q[1], "q95": q[2],
                        "share": share[0], "share_q05": share[1], "share_q95": share[2]})
        table = pd.DataFrame(out)
        f = self._frame
        observed = [f.loc[(f["year"] == y) & f["la_code"].isin(both), "spend"].sum() for y in (start, end)]
        names = f.drop_duplicates("la_code").set_index("la_code")["la_name"]
        left_out = {y: sorted(names[c] for c in e["la_code"][~k]) for y, e, k in zip((start, end), ends, keep)}
        table.attrs = {"start": start, "end": end, "observed_start": observed[0], "observed_end": observed[1],
                       "las": len(both), "left_out": left_out}
        return table

    def benchmark_crosscheck(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Model-implied FY 2021-22 spend by benchmarking category against the benchmarking tool's outturn, per LA.

        The categories are those of `CATEGORIES` taken from the benchmarking outturn (services not tied to a plan,
        top-ups to maintained schools, academies and colleges, top-ups to independent and non-maintained schools and
        colleges), each the sum of the model terms it measures. All three are data in the fit, so this shows how
        closely the fit reproduces them LA by LA, not an out-of-sample check (the held-out check in
        `analysis.models.spend.calibration` is that). Returns (per-LA medians beside outturn, summary per category:
        LAs, correlation of logs, national ratio model / outturn with 90 % interval).
        """
        comp = self.components(BM_YEAR)
        groups = {k: list(columns) for k, (columns, _) in CATEGORIES.items() if all(c.startswith("bm_") for c in columns)}
        bm = self.panel[self.panel["year"] == BM_YEAR].set_index("la_code").reindex(comp["la_code"])
        per_la, summary = [], []
        for group, columns in groups.items():
            draws = category_draws(comp, group)
            outturn = bm[columns].sum(axis=1, min_count=len(columns)).to_numpy()
            ok = np.isfinite(outturn) & (outturn > 0)
            ratio = draws[:, ok].sum(axis=1) / outturn[ok].sum()
            median = np.median(draws, axis=0)
            per_la.append(pd.DataFrame({"la_code": comp["la_code"], "group": group, "model": median,
                                        "q05": np.quantile(draws, 0.05, axis=0), "q95": np.quantile(draws, 0.95, axis=0), "outturn": outturn}))
            q = np.quantile(ratio, [0.5, 0.05, 0.95])
            summary.append({"group": group, "n_las": int(ok.sum()), "correlation_log": float(np.corrcoef(np.log(median[ok]), np.log(outturn[ok]))[0, 1]),
                            "ratio": q[0], "ratio_q05": q[1], "ratio_q95": q[2]})
        names = dict(zip(self.las["la_code"], self.las["la_name"]))
        table = pd.concat(per_la, ignore_index=True)
        table.insert(1, "la_name", table["la_code"].map(names))
        return table, pd.DataFrame(summary)
