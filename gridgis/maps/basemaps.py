"""Base maps: none (default), OpenStreetMap, Tianditu (天地图, key required), AMap (高德, GCJ-02).

Pure descriptions shared by saved maps and the viewer. A base map is optional: with none the
maps draw their vector layers on a plain background and fetch nothing. Any ``{z}/{x}/{y}``
URL template (e.g. a tile server inside a government network) is accepted as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridgis.chinacoords import ChinaSystem
from gridgis.errors import ValidationError

BASEMAPS = ("none", "osm", "tianditu", "amap")


@dataclass(frozen=True)
class TileSource:
    """One tile layer: URL template, attribution, Chinese name, subdomains, whether it is an overlay."""

    url: str
    attribution: str
    name: str
    subdomains: str = "abc"
    overlay: bool = False


def tile_sources(basemap: str, tianditu_key: str = "") -> list[TileSource]:
    """The tile layers of ``basemap`` (empty for ``none``).

    >>> tile_sources("none")
    []
    >>> tile_sources("amap")[0].name
    '高德地图'
    """
    if basemap in ("none", "", None):
        return []
    if "{z}" in basemap:
        return [TileSource(basemap, "本地瓦片", "底图")]
    if basemap == "osm":
        return [
            TileSource(
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors", "OpenStreetMap"
            )
        ]
    if basemap == "amap":
        return [
            TileSource(
                "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                "© 高德地图",
                "高德地图",
                subdomains="1234",
            )
        ]
    if basemap == "tianditu":
        if not tianditu_key:
            raise ValidationError(
                "the Tianditu (天地图) base map needs a key: set GRIDGIS_TIANDITU_KEY or pass "
                "--tianditu-key, or choose --basemap none"
            )
        base = "https://t{s}.tianditu.gov.cn/DataServer?T=%s&x={x}&y={y}&l={z}&tk=" + tianditu_key
        return [
            TileSource(base % "vec_w", "© 天地图", "天地图", subdomains="01234567"),
            TileSource(base % "cva_w", "© 天地图", "天地图注记", subdomains="01234567", overlay=True),
        ]
    raise ValidationError(f"unknown base map {basemap!r}; use one of {', '.join(BASEMAPS)} or a {{z}}/{{x}}/{{y}} URL")


def overlay_system(basemap: str) -> ChinaSystem:
    """The coordinate system overlays must be drawn in to line up with ``basemap`` (``gcj02`` for AMap).

    >>> overlay_system("amap"), overlay_system("tianditu")
    ('gcj02', 'wgs84')
    """
    return "gcj02" if basemap == "amap" else "wgs84"
