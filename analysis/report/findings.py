"""The study's key numbers, each with its Monte Carlo standard error, stored and re-checked.

The published headline figures (EHCP trend growth and forecast, the held-out
scores, unit costs, the programme effects) are posterior summaries, so each
has a Monte Carlo standard error (MCSE): how far it would move if the sampler
were run again with another seed, or on a CPU whose arithmetic differs in the
last bits (arm64, where `analysis.numerics` cannot pin the x86-64
instruction set). `key_numbers()` computes them from the cached fits;
`results/key_numbers.json` holds the stored set; `agree()` says whether a
fresh set matches it within Monte Carlo error: |fresh − stored| ≤ z·√(MCSE²
+ MCSE²) with z = 4 (a false alarm about once in 15,000 numbers).

MCSEs of medians and quantiles are ArviZ's (`az.mcse`); statistics computed
over many draws at once (held-out coverage, CRPS) use the spread of the
statistic across the independent chains, SD / √chains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paths
from analysis.atomic import write_atomic
from analysis.data.finance import financial_year
from analysis.models import fitting
from analysis.report.precision import places, reading

STORED = paths.ROOT / "results" / "key_numbers.json"
#: The book's key findings, written from the stored key numbers and included at the top of `index.qmd`.
HEADLINES = paths.ROOT / "_key-findings.md"
#: How many combined MCSEs apart a fresh and a stored number may be.
Z = 4.0


@dataclass(frozen=True)
class KeyNumber:
    value: float
    mcse: float
    unit: str
    what: str


def quantile_number(draws: np.ndarray, chains: int, prob: float, unit: str, what: str, scale: float = 1.0) -> KeyNumber:
    """A posterior quantile of one scalar quantity and its MCSE (ArviZ)."""
    value, mcse = fitting.quantile(np.asarray(draws, dtype=float) * scale, chains, prob)
    return KeyNumber(value, mcse, unit, what)


def chainwise_number(statistic: Callable[[np.ndarray], float], draws: np.ndarray, chains: int, unit: str, what: str,
                     resolution: float = 0.0) -> KeyNumber:
    """A statistic of many quantities' draws (…, sample): its value on all draws, MCSE from its spread across chains.

    A statistic that moves in steps (a share of n LAs moves by 1/n) gets at least the error
    of rounding to its step, `resolution`/√12: four chains that happen to agree exactly do
    not make it exact.
    """
    x = np.asarray(draws, dtype=float)
    per_chain = [statistic(part) for part in np.split(x, chains, axis=-1)]
    mcse = max(float(np.std(per_chain, ddof=1) / np.sqrt(chains)), resolution / np.sqrt(12))
    return KeyNumber(float(statistic(x)), mcse, unit, what)


# --------------------------------------------------------------------------- the numbers


def forecast_january(numbers: dict[str, KeyNumber]) -> int:
    """The January of England's forecast among the key numbers (`ehcp.england_<year>_median`): the model's last
    January plus its forecast horizon, so it moves with the data."""
    years = sorted({int(m.group(1)) for k in numbers if (m := re.fullmatch(r"ehcp\.england_(\d{4})_median", k))})
    if len(years) != 1:
        raise KeyError(f"the key numbers should hold England's forecast for one January (ehcp.england_<year>_median), not {years}: "
                       "rerun `python -m analysis numbers`")
    return years[0]


def ehcp_numbers(frame: pd.DataFrame) -> dict[str, KeyNumber]:
    from analysis.models.ehcp import (
        EHCPModel,
        crps_draws,
        interval_coverage,
    )

    model = EHCPModel(frame)
    chains = model.settings.chains
    post = model.fit().posterior
    slope = post["region_mean"].sel(effect="slope").mean("region").stack(sample=("chain", "draw")).values
    out = {
        "ehcp.theta": quantile_number(post["theta"].stack(sample=("chain", "draw")).values, chains, 0.5, "", "population elasticity θ (median)"),
    }
    for prob, q in ((0.5, ""), (0.05, "_q05"), (0.95, "_q95")):
        out[f"ehcp.trend_growth_pct{q}"] = quantile_number(np.expm1(slope), chains, prob, "% a year",
                                                           f"LAs' mean trend growth ({'median' if prob == 0.5 else q[1:]})", 100)
    to = model.forecast_to
    _, draws = model.predictive_draws(to)[to]
    england = draws.sum(axis=0)
    for prob, key in ((0.5, "median"), (0.05, "q05"), (0.95, "q95")):
        out[f"ehcp.england_{to}_{key}"] = quantile_number(england, chains, prob, "plans", f"England's January {to} forecast ({key})")
    held = EHCPModel(frame, holdout=model.last_year)
    codes, draws = held.predictive_draws(held.holdout)[held.holdout]
    # scored as the chapter scores it (`holdout_scores`): on the model's panel, where flagged reporting breaks are missing
    actual = held.panel[held.panel["year"] == held.holdout].set_index("la_code")["ehcp_total"].reindex(codes)
    keep = actual.notna().to_numpy()
    draws, y = draws[keep], actual[keep].to_numpy()
    out["ehcp.holdout_coverage_90"] = chainwise_number(lambda d: interval_coverage(d, y, 0.9), draws, chains, "share",
                                                       f"January {held.holdout} withheld: share of LAs inside the 90% interval",
                                                       resolution=1 / len(y))
    out["ehcp.holdout_crps"] = chainwise_number(lambda d: float(crps_draws(d, y).mean()), draws, chains, "plans",
                                                f"January {held.holdout} withheld: mean CRPS over LAs")
    return out


def spend_numbers(frame: pd.DataFrame) -> dict[str, KeyNumber]:
    from analysis.models.spend import BM_YEAR, TYPE_LABELS, TYPES, SpendModel
    from analysis.models.spend.places import PlaceFundingModel
    from analysis.report.unit_costs import england_average_draws, full_cost_draws, later_published

    model = SpendModel(frame)
    place_part = PlaceFundingModel(frame).place_part()
    chains = model.settings.chains
    out = {}
    # the last year, and 2021-22: the last year the category data pin the unit costs
    for year, suffix in ((model.last_year, ""), (BM_YEAR, f"_{BM_YEAR}")):
        mean = england_average_draws(model, year)
        out |= {
            f"spend.unit_cost_{k}{suffix}": quantile_number(mean[k], chains, 0.5, "£ per plan per year",
                                                          f"{TYPE_LABELS[k]}: England average unit cost {financial_year(year)} (median)")
            for k in TYPES
        }
        if not suffix:  # the last year's interval too, for the book's key findings
            for prob, q in ((0.05, "q05"), (0.95, "q95")):
                out |= {f"spend.unit_cost_{k}_{q}": quantile_number(mean[k], chains, prob, "£ per plan per year",
                                                                   f"{TYPE_LABELS[k]}: England average unit cost {financial_year(year)} ({q})")
                        for k in TYPES}
    # how the published costs per plan after BM_YEAR sit against the model's full cost (chapter 4's comparison)
    full = {}
    for k, figures in later_published(model).items():
        draws = np.stack([full.setdefault(y, full_cost_draws(model, place_part, y))[k] for _, y in figures])
        published = np.array([value for value, _ in figures])[:, None]
        out[f"spend.later_published_below_{k}"] = chainwise_number(
            lambda d: float((published[:, 0] < np.quantile(d, 0.05, axis=-1)).mean()), draws, chains, "share",
            f"{TYPE_LABELS[k]}: share of the published costs per plan after {financial_year(BM_YEAR)} below the "
            "model's 90% interval (full cost)", resolution=1 / len(figures))
    return out


def data_numbers(frame: pd.DataFrame) -> dict[str, KeyNumber]:
    """England's high-needs spend (s251 outturn lines 1.2.x, summed over reporting LAs) in the first and last
    financial years the panel holds: published figures, so their Monte Carlo error is zero."""
    from analysis.models.spend import spend_per_head

    eng = spend_per_head(frame).groupby("year")["hn_spend"].agg(["sum", "size"])
    out = {}
    for key, year in (("first", int(eng.index.min())), ("last", int(eng.index.max()))):
        out[f"data.hn_spend_{key}"] = KeyNumber(
            float(eng.at[year, "sum"]), 0.0, "£",
            f"England: high-needs spend, s251 outturn lines 1.2.x, {financial_year(year)}, {int(eng.at[year, 'size'])} LAs reporting")
    return out


def evaluation_numbers() -> dict[str, KeyNumber]:
    from analysis.evaluation import experiment as evaluation
    from analysis.evaluation import programmes

    ev = evaluation.load()
    out = {}
    for programme in programmes.PROGRAMMES:
        es = ev.event_study(programme)
        post = es.att_post().set_index(["group", "outcome"])
        for outcome in programmes.HEADLINE:
            for group, suffix, against in (("main", "", "matched LAs"), ("later_waves", ".later_waves", "later members before they joined")):
                draws = programmes.in_units(outcome, post.at[(group, outcome), "draws"])
                for prob, q in ((0.5, ""), (0.05, "_q05"), (0.95, "_q95")):
                    out[f"evaluation.{programme}.{outcome}{suffix}{q}"] = quantile_number(
                        draws, es.settings.chains, prob, programmes.UNITS[programmes.OUTCOMES[outcome].scale],
                        f"{programmes.PROGRAMMES[programme]}: {programmes.OUTCOMES[outcome].label}, average difference after the "
                        f"start against {against} ({'median' if prob == 0.5 else q[1:]})")
    return out


def value_numbers(frame: pd.DataFrame) -> dict[str, KeyNumber]:
    """West Sussex's DBV savings claim and DBV's national extrapolation, priced with the spend model (£ a year;
    negative is a saving). West Sussex: in the year of the diagnostic, with the uncertainty of shares seen in 28
    case reviews (the chapter's first split: 18 reviewed in state and 9 in independent special schools), in
    top-ups and in full public cost. DBV: top-ups, with the unit costs' uncertainty only and with the sampling
    error of its 65% too, its 54 areas taken as the independent units (the wider of the chapter's two readings:
    the report publishes no figures by area)."""
    from analysis.evaluation import claims
    from analysis.models.spend import SpendModel

    model = SpendModel(frame)
    chains = model.settings.chains
    ws = claims.west_sussex(model, claims.WEST_SUSSEX.year).set_index("split").loc[next(iter(claims.REVIEW_SPLITS))]
    national = claims.dbv_national(model, model.last_year)
    dbv, dbv_areas = national["draws"]["top_up"], national["sampled"]["areas"]["top_up"]
    out = {}
    for prob, q in ((0.5, "median"), (0.05, "q05"), (0.95, "q95")):
        for measure, what in (("top_up", "top-ups"), ("full_cost", "full public cost")):
            out[f"value.west_sussex_{measure}_{q}"] = quantile_number(
                ws[measure], chains, prob, "£ a year", f"West Sussex's DBV claim priced, review shares uncertain, {what} ({q})")
        out[f"value.dbv_national_top_up_{q}"] = quantile_number(dbv, chains, prob, "£ a year", f"DBV's national extrapolation priced, top-ups ({q})")
        out[f"value.dbv_national_top_up_areas_{q}"] = quantile_number(
            dbv_areas, chains, prob, "£ a year", f"DBV's national extrapolation priced, top-ups, the 65% uncertain, areas the units ({q})")
    return out


def key_numbers(frame: pd.DataFrame | None = None) -> dict[str, KeyNumber]:
    """Every key number, from the cached fits (fitting any that are missing)."""
    from analysis.data import panel

    frame = panel.load() if frame is None else frame
    return data_numbers(frame) | ehcp_numbers(frame) | spend_numbers(frame) | evaluation_numbers() | value_numbers(frame)


def shown(number: KeyNumber, most: int | None = None) -> str:
    """The number at the precision its Monte Carlo error supports (thousands separated, typographic minus), and
    to at most `most` decimal places where given (−2: hundreds, as the chapter shows it); a published figure (no
    Monte Carlo error) as published."""
    d = places(number.mcse) if number.mcse > 0 else (0 if float(number.value).is_integer() else 2)
    d = d if most is None else min(d, most)
    return f"{round(number.value, d) + 0.0:,.{max(d, 0)}f}".replace("-", "−")  # + 0.0: never "−0"


def table(numbers: dict[str, KeyNumber]) -> pd.DataFrame:
    """The key numbers as a reader sees them: what, value at supported precision, unit, MCSE."""
    return pd.DataFrame([{"number": v.what, "value": shown(v), "unit": v.unit, "Monte Carlo SE": two_figures(v.mcse)}
                         for v in numbers.values()])


def two_figures(x: float) -> str:
    """Two significant figures in plain notation (340, 0.0019)."""
    if not x > 0:
        return "0"
    places = max(0, 1 - int(np.floor(np.log10(x))))
    return f"{round(x, 1 - int(np.floor(np.log10(x)))):,.{places}f}"


# --------------------------------------------------------------------------- storing and comparing


def save(numbers: dict[str, KeyNumber], path: Path = STORED) -> Path:
    from analysis import numerics

    record = {"numerics": numerics.fingerprint().split(":")[0], "numbers": {k: asdict(v) for k, v in sorted(numbers.items())}}
    return write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n"))


def load(path: Path = STORED) -> dict[str, KeyNumber]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m analysis findings --save`")
    return {k: KeyNumber(**v) for k, v in json.loads(path.read_text())["numbers"].items()}


def agree(stored: dict[str, KeyNumber], fresh: dict[str, KeyNumber], z: float = Z) -> pd.DataFrame:
    """One row per key number: stored and fresh value, the tolerance z·√(MCSE² + MCSE²), and whether they agree."""
    rows = []
    for key in sorted(set(stored) | set(fresh)):
        a, b = stored.get(key), fresh.get(key)
        if a is None or b is None:
            rows.append({"number": key, "stored": a and a.value, "fresh": b and b.value, "tolerance": np.nan, "agree": False})
            continue
        tolerance = z * float(np.hypot(a.mcse, b.mcse))
        rows.append({"number": key, "stored": a.value, "fresh": b.value, "difference": b.value - a.value,
                     "tolerance": tolerance, "agree": abs(b.value - a.value) <= tolerance})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the key findings, for the preface


def _at(numbers: dict[str, KeyNumber], key: str, scale: float = 1.0, most: int | None = None) -> str:
    """A stored number in words: at the precision its Monte Carlo error supports (and at most `most` decimal
    places), after `scale` (e.g. 1e-6 for £m)."""
    n = numbers[key]
    return shown(KeyNumber(n.value * scale, n.mcse * abs(scale), n.unit, n.what), most)


def _signed(numbers: dict[str, KeyNumber], key: str) -> str:
    text = _at(numbers, key)
    return text if text.startswith("−") or _is_zero(text) else f"+{text}"


def _is_zero(text: str) -> bool:
    """Whether a number as shown ('0', '0.0', '£0m' …) is zero: shown without a sign, on neither side of zero."""
    return not any(c in "123456789" for c in text)


def _ends(numbers: dict[str, KeyNumber], lo: str, hi: str, scale: float = 1.0, signed: bool = False, before: str = "",
          after: str = "", most: int | None = None) -> str:
    """'a to b': an interval's two ends, both at the precision the larger of their MCSEs supports (as the chapters
    show intervals), after `scale`, each written `before`…`after` (e.g. '£', 'm'); `signed` adds '+' to ends that
    are above zero as shown."""
    mcse = max(numbers[lo].mcse, numbers[hi].mcse)
    ends = [shown(KeyNumber(numbers[k].value * scale, mcse * abs(scale), numbers[k].unit, numbers[k].what), most) for k in (lo, hi)]
    return " to ".join(f"{before}{e if not signed or e.startswith('−') or _is_zero(e) else '+' + e}{after}" for e in ends)


def _reading(numbers: dict[str, KeyNumber], key: str) -> int:
    """+1 or −1 when the 90% interval of the number at `key`, its ends as `_ends` shows them, lies above or below
    zero; 0 when it includes zero."""
    lo, hi = numbers[f"{key}_q05"], numbers[f"{key}_q95"]
    mcse = max(lo.mcse, hi.mcse)
    return reading(lo.value, hi.value, places(mcse) if mcse > 0 else 2)


def _programme(numbers: dict[str, KeyNumber], programme: str) -> str:
    """One programme's headline differences against matched LAs and against its own later members before they
    joined, and, outcome by outcome, whether the two comparisons agree (same reading: higher, lower or unclear)."""
    n = numbers
    effect = lambda key: f"{_signed(n, key)}% (90% interval {_ends(n, f'{key}_q05', f'{key}_q95', signed=True)})"
    names = {f"evaluation.{programme}.ehcp_rate": "plans", f"evaluation.{programme}.hn_spend_per_head": "spend"}
    plans, spend = names
    later = lambda k: f"{k}.later_waves"
    disagree = [names[k] for k in names if _reading(n, k) != _reading(n, later(k))]
    text = (f"against matched LAs, the change in EHC plans per head from the year before the start to the years after "
            f"it differed by {effect(plans)}, and the change in high-needs spend per head by {effect(spend)} (averaged over "
            f"the years after the start); against the programme's own later members before they joined, by "
            f"{effect(later(plans))} and {effect(later(spend))} (a check that rests mostly on the start year and, for many "
            "LAs, on one or no later joiner). ")
    if not disagree:
        return text + "The two comparisons agree."
    what = " and ".join(disagree)
    return text + (f"**The two comparisons disagree on {what}**, so "
                   f"{'that reading is not' if len(disagree) == 1 else 'neither reading is'} robust.")


def _shares_moved(claim) -> str:
    """The claim's shares of state and independent special school plans judged placeable in mainstream, in words."""
    from fractions import Fraction

    state, independent = (Fraction(x).limit_denominator(12) for x in (claim.share_state, claim.share_independent))
    return f"{state} of each" if state == independent else f"{state} of state and {independent} of independent special plans"


def _review_split() -> str:
    """The split of West Sussex's reviewed children the key number uses (the first of `claims.REVIEW_SPLITS`), in words."""
    from analysis.evaluation import claims

    split = next(iter(claims.REVIEW_SPLITS.values()))
    return "in proportion to the LA's plans" if split is None else f"{split[0]} state, {split[1]} independent"


def _later_reading(n: dict[str, KeyNumber]) -> str:
    """'; for … every later one lies below the model's 90% interval …, so …' for the types of the key findings (state mainstream, state
    and independent special) whose every published cost per plan after 2021-22 lies below the model's 90% interval."""
    from analysis.models.spend import TYPE_LABELS

    shown = ("special_independent", "special_state", "mainstream")
    below = [k for k in shown if (m := n.get(f"spend.later_published_below_{k}")) is not None and m.value == 1.0]
    if not below:
        return ""
    names = " and ".join(TYPE_LABELS[k].lower() + " schools" for k in below)
    return (f"; for {names} every later one lies below the model's 90% interval (counting place funding), so there its "
            "unit costs are more likely too high than too low")


#: Unit costs in the key findings are shown to the nearest £100, as chapter 4 shows them, or coarser where their
#: Monte Carlo error says so.
UNIT_COST_PLACES = -2


def headlines(numbers: dict[str, KeyNumber], backtests: dict | None = None) -> str:
    """The key findings as Markdown: each number from `results/key_numbers.json` (and the EHCP model's stored
    backtests, `results/backtest.json`, when not given) with its 90% interval and a link to where it is shown,
    and how to quote them. Nothing in it is typed by hand."""
    from analysis.evaluation import claims
    from analysis.models import stored
    from analysis.models.ehcp import backtest

    n = numbers
    saved = stored.load("backtest") if backtests is None else None
    england = backtest.england(saved.results if saved else backtests)
    stale = (f" (from backtests whose {' and '.join(saved.stale)} changed since they ran: rerun `python -m analysis grid "
             "backtest`)") if saved and saved.stale else ""
    cost = lambda k: (f"£{_at(n, f'spend.unit_cost_{k}', most=UNIT_COST_PLACES)} "
                      f"({_ends(n, f'spend.unit_cost_{k}_q05', f'spend.unit_cost_{k}_q95', before='£', most=UNIT_COST_PLACES)})")
    saving = lambda k: (f"£{_at(n, f'value.{k}_median', -1e-6)}m a year (90% interval "
                        f"{_ends(n, f'value.{k}_q95', f'value.{k}_q05', -1e-6, before='£', after='m')})")
    f = forecast_january(n)
    year = re.search(r"\d{4}-\d{2}", n["spend.unit_cost_mainstream"].what).group()  # the financial year of the unit costs
    above, outside = int((england["error"] > 0).sum()), int((~england["inside"]).sum())
    first, last = n["data.hn_spend_first"], n["data.hn_spend_last"]
    reporting = lambda k: re.search(r"(\d{4}-\d{2}), (\d+) LAs", k.what).groups()
    (first_year, _), (last_year, las) = reporting(first), reporting(last)
    items = [
        f"**High-needs spend was £{last.value / 1e9:.1f}bn in {last_year}**, {last.value / first.value:.1f} times its "
        f"{first_year} level of £{first.value / 1e9:.1f}bn in cash, on the s251 outturn lines for high needs ({las} LAs "
        "reporting; @sec-national). The lines leave out some high-needs costs, and cash figures include inflation.",
        f"**EHC plans keep growing.** LAs' plans have grown on trend by {_at(n, 'ehcp.trend_growth_pct', most=1)}% a year (90% interval "
        f"{_ends(n, 'ehcp.trend_growth_pct_q05', 'ehcp.trend_growth_pct_q95', most=1)}), and the model forecasts "
        f"{_at(n, f'ehcp.england_{f}_median')} plans in England in January {f}, less any LA whose latest count is a "
        f"flagged reporting break (90% interval "
        f"{_ends(n, f'ehcp.england_{f}_q05', f'ehcp.england_{f}_q95')}) if those trends continue. Its 90% intervals held "
        f"{_at(n, 'ehcp.holdout_coverage_90', 100)}% of LAs' counts for a January it was not shown (a check that also informed "
        "the model's design). "
        f"Refitted at {england['origin'].nunique()} earlier Januaries, its {len(england)} national forecasts 1 to "
        f"{england['horizon'].max()} years ahead (overlapping) were above the published total in {above}"
        + (f" (by {100 * england['error'].min():.1f}% to {100 * england['error'].max():.1f}%)" if above == len(england) else "")
        + f" and outside their 90% interval in {outside}{stale}"
        + (f", so the {f} figure is more likely too high than too low" if backtest.runs_high(england) else "") + " (@sec-ehcp).",
        f"**What a plan costs depends on where the child is placed.** In {year} a plan in an independent special school cost its "
        f"LA {cost('special_independent')} a year in top-ups on average, a state special school plan {cost('special_state')} "
        f"and a state mainstream plan {cost('mainstream')} (England averages, 90% intervals; @sec-spend-model). These carry the "
        "model's trend forward from 2021-22, the last year its category data cover; the chapter sets them beside the "
        f"published figures for the later years{_later_reading(n)}.",
        f"**Safety Valve LAs**: {_programme(n, 'safety_valve')} **DBV LAs**: {_programme(n, 'dbv')} All of these are "
        "associations, not effects; @sec-programmes weighs the two comparisons and its other checks.",
        f"**The savings claims, priced openly.** If the share of West Sussex's special school plans that its DBV case "
        f"reviews judged could have been in mainstream ({_shares_moved(claims.WEST_SUSSEX)}) moved there, its top-ups would fall by "
        f"{saving('west_sussex_top_up')}, {saving('west_sussex_full_cost')} counting place funding, at "
        f"{financial_year(claims.WEST_SUSSEX.year)} unit costs and if the reviewed children in special schools (assumed "
        f"{_review_split()}) were a random sample of them; the draft projection was £{claims.WEST_SUSSEX.claim_low / 1e6:.1f}m "
        f"to £{claims.WEST_SUSSEX.claim_high / 1e6:.1f}m. DBV's national extrapolation would save "
        f"{saving('dbv_national_top_up_areas')} in top-ups, counting the sampling error of its "
        f"{100 * claims.DBV_NATIONAL.share_placed_differently:.0f}% with its {claims.DBV_NATIONAL.areas} areas as the "
        f"independent units ({saving('dbv_national_top_up')} with the unit costs' uncertainty alone); neither interval "
        "carries the larger uncertainty that the reviewed cases were chosen, not sampled. Both assume the moved "
        "children cost what the average plan of their new placement costs in their LA, and neither says whether children "
        "would be as well served (@sec-value).",
    ]
    how = ("Spend is as published. Every other figure is a posterior median with its 90% credible interval, rounded to the precision a rerun of the "
           "samplers supports (`results/key_numbers.json` holds each with its Monte Carlo standard error, and "
           "`python -m analysis findings --check` recomputes them). Quote a figure with its interval and the chapter it "
           "comes from, and cite the study as below.")
    return "\n".join(f"- {item}" for item in items) + "\n\n" + how + "\n"


def save_headlines(numbers: dict[str, KeyNumber], path: Path = HEADLINES) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(headlines(numbers)))
