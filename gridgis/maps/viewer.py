"""The viewer's service layer: tiles, metadata, search, locate and grid relations over a repository.

Functions take the repository (``read_layer``, ``current_generation``, ``counts``) and a
:class:`~gridgis.maps.tiles.TileCache`; the API route only parses the request and answers.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridgis.chinacoords import ChinaSystem
from gridgis.codes import area_of
from gridgis.errors import NotFoundError
from gridgis.layers import LAYERS
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.maps.tiles import (
    DIRECT_ZOOM,
    MIN_ZOOM,
    TILE_PROPERTIES,
    LayerTiles,
    TileCache,
    display_zoom,
    query_bounds,
    tile_for,
)

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


def _lean_rows(
    repository: Any, layer: str, generation: int | None, bounds: tuple[float, float, float, float] | None = None
) -> LayerTiles:
    """Code, name, the tile properties picked in SQL and the WKB of ``layer``'s features in ``generation``
    (default: the current one), in code order; only those whose bounding box meets ``bounds`` when given
    (through the spatial index: GiST on PostGIS, the R*Tree on SQLite)."""
    import sqlalchemy as sa

    from gridgis.storage.schema import features, sqlite_in_box, wkb_column

    postgis = repository.is_postgis

    keys = [k for k in TILE_PROPERTIES.get(layer, ()) if k not in ("code", "name")]
    stmt = (
        sa.select(
            features.c.code,
            features.c.name,
            wkb_column(features.c.geometry),
            *(features.c.properties[k].label(k) for k in keys),
        )
        .where(features.c.layer == layer if bounds is None or postgis else features.c.layer.concat("") == layer)
        .order_by(features.c.code)
    )
    if generation is None:
        stmt = stmt.where(features.c.generation_high.is_(None))
    else:  # the generation the cache is keyed on, even if another was committed meanwhile
        stmt = stmt.where(
            features.c.generation_low <= generation,
            sa.or_(features.c.generation_high.is_(None), features.c.generation_high >= generation),
        )
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        if postgis:
            envelope = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
            stmt = stmt.where(features.c.geometry.op("&&")(envelope))
        else:
            stmt = stmt.where(*sqlite_in_box(minx, miny, maxx, maxy))
    with repository._reading(f"reading {layer} for tiles", generation) as conn:
        rows = conn.execute(stmt).all()
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows]) if rows else np.zeros(0, dtype=object)
    records = [{"code": r[0], "name": r[1], **dict(zip(keys, r[3:], strict=True))} for r in rows]
    return LayerTiles.from_records(layer, geoms, records)


def _lean(repository: Any) -> bool:
    """Whether ``repository`` is a store read in SQL (not a test double with ``read_layer`` only)."""
    return getattr(repository, "engine", None) is not None and hasattr(repository, "_reading")


def load_layer(repository: Any, layer: str, generation: int | None = None) -> LayerTiles:
    """The features of ``layer`` in ``generation`` (default: the current one) for tiles, read lean:
    code, name, the tile properties picked in SQL and the geometry as WKB (no frame, no other
    properties), on the read replica when it has replayed that generation (the store's one rule,
    ``Repository._reading``); a repository without an engine (a test double) is read through ``read_layer``."""
    if not _lean(repository):
        return LayerTiles.from_frame(layer, repository.read_layer(layer, generation=generation))
    return _lean_rows(repository, layer, generation)


def load_window(
    repository: Any, layer: str, generation: int | None, z: int, x: int, y: int, zoom: int | None = None
) -> LayerTiles:
    """The features of ``layer`` that tile ``z/x/y`` (display ``zoom``) may hold, read like
    :func:`load_layer` but only in the tile's box (:func:`~gridgis.maps.tiles.query_bounds`): its tile is
    the same, byte for byte, as the whole layer's (the same features in the same order, simplified
    together for the same zoom). What a cold tile is cut from while its layer loads."""
    return _lean_rows(repository, layer, generation, query_bounds(z, x, y, zoom=zoom))


def layer_tiles(repository: Any, cache: TileCache, layer: str) -> LayerTiles:
    gen = generation_key(repository)
    return cache.layer(gen, layer, lambda name: load_layer(repository, name, gen))


#: how long (at most) a process serves a cold layer's tiles from their boxes alone, while tile requests
#: keep coming, before it reads the whole layer
WINDOW_FIRST_S = 5.0


def _source(
    repository: Any,
    cache: TileCache,
    gen: Any,
    layer: str,
    z: int,
    x: int,
    y: int,
    zoom: int | None,
    system: ChinaSystem,
) -> LayerTiles:
    """What tile ``z/x/y`` of ``layer`` is cut from: the loaded layer; nothing at all below the layer's
    zoom; while the layer is not loaded yet, from :data:`DIRECT_ZOOM` on (lon/lat tiles), the tile's own
    box read from the store through its spatial index (:func:`load_window`) as the layer loads in the
    background once the requests under way are answered (:data:`WINDOW_FIRST_S` at most); else the layer,
    loaded now.
    Every choice makes the same tile."""
    shown = display_zoom(z, zoom)
    tiles = cache.peek(gen, layer)
    if tiles is not None:
        return tiles
    if shown < MIN_ZOOM.get(layer, 0):
        return LayerTiles.from_records(layer, np.zeros(0, dtype=object), [])
    load = functools.partial(_load_for, repository, gen)
    if shown >= DIRECT_ZOOM and system == "wgs84" and _lean(repository):
        # a box is read through the store's spatial index (GiST; SQLite's R*Tree): the whole layer can
        # wait until the screen is answered
        cache.load_in_background(gen, layer, load, after_requests_s=WINDOW_FIRST_S)
        return load_window(repository, layer, gen, z, x, y, zoom)
    return cache.layer(gen, layer, load)


def _load_for(repository: Any, gen: Any, layer: str) -> LayerTiles:
    return load_layer(repository, layer, gen)


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
    with cache.serving():
        return _tile(repository, cache, generation_key(repository), layer, z, x, y, zoom, system)


def _tile(
    repository: Any,
    cache: TileCache,
    gen: Any,
    layer: str,
    z: int,
    x: int,
    y: int,
    zoom: int | None,
    system: ChinaSystem,
) -> tuple[str, int, Any]:
    cache.check_layer(layer)
    key = (layer, "geojson", z, x, y, z if zoom is None else zoom, system)

    def make() -> tuple[str, int]:
        return _source(repository, cache, gen, layer, z, x, y, zoom, system).tile(z, x, y, zoom=zoom, system=system)

    text, n = cache.encoded(gen, key, make)
    return str(text), n, gen


def mvt_tile(
    repository: Any,
    cache: TileCache,
    layer: str,
    z: int,
    x: int,
    y: int,
    zoom: int | None = None,
    system: ChinaSystem = "wgs84",
) -> tuple[bytes, int, Any]:
    """The Mapbox Vector Tile of :func:`tile`'s features, its feature count and its generation."""
    with cache.serving():
        return _mvt_tile(repository, cache, generation_key(repository), layer, z, x, y, zoom, system)


def _mvt_tile(
    repository: Any,
    cache: TileCache,
    gen: Any,
    layer: str,
    z: int,
    x: int,
    y: int,
    zoom: int | None,
    system: ChinaSystem,
) -> tuple[bytes, int, Any]:
    cache.check_layer(layer)
    key = (layer, "mvt", z, x, y, z if zoom is None else zoom, system)

    def make() -> tuple[bytes, int]:
        return _source(repository, cache, gen, layer, z, x, y, zoom, system).mvt(z, x, y, zoom=zoom, system=system)

    data, n = cache.encoded(gen, key, make)
    return bytes(data), n, gen


def prerender(
    repository: Any, cache: TileCache, max_zoom: int = 12, formats: tuple[str, ...] = ("mvt", "geojson")
) -> int:
    """Load every viewer layer of the current generation, then render each tile up to ``max_zoom``
    (display zoom z and z + 1, as the viewer asks, from the layer's first zoom) in ``formats``;
    returns the tiles rendered.

    Every layer is read first (a screen at any zoom finds them all loaded; the reads run while the
    routing index is built at start-up), cheapest zooms first; then the tiles zoom by zoom over every
    layer, so the viewer's start view (the whole extent, a low zoom) is rendered first. Between two
    tiles the renderer gives way to tile requests under way (:meth:`TileCache.wait_idle`); a newer
    generation stops the work.
    """
    gen = generation_key(repository)
    names = sorted((n for n, _ in VIEWER_LAYERS), key=lambda n: MIN_ZOOM[n])
    loaded = {}
    for name in names:
        if generation_key(repository) != gen:
            return 0
        loaded[name] = cache.layer(gen, name, functools.partial(_load_for, repository, gen))
        loaded[name].tree()  # the search tree of the tiles from DIRECT_ZOOM on, ready for the first screen
    extents = {
        name: tuple(float(v) for v in shapely.total_bounds(tiles.geoms))
        for name, tiles in loaded.items()
        if len(tiles.geoms) and MIN_ZOOM[name] <= max_zoom + 1
    }
    rendered = 0
    for z in range(max_zoom + 1):
        for name, (minx, miny, maxx, maxy) in extents.items():
            if z < MIN_ZOOM[name] - 1:
                continue
            x0, y0 = tile_for(minx, maxy, z)
            x1, y1 = tile_for(maxx, miny, z)
            for zoom in (zz for zz in (z, z + 1) if zz >= MIN_ZOOM[name]):
                for x in range(x0, x1 + 1):
                    for y in range(y0, y1 + 1):
                        cache.wait_idle()
                        if generation_key(repository) != gen:
                            return rendered
                        if "mvt" in formats:
                            _mvt_tile(repository, cache, gen, name, z, x, y, zoom, "wgs84")
                        if "geojson" in formats:
                            _tile(repository, cache, gen, name, z, x, y, zoom, "wgs84")
                        rendered += 1
    cache.prerendered = gen
    return rendered


def warm_in_background(repository: Any, cache: TileCache, max_zoom: int = 12) -> threading.Thread | None:
    """Start :func:`prerender` once per generation in a daemon thread, so the first view finds its
    layers loaded and its low-zoom tiles rendered (``max_zoom`` < 0: nothing)."""
    gen = generation_key(repository)
    with _WARM_LOCK:
        if max_zoom < 0 or gen in _WARMED.setdefault(id(cache), set()):
            return None
        _WARMED[id(cache)].add(gen)
    thread = threading.Thread(
        target=_warm_quietly, args=(repository, cache, max_zoom), name="gridgis-tile-prerender", daemon=True
    )
    thread.start()
    return thread


def _warm_quietly(repository: Any, cache: TileCache, max_zoom: int) -> None:
    started = time.perf_counter()
    try:
        n = prerender(repository, cache, max_zoom)
    except Exception:  # a request will load the layer itself and report any error properly
        log.warning("pre-rendering the tiles failed", exc_info=True)
    else:
        log.info(
            json.dumps(
                {
                    "event": "tiles_prerendered",
                    "message": f"{n} tiles up to zoom {max_zoom} rendered",
                    "generation": generation_key(repository),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
        )


def meta(repository: Any, basemap: str = "none", tianditu_key: str = "", roads: bool = False) -> dict[str, Any]:
    """Bounds, generation, per-layer counts, labels and minimum zooms, and the base map, for the page to start from.

    The base map comes from the settings (``GRIDGIS_TILE_SOURCE``); with ``amap`` the page asks for
    tiles in GCJ-02 (``crs=gcj02``) so the overlays line up with AMap's tiles.
    """
    choices = basemap_choices(basemap, tianditu_key)
    current = next(c for c in choices if c["name"] == (basemap or "none"))
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
        "basemap": current,
        "basemaps": choices,
        "roads": roads,  # a road network is configured: the coverage view can walk along it
    }


#: the base maps the page's switcher offers (with the configured one, when it is a tile URL)
BASEMAP_LABELS = (("none", "无底图"), ("osm", "OpenStreetMap"), ("tianditu", "天地图"), ("amap", "高德地图"))


def basemap_choices(configured: str = "none", tianditu_key: str = "") -> list[dict[str, Any]]:
    """Every base map of the switcher: its tiles, the overlays' coordinate system (``gcj02`` for AMap)
    and, when it cannot be used (Tianditu without a key), ``message`` saying why instead of tiles."""
    from dataclasses import asdict

    from gridgis.errors import ValidationError
    from gridgis.maps.basemaps import overlay_system, tile_sources

    names = list(BASEMAP_LABELS)
    if configured and configured not in dict(BASEMAP_LABELS):
        names.append((configured, "本地瓦片"))
    out = []
    for name, label in names:
        try:
            tiles, message = [asdict(t) for t in tile_sources(name, tianditu_key)], None
        except ValidationError:
            tiles = []
            message = "天地图底图需要密钥：请在服务器上设置 GRIDGIS_TIANDITU_KEY，或选择其他底图。"
        out.append(
            {
                "name": name,
                "label": label,
                "tiles": tiles,
                "crs": overlay_system(name),
                "available": message is None,
                "message": message,
            }
        )
    return out


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


def _with_changes(frame: Any, layer: str, features: list[dict[str, Any]]) -> Any:
    """``frame`` with the dry run's changes of ``layer`` applied (replaces, creates, deletes)."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import shape

    mine = [f for f in features if (f.get("properties") or {}).get("layer") == layer]
    if not mine:
        return frame
    gone = {f["properties"]["code"] for f in mine}
    keep = frame[~frame["code"].astype(str).isin(gone)]
    rows = []
    for f in mine:
        p = f["properties"]
        if p.get("op") == "delete" or f.get("geometry") is None:
            continue
        row = {k: v for k, v in p.items() if k not in ("layer", "op")}
        row["geometry"] = shape(f["geometry"])
        rows.append(row)
    if not rows:
        return keep
    added = gpd.GeoDataFrame(rows, geometry="geometry", crs=frame.crs or "EPSG:4326")
    return gpd.GeoDataFrame(pd.concat([keep, added], ignore_index=True), geometry="geometry", crs=added.crs)


_BEFORE: dict[tuple, set] = {}


def impact(repository: Any, body: dict[str, Any]) -> dict[str, Any]:
    """What a dry run's changes would leave in their communities, for the editor to draw.

    ``body`` is ``{"changes": <the dry run's FeatureCollection>}``. The answer is a
    FeatureCollection of problems after the change: the alignment analysis's problem pieces
    (gaps, overlaps, cut compounds, edges that do not match; :func:`gridgis.alignment.report.analyze`,
    the same rule as the alignment view) and changed grids whose households fall outside the
    household range (:class:`gridgis.alignment.config.AlignmentConfig`). ``new`` is true for a
    problem the change brings (absent before it).
    """
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.report import analyze
    from gridgis.errors import ValidationError

    changes = body.get("changes") if isinstance(body, dict) else None
    features = changes.get("features") if isinstance(changes, dict) else None
    if not isinstance(features, list):
        raise ValidationError('send {"changes": <the FeatureCollection a dry run answered>}')
    grid_codes = sorted(
        {str(f["properties"]["code"]) for f in features if (f.get("properties") or {}).get("layer") == "grids"}
    )
    config = AlignmentConfig()
    out: list[dict[str, Any]] = []
    for community in sorted({area_of(c) for c in grid_codes}):
        grids = repository.read_layer("grids", filters={"community_code": community})
        compounds = repository.read_layer("compounds", filters={"community_code": community})
        buildings = repository.read_layer("buildings", filters={"community_code": community})
        communities = repository.read_layer("communities", codes=[community])
        after_grids = _with_changes(grids, "grids", features)

        def keys(analysis: Any) -> set[tuple[str, str, str]]:
            p = analysis.problems
            return {(str(k), str(c), str(g)) for k, c, g in zip(p["kind"], p["compound_code"], p["grid_code"])}

        bkey = (id(getattr(repository, "store", repository)), generation_key(repository), community)
        before = _BEFORE.get(bkey)
        if before is None:  # the stored state's problems: once per generation and community
            before = keys(analyze(compounds, grids, buildings, communities, config)) if len(compounds) else set()
            _BEFORE[bkey] = before
        after = analyze(compounds, after_grids, buildings, communities, config)
        for row in after.problems.itertuples():
            key = (str(row.kind), str(row.compound_code), str(row.grid_code))
            out.append(
                {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(row.geometry) if row.geometry is not None else None,
                    "properties": {
                        "kind": row.kind,
                        "kind_zh": row.kind_zh,
                        "message": row.message,
                        "grid_code": row.grid_code,
                        "compound_code": row.compound_code,
                        "new": key not in before,
                    },
                }
            )
        for row in after_grids[after_grids["code"].astype(str).isin(grid_codes)].itertuples():
            hh = getattr(row, "households", None)
            if hh is None or pd.isna(hh) or config.household_min <= int(hh) <= config.household_max:
                continue
            out.append(
                {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(row.geometry),
                    "properties": {
                        "kind": "households_out_of_range",
                        "kind_zh": "户数超出范围",
                        "message": f"grid {row.code} would hold {int(hh)} households, outside "
                        f"{config.household_min}–{config.household_max}",
                        "grid_code": row.code,
                        "compound_code": None,
                        "new": True,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": out, "range": [config.household_min, config.household_max]}


def _polygons(geom: Any) -> Any:
    """The polygon parts of an overlay result (lines and points of touching pieces dropped), valid."""
    geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def compose_proposal(repository: Any, community: str, accepted: list[dict[str, Any]]) -> dict[str, Any]:
    """The community's grids with only the accepted changes of an alignment proposal carried out.

    Each change (a feature of ``/communities/{code}/alignment/proposal``'s ``changes``) moves its
    piece from ``from_grid`` to ``to_grid``; the result is a grids FeatureCollection for
    ``/operations/apply-proposal`` (which validates it like any other edit).
    """
    from shapely.geometry import mapping, shape

    from gridgis.editing.changes import row_properties
    from gridgis.errors import ValidationError

    grids = repository.read_layer("grids", filters={"community_code": community})
    rows = {str(r["code"]): r for _, r in grids.iterrows()}
    geoms = {code: r.geometry for code, r in rows.items()}
    moved: dict[str, int] = {}
    for f in accepted:
        props = f.get("properties") if isinstance(f, dict) else None
        if not isinstance(props, dict) or not f.get("geometry"):
            raise ValidationError("each accepted change is a feature of the proposal's 'changes'")
        piece = shape(f["geometry"])
        src, dst = props.get("from_grid"), props.get("to_grid")
        hh = int(props.get("households") or 0)  # households move with their piece
        moved[src or ""] = moved.get(src or "", 0) - hh
        moved[dst or ""] = moved.get(dst or "", 0) + hh
        if src and src in geoms:
            geoms[src] = shapely.difference(geoms[src], piece)
        if dst:
            geoms[dst] = piece if dst not in geoms else shapely.union(geoms[dst], piece)
    features = []
    for code, raw in sorted(geoms.items()):
        geom = _polygons(raw)
        if geom.is_empty or shapely.area(geom) == 0:
            continue
        props = row_properties("grids", rows[code]) if code in rows else {"community_code": community}
        props.setdefault("name", f"{community}新网格")
        props["households"] = max(0, int(props.get("households") or 0) + moved.get(code, 0))
        features.append({"type": "Feature", "geometry": mapping(geom), "properties": {"code": code, **props}})
    return {"type": "FeatureCollection", "features": features}


_VIEW_CACHE: dict[tuple, dict[str, Any]] = {}
_VIEW_LOCK = threading.Lock()


def _fc(frame: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """A small GeoJSON FeatureCollection of ``frame`` (EPSG:4326) with the listed columns that it has."""
    import json

    if frame is None or len(frame) == 0:
        return {"type": "FeatureCollection", "features": []}
    keep = [c for c in columns if c in frame.columns]
    out = frame[[*keep, "geometry"]].copy()
    out["geometry"] = shapely.set_precision(out.geometry.values, 1e-7)
    return json.loads(out.to_json(drop_id=True))


def road_network(path: str) -> Any:
    """The road network of the road file at ``path``, built once per file version (path, size, time)."""
    import os

    st = os.stat(path)
    return _road_network(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _road_network(path: str, size: int, mtime: int) -> Any:
    from gridgis.maps.network import build_road_network, read_osm_roads

    return build_road_network(read_osm_roads(path))


def view(
    repository: Any, name: str, circle: str = "15min", kind: str | None = None, roads: str | None = None
) -> dict[str, Any]:
    """The thematic views of ``gridgis map --view …`` as layers for ``/map`` (cached per generation).

    - ``alignment``: cut compounds and the proposed grid lines (:func:`gridgis.maps.views.alignment_frames`),
      along the store's roads when it holds them (cached per generation and road import);
    - ``heat``: ticket points ``[lat, lon, 1]`` for the heat layer;
    - ``coverage``: for one station kind (default: the worst covered), the service area and the
      uncovered part of each community (:func:`gridgis.maps.coverage.coverage_report`, the same
      geometry drawn and counted), the per-community table and how distance was measured: along
      the road network of the file ``roads`` when given (``roads_share``: the share of households
      inside the roads' extent; beyond it, straight line × 1.3, and ``method`` says so).
    """
    from gridgis.errors import ValidationError

    if name not in ("alignment", "heat", "coverage"):
        raise ValidationError(f"unknown view {name!r}; use alignment, heat or coverage")
    if name == "alignment":  # along the store's roads: a new road import is a new view (same generation)
        from gridgis.storage.roads import RoadStore

        road_import = RoadStore(repository).current()
        road_key: Any = None if road_import is None else road_import.id
    else:
        road_key = roads if name == "coverage" else None
    key = (id(repository), generation_key(repository), name, circle, kind, road_key)
    with _VIEW_LOCK:
        if key in _VIEW_CACHE:
            return _VIEW_CACHE[key]
    if name == "heat":
        from gridgis.editing.history import tickets_frame

        t = tickets_frame(repository.engine, (-180.0, -90.0, 180.0, 90.0))
        points = [] if t is None else [[round(float(b), 6), round(float(a), 6), 1] for a, b in zip(t["lon"], t["lat"])]
        out: dict[str, Any] = {"points": points, "count": len(points)}
    elif name == "alignment":
        from gridgis.alignment.roads import stored_roads
        from gridgis.maps.views import alignment_frames

        city = {n: repository.read_layer(n) for n in ("communities", "grids", "compounds", "buildings")}
        cut, proposed = alignment_frames(city, roads=stored_roads(repository, None))
        out = {
            "cut_compounds": _fc(cut, ("code", "name", "kind", "households", "status_zh", "grid_codes")),
            "proposed_grids": _fc(proposed, ("code", "name", "households")),
        }
    else:
        from gridgis.maps.coverage import LIFE_CIRCLE_LABELS, coverage_report

        city = {n: repository.read_layer(n) for n in ("communities", "stations", "compounds", "buildings")}
        if not len(city["stations"]):
            raise ValidationError("no stations are stored: the coverage view needs stations")
        result = coverage_report(city, circle, network=road_network(roads) if roads else None)
        table = result.by_community
        if kind is None:
            kind = str(table.groupby("kind")["share"].mean().sort_values().index[0])
        if kind not in set(table["kind"]):
            raise ValidationError(
                f"no stations of kind {kind!r}; stored kinds: {', '.join(sorted(set(table['kind'])))}"
            )
        rows = table[table["kind"] == kind]
        areas = result.service_areas
        out = {
            "kind": kind,
            "kind_zh": STATION_KINDS.get(kind, kind),
            "kinds": sorted(set(table["kind"])),
            "circle": LIFE_CIRCLE_LABELS.get(circle, circle),
            "distance_m": result.distance_m,
            "method": result.method,
            "roads_share": result.roads_share,
            "uncovered": _fc(
                result.uncovered[result.uncovered["kind"] == kind], ("community_code", "kind_zh", "area_m2")
            ),
            "service_areas": _fc(None if areas is None else areas[areas["kind"] == kind], ("kind", "kind_zh")),
            "table": [
                {
                    "community_code": str(r.community_code),
                    "community_name": str(r.community_name),
                    "households": float(r.households),
                    "covered_households": float(r.covered_households),
                    "share": None if pd.isna(r.share) else float(r.share),
                }
                for r in rows.itertuples()
            ],
        }
    with _VIEW_LOCK:
        _VIEW_CACHE[key] = out
    return out
