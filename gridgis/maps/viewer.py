"""The viewer's service layer: tiles, metadata, search, locate and grid relations over a repository.

Functions take the repository (``read_layer``, ``current_generation``, ``counts``) and a
:class:`~gridgis.maps.tiles.TileCache`; the API route only parses the request and answers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import shapely

from gridgis.chinacoords import ChinaSystem
from gridgis.errors import NotFoundError
from gridgis.layers import LAYERS
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.maps.tiles import MIN_ZOOM, LayerTiles, TileCache

#: viewer layers in drawing order, and whether each is on when the page opens
VIEWER_LAYERS = (
    ("streets", True),
    ("communities", True),
    ("grids", True),
    ("micro_grids", True),
    ("compounds", True),
    ("buildings", False),
    ("stations", True),
)
log = logging.getLogger("gridgis.maps")
_WARM_LOCK = threading.Lock()
_WARMED: dict[int, set] = {}
_CODE_LAYERS = ("stations", "buildings", "compounds", "micro_grids", "grids", "communities", "streets")


def generation_key(repository: Any) -> Any:
    """What the cache is keyed on: the current generation id (``None`` for an empty store)."""
    gen = repository.current_generation()
    return None if gen is None else gen.id


def layer_tiles(repository: Any, cache: TileCache, layer: str) -> LayerTiles:
    return cache.layer(generation_key(repository), layer, lambda name: repository.read_layer(name))


def tile(
    repository: Any,
    cache: TileCache,
    layer: str,
    z: int,
    x: int,
    y: int,
    zoom: int | None = None,
    system: ChinaSystem = "wgs84",
) -> tuple[str, int, Any]:
    """GeoJSON text of one tile (simplified for display ``zoom``), its feature count and its generation."""
    gen = generation_key(repository)
    tiles = cache.layer(gen, layer, lambda name: repository.read_layer(name))
    text, n = tiles.tile(z, x, y, zoom=zoom, system=system)
    return text, n, gen


def warm(repository: Any, cache: TileCache, zooms: int = 1) -> None:
    """Load every layer and simplify it for its first ``zooms`` zoom levels (run in the background).

    Layers seen first (at the lowest zooms) are warmed first.
    """
    for name in sorted((n for n, _ in VIEWER_LAYERS), key=lambda n: MIN_ZOOM[n]):
        tiles = layer_tiles(repository, cache, name)
        for z in range(MIN_ZOOM[name], MIN_ZOOM[name] + zooms):
            tiles.zoom(z)


def warm_in_background(repository: Any, cache: TileCache) -> threading.Thread | None:
    """Start :func:`warm` once per generation in a daemon thread, so the first zoom-in finds its layers ready."""
    gen = generation_key(repository)
    with _WARM_LOCK:
        if gen in _WARMED.setdefault(id(cache), set()):
            return None
        _WARMED[id(cache)].add(gen)
    thread = threading.Thread(target=_warm_quietly, args=(repository, cache), name="gridgis-tile-warm", daemon=True)
    thread.start()
    return thread


def _warm_quietly(repository: Any, cache: TileCache) -> None:
    try:
        warm(repository, cache)
    except Exception:  # a request will load the layer itself and report any error properly
        log.debug("warming the tile cache failed", exc_info=True)


def meta(repository: Any, basemap: str = "none", tianditu_key: str = "") -> dict[str, Any]:
    """Bounds, generation, per-layer counts, labels and minimum zooms, and the base map, for the page to start from.

    The base map comes from the settings (``GRIDGIS_TILE_SOURCE``); with ``amap`` the page asks for
    tiles in GCJ-02 (``crs=gcj02``) so the overlays line up with AMap's tiles.
    """
    from dataclasses import asdict

    from gridgis.maps.basemaps import overlay_system, tile_sources

    sources = [asdict(src) for src in tile_sources(basemap, tianditu_key)]
    counts = repository.counts()
    bounds = None
    for layer in ("streets", "communities", "grids", "micro_grids"):
        if counts.get(layer):
            frame = repository.read_layer(layer)
            bounds = [float(v) for v in shapely.total_bounds(frame.geometry.values)]
            break
    gen = repository.current_generation()
    return {
        "generation": None if gen is None else gen.id,
        "bounds": bounds,
        "layers": [
            {
                "name": name,
                "label": LAYERS[name].label_zh,
                "count": int(counts.get(name, 0)),
                "min_zoom": MIN_ZOOM[name],
                "show": show,
            }
            for name, show in VIEWER_LAYERS
        ],
        "station_kinds": dict(STATION_KINDS),
        "basemap": {"name": basemap, "tiles": sources, "crs": overlay_system(basemap)},
    }


def related(repository: Any, grid_code: str) -> dict[str, list[list[str]]]:
    """The compounds that overlap grid ``grid_code`` (with area) and the stations inside it."""
    grid = repository.get_feature("grids", grid_code)
    geom = grid["geometry"]
    box = tuple(float(v) for v in geom.bounds)
    out: dict[str, list[list[str]]] = {}
    for layer in ("compounds", "stations"):
        frame = repository.read_layer(layer, bbox=box)
        if len(frame) == 0:
            out[layer] = []
            continue
        geoms = frame.geometry.values
        if layer == "compounds":
            keep = shapely.area(shapely.intersection(geoms, geom)) > 0
        else:
            keep = shapely.intersects(geoms, geom)
        out[layer] = [[c, n] for c, n in zip(frame["code"][keep], frame["name"][keep])]
    return out


def locate(repository: Any, cache: TileCache, code: str) -> dict[str, Any]:
    """The layer and bounding box of the feature with ``code`` (any layer)."""
    from gridgis.codes import is_valid_code

    for layer in _CODE_LAYERS:
        if is_valid_code(layer, code):
            feature = repository.get_feature(layer, code)
            return {
                "layer": layer,
                "code": code,
                "name": feature.get("name"),
                "bbox": [float(v) for v in feature["geometry"].bounds],
            }
    raise NotFoundError(
        f"no feature has the code {code!r}; codes look like 310115007001 (community), "
        "310115007001003 (grid) or 310115007001S002 (station)"
    )


def search(repository: Any, cache: TileCache, q: str, limit: int = 20) -> list[dict[str, str]]:
    """Features whose name or code contains ``q`` (case-insensitive), stations and areas first."""
    q = q.strip().lower()
    if not q:
        return []
    hits: list[dict[str, str]] = []
    for layer in ("stations", "compounds", "communities", "grids", "streets", "micro_grids", "buildings"):
        tiles = layer_tiles(repository, cache, layer)
        codes = np.asarray(tiles.codes, dtype=object)
        names = np.asarray(tiles.names, dtype=object)
        if len(codes) == 0:
            continue
        match = (
            np.flatnonzero(np.char.find(np.char.lower(codes.astype(str)), q) >= 0) if q.isascii() else np.zeros(0, int)
        )
        match = np.union1d(match, np.flatnonzero(np.char.find(np.char.lower(names.astype(str)), q) >= 0))
        for i in match[: limit - len(hits)].tolist():
            hits.append({"code": tiles.codes[i], "name": tiles.names[i], "layer": layer})
        if len(hits) >= limit:
            break
    return hits
