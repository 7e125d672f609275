"""Charts for the book: one Altair theme, a display helper and maps of England by LA.

Importing this module registers and enables the `send` Altair theme:

- colours: the Okabe–Ito palette for categories (`OKABE_ITO`), 'viridis' for
  sequential scales (maps, heatmaps) and 'blueorange' for diverging ones, each
  chosen to stay readable under the common colour-vision deficiencies;
- type: Liberation Sans (metric-compatible with Arial, and bundled in
  vl-convert, so static images lay out the same on every machine), 12–16 px;
- UK formats: the spec carries an en-GB `config.locale`, so Vega's d3 format
  `$` is "£" in every renderer (browser, JupyterLab, vl-convert). Use the
  format strings `GBP`, `GBP_PENCE`, `COUNT`, `PCT`, `YEAR` … rather than literals,
  and `gbp_label("m")` / `gbp_label("bn", 1)` for axes in £m / £bn.

`show(chart, name=...)` is what a chapter cell returns. Its output bundle holds

- ``text/html``: the static SVG, which a small script swaps for the interactive
  chart once the Vega libraries have loaded from the book's own
  ``assets/vega-bundle.js`` (written by `write_bundle`, nothing from a CDN); with
  no JavaScript, or the bundle missing, the static chart stays. Quarto's HTML
  output picks this part;
- ``image/svg+xml`` (or ``image/png``): a static image made by vl-convert, which
  Quarto's Typst and LaTeX (PDF) outputs pick, so no chart is lost in the PDF;
- ``application/vnd.vegalite.v6+json``: the Vega-Lite spec itself (read by
  JupyterLab-style front ends and kept as the machine-readable figure);
- ``text/plain``: a one-line fallback.

Every part is a pure function of the chart: no random ids or timestamps
(Altair names inline data sets by a hash of their content, the HTML div id is
derived from `name`, and vl-convert's SVG is byte-for-byte reproducible for a
given vl-convert version, since it measures text with its bundled Liberation
Sans), so `pytest --nbval` re-creates the stored outputs exactly.

Every chart is stored twice (HTML and image), so `show` keeps it lean: inline
data sets of flat rows go in as CSV text, which Vega parses back to the same
records (`_csv_datasets`), and SVG paths are rounded to 0.1 px (`_round_paths`).

Every chart must fit the HTML text column: `show` raises if the rendered width
exceeds `MAX_WIDTH` pixels (Quarto's default column is about 680 px wide and
clips anything wider, legends first).

`la_map(frame, value, year=..., title=...)` draws one value per LA on the ONS
upper-tier boundaries that match the LAs of that panel year (see `boundary_key`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import shapely
import shapely.geometry
import vl_convert as vlc

from analysis.atomic import write_atomic
from analysis.data import geography
from analysis.data.sources import Store
from analysis.errors import UnknownLAError

# --------------------------------------------------------------------------- formats

#: d3 number formats (the en-GB locale in the theme turns `$` into "£").
GBP = "$,.0f"  #: £1,234,567
GBP_PENCE = "$,.2f"  #: £1,234.57
COUNT = ",.0f"  #: 1,234,567
DECIMAL = ",.1f"  #: 1,234.6
PCT = ".0%"  #: 12% (from a share 0.12)
PCT1 = ".1%"  #: 12.3%
RATE1 = ",.1f"  #: per-1,000 rates etc.
YEAR = "d"  #: 2025 (a quantitative year would otherwise read "2,025")

LOCALE = "en-GB"
_NUMBER_LOCALE = vlc.get_format_locale(LOCALE)
_TIME_LOCALE = vlc.get_time_format_locale(LOCALE)
assert _NUMBER_LOCALE["currency"] == ["£", ""], _NUMBER_LOCALE


_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "bn": 1e9}


def gbp_label(unit: str = "m", dp: int = 0) -> str:
    """A Vega `labelExpr` writing axis/legend values in £ with a UK unit: '£1.5bn', '£250m'.

    d3's SI formats would write "£1.5G"; use e.g.
    ``alt.Axis(labelExpr=gbp_label("bn", 1))`` on a column in pounds.
    """
    if unit not in _UNITS:
        raise ValueError(f"gbp_label(): unit must be one of {list(_UNITS)}, not {unit!r}")
    scaled = f"abs(datum.value) / {_UNITS[unit]:g}"
    return f"(datum.value < 0 ? '−' : '') + '£' + format({scaled}, ',.{dp}f') + '{unit}'"


def wrap_label(chars: int = 28) -> str:
    """A Vega `labelExpr` that breaks a label longer than `chars` at its last space before that, onto two lines.

    For facet headers and axis labels, so that long labels neither widen a chart past the
    text column nor get cut with an ellipsis: ``alt.Header(labelExpr=wrap_label(), labelLimit=0)``.
    """
    cut = f"lastindexof(slice(datum.label, 0, {chars}), ' ')"
    return f"length(datum.label) > {chars} && {cut} > 0 ? [slice(datum.label, 0, {cut}), slice(datum.label, {cut} + 1)] : datum.label"


def as_text(x: float, fmt: str) -> str:
    """`x` as the d3 format `fmt` shows it in a chart, for text beside the chart: the book's formats ('$,.0f' in £,
    ',.0f', '.1f', '.0%' of a share, …); another format falls back to `x` with thousands separators."""
    m = re.fullmatch(r"(\$?)(,?)\.(\d+)([f%])", fmt)
    if not m:
        return f"{x:,}"
    pound, comma, dp, kind = m.groups()
    v = 100 * x if kind == "%" else x
    return ("−" if v < 0 else "") + ("£" if pound else "") + f"{abs(v):{comma}.{dp}f}" + ("%" if kind == "%" else "")


def fmt_gbp(x: float, dp: int = 0) -> str:
    """£ text for prose and tables, matching `GBP` (negative: '−£1,234')."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    sign = "−" if x < 0 else ""
    return f"{sign}£{abs(x):,.{dp}f}"


def fmt_count(x: float, dp: int = 0) -> str:
    """Thousands with commas, matching `COUNT`."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{dp}f}".replace("-", "−")


# --------------------------------------------------------------------------- theme

THEME = "send"

#: Okabe & Ito (2008) colour-blind-safe palette, in the order categories use it
#: (yellow late: it is the weakest on white).
OKABE_ITO = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
]
SEQUENTIAL = "viridis"
DIVERGING = "blueorange"
MISSING = "#b0b0b0"  #: fill for LAs with no value
NO_BOUNDARY = "#f2f2f2"  #: fill for areas whose boundary is not that year's LA

FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
WIDTH, HEIGHT = 480, 300
MAP_WIDTH, MAP_HEIGHT = 460, 560


def theme_config() -> dict[str, Any]:
    """The `send` theme as a Vega-Lite top-level dict (also usable without Altair)."""
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "background": "white",
        "config": {
            "locale": {"number": _NUMBER_LOCALE, "time": _TIME_LOCALE},
            "font": FONT,
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": None},
            "range": {
                "category": OKABE_ITO,
                "ordinal": {"scheme": SEQUENTIAL},
                "ramp": {"scheme": SEQUENTIAL},
                "heatmap": {"scheme": SEQUENTIAL},
                "diverging": {"scheme": DIVERGING},
            },
            "title": {"fontSize": 16, "subtitleFontSize": 13, "anchor": "start", "offset": 8,
                      "subtitleColor": "#444444"},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": "normal",
                     "labelColor": "#333333", "titleColor": "#333333", "gridColor": "#e6e6e6",
                     "domainColor": "#888888", "tickColor": "#888888"},
            "legend": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": "normal",
                       "labelLimit": 260, "titleLimit": 300},
            "axisXDiscrete": {"labelAngle": 0},  # years and short categories read horizontally
            "header": {"labelFontSize": 13, "titleFontSize": 13},
            "text": {"fontSize": 12},
            "line": {"strokeWidth": 2},
            "point": {"size": 40, "filled": True},
        },
    }


@alt.theme.register(THEME, enable=True)
def _send_theme() -> alt.theme.ThemeConfig:
    return theme_config()  # type: ignore[return-value]


# --------------------------------------------------------------------------- display

VEGALITE_VERSION = alt.SCHEMA_VERSION.lstrip("v")  # e.g. "6.4.1"
VEGALITE_MIME = f"application/vnd.vegalite.v{VEGALITE_VERSION.split('.')[0]}+json"
_VLC_VERSION = ".".join(VEGALITE_VERSION.split(".")[:2])
if _VLC_VERSION not in vlc.get_vegalite_versions():  # pragma: no cover - pinned stack
    raise ImportError(f"vl-convert {vlc.__version__} cannot render Vega-Lite {VEGALITE_VERSION}")
#: Widest chart (rendered SVG width, px) that fits the book's HTML text column.
MAX_WIDTH = 680
#: Where the book serves the Vega libraries from, relative to the project root (and to `_book/`).
BUNDLE = "assets/vega-bundle.js"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Figure:
    """A chart rendered once, for the notebook: see the module docstring for the bundle."""

    name: str
    spec: dict[str, Any]
    html: str
    static_mime: str
    static: str  # SVG text, or base64 PNG
    title: str = ""
    include_spec: bool = True

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {"text/html": self.html, self.static_mime: self.static}
        if self.include_spec:
            bundle[VEGALITE_MIME] = self.spec
        bundle["text/plain"] = f"<Figure {self.name}{': ' + self.title if self.title else ''}>"
        return bundle


def show(
    chart: alt.TopLevelMixin,
    *,
    name: str,
    static: str = "svg",
    scale: float = 2.0,
    include_spec: bool = True,
) -> Figure:
    """Render `chart` for the book: interactive HTML + static SVG/PNG + the spec.

    `name` (lower-case letters, digits, '-' and '_'; unique within a chapter) names
    the HTML element, so the output does not change from run to run.
    `static` is "svg" (default: vector, compared by nbval) or "png" (raster at
    `scale`; nbval does not compare PNGs). `include_spec=False` leaves out the
    Vega-Lite mime entry (the HTML carries the same spec), saving a third of
    the notebook bytes, e.g. for a chapter with many maps.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"show(): name must match {_NAME.pattern!r} (e.g. 'fig-ehcp-trend'), not {name!r}")
    if static not in ("svg", "png"):
        raise ValueError(f"show(): static must be 'svg' or 'png', not {static!r}")
    spec = _csv_datasets(chart.to_dict())  # validates; the active theme supplies config (locale, fonts, palette)
    opts = dict(vl_version=_VLC_VERSION, format_locale=LOCALE, time_format_locale=LOCALE)
    svg = _relative_links(_round_paths(vlc.vegalite_to_svg(spec, **opts)))
    width = float(re.search(r'<svg[^>]*?\bwidth="([\d.]+)"', svg).group(1))
    if width > MAX_WIDTH:
        raise ValueError(
            f"show({name!r}): the chart is {width:.0f} px wide, wider than the book's text column ({MAX_WIDTH} px); "
            "narrow its width, facets or legend (e.g. a legend at the bottom)"
        )
    if static == "svg":
        mime, image = "image/svg+xml", svg
    else:
        mime = "image/png"  # ppi keeps the printed size that of the SVG at any scale
        png = vlc.vegalite_to_png(spec, scale=scale, ppi=round(72 * scale), **opts)
        image = base64.b64encode(png).decode("ascii")
    html = _html(name, spec, svg)
    title = spec.get("title", "")
    title = title.get("text", "") if isinstance(title, dict) else title
    title = " ".join(title) if isinstance(title, list) else str(title)
    return Figure(name=name, spec=spec, html=html, static_mime=mime, static=image, title=title, include_spec=include_spec)


_PATH = re.compile(r'(\sd=")([^"]*)(")')
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+)(?:e[-+]?\d+)?")


#: The base URL Vega's loader puts in front of a relative link (a mark's `href`) when vl-convert renders SVG.
_VEGA_BASE = "https://vega.github.io/vega-datasets/"


def _relative_links(svg: str) -> str:
    """`svg` with each link as the chart gave it: a relative link (an LA's CSV, `../downloads/…`) is one to the
    book's own files, not to Vega's example data sets."""
    return svg.replace(f'xlink:href="{_VEGA_BASE}', 'xlink:href="')


def _round_paths(svg: str) -> str:
    """`svg` with path coordinates rounded to 0.1 px (vl-convert writes 0.001 px).

    A tenth of a pixel is invisible at any zoom a reader uses, and the shorter
    numbers take a quarter off a map's or a many-panel chart's SVG, which is
    stored twice in the notebook (HTML and image).
    """
    def number(m: re.Match[str]) -> str:
        text = f"{float(m.group(0)):.1f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text

    return _PATH.sub(lambda m: m.group(1) + _NUMBER.sub(number, m.group(2)) + m.group(3), svg)


#: Fewer rows than this stay JSON: CSV saves little there and JSON reads more easily.
_CSV_MIN_ROWS = 50
_PLAIN_FIELD = re.compile(r"[^.\\\[\]\"]+")


def _csv_datasets(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with its larger inline data sets written as CSV text, parsed back by Vega.

    Altair stores a data set as a list of records, repeating every field name in
    every row; as CSV the same values take about a third of the bytes, which
    matters for a chart that carries every LA's history (the spec sits in the
    page and in the notebook). A data set is converted only when every value is
    a number, a string or (in a numeric column) missing, so parsing it back gives
    the same records: numbers round-trip through `repr`, missing numbers become
    empty cells, which Vega's number parser reads as null. Every reference to the
    data set gets the matching `format`.
    """
    datasets = spec.get("datasets") or {}
    formats: dict[str, dict[str, Any]] = {}
    out = dict(spec)
    out["datasets"] = {}
    for name, rows in datasets.items():
        as_csv = _as_csv(rows)
        if as_csv is None:
            out["datasets"][name] = rows
        else:
            out["datasets"][name], parse = as_csv
            formats[name] = {"type": "csv", "parse": parse}
    if not formats:
        return spec

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        new = {k: walk(v) for k, v in node.items()}
        ref = new.get("data")
        if isinstance(ref, dict) and ref.get("name") in formats:
            if "format" in ref:  # pragma: no cover - Altair gives named data no format
                raise ValueError(f"data set {ref['name']} already has a format: {ref['format']}")
            new["data"] = {**ref, "format": formats[ref["name"]]}
        return new

    converted = out.pop("datasets")
    return {**walk(out), "datasets": converted}


def _as_csv(rows: Any) -> tuple[str, dict[str, str]] | None:
    """(CSV text, Vega parse directive) for a list of flat records, or None when CSV cannot hold them exactly."""
    if not isinstance(rows, list) or len(rows) < _CSV_MIN_ROWS or not all(isinstance(r, dict) for r in rows):
        return None
    fields = list(dict.fromkeys(k for r in rows for k in r))
    if not all(_PLAIN_FIELD.fullmatch(f) for f in fields):
        return None  # Vega-Lite reads '.', '[' and '\\' in a field name as nested access
    numeric: dict[str, bool] = {}
    for f in fields:
        values = [r.get(f) for r in rows]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int, float} and kinds:
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                return None
            numeric[f] = True
        elif kinds == {str} and None not in values:
            numeric[f] = False
        else:  # booleans, nested values, a string column with missing values: keep JSON
            return None

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
        if isinstance(v, int):
            return str(v)
        return '"' + v.replace('"', '""') + '"' if re.search(r'[",\r\n]|^\s|\s$', v) else v

    lines = [",".join(cell(f) for f in fields)]
    lines += [",".join(cell(r.get(f)) for f in fields) for r in rows]
    return "\n".join(lines), {f: "number" for f in fields if numeric[f]}


_SCRIPT = """<script>
(function () {
  var el = document.getElementById("vis-%(name)s");
  var spec = JSON.parse(document.getElementById("vis-%(name)s-spec").textContent);
  var options = %(options)s;
  // Load the book's own Vega bundle once per page (chapters sit one folder below the root).
  window.sendVegaLoaded = window.sendVegaLoaded || new Promise(function (resolve, reject) {
    if (window.vegaEmbed) { resolve(); return; }
    var paths = ["../%(bundle)s", "%(bundle)s"];
    (function next(i) {
      if (i >= paths.length) { reject(); return; }
      var s = document.createElement("script");
      s.src = paths[i];
      s.onload = function () { if (window.vegaEmbed) { resolve(); } else { next(i + 1); } };
      s.onerror = function () { s.remove(); next(i + 1); };
      document.head.appendChild(s);
    })(0);
  });
  window.sendVegaLoaded.then(function () {
    var target = document.createElement("div");
    return window.vegaEmbed(target, spec, options).then(function () { el.replaceChildren(target); });
  }).catch(function () { /* keep the static chart */ });
})();
</script>"""


#: A chart's controls (a list, a search box) go above it, where a reader looks first; Vega puts them below, which
#: under a tall chart is out of sight. Only pages with such a chart carry the rule.
_CONTROLS_FIRST = ("<style>.send-chart .vega-embed{display:inline-flex;flex-direction:column}"
                   ".send-chart .vega-bindings{order:-1;margin-bottom:0.6em}</style>\n")


def _html(name: str, spec: dict[str, Any], svg: str) -> str:
    """The static SVG in a div, the spec, and a script that makes it interactive when it can."""
    options = {"mode": "vega-lite", "actions": False, "formatLocale": _NUMBER_LOCALE, "timeFormatLocale": _TIME_LOCALE}
    dump = lambda obj: json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    body = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    # Several charts share a page: make the SVG's internal ids (gradients, clip paths) unique to this one.
    body = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{name}-{m.group(2)}", body)
    return (
        (_CONTROLS_FIRST if any("bind" in p for p in spec.get("params", [])) else "")
        + f'<div class="send-chart" id="vis-{name}" style="max-width:100%;overflow-x:auto">{body}</div>\n'
        f'<script type="application/json" id="vis-{name}-spec">{dump(spec)}</script>\n'
        + _SCRIPT % {"name": name, "options": dump(options), "bundle": BUNDLE}
    )


def write_bundle(root: Path) -> Path:
    """Write the Vega, Vega-Lite and vega-embed libraries (from the pinned vl-convert) to `root/BUNDLE`.

    Wrapped in a function so that its top-level names stay private; it sets
    `window.vegaEmbed`, `window.vega` and `window.vegaLite`.
    """
    code = vlc.javascript_bundle(vl_version=_VLC_VERSION)
    text = (
        f"/* Vega {vlc.get_vega_version()}, Vega-Lite {VEGALITE_VERSION}, vega-embed {vlc.get_vega_embed_version()}: "
        f"bundled by vl-convert {vlc.__version__} (BSD-3-Clause licences) */\n(function () {{\n{code}\n}})();\n"
    )
    target = root / BUNDLE
    if not target.exists() or target.read_text() != text:
        write_atomic(target, lambda tmp: tmp.write_text(text))
    return target


# --------------------------------------------------------------------------- maps

#: Boundary files in the source registry and the panel years whose LAs they match
#: exactly (checked by tests/test_charts.py). Years before 2020 use the December
#: 2019 file, which already has BCP and the new Dorset: Bournemouth, Poole and
#: the old Dorset county (LAs until 2019) have no boundary in the mirror.
BOUNDARY_VINTAGES: list[tuple[int, int, str]] = [
    (2010, 2021, "boundaries_utla19"),
    (2022, 2023, "boundaries_utla21"),
    (2024, 9999, "boundaries_utla23"),
]
#: Boundaries are drawn at most 680 px wide for England's 7° of longitude, so 0.01° is about a pixel.
#: The files (generalised to 500 m) are simplified further as a coverage, so neighbours keep one shared
#: edge (Visvalingam–Whyatt, GEOS via shapely), with this tolerance in degrees: it removes three fifths
#: of the vertices; the median LA's outline moves by at most a pixel, a thin spit or estuary mouth
#: (Spurn Head, the Tamar) by up to five (tests/test_charts.py).
_SIMPLIFY = 0.02
#: Decimal places of lon/lat kept (0.01° is about 1 km). An area that would vanish at that precision
#: keeps one more place.
_PRECISION = 2
_cache: dict[tuple[str, str], Any] = {}


def boundary_key(year: int) -> str:
    """Registry key of the boundary file used for panel year `year` (January of `year`)."""
    for first, last, key in BOUNDARY_VINTAGES:
        if first <= year <= last:
            return key
    raise ValueError(f"no LA boundaries for year {year}: the panel starts in {BOUNDARY_VINTAGES[0][0]}")


def _las(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    key = ("las", str(store.raw))
    if key not in _cache:
        las = geography.load_las(store)
        _cache[key] = (las, geography.la_units(las))
    return _cache[key]


def boundaries(key: str, store: Store | None = None) -> list[dict[str, Any]]:
    """Features of boundary file `key`, coded by harmonised `la_code` (rounded, rewound for d3)."""
    store = store or Store()
    ckey = (key, str(store.raw))
    if ckey not in _cache:
        path = store.path(key)
        raw = json.loads(path.read_text(encoding="utf-8"))["features"]
        las, _ = _las(store)
        codes = geography.harmonise_codes(
            pd.Series([f["properties"]["code"] for f in raw]), las, where=f"{path.name} (boundaries)"
        )
        if codes.duplicated().any():
            dup = sorted(codes[codes.duplicated()])
            raise UnknownLAError(f"{path.name}: several areas map to one la_code: {dup}")
        simplified = shapely.coverage_simplify([shapely.geometry.shape(f["geometry"]) for f in raw], _SIMPLIFY)
        feats = []
        for f, code, shape in zip(raw, codes, simplified):
            geom = shapely.geometry.mapping(shape)
            polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
            rounded = [q for p in polys if (q := _d3_rings(p, _PRECISION))] or [
                q for p in polys if (q := _d3_rings(p, _PRECISION + 1))]
            if not rounded:  # pragma: no cover - no English LA is under 100 m across
                raise ValueError(f"{path.name}: rounding to {_PRECISION + 1} dp left no polygon for {f['properties']['name']}")
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"la_code": str(code), "boundary_name": f["properties"]["name"]},
                    "geometry": {"type": "MultiPolygon", "coordinates": rounded},
                }
            )
        _cache[ckey] = sorted(feats, key=lambda f: f["properties"]["la_code"])
    return _cache[ckey]


def _d3_rings(rings: list, precision: int) -> list:
    """Round to `precision` dp and wind rings as d3-geo wants (exterior clockwise)."""
    out = []
    for i, ring in enumerate(rings):
        r: list[list[float]] = []
        for x, y in ring:
            pt = [round(x, precision), round(y, precision)]
            if not r or pt != r[-1]:  # rounding can merge neighbours; shared vertices stay shared
                r.append(pt)
        area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(r, r[1:] + r[:1]))  # >0: anticlockwise
        if len(r) < 4 or abs(area2) < 1e-12:  # a sliver that rounding collapsed to a line
            if i == 0:
                return []
            continue
        if (area2 > 0) == (i == 0):  # exterior must be clockwise, holes anticlockwise
            r = r[::-1]
        out.append(r)
    return out


def la_map(
    frame: pd.DataFrame,
    value: str,
    *,
    year: int,
    title: str,
    subtitle: str | list[str] | None = None,
    legend_title: str | None = None,
    fmt: str = COUNT,
    scheme: str | None = None,
    domain_mid: float | None = None,
    clamp_outliers: bool = False,
    store: Store | None = None,
    width: int = MAP_WIDTH,
    height: int = MAP_HEIGHT,
) -> alt.LayerChart:
    """Choropleth of `frame[value]` by LA (`frame.la_code`, one row per LA) for panel `year`.

    LAs of `year` without a value are drawn grey ("No data" in the legend); areas
    of the boundary file that are not an LA in `year` are drawn pale ("No
    boundary for this year"), and LAs of `year` without a boundary are named in
    the subtitle. Codes of any vintage are accepted; an unknown code, or an LA
    that did not exist in `year`, raises `UnknownLAError`. Tooltip: LA name and
    the value formatted with `fmt` (a d3 format such as `GBP`, `COUNT`, `PCT`).
    `scheme` overrides the theme's 'viridis'; with `domain_mid` the scale is
    diverging around it (default scheme 'blueorange'). With `clamp_outliers`, the
    colour scale ends at the outermost values within three interquartile ranges of
    the quartiles, so that one LA far out (the Isles of Scilly's spend per head) does
    not leave every other LA in one colour; LAs beyond are drawn in the end colour
    and named, with their values, in the subtitle.
    """
    store = store or Store()
    key = boundary_key(year)
    for col in ("la_code", value):
        if col not in frame.columns:
            raise KeyError(f"la_map(): frame has no column {col!r} (columns: {list(frame.columns)})")
    if not pd.api.types.is_numeric_dtype(frame[value]):
        raise TypeError(f"la_map(): column {value!r} must be numeric, not {frame[value].dtype}")
    las, units = _las(store)
    codes = geography.harmonise_codes(frame["la_code"], las, where=f"la_map({value!r}, year={year})")
    if codes.duplicated().any():
        raise ValueError(f"la_map(): several rows for LA(s) {sorted(set(codes[codes.duplicated()]))}; pass one year")
    alive = units[(units["first_year"] <= year) & (units["last_year"].isna() | (units["last_year"] >= year))]
    names = dict(zip(units["la_code"], units["la_name"]))
    strangers = sorted(set(codes) - set(alive["la_code"]))
    if strangers:
        listed = [f"{c} ({names.get(c, '?')})" for c in strangers]
        raise UnknownLAError(f"la_map({value!r}, year={year}): {listed} were not LAs in January {year}")
    values = dict(zip(codes, frame[value].astype(float)))
    if any(math.isinf(v) for v in values.values()):
        raise ValueError(f"la_map(): column {value!r} has infinite values")

    feats = boundaries(key, store)
    alive_codes = set(alive["la_code"])
    no_boundary = sorted(alive_codes - {f["properties"]["la_code"] for f in feats})
    rows = []  # what is drawn for each area, joined to its shape by la_code
    for f in feats:
        code, v = f["properties"]["la_code"], values.get(f["properties"]["la_code"], math.nan)
        if code in alive_codes:
            name, status = names[code], ("No data" if math.isnan(v) else "")
        else:  # e.g. BCP on a 2019 map: the area exists in the file, the LA not in that year
            name, status = f"{f['properties']['boundary_name']} (not an LA in {year})", "No boundary for this year"
        rows.append({"la_code": code, "la_name": name, "value": None if math.isnan(v) else v, "status": status})

    notes = [subtitle] if isinstance(subtitle, str) else list(subtitle or [])
    if no_boundary:
        missing = ", ".join(names[c] for c in no_boundary)
        notes.append(f"Not drawn (no {year} boundary in the map file): {missing}.")
    base = alt.Chart(width=width, height=height).project(
        type="transverseMercator", rotate=[2, 0, 0]  # British National Grid's central meridian, 2°W
    )
    scale = alt.Scale(scheme=scheme) if scheme else alt.Scale()
    if domain_mid is not None:
        scale = alt.Scale(scheme=scheme or DIVERGING, domainMid=domain_mid)
    if clamp_outliers:
        ends, beyond = _clamped(pd.Series({names.get(c, c): v for c, v in values.items()}).dropna())
        if beyond:
            kept = {k: v for k, v in scale.to_dict().items() if k in ("scheme", "domainMid")}
            scale = alt.Scale(**kept, domain=list(ends), clamp=True)
            shown = [f"{name} ({as_text(v, fmt)})" for name, v in beyond.items()]
            notes += ["In the end colour, beyond the scale:", ", ".join(shown)]  # two short lines: a map is narrow
    label = legend_title or value
    filled = base.mark_geoshape(stroke="white", strokeWidth=0.4).encode(
        color=alt.Color("value:Q", title=label, scale=scale, legend=alt.Legend(format=fmt)),
        tooltip=[
            alt.Tooltip("la_name:N", title="LA"),
            alt.Tooltip("value:Q", title=label, format=fmt),
        ],
    ).transform_filter("isValid(datum.value)")
    present = {r["status"] for r in rows}
    statuses = [s for s in ("No data", "No boundary for this year") if s in present]
    layers = [filled]
    if statuses:
        grey = base.mark_geoshape(stroke="white", strokeWidth=0.4).encode(
            color=alt.Color(
                "status:N",
                title=None,
                scale=alt.Scale(domain=statuses, range=[{"No data": MISSING}.get(s, NO_BOUNDARY) for s in statuses]),
                legend=alt.Legend(symbolType="square", symbolStrokeColor="#888888", symbolStrokeWidth=0.5),
            ),
            tooltip=[
                alt.Tooltip("la_name:N", title="LA"),
                alt.Tooltip("status:N", title=label),
            ],
        ).transform_filter("datum.status != ''")
        layers.append(grey)
    heading = alt.Title(title, subtitle=notes) if notes else alt.Title(title)
    drawn = alt.LookupData(alt.Data(values=rows), key="la_code", fields=["la_name", "value", "status"])
    return alt.layer(*layers, data=shapes(key, store), title=heading).transform_lookup(
        lookup="properties.la_code", from_=drawn).resolve_scale(color="independent")


def _clamped(values: pd.Series) -> tuple[tuple[float, float], dict[str, float]]:
    """The ends of a colour scale that leaves out far outliers (beyond three interquartile ranges from the
    quartiles): the outermost values within those fences, and the outliers by name."""
    q1, q3 = values.quantile([0.25, 0.75])
    lo, hi = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)
    inside = values[values.between(lo, hi)]
    return (float(inside.min()), float(inside.max())), values[~values.between(lo, hi)].sort_values(ascending=False).to_dict()


def shapes(key: str, store: Store | None = None) -> alt.Data:
    """The areas of boundary file `key` as Vega data, coded by `la_code` and nothing else.

    Every map of the same boundary file gets the same object, so maps side by
    side share one copy (Altair lifts data that is the same object in every
    part to the top of a concatenation). The features go in as one JSON string (Vega parses it):
    stored in a notebook, a nested array would be pretty-printed one coordinate
    per line (3x the bytes).
    """
    ckey = ("shapes", key, str((store or Store()).raw))
    if ckey not in _cache:
        features = [{"type": "Feature", "properties": {"la_code": f["properties"]["la_code"]}, "geometry": f["geometry"]}
                    for f in boundaries(key, store)]
        text = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"), allow_nan=False)
        _cache[ckey] = alt.Data(values=text, format=alt.DataFormat(type="json", property="features"))
    return _cache[ckey]
