"""Charts: the theme, the display bundle (interactive + static, reproducible) and LA maps."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import altair as alt
import numpy as np
import pandas as pd
import pytest

from analysis.report import charts

from analysis import paths
from analysis.errors import UnknownLAError
from analysis.data.geography import la_units

#: Okabe & Ito (2008), "Color Universal Design": the eight colours of the palette.
OKABE_ITO_REFERENCE = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}


@pytest.fixture(scope="module")
def units(las) -> pd.DataFrame:
    return la_units(las)


def _alive(units: pd.DataFrame, year: int) -> pd.DataFrame:
    return units[(units["first_year"] <= year) & (units["last_year"].isna() | (units["last_year"] >= year))]


def _features(chart: alt.TopLevelMixin) -> list[dict]:
    """The map's areas, each with what is drawn for it (joined by la_code, as Vega does) in its properties."""
    spec = chart.to_dict()
    data = spec["data"]
    assert data["format"] == {"type": "json", "property": "features"}
    features = json.loads(data["values"])["features"]
    assert all(set(f["properties"]) == {"la_code"} for f in features)  # the shapes alone: shared by maps side by side
    (lookup,) = [t for t in spec["transform"] if "lookup" in t]
    assert lookup["lookup"] == "properties.la_code" and lookup["from"]["key"] == "la_code"
    drawn = {r["la_code"]: r for r in lookup["from"]["data"]["values"]}
    return [{**f, "properties": drawn[f["properties"]["la_code"]]} for f in features]


def _line_chart() -> alt.Chart:
    df = pd.DataFrame({"year": [2023, 2024, 2025] * 2, "spend": [1.2e9, 1.5e9, 1.9e9, 0.8e9, 0.9e9, 1.1e9], "g": ["A"] * 3 + ["B"] * 3})
    return (
        alt.Chart(df, title="Spend")
        .mark_line()
        .encode(
            x=alt.X("year:Q", axis=alt.Axis(format=charts.YEAR)),
            y=alt.Y("spend:Q", axis=alt.Axis(format=charts.GBP)),
            color="g:N",
            tooltip=[alt.Tooltip("spend:Q", format=charts.GBP)],
        )
    )


# --------------------------------------------------------------------------- theme


def test_theme_is_registered_and_enabled():
    assert alt.theme.active == charts.THEME
    config = _line_chart().to_dict()["config"]
    assert config["range"]["category"] == charts.OKABE_ITO
    assert config["range"]["ramp"] == {"scheme": "viridis"}
    assert config["range"]["heatmap"] == {"scheme": "viridis"}
    assert config["font"].startswith("Liberation Sans")
    assert config["locale"]["number"]["currency"] == ["£", ""]
    assert config["locale"]["number"]["thousands"] == ","


def test_palette_is_okabe_ito():
    assert set(charts.OKABE_ITO) == OKABE_ITO_REFERENCE
    assert len(charts.OKABE_ITO) == len(OKABE_ITO_REFERENCE)
    # grey for missing stays off every palette colour and off the sequential scale's ends
    assert charts.MISSING.upper() not in OKABE_ITO_REFERENCE


def test_python_formatters():
    assert charts.fmt_gbp(1234567.4) == "£1,234,567"
    assert charts.fmt_gbp(-1234.5, dp=2) == "−£1,234.50"
    assert charts.fmt_count(638745) == "638,745"
    assert charts.fmt_gbp(float("nan")) == "–"


# --------------------------------------------------------------------------- show()


def test_show_bundle_has_interactive_spec_and_static_image():
    chart = _line_chart()
    bundle = charts.show(chart, name="fig-test")._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml", charts.VEGALITE_MIME, "text/plain"}
    assert charts.VEGALITE_MIME == "application/vnd.vegalite.v6+json"
    assert bundle[charts.VEGALITE_MIME] == chart.to_dict()
    assert bundle[charts.VEGALITE_MIME]["$schema"].endswith(f"v{charts.VEGALITE_VERSION}.json")
    html = bundle["text/html"]
    assert 'id="vis-fig-test"' in html and "vegaEmbed" in html
    spec = re.search(r'<script type="application/json" id="vis-fig-test-spec">(.*?)</script>', html, flags=re.S).group(1)
    assert json.loads(spec) == chart.to_dict()
    assert "<svg" in html and charts.BUNDLE in html  # the static chart until the local Vega bundle has loaded
    assert bundle["image/svg+xml"].startswith("<svg") and bundle["image/svg+xml"].endswith("</svg>")
    assert bundle["text/plain"] == "<Figure fig-test: Spend>"
    assert "<table" not in html.lower()  # Quarto would also consider text/html for PDF if it held a table


def test_show_is_deterministic_within_a_process():
    one = charts.show(_line_chart(), name="fig-a")._repr_mimebundle_()
    two = charts.show(_line_chart(), name="fig-a")._repr_mimebundle_()  # a fresh chart object
    assert one == two
    assert one["image/svg+xml"].encode() == two["image/svg+xml"].encode()


def _bundle_digest(bundle: dict) -> str:
    return hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest()


_DIGEST_SCRIPT = """
import hashlib, json
import altair as alt, pandas as pd
from analysis.report import charts
df = pd.DataFrame({"year": [2023, 2024, 2025] * 2, "spend": [1.2e9, 1.5e9, 1.9e9, 0.8e9, 0.9e9, 1.1e9], "g": ["A"] * 3 + ["B"] * 3})
chart = (alt.Chart(df, title="Spend").mark_line().encode(
    x=alt.X("year:Q", axis=alt.Axis(format=charts.YEAR)),
    y=alt.Y("spend:Q", axis=alt.Axis(format=charts.GBP)), color="g:N",
    tooltip=[alt.Tooltip("spend:Q", format=charts.GBP)]))
bundle = charts.show(chart, name="fig-a")._repr_mimebundle_()
print(hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest())
"""


def test_show_is_deterministic_across_processes():
    """What nbval needs: a fresh kernel re-creates the stored output byte for byte."""
    here = _bundle_digest(charts.show(_line_chart(), name="fig-a")._repr_mimebundle_())
    fresh = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], cwd=paths.ROOT, capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == here


def test_show_rejects_bad_names():
    for bad in ("", "Fig A", "fig/a", None):
        with pytest.raises(ValueError, match="name must match"):
            charts.show(_line_chart(), name=bad)


def test_spec_entry_can_be_left_out():
    bundle = charts.show(_line_chart(), name="fig-nospec", include_spec=False)._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml", "text/plain"}


def test_png_option():
    fig = charts.show(_line_chart(), name="fig-png", static="png", scale=1)
    bundle = fig._repr_mimebundle_()
    assert "image/png" in bundle and "image/svg+xml" not in bundle
    assert bundle["image/png"].startswith("iVBORw0KGgo")  # base64 of the PNG signature


def _mixed_chart(n: int = 120) -> alt.LayerChart:
    """Lines over data with awkward strings (commas, quotes, a leading space) and missing numbers, in two views."""
    df = pd.DataFrame({
        "x": range(n),
        "y": [((i * 37) % 101) * 1234.5678 + 0.1 for i in range(n)],
        "group": [("Bath, NE Somerset", 'The "Wirral"', " Slough")[i % 3] for i in range(n)],
        "m": [None if i % 4 == 0 else i / 7 for i in range(n)],
    })
    line = alt.Chart(df).mark_line(point=True).encode(x="x:Q", y="y:Q", color="group:N", tooltip=["group:N", "y:Q"])
    dots = alt.Chart(df).mark_point().encode(x="x:Q", y="m:Q").transform_filter("isValid(datum.m)")
    bars = alt.Chart(df).mark_bar().encode(x="group:N", y="sum(m):Q")
    return alt.hconcat(alt.layer(line, dots).properties(width=250), bars.properties(width=120))


def test_large_datasets_are_stored_as_csv_and_draw_the_same():
    chart = _mixed_chart()
    plain = chart.to_dict()
    spec = charts.show(chart, name="fig-csv")._repr_mimebundle_()[charts.VEGALITE_MIME]
    (name, text), = spec["datasets"].items()
    assert isinstance(text, str) and text.startswith("x,y,group,m\n")
    assert len(text) < 0.7 * len(json.dumps(plain["datasets"][name]))
    body = json.dumps({k: v for k, v in spec.items() if k != "datasets"})
    refs = re.findall(r'\{"name": "data-[0-9a-f]+"(, "format": \{[^}]*\}\})?', body)
    parse = {"type": "csv", "parse": {"x": "number", "y": "number", "m": "number"}}
    assert refs and all(r and json.loads(r[len(', "format": '):]) == parse for r in refs), refs
    # The same picture from both: Vega parses the CSV back to the same records (missing numbers as null).
    import vl_convert as vlc
    assert charts._round_paths(vlc.vegalite_to_svg(plain)) == charts._round_paths(vlc.vegalite_to_svg(spec))


def test_datasets_csv_cannot_hold_stay_json():
    rows = [{"a": i, "b": "x"} for i in range(60)]
    assert charts._as_csv(rows[:10]) is None  # small: JSON reads more easily
    assert charts._as_csv(rows) is not None
    assert charts._as_csv([{**r, "b": None if i == 3 else "x"} for i, r in enumerate(rows)]) is None  # missing string
    assert charts._as_csv([{**r, "c": True} for r in rows]) is None  # booleans
    assert charts._as_csv([{**r, "c": [1, 2]} for r in rows]) is None  # nested
    assert charts._as_csv([{"properties.code": i} for i in range(60)]) is None  # nested access in a field name
    assert charts._as_csv([{**r, "a": float("nan") if i == 0 else 1.0} for i, r in enumerate(rows)]) is None


def test_paths_are_rounded_to_a_tenth_of_a_pixel():
    svg = '<svg><path d="M161.573,67.683L-0.04,1.5e-7Z" x="1.234"/><text x="12.345">12.345</text></svg>'
    assert charts._round_paths(svg) == '<svg><path d="M161.6,67.7L0,0Z" x="1.234"/><text x="12.345">12.345</text></svg>'


# --------------------------------------------------------------------------- UK formats


def _svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_a_relative_link_stays_relative_in_the_static_image():
    """Vega's loader puts its example-data URL in front of a relative `href` when vl-convert renders SVG: a
    reader of the PDF or the preview would be sent off-site instead of to the LA's CSV."""
    frame = pd.DataFrame({"x": [1], "y": [1], "href": ["../downloads/profiles/E09000002.csv"]})
    fig = charts.show(alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q", href="href:N"), name="link")
    assert 'xlink:href="../downloads/profiles/E09000002.csv"' in fig.static
    assert "vega-datasets" not in fig.static and "vega-datasets" not in fig.html


def test_gbp_format_renders_pound_sign():
    svg = charts.show(_line_chart(), name="fig-gbp")._repr_mimebundle_()["image/svg+xml"]
    texts = _svg_texts(svg)
    assert "£1,000,000,000" in texts, texts
    assert not any("$" in t for t in texts)
    assert "2024" in texts and "2,024" not in texts  # YEAR format


def test_gbp_label_expression():
    df = pd.DataFrame({"x": [0, 1], "v": [0.0, 2.5e9]})
    chart = alt.Chart(df).mark_point().encode(x="x:Q", y=alt.Y("v:Q", axis=alt.Axis(labelExpr=charts.gbp_label("bn", 1))))
    texts = _svg_texts(charts.show(chart, name="fig-bn").static)
    assert "£2.5bn" in texts and "£0.0bn" in texts, texts
    with pytest.raises(ValueError, match="unit"):
        charts.gbp_label("G")


# --------------------------------------------------------------------------- maps


@pytest.mark.parametrize("year", [2020, 2021, 2022, 2023, 2024, 2025])
def test_boundary_vintage_matches_the_las_of_each_year(store, units, year):
    feats = charts.boundaries(charts.boundary_key(year), store)
    assert {f["properties"]["la_code"] for f in feats} == set(_alive(units, year)["la_code"])


@pytest.mark.parametrize("year", [2025, 2022, 2020])
def test_la_map_draws_every_la_of_the_year(store, units, year):
    alive = _alive(units, year)
    frame = pd.DataFrame({"la_code": alive["la_code"], "plans": range(len(alive))})
    chart = charts.la_map(frame, "plans", year=year, title="Plans", store=store)
    feats = _features(chart)
    props = pd.DataFrame([f["properties"] for f in feats])
    assert len(props) == len(alive) == {2025: 153, 2022: 152, 2020: 151}[year]
    assert set(props["la_code"]) == set(alive["la_code"])
    assert (props["status"] == "").all() and props["value"].notna().all()
    assert "subtitle" not in chart.to_dict()["title"]
    assert len(chart.to_dict()["layer"]) == 1  # no grey layer: nothing missing


def test_la_map_accepts_codes_of_older_vintages(store, units):
    alive = _alive(units, 2025)
    codes = alive["la_code"].replace({"E06000060": "E10000002"})  # Buckinghamshire's pre-2020 code
    chart = charts.la_map(pd.DataFrame({"la_code": codes, "v": 1.0}), "v", year=2025, title="t", store=store)
    props = {f["properties"]["la_code"]: f["properties"] for f in _features(chart)}
    assert props["E06000060"]["value"] == 1.0


def test_la_map_before_2020_names_the_las_it_cannot_draw(store, units):
    alive = _alive(units, 2019)
    chart = charts.la_map(pd.DataFrame({"la_code": alive["la_code"], "v": 1.0}), "v", year=2019, title="t", store=store)
    props = pd.DataFrame([f["properties"] for f in _features(chart)]).set_index("la_code")
    assert set(props.index[props["status"] == "No boundary for this year"]) == {"E06000058", "E06000059"}  # BCP, new Dorset
    subtitle = " ".join(chart.to_dict()["title"]["subtitle"])
    assert "Bournemouth" in subtitle and "Poole" in subtitle and "Dorset" in subtitle


def test_la_map_can_end_its_colour_scale_before_a_far_outlier_and_names_it(store, units):
    alive = _alive(units, 2025)
    frame = pd.DataFrame({"la_code": alive["la_code"], "v": np.linspace(600.0, 900.0, len(alive))})
    frame.loc[frame["la_code"] == "E06000053", "v"] = 2400.0  # the Isles of Scilly
    plain = charts.la_map(frame, "v", year=2025, title="t", fmt=charts.GBP, store=store).to_dict()
    assert "domain" not in plain["layer"][0]["encoding"]["color"]["scale"]
    spec = charts.la_map(frame, "v", year=2025, title="t", fmt=charts.GBP, clamp_outliers=True, store=store).to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale["clamp"] is True and scale["domain"][1] < 901 and scale["domain"][0] == 600.0
    assert "Isles of Scilly (£2,400)" in " ".join(spec["title"]["subtitle"])
    even = charts.la_map(frame.assign(v=np.linspace(600.0, 900.0, len(alive))), "v", year=2025, title="t", clamp_outliers=True, store=store)
    assert "domain" not in even.to_dict()["layer"][0]["encoding"]["color"]["scale"]  # nothing far out: the scale as it was
    diverging = charts.la_map(frame.assign(v=frame["v"] - 750), "v", year=2025, title="t", fmt=".1f", domain_mid=0.0,
                              clamp_outliers=True, store=store).to_dict()
    scale = diverging["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domainMid"] == 0.0 and scale["scheme"] == charts.DIVERGING and scale["clamp"] is True
    assert "Isles of Scilly (1650.0)" in " ".join(diverging["title"]["subtitle"])


def test_a_value_is_written_as_its_chart_format_shows_it():
    assert [charts.as_text(2400, charts.GBP), charts.as_text(0.453, charts.PCT), charts.as_text(12.34, ".1f"),
            charts.as_text(-1234.0, charts.COUNT), charts.as_text(3, "d")] == ["£2,400", "45%", "12.3", "−1,234", "3"]


def test_la_map_missing_values_are_grey_with_a_legend(store, units):
    alive = _alive(units, 2025)
    frame = pd.DataFrame({"la_code": alive["la_code"], "v": 1.0})
    frame.loc[frame.index[:3], "v"] = float("nan")
    frame = frame.iloc[1:]  # one LA absent, two NaN: all three are "No data"
    chart = charts.la_map(frame, "v", year=2025, title="t", store=store)
    spec = chart.to_dict()
    props = pd.DataFrame([f["properties"] for f in _features(chart)])
    assert (props["status"] == "No data").sum() == 3
    grey = spec["layer"][1]["encoding"]["color"]
    assert grey["scale"] == {"domain": ["No data"], "range": [charts.MISSING]}
    assert spec["resolve"] == {"scale": {"color": "independent"}}


def test_la_map_tooltip_has_name_and_formatted_value(store, units):
    alive = _alive(units, 2025)
    chart = charts.la_map(pd.DataFrame({"la_code": alive["la_code"], "spend": 1.5e6}), "spend", year=2025,
                          title="t", fmt=charts.GBP, legend_title="Spend", store=store)
    tooltip = chart.to_dict()["layer"][0]["encoding"]["tooltip"]
    assert tooltip == [
        {"field": "la_name", "type": "nominal", "title": "LA"},
        {"field": "value", "type": "quantitative", "title": "Spend", "format": charts.GBP},
    ]
    svg = charts.show(chart, name="map-test").static
    assert "LA: Hartlepool" in svg and "£1,500,000" in svg  # the SVG's aria-labels carry the tooltip text


def test_la_map_rejects_unknown_codes(store, units):
    frame = pd.DataFrame({"la_code": list(_alive(units, 2025)["la_code"][:5]) + ["E99999999"], "v": 1.0})
    with pytest.raises(UnknownLAError, match="E99999999"):
        charts.la_map(frame, "v", year=2025, title="t", store=store)


def test_la_map_rejects_las_of_another_year(store):
    frame = pd.DataFrame({"la_code": ["E10000006"], "v": 1.0})  # Cumbria, abolished April 2023
    with pytest.raises(UnknownLAError, match=r"E10000006 \(Cumbria\).*2025"):
        charts.la_map(frame, "v", year=2025, title="t", store=store)


def test_la_map_rejects_bad_frames(store):
    with pytest.raises(KeyError, match="no column 'v'"):
        charts.la_map(pd.DataFrame({"la_code": ["E06000001"]}), "v", year=2025, title="t", store=store)
    with pytest.raises(ValueError, match="several rows"):
        charts.la_map(pd.DataFrame({"la_code": ["E06000001"] * 2, "v": [1.0, 2.0]}), "v", year=2025, title="t", store=store)
    with pytest.raises(ValueError, match="no LA boundaries for year 2009"):
        charts.la_map(pd.DataFrame({"la_code": ["E06000001"], "v": [1.0]}), "v", year=2009, title="t", store=store)


def test_boundaries_are_wound_for_d3(store):
    """d3-geo fills the outside of an anticlockwise exterior ring: the whole globe."""
    for f in charts.boundaries("boundaries_utla23", store):
        for polygon in f["geometry"]["coordinates"]:
            for i, ring in enumerate(polygon):
                area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))
                assert (area2 < 0) if i == 0 else (area2 > 0), f["properties"]["la_code"]


def test_simplified_boundaries_stay_close_to_the_published_ones(store):
    """Simplification moves the median LA's outline by at most about a pixel (0.02°, on the largest map), none by
    more than five (thin spits and estuary mouths such as Spurn Head), and each by under half a pixel on average
    (the area between the two outlines over the outline's length)."""
    import shapely
    import shapely.geometry
    raw = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"])
           for f in json.loads(store.path("boundaries_utla23").read_text())["features"]}
    las, _ = charts._las(store)
    codes = dict(zip(charts.geography.harmonise_codes(pd.Series(list(raw)), las, where="test"), raw))
    feats = charts.boundaries("boundaries_utla23", store)
    furthest, vertices = [], 0
    for f in feats:
        drawn = shapely.make_valid(shapely.geometry.shape(f["geometry"]))  # rounding can cross an edge: invisible, but GEOS objects
        published = raw[codes[f["properties"]["la_code"]]]
        vertices += shapely.get_num_coordinates(drawn)
        furthest.append(shapely.hausdorff_distance(drawn, published))
        assert furthest[-1] < 0.08, f["properties"]["la_code"]
        assert shapely.symmetric_difference(drawn, published).area / published.length < 0.005, f["properties"]["la_code"]
    assert sorted(furthest)[len(furthest) // 2] < 0.02
    assert vertices < 0.5 * sum(shapely.get_num_coordinates(g) for g in raw.values())


def test_maps_side_by_side_share_their_shapes(store, units):
    alive = _alive(units, 2025)
    frame = pd.DataFrame({"la_code": alive["la_code"], "a": range(len(alive)), "b": 1.0})
    pair = (charts.la_map(frame, "a", year=2025, title="a", store=store, width=220, height=260)
            | charts.la_map(frame, "b", year=2025, title="b", store=store, width=220, height=260))
    spec = json.dumps(pair.to_dict())
    assert spec.count("FeatureCollection") == 1
    svg = charts.show(pair, name="map-pair").static
    assert svg.count('aria-roledescription="geoshape"') == 2 * len(alive)  # both maps drawn from the one copy


def test_map_output_stays_small(store, units):
    """A map's whole notebook output (HTML + SVG + spec) stays well under 1 MB."""
    alive = _alive(units, 2025)
    chart = charts.la_map(pd.DataFrame({"la_code": alive["la_code"], "v": range(len(alive))}), "v", year=2025, title="t", store=store)
    bundle = charts.show(chart, name="map-size")._repr_mimebundle_()
    size = sum(len(v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))) for v in bundle.values())
    assert size < 400_000, size


def test_the_national_chapter_takes_its_years_from_the_data():
    """A year of data added (or a series that starts later) moves the years the text quotes and the axis labels."""
    from analysis.data.finance import financial_year
    from analysis.report import national

    series = pd.Series([None, 5.0, 6.0, None, 7.0, None], index=range(2012, 2018))
    assert national.span(series) == (2013, 2016)
    assert financial_year(2025) == "2024-25" and financial_year(2000) == "1999-00"
    eng = pd.DataFrame({"ehcp_total": [1.0, 2.0, 3.0, 4.0, 5.0], "ehcp_per_10k_0_25": [None, 2.0, 3.0, 4.0, 5.0]},
                       index=pd.Index(range(2022, 2027), name="year"))
    axis = national.growth_chart(eng).to_dict()["hconcat"][0]["encoding"]["x"]["axis"]
    assert axis["values"] == [2022, 2025]
