"""GeoJSON tiles for the web viewer: per-zoom, topology-preserving simplification, cached per generation.

A layer is read once per generation; for each zoom level its polygons are simplified
together with :func:`shapely.coverage_simplify` (neighbouring grids keep one shared edge,
no gaps or overlaps appear), at a tolerance of a fraction of a screen pixel at that zoom.
A tile ``z/x/y`` (the usual web-mercator scheme) holds every feature that touches the tile,
whole (not clipped), so no seam lines appear; the viewer keeps one copy per code.

Everything here is pure Python over frames; the API route only parses and answers.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from gridgis import chinacoords
from gridgis.errors import NotFoundError, ValidationError
from gridgis.layers import LAYERS
from gridgis.maps.geojson import geometry_json, plain

#: the zoom from which each layer is sent (below it a tile of that layer is empty)
MIN_ZOOM = {
    "streets": 0,
    "communities": 9,
    "grids": 13,
    "compounds": 14,
    "micro_grids": 15,
    "stations": 14,
    "buildings": 16,
}
#: from this zoom on geometry is sent unsimplified
FULL_ZOOM = 16
MAX_ZOOM = 22
#: simplification tolerance in screen pixels
TOLERANCE_PX = 0.6
#: the properties each layer's tiles carry (popups need these; the rest is fetched on demand)
TILE_PROPERTIES = {
    "streets": ("code", "name", "households", "population"),
    "communities": ("code", "name", "households", "population"),
    "grids": ("code", "name", "households", "workers", "kind"),
    "micro_grids": ("code", "name", "households"),
    "compounds": ("code", "name", "kind", "households", "has_property_management"),
    "buildings": ("code", "name", "households"),
    "stations": ("code", "name", "kind", "level", "opening_hours", "services", "contact", "address"),
}
COVERAGE_LAYERS = ("streets", "communities", "grids", "micro_grids", "compounds")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of web-mercator tile ``z/x/y``.

    >>> tile_bounds(0, 0, 0)[0], round(tile_bounds(0, 0, 0)[3], 4)
    (-180.0, 85.0511)
    """
    if not (0 <= z <= MAX_ZOOM) or not (0 <= x < 2**z) or not (0 <= y < 2**z):
        raise ValidationError(f"tile {z}/{x}/{y} does not exist; z is 0–{MAX_ZOOM}, x and y 0–2^z−1")
    n = 2.0**z

    def lat(yy: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The ``(x, y)`` of the tile at zoom ``z`` holding ``lon, lat``."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tolerance_deg(z: int) -> float:
    """Simplification tolerance (degrees) at zoom ``z``: :data:`TOLERANCE_PX` of a 256-px tile's pixel."""
    return TOLERANCE_PX * 360.0 / (256.0 * 2**z)


def precision_for(z: int) -> int:
    """Decimals of a degree enough for zoom ``z`` (a quarter pixel or better): 5 up to z16, 6 beyond.

    >>> precision_for(12), precision_for(18)
    (5, 6)
    """
    return 5 if z <= 16 else 6


def simplify_layer(layer: str, geoms: np.ndarray, z: int) -> np.ndarray:
    """``geoms`` simplified for zoom ``z``: coverage-preserving for area layers, per feature otherwise."""
    if z >= FULL_ZOOM or len(geoms) == 0 or LAYERS[layer].geometry == "point":
        return geoms
    tol = tolerance_deg(z)
    if layer in COVERAGE_LAYERS:
        try:
            return np.asarray(shapely.coverage_simplify(geoms, tol), dtype=object)
        except shapely.errors.GEOSException:
            pass  # not a valid coverage (overlaps): fall back to each feature on its own
    return np.asarray(shapely.simplify(geoms, tol, preserve_topology=True), dtype=object)


@dataclass
class LayerTiles:
    """One layer of one generation: properties pre-serialised, geometry per zoom built on demand."""

    layer: str
    geoms: np.ndarray
    props: list[str]
    codes: list[str]
    names: list[str]
    _zooms: dict[tuple[int, str], tuple[list[str | None], shapely.STRtree]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame) -> LayerTiles:
        cols = [c for c in TILE_PROPERTIES.get(layer, ("code", "name")) if c in frame.columns]
        records = frame[cols].to_dict(orient="records")
        props = [
            json.dumps({k: plain(v) for k, v in r.items()}, ensure_ascii=False, separators=(",", ":")) for r in records
        ]
        return cls(
            layer=layer,
            geoms=np.asarray(frame.geometry.values, dtype=object),
            props=props,
            codes=[str(c) for c in frame["code"]],
            names=[str(n or "") for n in frame["name"]],
        )

    def zoom(self, z: int, system: chinacoords.ChinaSystem = "wgs84") -> tuple[list[str | None], shapely.STRtree]:
        """Geometry texts and a search tree for zoom ``z``, in ``system`` (``gcj02`` for AMap tiles)."""
        key = (min(z, FULL_ZOOM), system)
        with self._lock:
            if key not in self._zooms:
                simple = simplify_layer(self.layer, self.geoms, key[0])
                if system != "wgs84":
                    simple = np.asarray(chinacoords.convert_geometries(simple, "wgs84", system), dtype=object)
                self._zooms[key] = (geometry_json(simple, precision_for(key[0])), shapely.STRtree(simple))
            return self._zooms[key]

    def tile(
        self,
        z: int,
        x: int,
        y: int,
        buffer_px: int = 8,
        zoom: int | None = None,
        system: chinacoords.ChinaSystem = "wgs84",
    ) -> tuple[str, int]:
        """The GeoJSON text of tile ``z/x/y`` and its feature count.

        ``zoom`` is the display zoom the geometry is simplified for (default ``z``); a viewer may ask
        for a larger tile (``z`` = zoom − 2 covers 1,024 px) to make fewer requests. ``system`` is the
        coordinate system of the tile grid and the answer (``gcj02`` to line up with AMap tiles).
        """
        zoom = z if zoom is None else zoom
        if zoom < z:
            raise ValidationError(f"display zoom {zoom} is below the tile's zoom {z}; ask for zoom ≥ z")
        if zoom < MIN_ZOOM.get(self.layer, 0):
            return '{"type":"FeatureCollection","features":[]}', 0
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        pad = (maxx - minx) * buffer_px / (256.0 * 2 ** (zoom - z))
        texts, tree = self.zoom(zoom, system)
        hits = np.sort(tree.query(shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad), predicate="intersects"))
        parts = [
            f'{{"type":"Feature","id":{json.dumps(self.codes[i])},"geometry":{texts[i]},"properties":{self.props[i]}}}'
            for i in hits.tolist()
            if texts[i] is not None
        ]
        return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}", len(parts)


class TileCache:
    """Layers per generation, loaded through ``load(layer) -> frame`` on first use.

    A new generation drops everything cached for older ones.
    """

    def __init__(self) -> None:
        self._generation: object = None
        self._layers: dict[str, LayerTiles] = {}
        self._lock = threading.Lock()

    def layer(self, generation: object, layer: str, load: Callable[[str], gpd.GeoDataFrame]) -> LayerTiles:
        if layer not in LAYERS:
            raise NotFoundError(f"unknown layer {layer!r}; known layers: {', '.join(LAYERS)}")
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._layers = {}
            cached = self._layers.get(layer)
        if cached is not None:
            return cached
        built = LayerTiles.from_frame(layer, load(layer))
        with self._lock:
            if generation == self._generation:
                self._layers.setdefault(layer, built)
                return self._layers[layer]
        return built
