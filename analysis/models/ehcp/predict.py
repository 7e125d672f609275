"""What a fitted EHCP model says: one-step posterior predictive checks, forecasts, held-out scores and PSIS-LOO.

`Predictions` is the half of `EHCPModel` that reads a fit; the other half
(`analysis.models.ehcp.model`) specifies, simulates and fits the model. It uses
the model's `fit()`, `build()`, `data()`-frame, `las`, `years`, `panel`,
`first_year`, `last_year`, `holdout`, `variant` and `settings`.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from analysis.models import fitting
from analysis.models.ehcp.data import ENGLAND, FORECAST_YEARS
from analysis.models.ehcp.scores import (
    crps_draws,
    naive_error_sd,
    naive_forecasts,
    score_draws,
)

#: The variants `loo_compare` fits by default: each simpler than the full model in one way.
LOO_VARIANTS = ("full", "pooled", "unpooled", "no_mix")


class Predictions:
    """Posterior predictive checks, forecasts, held-out scores and LOO comparisons of a fitted `EHCPModel`."""

    def log_likelihood(self, conditional: bool = True) -> az.InferenceData:
        """Pointwise log-likelihood, one term per LA-year.

        With `conditional` (default) only the terms of Januaries after an LA's first: each
        is the count given the previous January's. The first January's term is the initial
        condition; it pins the LA's intercept when ρ is near 1, so its PSIS-LOO estimate is
        unreliable (Pareto k > 0.7 for almost every LA) and it is left out of comparisons.
        """
        idata = self.fit()
        with self.build() as model:
            ll = pm.compute_log_likelihood(idata, var_names=["y"], model=model, extend_inferencedata=False, progressbar=False)
        if conditional:
            ll = ll.isel(obs=np.flatnonzero(~self._frame["first"].to_numpy()))
        return az.InferenceData(posterior=idata.posterior[["sigma_obs"]], log_likelihood=ll)

    # ----------------------------------------------------------------- checks and predictions

    def posterior_predictive(self) -> pd.DataFrame:
        """Observed counts beside their one-step posterior predictive (given the previous January).

        One row per LA-year: quantiles 5/25/50/75/95 %, mean and `pit` (share of draws below
        the count, ties halved; uniform if the model is calibrated). England rows
        (la_code E92000001) sum each draw over the LAs of that January.
        """
        pp = fitting.posterior_predictive(self.build, self.fit(), self.settings.seed + 1)
        draws = pp["y"].stack(sample=("chain", "draw")).transpose("obs", "sample").values
        f = self._frame
        out = self._summarise(draws, f["year"].to_numpy(), list(f["la_code"]), f["y"].to_numpy())
        nat = [
            self._summarise(draws[(f["year"] == year).to_numpy()].sum(axis=0)[None, :], np.array([year]), [ENGLAND[0]], np.array([f.loc[f["year"] == year, "y"].sum()]))
            for year in self.years
        ]
        return pd.concat([out, *nat], ignore_index=True)

    def posterior_predictive_check(self) -> dict:
        """In-sample calibration of the one-step posterior predictive.

        Coverage of the central 50 % and 90 % intervals over LA-years and over England's
        Januaries, and the Kolmogorov–Smirnov distance of the LA-year PIT values from uniform.
        """
        pp = self.posterior_predictive()
        la, nat = pp[pp["la_code"] != ENGLAND[0]], pp[pp["la_code"] == ENGLAND[0]]

        def inside(d: pd.DataFrame, lo: str, hi: str) -> float:
            return float(((d["observed"] >= d[lo]) & (d["observed"] <= d[hi])).mean())

        return {
            "coverage_50": inside(la, "q25", "q75"),
            "coverage_90": inside(la, "q05", "q95"),
            "england_coverage_90": inside(nat, "q05", "q95"),
            "pit_ks": float(stats.kstest(la["pit"], "uniform").statistic),
        }

    def _summarise(self, draws: np.ndarray, year, codes: list[str], observed: np.ndarray | None) -> pd.DataFrame:
        q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=-1)
        out = pd.DataFrame({"la_code": codes, "year": year, "mean": draws.mean(axis=-1), "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4]})
        if observed is not None:
            obs = np.asarray(observed, dtype=float)[:, None]
            out["observed"] = observed
            out["pit"] = (draws < obs).mean(axis=-1) + 0.5 * (draws == obs).mean(axis=-1)
        names = dict(zip(self.las["la_code"], self.las["la_name"])) | {ENGLAND[0]: ENGLAND[1]}
        out.insert(1, "la_name", out["la_code"].map(names))
        return out

    def predictive_draws(self, to_year: int) -> dict[int, tuple[list[str], np.ndarray]]:
        """Posterior predictive draws for Januaries last_year+1 … to_year: {year: (la_codes, draws[la, sample])}.

        Forward-samples the ``gamma_<year>`` and ``y_<year>`` nodes of `build(future=to_year)`
        with the posterior: new national year effects γ_t ~ N(0, σ_γ), each January's count
        given the one before, starting from the observed last January.
        """
        idata = self.fit()
        names = [f"y_{y}" for y in range(self.last_year + 1, to_year + 1)]
        with self.build(future=to_year):
            pp = pm.sample_posterior_predictive(
                idata, var_names=names, random_seed=self.settings.seed + 2, progressbar=False, extend_inferencedata=False
            ).posterior_predictive
        out = {}
        for name in names:
            da = pp[name].stack(sample=("chain", "draw")).transpose("la_future", "sample")
            out[int(name[2:])] = (list(da["la_future"].values), da.values)
        return out

    @property
    def forecast_to(self) -> int:
        """The last January forecast by default: `FORECAST_YEARS` after the last one fitted."""
        return self.last_year + FORECAST_YEARS

    def forecast(self, to_year: int | None = None) -> pd.DataFrame:
        """Forecasts of active plans by LA and for England (sum over LAs), January last_year+1 … to_year
        (default `forecast_to`).

        Columns: la_code, la_name, year, mean, q05, q25, median, q75, q95 (plans).
        """
        rows = []
        for year, (codes, draws) in self.predictive_draws(self.forecast_to if to_year is None else to_year).items():
            rows.append(self._summarise(draws, year, codes, None))
            rows.append(self._summarise(draws.sum(axis=0)[None, :], year, [ENGLAND[0]], None))
        return pd.concat(rows, ignore_index=True).sort_values(["la_code", "year"], ignore_index=True)

    def holdout_scores(self) -> dict:
        """Score the prediction of the withheld January for every LA against two naive baselines.

        Returns coverage of the central 50 % / 90 % intervals, mean CRPS (plans, and relative to
        the count) for the model and for the baselines — `last_count` (January t−1 count) and
        `last_growth` (t−1 count × the LA's t−1/t−2 growth). Baselines are scored as point
        forecasts (CRPS = absolute error) and, for coverage, "dressed" with a log-normal spread
        equal to the SD of that method's own log errors over the fitted Januaries. `per_la`
        is a frame of the LA-level results.
        """
        if self.holdout is None:
            raise ValueError("holdout_scores() needs a model built with holdout=YEAR")
        year = self.holdout
        codes, draws = self.predictive_draws(year)[year]
        actual = self.panel[self.panel["year"] == year].set_index("la_code")["ehcp_total"].reindex(codes)
        keep = actual.notna().to_numpy()
        codes, draws, y = [c for c, k in zip(codes, keep) if k], draws[keep], actual[keep].to_numpy()
        naive = naive_forecasts(self.panel, year, codes)
        sd = naive_error_sd(self.panel, self.first_year + 1, self.last_year)
        rng = np.random.default_rng(self.settings.seed + 3)
        model_scores = score_draws(draws, y)
        baselines = {}
        for k in ("last_count", "last_growth"):
            point = naive[k].to_numpy()
            dressed = point[:, None] * np.exp(rng.normal(0.0, sd[k], size=(len(point), draws.shape[1])))
            dressed_scores = score_draws(dressed, y)
            baselines[k] = {
                "crps": float(np.abs(point - y).mean()),
                "crps_relative": float((np.abs(point - y) / y).mean()),
                "coverage_50": dressed_scores["coverage_50"],
                "coverage_90": dressed_scores["coverage_90"],
                "crps_dressed": dressed_scores["crps"],
                "log_error_sd": sd[k],
            }
        nat_draws = draws.sum(axis=0)
        national = {
            "observed": float(y.sum()),
            "median": float(np.median(nat_draws)),
            "q05": float(np.quantile(nat_draws, 0.05)),
            "q95": float(np.quantile(nat_draws, 0.95)),
            "crps": float(crps_draws(nat_draws, np.array(y.sum()))),
            "last_count": float(naive["last_count"].sum()),
            "last_growth": float(naive["last_growth"].sum()),
        }
        per_la = pd.DataFrame(
            {"la_code": codes, "observed": y, "q05": np.quantile(draws, 0.05, axis=1), "median": np.median(draws, axis=1),
             "q95": np.quantile(draws, 0.95, axis=1), "crps": crps_draws(draws, y)}
        ).merge(naive.reset_index(), on="la_code")
        return {
            "holdout": year,
            "n_las": len(codes),
            "coverage_50": model_scores["coverage_50"],
            "coverage_90": model_scores["coverage_90"],
            "crps": {"model": model_scores["crps"]} | {k: v["crps"] for k, v in baselines.items()},
            "crps_relative": {"model": model_scores["crps_relative"]} | {k: v["crps_relative"] for k, v in baselines.items()},
            "mae_median": model_scores["mae_median"],
            "baselines": baselines,
            "national": national,
            "per_la": per_la,
        }

    def variant_model(self, variant: str):
        """The same data and window with another variant (and that variant's default settings)."""
        return type(self)(self.panel, self.first_year, self.last_year, holdout=self.holdout, variant=variant)

    def loo_compare(self, variants: tuple[str, ...] = LOO_VARIANTS, conditional: bool = True) -> pd.DataFrame:
        """PSIS-LOO of each variant (same data and window) against this model, in the order given.

        Each pointwise term is one January's count given the previous January's (the AR term
        conditions on it), so this is leave-one-conditional-term-out, an in-sample
        (interpolation) criterion: it cannot show what the AR term adds to *forecasts*, which
        `holdout_scores` measures. By default LAs' first Januaries are left out (see
        `log_likelihood`). Columns: elpd_loo, se, p_loo, elpd_diff (this model's elpd minus the
        variant's: positive when the variant predicts worse), dse (its standard error, from the
        pointwise differences) and n_k_over_0.7 (terms with unreliable PSIS estimates). The
        order is fixed, not sorted, so that variants within noise of each other keep their place.
        """
        pointwise, rows = {}, {}
        for v in dict.fromkeys((self.variant, *variants)):
            ll = (self if v == self.variant else self.variant_model(v)).log_likelihood(conditional)
            with warnings.catch_warnings():  # high Pareto k is counted in n_k_over_0.7, not warned about
                warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
                loo = az.loo(ll, pointwise=True)
            pointwise[v] = loo.loo_i.values
            rows[v] = {"elpd_loo": loo.elpd_loo, "se": loo.se, "p_loo": loo.p_loo, "n_k_over_0.7": int((loo.pareto_k.values > 0.7).sum())}
        ref = pointwise[self.variant]
        for v in rows:
            diff = ref - pointwise[v]
            rows[v] |= {"elpd_diff": float(diff.sum()), "dse": float(np.sqrt(diff.size * diff.var()))}
        return pd.DataFrame.from_dict(rows, orient="index").loc[list(dict.fromkeys(variants))]
