"""Open land divided along road centre lines (the lines a planner draws between compounds).

Without roads, open land (land of a community outside every compound) goes with the compound it is
nearest to: it is cut along the Voronoi lines between compound outlines
(:func:`gridgis.alignment.partition.partition_structure`). With a road layer, the roads that are
large enough (:func:`road_rank` ≤ ``AlignmentConfig.road_max_rank``) first cut the community into
*blocks*; the land of a block goes with the nearest of the compounds that lie in that block (the
Voronoi lines of those compounds only, inside the block), so where neighbouring compounds face each
other across a road the grid line between them runs along the road's centre line. A block holding
no compound (a park between roads, a road junction) falls back to the plain Voronoi of all compounds.
Roads that close no block (cul-de-sacs, a road ending in the land) cut nothing.

Two pure steps:

- :func:`road_cut_lines`: road lines in EPSG:4326 → the lines that may cut land, in the metric CRS,
  major roads first, small ones dropped by the rank rule;
- :func:`divide_land`: one community's area, compound groups and those lines (metric) → the
  labelled land regions and the lines between them (``None`` when no road divides the community).

:func:`read_roads` reads a roads file with :func:`gridgis.maps.network.read_osm_roads` (the reader
the walking distances use), refusing a file that does not say its CRS; ``gridgis import FILE --layer
roads`` stores what it reads (:mod:`gridgis.storage.roads`), and :func:`stored_roads` is what every
path aligning a stored city passes as ``roads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridgis.alignment.config import AlignmentConfig
from gridgis.crs import ensure_storage_crs

#: rank of a road by its OSM ``highway`` value (Tilezen ``kind_detail``; ``_link`` roads rank as
#: their road): 1 motorway … 6 residential streets, 7 living streets, 8 service roads, 9 paths.
#: Anything else (rail, subway, piers, unknown) ranks :data:`UNRANKED` and never cuts land.
HIGHWAY_RANK = {
    "motorway": 1,
    "trunk": 2,
    "primary": 3,
    "secondary": 4,
    "tertiary": 5,
    "unclassified": 6,
    "residential": 6,
    "living_street": 7,
    "service": 8,
    "pedestrian": 9,
    "footway": 9,
    "cycleway": 9,
    "path": 9,
    "steps": 9,
    "track": 9,
    "bridleway": 9,
}
#: rank of a road with no known ``highway`` value, by its Tilezen ``kind``
KIND_RANK = {"highway": 1, "major_road": 4, "minor_road": 7, "path": 9}
UNRANKED = 99
#: kinds the alignment reader drops at once (ferries and cable cars divide no land)
NOT_LAND = ("ferry", "aerialway")


def road_rank(roads: gpd.GeoDataFrame) -> np.ndarray:
    """The rank of every road (1 motorway … 9 footway, :data:`UNRANKED` for what is no road).

    Read from ``kind_detail`` (Tilezen), else ``highway`` (OSM), else ``fclass`` (Geofabrik); a road
    whose value is unknown takes the rank of its Tilezen ``kind``.

    >>> import geopandas as gpd
    >>> road_rank(gpd.GeoDataFrame({"kind_detail": ["primary_link", "service", None], "kind": ["major_road",
    ...     "minor_road", "minor_road"]}, geometry=[None] * 3)).tolist()
    [3, 8, 7]
    """
    n = len(roads)
    rank = np.full(n, UNRANKED, dtype=np.int64)
    for column in ("fclass", "highway", "kind_detail"):  # the last one present wins
        if column in roads.columns:
            values = roads[column].astype(object).where(roads[column].notna(), "").astype(str)
            known = values.str.removesuffix("_link").map(HIGHWAY_RANK)
            rank = np.where(known.notna(), known.fillna(UNRANKED).to_numpy(dtype=np.int64), rank)
    if "kind" in roads.columns:
        by_kind = roads["kind"].astype(object).map(KIND_RANK).fillna(UNRANKED).to_numpy(dtype=np.int64)
        rank = np.where(rank == UNRANKED, by_kind, rank)
    return rank


def read_roads(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """A roads file (OSM/Tilezen lines) in EPSG:4326, one row per way.

    ``crs`` names the file's CRS when the file does not (a shapefile without ``.prj``); a file that
    says none, read without ``crs``, is refused with a :class:`gridgis.errors.CRSError` naming it.
    """
    from gridgis.maps.network import read_osm_roads

    return read_osm_roads(path, exclude_kinds=NOT_LAND, crs=crs)


#: the margin (degrees, about 1 km) around the communities' box within which the store's roads are
#: read: a road meeting a community has a box meeting the community's; the margin only absorbs the
#: bowing of long segments between lon/lat and the metric CRS
STORED_ROADS_MARGIN_DEG = 0.01


def stored_roads(repository: Any, communities: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The store's roads (:class:`gridgis.storage.roads.RoadStore`) around ``communities`` (every road
    when ``None``), or ``None`` when the store holds no roads.

    The one rule of every path that aligns a stored city (the API's proposal and apply, ``gridgis
    align propose|apply`` on the store, ``gridgis batch align``): the stored roads are the ``roads``
    of :func:`gridgis.alignment.propose.propose_alignment` unless the CLI is given ``--roads FILE``.
    Reading only the roads near the communities changes nothing: a community is cut only by the
    roads that meet it (:func:`roads_near`), whose boxes meet the community's.
    """
    from gridgis.storage.roads import RoadStore

    bbox = None
    if communities is not None and len(communities):
        x0, y0, x1, y1 = (float(v) for v in ensure_storage_crs(communities, what="communities").total_bounds)
        m = STORED_ROADS_MARGIN_DEG
        bbox = (x0 - m, y0 - m, x1 + m, y1 + m)
    return RoadStore(repository).read(bbox)


def road_cut_lines(roads: gpd.GeoDataFrame, metric_crs: str, config: AlignmentConfig) -> np.ndarray:
    """The road centre lines that may cut open land, in ``metric_crs``, major roads first.

    Parameters
    ----------
    roads : GeoDataFrame
        Road lines in EPSG:4326 (a frame without a CRS is refused); ranked by :func:`road_rank`.
    metric_crs : str
        The metric CRS of the proposal (``EPSG:45xx``).
    config : AlignmentConfig
        Roads ranked above ``config.road_max_rank`` (service roads, footways by default) are dropped.

    Returns
    -------
    numpy.ndarray
        LineStrings (multi-part roads split into their parts), sorted by rank (then by position, so
        the order does not depend on the file's).
    """
    roads = ensure_storage_crs(roads, what="roads")
    rank = road_rank(roads)
    keep = (rank <= config.road_max_rank) & roads.geometry.notna().to_numpy() & ~roads.geometry.is_empty.to_numpy()
    if not keep.any():
        return np.array([], dtype=object)
    geoms = roads.geometry[keep].to_crs(metric_crs).values
    parts, idx = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    ok = np.isin(shapely.get_type_id(parts), (1, 2)) & (shapely.length(parts) > 0)  # LineString, LinearRing
    parts, part_rank = parts[ok], rank[keep][idx[ok]]
    start = shapely.get_coordinates(shapely.get_point(parts, 0)) if len(parts) else np.zeros((0, 2))
    order = np.lexsort((start[:, 1], start[:, 0], part_rank)) if len(parts) else np.zeros(0, int)
    return parts[order]


def roads_near(lines: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """The road lines that meet ``area`` (what one community needs of a city's roads)."""
    if not len(lines) or area.is_empty:
        return np.array([], dtype=object)
    hit = shapely.STRtree(lines).query(area, predicate="intersects")
    return lines[np.sort(hit)]


@dataclass
class LandDivision:
    """Open land of one community divided along roads: one region per compound group (``labels``
    index the groups) and the lines between differently labelled regions inside the land."""

    regions: np.ndarray
    labels: np.ndarray
    lines: list[shapely.Geometry]
    blocks: int


def divide_land(
    area: shapely.Geometry,
    group_geoms: np.ndarray,
    land: shapely.Geometry,
    roads: np.ndarray | None,
    voronoi: tuple[np.ndarray, np.ndarray],
    sample: tuple[np.ndarray, np.ndarray],
    config: AlignmentConfig,
) -> LandDivision | None:
    """Divide the open ``land`` of one community along ``roads`` (everything in the metric CRS).

    Parameters
    ----------
    area : Polygon
        The community (snapped to ``config.grid_size_m``).
    group_geoms : array of Polygon
        The compound groups; region labels are indices into it.
    land : Geometry
        ``area`` minus every compound group.
    roads : array of LineString
        From :func:`road_cut_lines` (and :func:`roads_near` the community).
    voronoi : (cells, labels)
        The Voronoi cells of ``sample`` over the whole community (the fallback in blocks without a
        compound).
    sample : (xy, labels)
        Points along the group outlines and their group.

    Returns
    -------
    LandDivision or None
        ``None`` when the roads cut the community into fewer than two blocks (nothing to follow).
    """
    gs = config.grid_size_m
    if roads is None or not len(roads) or land.is_empty or len(group_geoms) < 2:
        return None
    inside = shapely.intersection(shapely.union_all(roads, grid_size=gs), area, grid_size=gs)
    if inside.is_empty:
        return None
    noded = shapely.union_all(np.array([shapely.boundary(area), inside], dtype=object), grid_size=gs)
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    blocks = blocks[shapely.area(blocks) > config.sliver_area_m2]
    if len(blocks):
        blocks = blocks[shapely.contains_properly(area, shapely.point_on_surface(blocks))]
    if len(blocks) < 2:
        return None
    # a compound lies in a block when more than a sliver of it does (a compound drawn up to the
    # road's centre line, or a road running through it, lies in the blocks on both sides)
    in_block, group = shapely.STRtree(group_geoms).query(blocks, predicate="intersects")
    share = (
        shapely.area(shapely.intersection(group_geoms[group], blocks[in_block], grid_size=gs))
        if len(group)
        else np.zeros(0)
    )
    member = share > np.maximum(config.sliver_area_m2, config.sliver_share * shapely.area(group_geoms)[group])
    xy, lab = sample
    cells, cell_lab = voronoi
    pieces: list[shapely.Geometry] = []
    piece_lab: list[int] = []
    from gridgis.alignment.partition import _poly, _voronoi_cells

    for b, block in enumerate(blocks):
        mine = np.unique(group[member & (in_block == b)])
        if len(mine) == 1:
            pieces.append(block)
            piece_lab.append(int(mine[0]))
            continue
        if len(mine) == 0:  # no compound in the block: the Voronoi of all compounds
            use_cells, use_lab = cells, cell_lab
        else:  # the Voronoi of the block's compounds, inside the block
            near = np.isin(lab, mine)
            use_cells, use_lab = _voronoi_cells(xy[near], lab[near], block)
        hit = shapely.STRtree(use_cells).query(block, predicate="intersects")
        cut = shapely.intersection(use_cells[hit], block, grid_size=gs)
        for k in np.unique(use_lab[hit]).tolist():
            if k < 0:
                continue
            # only the polygons: a cell touching the block along an edge or at a corner leaves a
            # line or a point, which no region may hold (a later overlay refuses mixed dimensions)
            part = _poly(shapely.union_all(cut[use_lab[hit] == k], grid_size=gs))
            if not part.is_empty and shapely.area(part) > 0:
                pieces.append(part)
                piece_lab.append(int(k))
    piece_arr = np.array(pieces, dtype=object)
    piece_labels = np.array(piece_lab, dtype=np.int64)
    labels = np.unique(piece_labels)
    regions = np.array(
        [
            # clipped to the community again: snap-rounding the pieces can push an edge 0.1 mm out
            _poly(
                shapely.intersection(shapely.union_all(piece_arr[piece_labels == k], grid_size=gs), area, grid_size=gs)
            )
            for k in labels.tolist()
        ],
        dtype=object,
    )
    # the lines between regions: every region outline, inside the land (where two pieces of one
    # region meet the line cuts faces of one atom, which is harmless)
    from gridgis.alignment.partition import _overshoot

    borders = shapely.intersection(shapely.union_all(shapely.boundary(piece_arr), grid_size=gs), land, grid_size=gs)
    lines = [_overshoot(shapely.line_merge(borders), 0.001)] if not borders.is_empty else []
    return LandDivision(regions=regions, labels=labels, lines=lines, blocks=len(blocks))


def land_labels(division: LandDivision, points: np.ndarray) -> np.ndarray:
    """The compound group whose land region holds each point (the nearest region for a point in a
    hairline between regions); the lowest label where regions touch."""
    out = np.full(len(points), -1, dtype=np.int64)
    if not len(points):
        return out
    tree = shapely.STRtree(division.regions)
    pi, ri = tree.query(points, predicate="intersects")
    if len(pi):
        order = np.lexsort((division.labels[ri], pi))
        pi, ri = pi[order], ri[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = division.labels[ri[first]]
    missing = out < 0
    if missing.any():
        out[missing] = division.labels[tree.nearest(points[missing])]
    return out
