"""Viewer tiles, GeoJSON and Mapbox Vector Tiles: a pure function of (layer, generation, z, x, y, zoom, CRS).

A layer is read once per generation (lean: code, name, tile properties, WKB) into a search tree.
Below :data:`DIRECT_ZOOM` its polygons are simplified together per zoom with
:func:`shapely.coverage_simplify` (neighbouring grids keep one shared edge, no gaps or overlaps
appear), at a tolerance of a fraction of a screen pixel; from :data:`DIRECT_ZOOM` on only the
features a tile touches are simplified, as one coverage, when the tile is asked for, at every zoom.
A GeoJSON tile ``z/x/y`` (the usual web-mercator scheme) holds every feature that touches it,
whole (not clipped), so no seam lines appear; the viewer keeps one copy per code. An MVT tile
holds the same features clipped to the tile plus a buffer (:mod:`gridgis.maps.mvt`).
Encoded tiles are kept per generation (:class:`TileCache`).

Everything here is pure Python over arrays; the API route only parses and answers.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from gridgis import chinacoords
from gridgis.auth.privacy import without_contacts
from gridgis.errors import NotFoundError, ValidationError
from gridgis.layers import LAYERS
from gridgis.maps import mvt
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
    if len(geoms) == 0 or LAYERS[layer].geometry == "point":
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


def display_zoom(z: int, zoom: int | None) -> int:
    """The zoom a tile ``z`` is simplified for: ``zoom``, by default ``z``; never below ``z``."""
    zoom = z if zoom is None else zoom
    if zoom < z:
        raise ValidationError(f"display zoom {zoom} is below the tile's zoom {z}; ask for zoom ≥ z")
    return zoom


def query_bounds(
    z: int, x: int, y: int, buffer_px: int = 8, zoom: int | None = None
) -> tuple[float, float, float, float]:
    """The box whose features tile ``z/x/y`` (display ``zoom``) holds: the tile plus ``buffer_px`` of the
    display zoom's pixels (lon/lat). A store read of this box (:func:`gridgis.maps.viewer.load_window`)
    finds every feature the tile holds.

    >>> [round(v, 4) for v in query_bounds(15, 27448, 13380)]
    [121.5524, 31.3064, 121.5641, 31.3164]
    """
    zoom = z if zoom is None else zoom
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    pad = (maxx - minx) * buffer_px / (256.0 * 2 ** (zoom - z))
    return minx - pad, miny - pad, maxx + pad, maxy + pad


#: from this display zoom on a tile's features are simplified on their own (the hits of the tile, as one
#: coverage); below it the whole layer is simplified once per zoom (a low-zoom tile holds most of it)
DIRECT_ZOOM = 14


@dataclass
class LayerTiles:
    """One layer of one generation: the features (raw geometry in a search tree, tile properties) and,
    for the low zooms, the whole layer simplified per zoom; every tile is cut from these on demand."""

    layer: str
    geoms: np.ndarray
    records: list[dict]
    codes: list[str]
    names: list[str]
    _props: list[str | None] = field(default_factory=list)
    _zooms: dict[tuple[int, str], tuple[list[str | None], shapely.STRtree]] = field(default_factory=dict)
    _raw: dict[str, shapely.STRtree] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame) -> LayerTiles:
        cols = [c for c in TILE_PROPERTIES.get(layer, ("code", "name")) if c in frame.columns]
        records = [{k: plain(v) for k, v in r.items()} for r in frame[cols].to_dict(orient="records")]
        return cls.from_records(layer, frame.geometry.values, records)

    @classmethod
    def from_records(cls, layer: str, geoms: object, records: list[dict]) -> LayerTiles:
        """From geometries (lon/lat) and one dict of JSON values per feature holding at least ``code``
        and ``name``; only :data:`TILE_PROPERTIES` are kept, workers without their contacts."""
        cols = TILE_PROPERTIES.get(layer, ("code", "name"))
        kept = []
        for r in records:  # one cached tile serves every reader: names and roles only, never contacts
            row = {k: r[k] for k in cols if k in r}
            if "workers" in row:
                row["workers"] = _without_contacts(row["workers"])
            kept.append(row)
        return cls(
            layer=layer,
            geoms=np.asarray(geoms, dtype=object),
            records=kept,
            codes=[str(r["code"]) for r in kept],
            names=[str(r.get("name") or "") for r in kept],
            _props=[None] * len(kept),
        )

    @property
    def props(self) -> list[str]:
        """Every feature's tile properties as JSON text."""
        return [self.prop(i) for i in range(len(self.records))]

    def prop(self, i: int) -> str:
        text = self._props[i]
        if text is None:
            text = self._props[i] = json.dumps(self.records[i], ensure_ascii=False, separators=(",", ":"))
        return text

    def zoom(self, z: int, system: chinacoords.ChinaSystem = "wgs84") -> tuple[list[str | None], shapely.STRtree]:
        """Geometry texts and a search tree of the whole layer simplified for zoom ``z``, in ``system``
        (``gcj02`` for AMap tiles); tiles below :data:`DIRECT_ZOOM` are cut from these."""
        key = (z, system)
        with self._lock:
            if key not in self._zooms:
                simple = simplify_layer(self.layer, self.geoms, z)
                if system != "wgs84":
                    simple = np.asarray(chinacoords.convert_geometries(simple, "wgs84", system), dtype=object)
                self._zooms[key] = (geometry_json(simple, precision_for(z)), shapely.STRtree(simple))
            return self._zooms[key]

    def tree(self, system: chinacoords.ChinaSystem = "wgs84") -> shapely.STRtree:
        """A search tree over the unsimplified geometry in ``system``, built once."""
        with self._lock:
            if system not in self._raw:
                geoms = self.geoms
                if system != "wgs84":
                    geoms = np.asarray(chinacoords.convert_geometries(geoms, "wgs84", system), dtype=object)
                self._raw[system] = shapely.STRtree(geoms)
            return self._raw[system]

    def features(
        self,
        z: int,
        x: int,
        y: int,
        buffer_px: int = 8,
        zoom: int | None = None,
        system: chinacoords.ChinaSystem = "wgs84",
    ) -> tuple[np.ndarray, np.ndarray, list[str | None] | None]:
        """The features of tile ``z/x/y`` plus ``buffer_px``: their indices (in code order), their
        geometry simplified for display ``zoom`` and, below :data:`DIRECT_ZOOM`, their GeoJSON texts."""
        zoom = display_zoom(z, zoom)
        bounds = query_bounds(z, x, y, buffer_px, zoom)
        if zoom < MIN_ZOOM.get(self.layer, 0) or len(self.geoms) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), []
        box = shapely.box(*bounds)
        if zoom < DIRECT_ZOOM:
            texts, tree = self.zoom(zoom, system)
            hits = np.sort(tree.query(box, predicate="intersects"))
            hits = np.asarray([i for i in hits.tolist() if texts[i] is not None], dtype=np.int64)
            return hits, tree.geometries[hits], [texts[i] for i in hits.tolist()]
        tree = self.tree(system)
        hits = np.sort(tree.query(box, predicate="intersects"))
        return hits, simplify_layer(self.layer, tree.geometries[hits], zoom), None

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

        Every feature that touches the tile is sent whole (not clipped), simplified for the display
        ``zoom`` (default ``z``); a viewer may ask for a larger tile (``z`` = zoom − 2 covers 1,024 px)
        to make fewer requests. ``system`` is the coordinate system of the tile grid and the answer
        (``gcj02`` to line up with AMap tiles).
        """
        zoom = z if zoom is None else zoom
        hits, geoms, texts = self.features(z, x, y, buffer_px, zoom, system)
        if texts is None:
            texts = geometry_json(geoms, precision_for(zoom))
        parts = [
            f'{{"type":"Feature","id":{json.dumps(self.codes[i])},"geometry":{t},"properties":{self.prop(i)}}}'
            for i, t in zip(hits.tolist(), texts, strict=True)
            if t is not None
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
        the tile plus ``buffer_px`` and quantised to :data:`MVT_EXTENT` in web-mercator (a feature smaller
        than one unit, at the lowest zooms, is left out)."""
        hits, geoms, _ = self.features(z, x, y, buffer_px, zoom, system)
        records = [self.records[i] for i in hits.tolist()]
        return mvt.encode(self.layer, geoms, records, tile_bounds(z, x, y), buffer_px)


#: MVT grid units per tile side
MVT_EXTENT = mvt.EXTENT
#: bytes of encoded tiles (GeoJSON and MVT) kept per process, least recently used dropped first
TILE_CACHE_BYTES = 64 * 2**20


def _give_back_memory() -> None:
    """Return the heap freed by a layer read (rows, JSON, WKB) to the operating system (glibc keeps it
    otherwise, and the worker's resident memory stays at the read's peak)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class TileCache:
    """Layers per generation, loaded through ``load(layer)`` (a frame, or a :class:`LayerTiles`) on first
    use, one load per layer even when many tiles ask at once; and encoded tiles, least recently used
    dropped beyond :data:`TILE_CACHE_BYTES`.

    A new generation drops everything cached for older ones.
    """

    def __init__(self, max_bytes: int = TILE_CACHE_BYTES) -> None:
        self._generation: object = None
        self._layers: dict[str, LayerTiles] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._started: set[str] = set()
        self._encoded: OrderedDict[tuple, tuple[str | bytes, int]] = OrderedDict()
        self._bytes = 0
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._serving = 0
        self._served_at = float("-inf")
        #: the generation whose pre-rendering has finished (:func:`gridgis.maps.viewer.prerender`)
        self.prerendered: object = None

    def _switch(self, generation: object) -> None:
        if generation != self._generation:
            self._generation = generation
            self._layers, self._loading, self._started = {}, {}, set()
            self._encoded, self._bytes = OrderedDict(), 0

    @staticmethod
    def check_layer(layer: str) -> None:
        if layer not in LAYERS:
            raise NotFoundError(f"unknown layer {layer!r}; known layers: {', '.join(LAYERS)}")

    def peek(self, generation: object, layer: str) -> LayerTiles | None:
        """``layer`` of ``generation`` when it is loaded, else ``None`` (nothing is loaded)."""
        self.check_layer(layer)
        with self._lock:
            self._switch(generation)
            return self._layers.get(layer)

    def load_in_background(
        self, generation: object, layer: str, load: Callable[[str], LayerTiles], after_requests_s: float = 0.0
    ) -> None:
        """Start loading ``layer`` of ``generation`` in a daemon thread, once (a load already under way,
        or done, is not started again); with ``after_requests_s`` the load waits (that long at most) until
        no tile request is under way, so that it does not slow the screen being asked for."""
        with self._lock:
            self._switch(generation)
            if layer in self._layers or layer in self._started:
                return
            self._started.add(layer)

        def run() -> None:
            try:
                self.wait_idle(most_s=after_requests_s)
                self.layer(generation, layer, load)
            except Exception:  # a request loading the layer itself reports the error
                import logging

                logging.getLogger("gridgis.maps").warning("loading %s for tiles failed", layer, exc_info=True)

        threading.Thread(target=run, name=f"gridgis-tiles-{layer}", daemon=True).start()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Mark a tile request under way: background rendering (:meth:`wait_idle`) gives way to it."""
        with self._lock:
            self._serving += 1
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1
                self._served_at = time.monotonic()

    def wait_idle(self, most_s: float = 2.0, quiet_s: float = 0.05, step_s: float = 0.005) -> None:
        """Wait (at most ``most_s``) while tile requests are under way or the last one ended less than
        ``quiet_s`` ago (a viewer asks for a screen's tiles one after another): a background renderer calls
        this between tiles so that it does not take the interpreter from the requests of a screen."""
        deadline = time.monotonic() + most_s
        while time.monotonic() < deadline and (self._serving > 0 or time.monotonic() - self._served_at < quiet_s):
            time.sleep(step_s)

    def layer(self, generation: object, layer: str, load: Callable[[str], gpd.GeoDataFrame | LayerTiles]) -> LayerTiles:
        self.check_layer(layer)
        with self._lock:
            self._switch(generation)
            cached = self._layers.get(layer)
            if cached is not None:
                return cached
            loading = self._loading.setdefault(layer, threading.Lock())
        with loading:  # the first caller loads, the others wait for it
            with self._lock:
                cached = self._layers.get(layer) if generation == self._generation else None
            if cached is not None:
                return cached
            loaded = load(layer)
            built = loaded if isinstance(loaded, LayerTiles) else LayerTiles.from_frame(layer, loaded)
            del loaded
            _give_back_memory()
            with self._lock:
                if generation == self._generation:
                    return self._layers.setdefault(layer, built)
            return built

    def encoded(self, generation: object, key: tuple, make: Callable[[], tuple[str | bytes, int]]) -> tuple:
        """An encoded tile (text or bytes, feature count) of ``generation``, made by ``make`` when not kept."""
        full = (generation, *key)
        with self._lock:
            found = self._encoded.get(full)
            if found is not None:
                self._encoded.move_to_end(full)
                return found
        made = make()
        with self._lock:
            if generation == self._generation and full not in self._encoded:
                self._encoded[full] = made
                self._bytes += len(made[0])
                while self._bytes > self.max_bytes and self._encoded:
                    _, old = self._encoded.popitem(last=False)
                    self._bytes -= len(old[0])
        return made

    def loaded(self) -> dict[str, LayerTiles]:
        """The layers loaded for the current generation."""
        with self._lock:
            return dict(self._layers)
