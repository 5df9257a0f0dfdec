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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from gridgis import chinacoords
from gridgis.auth.privacy import without_contacts
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
#: the properties each layer's tiles carry (popups need these; the rest is fetched on demand).
#: Tiles are cached per generation and shared by every reader, so workers go without their
#: contacts (:func:`gridgis.auth.privacy.without_contacts`); phones only in the scoped feature API.
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


def _without_contacts(workers: object) -> object:
    """Workers (a list, or its JSON text) without their contacts."""
    if isinstance(workers, str):
        try:
            return json.dumps(without_contacts(json.loads(workers)), ensure_ascii=False)
        except ValueError:
            return workers
    return without_contacts(workers)


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
    #: encoded MVT tiles of this generation, least recently used dropped beyond MVT_CACHE_TILES
    _mvt: OrderedDict[tuple[int, int, int, int, int, str], tuple[bytes, int]] = field(default_factory=OrderedDict)

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame) -> LayerTiles:
        cols = [c for c in TILE_PROPERTIES.get(layer, ("code", "name")) if c in frame.columns]
        records = frame[cols].to_dict(orient="records")
        for r in records:  # one cached tile serves every reader: names and roles only, never contacts
            if "workers" in r:
                r["workers"] = _without_contacts(r["workers"])
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

    def mvt(
        self,
        z: int,
        x: int,
        y: int,
        buffer_px: int = 8,
        zoom: int | None = None,
        system: chinacoords.ChinaSystem = "wgs84",
    ) -> tuple[bytes, int]:
        """The Mapbox Vector Tile of ``z/x/y`` and its feature count: the same simplified features as
        :meth:`tile` (one MVT layer named after the layer; the code is the ``code`` property), clipped to
        the tile plus ``buffer_px`` and quantised to :data:`MVT_EXTENT` in web-mercator."""
        zoom = z if zoom is None else zoom
        if zoom < z:
            raise ValidationError(f"display zoom {zoom} is below the tile's zoom {z}; ask for zoom ≥ z")
        key = (z, x, y, buffer_px, zoom, system)
        with self._lock:
            cached = self._mvt.get(key)
            if cached is not None:
                self._mvt.move_to_end(key)
                return cached
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        features: list[tuple[shapely.Geometry, dict]] = []
        if zoom >= MIN_ZOOM.get(self.layer, 0):
            pad = (maxx - minx) * buffer_px / (256.0 * 2 ** (zoom - z))
            texts, tree = self.zoom(zoom, system)
            box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
            hits = np.sort(tree.query(box, predicate="intersects"))
            features = [(tree.geometries[i], json.loads(self.props[i])) for i in hits.tolist() if texts[i] is not None]
        built = (mvt_encode(self.layer, features, (minx, miny, maxx, maxy), buffer_px), len(features))
        with self._lock:
            self._mvt[key] = built
            while len(self._mvt) > MVT_CACHE_TILES:
                self._mvt.popitem(last=False)
        return built


#: MVT grid units per tile side
MVT_EXTENT = 4096
#: encoded MVT tiles kept per layer and generation (a tile is a pure function of both)
MVT_CACHE_TILES = 2048
_MERCATOR_R = 6378137.0


def _to_mercator(coords: np.ndarray) -> np.ndarray:
    lon = np.radians(coords[:, 0])
    lat = np.radians(np.clip(coords[:, 1], -85.05112878, 85.05112878))
    return np.column_stack([_MERCATOR_R * lon, _MERCATOR_R * np.log(np.tan(np.pi / 4 + lat / 2))])


def _mvt_value(value: object) -> str | int | float | bool | None:
    """An MVT property value: scalars as they are, lists and objects as JSON text, ``None`` dropped."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def mvt_encode(
    layer: str,
    features: list[tuple[shapely.Geometry, dict]],
    bounds: tuple[float, float, float, float],
    buffer_px: int = 8,
) -> bytes:
    """Encode ``(geometry in lon/lat, properties)`` pairs as one MVT layer of the tile with ``bounds``.

    Geometry is projected to web-mercator (EPSG:3857) and clipped to the tile plus ``buffer_px``
    (a feature whose clip is empty or mixed keeps its whole geometry, so a tile holds the same features as
    the GeoJSON tile).
    """
    import mapbox_vector_tile

    (minx, miny), (maxx, maxy) = _to_mercator(np.array([bounds[:2], bounds[2:]], dtype=float))
    pad = (maxx - minx) * buffer_px / 256.0
    scale = np.array([MVT_EXTENT / (maxx - minx), MVT_EXTENT / (maxy - miny)])
    origin = np.array([minx, miny])

    def to_tile(coords: np.ndarray) -> np.ndarray:  # lon/lat → tile units, y up (the encoder flips it)
        return (_to_mercator(coords) - origin) * scale

    lo, hi = -pad * scale[0], MVT_EXTENT + pad * scale[0]
    encoded = []
    for geom, props in features:
        projected = shapely.transform(geom, to_tile)
        clipped = shapely.clip_by_rect(projected, lo, lo, hi, hi)
        if not clipped.is_empty and clipped.geom_type != "GeometryCollection":
            projected = clipped  # a mixed collection (a polygon touching the edge) keeps the whole shape
        values = {k: _mvt_value(v) for k, v in props.items()}
        encoded.append({"geometry": projected, "properties": {k: v for k, v in values.items() if v is not None}})
    return mapbox_vector_tile.encode([{"name": layer, "features": encoded}], default_options={"extents": MVT_EXTENT})


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
