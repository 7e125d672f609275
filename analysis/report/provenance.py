"""Tables and charts for the data chapter: sources, harmonisation, coverage and checks."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from analysis import paths
from analysis.data import breaks, finance, geography, outcomes, panel, sen2
from analysis.data.sources import Store, load_registry


def source_table() -> pd.DataFrame:
    """Every registered file: publication, publisher, release, licence, coverage and link."""
    rows = [
        {
            "Publication": s.title + (" (derived)" if s.derived and "(derived)" not in s.title else ""),
            "Publisher": s.publisher,
            "Released": s.released,
            "Licence": s.licence,
            "Coverage": s.coverage,
            "Link": s.page,
            "File": s.mirror_path,
        }
        for s in load_registry().values()
    ]
    return pd.DataFrame(rows)


def boundary_changes(store: Store | None = None) -> pd.DataFrame:
    """The LAs affected by reorganisations 2010–2025 and how the panel treats each."""
    las = geography.load_las(store or Store())
    units = geography.la_units(las).set_index("la_code")
    rows = []
    for row in las[las["code"] != las["la_code"]].itertuples():
        rows.append({"LA": row.name, "Published code": row.code, "Panel code": row.la_code, "Treatment": "recode: one continuous series"})
    for area, (label, codes) in geography.STABLE_AREAS.items():
        for code in codes:
            u = units.loc[code]
            last = "" if pd.isna(u.last_year) else int(u.last_year)
            rows.append({"LA": u.la_name, "Published code": code, "Panel code": code,
                         "Treatment": f"boundary change: panel years {int(u.first_year)}–{last}; stable area {area}"})
    return pd.DataFrame(rows)


def coverage_chart(panel_frame: pd.DataFrame, dictionary: pd.DataFrame) -> alt.Chart:
    """Heatmap: number of LAs with a value, by variable (grouped by source table) and year."""
    cov = panel.coverage(panel_frame, dictionary)
    order = dictionary["name"].tolist()
    return (
        alt.Chart(cov)
        .mark_rect()
        .encode(
            x=alt.X("year:O", title="Panel year", axis=alt.Axis(values=list(range(int(cov["year"].min()), int(cov["year"].max()) + 1, 3)))),
            y=alt.Y("variable:N", sort=order, title=None),
            color=alt.Color("n_las:Q", title="LAs with a value", scale=alt.Scale(scheme="viridis", domain=[0, 153]),
                            legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("variable:N"), alt.Tooltip("table:N", title="source table"), alt.Tooltip("year:O"), alt.Tooltip("n_las:Q", title="LAs")],
        )
        .properties(width=300, height=alt.Step(13))
    )


def national_checks() -> pd.DataFrame:
    """Per additive variable: years where the LA sum equals the published England figure."""
    checks = pd.DataFrame(json.loads((paths.PROCESSED / panel.OUTPUTS["checks"]).read_text())["national_totals"])
    checks["gap_pct"] = 100 * (checks["la_sum"] - checks["published"]) / checks["published"]
    summary = checks.groupby(["source", "variable"]).agg(
        years=("year", lambda y: f"{y.min()}–{y.max()}"),
        checked=("year", "size"),
        matched=("status", lambda s: int((s == "match").sum())),
        incomplete=("status", lambda s: int((s == "incomplete").sum())),
        largest_gap_pct=("gap_pct", lambda g: float(g.abs().max())),
    )
    return summary.reset_index()


def suppression_counts() -> pd.DataFrame:
    """How many LA-year cells each source published as a suppression code (now missing)."""
    sup = pd.read_parquet(paths.PROCESSED / panel.OUTPUTS["suppressed"])
    return sup.groupby(["source", "code"]).size().rename("cells").reset_index()


BREAK_LABELS = {
    "ehcp_total": "All plans",
    "ehcp_mainstream": "Mainstream",
    "ehcp_special_state": "State special",
    "ehcp_special_independent": "Independent special",
}


def breaks_text(panel_frame: pd.DataFrame) -> str:
    """The reporting-break rule in words, with its thresholds from `analysis.data.breaks` and the largest flagged fall
    of a total as the example, so that the text follows the rule and the data."""
    flags = breaks.detect(panel_frame)
    totals = flags[flags["variable"] == "ehcp_total"].sort_values("relative_change")
    example = ""
    if len(totals):
        e = totals.iloc[0]
        example = (f": {e['la_name']}'s January {e['year']} total went from {e['previous']:,.0f} to {e['value']:,.0f}, and several "
                   "LAs' counts in one school type halved for one year and came back")
    step = breaks.STEP.get("ehcp_total", breaks.STEP_PLACEMENT)
    times = lambda x: f"{x:g} times"  # noqa: E731
    text = (f"Some LAs' counts jump in one January and not the next, or fall by half at once, because of how they were "
            f"reported, not because children's plans changed{example}. A documented rule (`analysis.data.breaks`) flags "
            "such values. It compares each LA's year-on-year change with England's median change that year, and flags "
            f"only where the count that year or the year before is at least {breaks.MIN_COUNT} plans:\n\n"
            f"- a **step**: a change more than {times(step)} (for all plans) or {times(breaks.STEP_PLACEMENT)} (for a school "
            "type) England's, in either direction;\n"
            f"- a **dip or spike**: a move of more than {times(breaks.TRANSIENT)} England's change that reverses by as much "
            "the next January.\n\n"
            "@tbl-breaks lists every flagged value. The panel keeps the published values. The models and the programme "
            "evaluation treat a flagged value as missing, as they do a suppressed one (@sec-ehcp-model, @sec-spend-spec)")
    if len(totals):
        text += f". So {e['la_name']}'s January {e['year']} count is not fitted and not scored"
    return text + "."


def reporting_breaks(panel_frame: pd.DataFrame) -> pd.DataFrame:
    """The counts the reporting-break rule flags, for reading: LA, January, count, values around it."""
    flags = breaks.detect(panel_frame)
    return pd.DataFrame(
        {
            "LA": flags["la_name"],
            "January": flags["year"].astype(str),
            "Plans in": flags["variable"].map(BREAK_LABELS),
            "Plans before": flags["previous"].map("{:,.0f}".format),
            "Flagged": flags["value"].map("{:,.0f}".format),
            "Plans after": flags["next"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}"),
            "Change vs England": flags["relative_change"].map("×{:.2f}".format),
            "Kind": flags["kind"],
        }
    )


def cross_checks(store: Store | None = None) -> dict[str, float]:
    """Headline agreement between overlapping releases and sources (numbers for the prose)."""
    store = store or Store()
    las = geography.load_las(store)
    rel = sen2.compare_releases(store, las)
    totals = rel[(rel["level"] == "national") & (rel["variable"] == "ehcp_total")] if "national" in set(rel["level"]) else rel[rel["variable"] == "ehcp_total"]
    la_rel = rel[(rel["level"] == "la") & rel["release_2022"].notna() & rel["release_2025"].notna()]
    bench = finance.benchmark_crosscheck(store, las)
    trib = outcomes.compare_tribunal_releases(store, las)
    return {
        "sen2_overlap_years": f"{int(rel['year'].min())}–{int(rel['year'].max())}",
        "sen2_total_max_abs_diff": float(totals["diff"].abs().max()),
        "sen2_la_cells": int(len(la_rel)),
        "sen2_la_cells_equal": int((la_rel["diff"] == 0).sum()),
        "sen2_la_max_abs_diff": float(la_rel["diff"].abs().max()),
        "s251_bench_las": int(bench.attrs["n_both"]),
        "s251_bench_correlation": float(bench.attrs["correlation"]),
        "s251_bench_max_rel_pct": 100 * float(bench.attrs["max_abs_rel_difference"]),
        "s251_bench_total_gap_pct": 100 * (bench.attrs["total_hn_spend"] / bench.attrs["total_bm_non_place"] - 1),
        "tribunal_cells": int(trib["difference"].notna().sum()),
        "tribunal_max_abs_diff": float(trib["difference"].abs().max()),
    }


def las() -> pd.DataFrame:
    """DfE's LA list with harmonised codes (see `geography.load_las`)."""
    return geography.load_las(Store())


def la_names(codes: pd.Series) -> list[str]:
    """Current names of harmonised LA codes, in the order given."""
    names = geography.la_units(las()).set_index("la_code")["la_name"]
    return [names[c] for c in codes]
