"""A real case for aligning along roads: Lujiazui / Weifang (Pudong) from OpenStreetMap.

../shared/data/shanghai-lujiazui-osm-tiles (PROVENANCE.md: OSM via Nextzen tiles, WGS84, pieces
clipped at tile edges): the ``landuse=residential`` polygons are the compounds (崂山/乳山 villages,
梅园三街坊 …; tile pieces of one OSM id joined), the OSM building footprints inside them the
buildings (households from footprint area and height: a floor every 3 m, one household per 90 m²
of floor), the roads the streets. Communities are windows over the residential part, grids are
drawn without looking at compounds or roads (a lattice rotated by ``angle``, as the field suite
draws them). Deterministic: same arguments, same case.

:func:`near_road_share` measures what the road rule is for: the share of the lines between grids
that lie within a distance of a road centre line or a compound wall.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "shanghai-lujiazui-osm-tiles"
METRIC = "EPSG:4549"  # CGCS2000 3-degree Gauss-Kruger CM 120E (Shanghai)
#: communities: windows (lon/lat) over the residential part of the extract (about 0.8 × 1 km each)
WINDOWS = {
    "310115004901": (121.5050, 31.2330, 121.5135, 31.2420),  # 三航, 招远, 上港, 崂山 villages
    "310115004902": (121.5135, 31.2330, 121.5205, 31.2420),  # 乳山 villages, 梅园, 梅一
}


def available() -> bool:
    return (DATA / "roads.geojson").exists() and (DATA / "landuse.geojson").exists()


def _read(name: str) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gpd.read_file(DATA / f"{name}.geojson", engine="pyogrio")


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    land = _read("landuse")
    res = land[(land["kind"] == "residential") & land.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    comp = res.dissolve(by="id", aggfunc={"name": "first"}).reset_index()
    b = _read("buildings")
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & (b["kind"].astype(str) == "building")]
    b = b.dissolve(by="id", aggfunc={"height": "first"}).reset_index()
    return comp, b


def roads() -> gpd.GeoDataFrame:
    """The roads (one row per way), read by the alignment's reader."""
    from gridgis.alignment.roads import read_roads

    return read_roads(DATA / "roads.geojson")


def make_case(angle: float = 17.0, cell_m: float = 330.0, windows: dict | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Communities, compounds, buildings and grids (a lattice of ``cell_m`` rotated by ``angle``°)."""
    comp, bld = _sources()
    windows = windows or WINDOWS
    to_m = comp.to_crs(METRIC)
    bld_m = bld.to_crs(METRIC)
    comm_rows, comm_geoms = [], []
    for code, (x0, y0, x1, y1) in windows.items():
        g = gpd.GeoSeries([shapely.box(x0, y0, x1, y1)], crs="EPSG:4326").to_crs(METRIC).iloc[0]
        # vertices every 5 m: a long edge straight in metres bows by millimetres in lon/lat, which
        # the coverage check (in lon/lat) would see as gaps along the community line
        g = shapely.segmentize(g, 5.0)
        comm_rows.append({"code": code, "name": f"陆家嘴{len(comm_rows) + 1}社区"})
        comm_geoms.append(g)
    domain = shapely.union_all(comm_geoms)
    rows, geoms = [], []
    for _, r in to_m.iterrows():
        g = shapely.make_valid(r.geometry)
        g = shapely.intersection(g, domain)
        g = shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 50])
        if g.is_empty or g.area < 2000:
            continue
        rows.append({"name": r["name"] if isinstance(r["name"], str) else f"小区{r['id']}"})
        geoms.append(g)
    order = np.lexsort((shapely.get_y(shapely.centroid(geoms)), shapely.get_x(shapely.centroid(geoms))))
    rows, geoms = [rows[i] for i in order], [geoms[i] for i in order]
    comps = np.array(geoms, dtype=object)
    # buildings inside the compounds; households: floors (3 m each, 6 when no height) × area / 90 m²
    pts = shapely.point_on_surface(bld_m.geometry.values)
    inside = shapely.contains(shapely.union_all(comps), pts)
    b = bld_m[inside].reset_index(drop=True)
    floors = np.clip(np.nan_to_num(b["height"].astype(float).to_numpy(), nan=18.0) / 3.0, 1, 40)
    bhh = np.maximum(1, np.round(shapely.area(b.geometry.values) * floors / 90.0)).astype(np.int64)
    # compounds take the households of their buildings (or 1 per 100 m² without any)
    ci, bi = shapely.STRtree(pts[inside]).query(comps, predicate="contains_properly")
    chh = np.bincount(ci, weights=bhh[bi], minlength=len(comps)).astype(np.int64)
    chh = np.where(chh > 0, chh, np.maximum(1, shapely.area(comps) / 100).astype(np.int64))
    comm_of = [int(np.argmax([shapely.area(shapely.intersection(g, c)) for c in comm_geoms])) for g in geoms]
    ccodes = [code for code in windows]
    compounds = gpd.GeoDataFrame(
        [
            {"code": f"{ccodes[comm_of[i]]}Q{i + 1:03d}", "name": rows[i]["name"], "households": int(chh[i])}
            for i in range(len(rows))
        ],
        geometry=list(geoms),
        crs=METRIC,
    ).to_crs("EPSG:4326")
    buildings = gpd.GeoDataFrame(
        {"code": [f"B{i + 1:05d}" for i in range(len(b))], "households": bhh},
        geometry=list(b.geometry.values),
        crs=METRIC,
    ).to_crs("EPSG:4326")
    grid_rows, grid_geoms = [], []
    for code, area in zip(ccodes, comm_geoms):
        for k, g in enumerate(_lattice(area, cell_m, angle)):
            grid_rows.append({"code": f"{code}{k + 1:03d}", "name": f"第{k + 1}网格", "community_code": code})
            grid_geoms.append(g)
    grids = gpd.GeoDataFrame(grid_rows, geometry=grid_geoms, crs=METRIC).to_crs("EPSG:4326")
    communities = gpd.GeoDataFrame(comm_rows, geometry=comm_geoms, crs=METRIC).to_crs("EPSG:4326")
    return {"compounds": compounds, "buildings": buildings, "grids": grids, "communities": communities}


def _lattice(area: shapely.Geometry, side: float, angle: float) -> list[shapely.Geometry]:
    x0, y0, x1, y1 = area.bounds
    c = shapely.centroid(area)
    k = int(math.hypot(x1 - x0, y1 - y0) / side) + 2
    cells = [
        shapely.affinity.rotate(
            shapely.box(c.x + i * side, c.y + j * side, c.x + (i + 1) * side, c.y + (j + 1) * side), angle, origin=c
        )
        for i in range(-k, k)
        for j in range(-k, k)
    ]
    out = []
    for g in shapely.intersection(np.array(cells, dtype=object), area):
        for part in shapely.get_parts(g):
            if part.geom_type == "Polygon" and part.area > 1.0:
                out.append(part)
    return out


def grid_lines(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> shapely.Geometry:
    """The lines between grids (metric): grid outlines minus the community outlines."""
    g = grids.to_crs(METRIC).geometry.values
    c = communities.to_crs(METRIC).geometry.values
    inner = shapely.difference(
        shapely.union_all(shapely.boundary(g)), shapely.buffer(shapely.union_all(shapely.boundary(c)), 0.01)
    )
    return inner


def near_road_share(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    road_frame: gpd.GeoDataFrame | None,
    compounds: gpd.GeoDataFrame | None = None,
    within_m: float = 5.0,
) -> float:
    """Share of the length of the lines between grids within ``within_m`` of a road centre line
    (roads of rank ≤ the default ``road_max_rank``) or, with ``compounds``, of a compound wall."""
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.roads import road_cut_lines

    lines = grid_lines(grids, communities)
    total = shapely.length(lines)
    if total <= 0:
        return 0.0
    near = []
    if road_frame is not None:
        near.append(shapely.union_all(road_cut_lines(road_frame, METRIC, AlignmentConfig())))
    if compounds is not None:
        near.append(shapely.union_all(shapely.boundary(compounds.to_crs(METRIC).geometry.values)))
    if not near:
        return 0.0
    zone = shapely.buffer(shapely.union_all(near), within_m)
    return float(shapely.length(shapely.intersection(lines, zone)) / total)
