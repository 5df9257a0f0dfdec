"""folium maps that work offline: every asset inline, no tile source unless one is chosen.

folium is imported inside the functions (it is only needed at the edge). A map is built
from a city (``dict`` of layer frames, EPSG:4326) and decorated by gridgis's own map kit
(:mod:`gridgis.maps.assets`): station icons per kind, Chinese popups, layer control,
legend, scale bar, full screen, search by name or code, and links from a grid's popup
to its compounds and stations.

Base maps: ``none`` (default: a plain background), ``osm``, ``tianditu`` (needs a key) and
``amap`` (GCJ-02 tiles: every overlay is shifted to GCJ-02 so it lines up), or any
``{z}/{x}/{y}`` URL template of a tile server inside the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from gridgis import chinacoords
from gridgis.crs import STORAGE_CRS, ensure_storage_crs
from gridgis.errors import ValidationError
from gridgis.layers import LAYERS
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.maps import assets
from gridgis.maps.basemaps import BASEMAPS, overlay_system, tile_sources
from gridgis.maps.geojson import feature_collection

__all__ = [
    "BASEMAPS",
    "add_heat",
    "add_layer",
    "finish",
    "for_basemap",
    "grid_relations",
    "new_map",
    "overview_map",
    "save_map",
    "with_stats",
]

#: overview layers in drawing order, and whether each is shown when the map opens
OVERVIEW_LAYERS = (
    ("streets", True),
    ("communities", True),
    ("grids", True),
    ("micro_grids", False),
    ("compounds", True),
    ("buildings", False),
    ("stations", True),
)


def _folium():
    import folium

    return folium


def _kit_element(folium: Any):
    """Classes built on folium at first use (so importing this module does not import folium)."""
    from branca.element import MacroElement
    from jinja2 import Template

    class GeoJsonLayer(folium.map.Layer):
        """A GeoJSON overlay drawn by ``GridGIS.geojsonLayer`` (our styles, icons and popups)."""

        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GridGIS.geojsonLayer({{ this.kind|tojson }}, {{ this.data }}, {});
            {% endmacro %}""")

        def __init__(self, kind: str, data: str, name: str, show: bool = True) -> None:
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "GridGISLayer"
            self.kind = kind
            self.data = data

    class HeatLayer(folium.map.Layer):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = new GridGIS.HeatLayer({{ this.points }}, {radius: {{ this.radius }}});
            {% endmacro %}""")

        def __init__(self, points: list, name: str, radius: int = 22, show: bool = True) -> None:
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "GridGISHeat"
            self.points = json.dumps(points)
            self.radius = int(radius)

    class Decorate(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            GridGIS.decorate({{ this._parent.get_name() }}, {{ this.options }});
            {% endmacro %}""")

        def __init__(self, options: dict) -> None:
            super().__init__()
            self._name = "GridGISDecorate"
            self.options = json.dumps(options, ensure_ascii=False)

    return GeoJsonLayer, HeatLayer, Decorate


def new_map(city: dict[str, gpd.GeoDataFrame], basemap: str = "none", tianditu_key: str = "", title: str | None = None):
    """An empty folium map fitted to the city, with inline assets and the chosen base map."""
    folium = _folium()
    from branca.element import Element

    bounds = _bounds(city)
    m = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=14,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
    )
    m.default_js = []
    m.default_css = []
    m.gridgis_basemap = basemap
    kinds = json.dumps(dict(STATION_KINDS), ensure_ascii=False)
    m.get_root().header.add_child(
        Element(
            '<meta charset="utf-8">\n'
            + assets.inline_head()
            + f"<script>Object.assign(GridGIS.config.stationKinds, {kinds});</script>"
        ),
        name="gridgis_assets",
    )
    if title:
        m.get_root().html.add_child(
            Element(
                f'<div class="gg-title" style="position:absolute;top:10px;left:60px;z-index:1000">{_esc(title)}</div>'
            )
        )
    _add_basemap(folium, m, basemap, tianditu_key)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _add_basemap(folium: Any, m: Any, basemap: str, key: str) -> None:
    for src in tile_sources(basemap, key):
        folium.TileLayer(
            tiles=src.url,
            attr=src.attribution,
            name=src.name,
            subdomains=src.subdomains,
            overlay=src.overlay,
            control=True,
        ).add_to(m)


def _bounds(city: dict[str, gpd.GeoDataFrame]) -> tuple[float, float, float, float]:
    frames = [f for k, f in city.items() if k in LAYERS and f is not None and len(f)]
    if not frames:
        raise ValidationError("the city has no features to map; load a city first (gridgis sample-city or import)")
    b = shapely.total_bounds(pd.concat([f.geometry for f in frames]).values)
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def for_basemap(frame: gpd.GeoDataFrame, basemap: str) -> gpd.GeoDataFrame:
    """``frame`` as drawn on ``basemap``: shifted to GCJ-02 for AMap, unchanged otherwise."""
    frame = ensure_storage_crs(frame)
    if overlay_system(basemap) == "wgs84" or len(frame) == 0:
        return frame
    out = frame.copy()
    out.geometry = gpd.GeoSeries(
        chinacoords.convert_geometries(frame.geometry.values, "wgs84", overlay_system(basemap)),
        index=frame.index,
        crs=STORAGE_CRS,
    )
    return out


def add_layer(
    m: Any,
    kind: str,
    frame: gpd.GeoDataFrame,
    name: str | None = None,
    show: bool = True,
    columns: list[str] | None = None,
) -> Any:
    """Add ``frame`` as an overlay drawn with the kit's style for ``kind``; return the folium layer."""
    folium = _folium()
    GeoJsonLayer, _, _ = _kit_element(folium)
    frame = for_basemap(frame, getattr(m, "gridgis_basemap", "none"))
    label = name or (LAYERS[kind].label_zh if kind in LAYERS else kind)
    layer = GeoJsonLayer(kind, feature_collection(frame, columns), f"{label}（{len(frame)}）", show=show)
    layer.add_to(m)
    return layer


def add_heat(m: Any, points: gpd.GeoDataFrame, name: str = "工单热力", weight: str | None = None) -> Any:
    folium = _folium()
    _, HeatLayer, _ = _kit_element(folium)
    pts = for_basemap(points[points.geometry.notna()], getattr(m, "gridgis_basemap", "none"))
    xy = shapely.get_coordinates(shapely.centroid(pts.geometry.values) if len(pts) else [])
    w = pts[weight].astype(float).tolist() if weight else [1.0] * len(xy)
    layer = HeatLayer([[round(y, 6), round(x, 6), wi] for (x, y), wi in zip(xy.tolist(), w)], name)
    layer.add_to(m)
    return layer


def finish(m: Any, legend: dict | None = None) -> Any:
    """Layer control, legend, full screen, search and popup links."""
    folium = _folium()
    _, _, Decorate = _kit_element(folium)
    folium.LayerControl(collapsed=False).add_to(m)
    Decorate({"legend": legend or {}}).add_to(m)
    return m


def grid_relations(city: dict[str, gpd.GeoDataFrame]) -> dict[str, dict[str, list[list[str]]]]:
    """For each grid code: the ``[code, name]`` of the compounds and stations it overlaps/contains."""
    grids = city.get("grids")
    out: dict[str, dict[str, list[list[str]]]] = {}
    if grids is None or len(grids) == 0:
        return out
    tree = shapely.STRtree(grids.geometry.values)
    for layer, predicate in (("compounds", "intersects"), ("stations", "intersects")):
        frame = city.get(layer)
        if frame is None or len(frame) == 0:
            continue
        geoms = frame.geometry.values
        if layer == "compounds":  # by an interior point, plus real overlaps (cut compounds appear under each grid)
            fi, gi = tree.query(geoms, predicate=predicate)
            keep = shapely.area(shapely.intersection(geoms[fi], grids.geometry.values[gi])) > 0
            fi, gi = fi[keep], gi[keep]
        else:
            fi, gi = tree.query(geoms, predicate=predicate)
        for f, g in zip(fi.tolist(), gi.tolist()):
            entry = out.setdefault(grids["code"].iloc[g], {"compounds": [], "stations": []})
            entry[layer].append([frame["code"].iloc[f], frame["name"].iloc[f]])
    return out


def with_stats(grids: gpd.GeoDataFrame, stats: pd.DataFrame | None) -> gpd.GeoDataFrame:
    """Grids with ticket figures (``tickets``, ``on_time_rate``, ``satisfaction``) joined by code."""
    if stats is None or len(stats) == 0:
        return grids
    s = stats.copy()
    if "code" not in s.columns:
        s = s.reset_index().rename(columns={s.index.name or "index": "code"})
    if "grid_code" in s.columns and "code" not in s.columns:
        s = s.rename(columns={"grid_code": "code"})
    keep = [c for c in ("code", "tickets", "on_time_rate", "satisfaction") if c in s.columns]
    return grids.merge(s[keep], on="code", how="left")


def overview_map(
    city: dict[str, gpd.GeoDataFrame],
    basemap: str = "none",
    tianditu_key: str = "",
    stats: pd.DataFrame | None = None,
    title: str | None = "网格化管理总览",
):
    """Every layer of ``city`` with station icons, Chinese popups and grid → compound/station links."""
    m = new_map(city, basemap, tianditu_key, title)
    relations = grid_relations(city)
    for layer, show in OVERVIEW_LAYERS:
        frame = city.get(layer)
        if frame is None or len(frame) == 0:
            continue
        if layer == "grids":
            frame = with_stats(frame, stats).copy()
            frame["_compounds"] = [relations.get(c, {}).get("compounds", []) for c in frame["code"]]
            frame["_stations"] = [relations.get(c, {}).get("stations", []) for c in frame["code"]]
        add_layer(m, layer, frame, show=show)
    return finish(m)


def save_map(m: Any, path: str | Path, allow_external: bool | None = None) -> Path:
    """Write ``m`` as one self-contained UTF-8 HTML file that opens from ``file://`` with no internet.

    Unless a base map was chosen, the file must name no outside host; one that does is refused
    (:class:`ValidationError`) rather than written.
    """
    path = Path(path)
    html = m.get_root().render()
    if allow_external is None:
        allow_external = getattr(m, "gridgis_basemap", "none") != "none"
    if not allow_external:
        bad = assets.external_urls(html)
        if bad:
            raise ValidationError(
                f"map {path.name}: would load from outside hosts ({', '.join(sorted(set(bad))[:5])}); "
                "an offline map may only use inline assets"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
