"""The alignment field suite: cases built from real outlines, deterministic by seed.

A case is what a planner brings: real compound outlines (Baidu mapv AOIs of Beijing, Shanghai and
Shenzhen, converted BD-09 → WGS84), communities (a window, a window cut in two, or real Beijing
street polygons clipped to a window), grids drawn independently of the compounds (Voronoi cells of
random seeds, lattices rotated by a random angle or 17°, random straight cuts) and buildings (none,
synthetic rectangles, or real Suzhou footprints moved onto the compounds). Some cases add the
awkward inputs real data has: duplicate and overlapping compounds, slivers, holes, multipolygons,
compounds far above 500 households with no buildings, a community with one grid.

:func:`make_case` builds a case from a seed; :func:`check_case` runs propose, micro-grids, the
party tree and a second proposal and returns the broken invariants (empty list: the case passes).
Used by ``tests/alignment/test_field.py`` (CI) and ``bench/field.py`` (500 cases).
"""

from __future__ import annotations

import functools
import json
import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity

from gridgis.chinacoords import convert_geometries

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

CITIES = {
    "beijing": (115.9, 39.6, 116.9, 40.3, "EPSG:4548"),
    "shanghai": (121.0, 30.9, 121.9, 31.5, "EPSG:4549"),
    "shenzhen": (113.7, 22.4, 114.5, 22.9, "EPSG:4547"),
}


@dataclass
class Case:
    """One field case: layers in EPSG:4326 and what was drawn."""

    seed: int
    compounds: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    meta: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def mapv_outlines() -> dict[str, np.ndarray]:
    """Usable mapv outlines per city, in each city's metric CRS (rings closed, repaired, largest part)."""
    path = SHARED_DATA / "mapv-xiaoqu-polygons" / "beijing-village.json"
    polys = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        geom = item.get("geometry") or {}
        coords = geom.get("coordinates") or [[]]
        if geom.get("type") != "Polygon" or not coords[0]:
            continue
        ring = [tuple(p[:2]) for p in coords[0]]
        if len(set(ring)) < 3:
            continue
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        poly = shapely.make_valid(shapely.Polygon(ring))
        parts = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon" and p.area > 0]
        if parts:
            polys.append(max(parts, key=lambda p: p.area))
    wgs = convert_geometries(np.array(polys, dtype=object), "bd09", "wgs84")
    cent = shapely.get_coordinates(shapely.centroid(wgs))
    out = {}
    for city, (x0, y0, x1, y1, crs) in CITIES.items():
        inside = (cent[:, 0] >= x0) & (cent[:, 0] <= x1) & (cent[:, 1] >= y0) & (cent[:, 1] <= y1)
        g = gpd.GeoSeries(wgs[inside], crs="EPSG:4326").to_crs(crs).values
        g = g[shapely.area(g) > 150]
        out[city] = g
    return out


@functools.lru_cache(maxsize=1)
def beijing_streets() -> gpd.GeoDataFrame:
    """The Beijing street/township polygons (WGS84) in EPSG:4548."""
    f = gpd.read_file(SHARED_DATA / "beijing-township-boundaries" / "beijing_townships.geojson")
    f = f.to_crs("EPSG:4548")
    f["geometry"] = shapely.make_valid(f.geometry.values)
    return f.reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def suzhou_footprints() -> tuple[np.ndarray, np.ndarray]:
    """Suzhou building footprints (metric, EPSG:4549, origin at their south-west corner) and floors."""
    f = gpd.read_file(SHARED_DATA / "suzhou-buildings-pybdshadow" / "bd_demo_2.json")
    f = f.set_crs("EPSG:4326", allow_override=True).to_crs("EPSG:4549")
    g = shapely.make_valid(f.geometry.values)
    g = np.array([max(shapely.get_parts(x), key=lambda p: p.area) for x in g], dtype=object)
    keep = shapely.area(g) > 20
    g = g[keep]
    floors = np.asarray(f["Floor"].fillna(1), dtype=float)[keep]
    x0, y0, _, _ = shapely.total_bounds(g)
    return shapely.transform(g, lambda c: c - [x0, y0]), floors


def _rng_choice(rng: np.random.Generator, options: list, p: list[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _split_box(box: shapely.Geometry, rng: np.random.Generator) -> list[shapely.Geometry]:
    """A box cut in two by a random line through a point near its centre."""
    c = shapely.centroid(box)
    ang = rng.uniform(0, math.pi)
    r = 10 * math.sqrt(box.area)
    dx, dy = math.cos(ang) * r, math.sin(ang) * r
    px, py = c.x + rng.uniform(-0.15, 0.15) * math.sqrt(box.area), c.y + rng.uniform(-0.15, 0.15) * math.sqrt(box.area)
    left = shapely.Polygon(
        [(px - dx, py - dy), (px + dx, py + dy), (px + dx - dy, py + dy + dx), (px - dx - dy, py - dy + dx)]
    )
    a = shapely.intersection(box, left)
    b = shapely.difference(box, left)
    return [g for g in (a, b) if g.area > 0.1 * box.area] or [box]


def _draw_grids(area: shapely.Geometry, n: int, mode: str, rng: np.random.Generator) -> list[shapely.Geometry]:
    """``n`` (about) grids over ``area`` drawn without looking at compounds."""
    if n <= 1:
        return [area]
    x0, y0, x1, y1 = area.bounds
    if mode == "voronoi":
        pts = []
        while len(pts) < n:
            p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
            if area.contains(p):
                pts.append(p)
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=area))
        pieces = shapely.intersection(cells, area)
    elif mode.startswith("lattice"):
        angle = 17.0 if mode == "lattice17" else float(rng.uniform(0, 90))
        side = math.sqrt(area.area / n)
        c = shapely.centroid(area)
        r = math.hypot(x1 - x0, y1 - y0)
        k = int(r / side) + 2
        ox, oy = rng.uniform(0, side), rng.uniform(0, side)
        cells = [
            shapely.box(c.x + i * side + ox, c.y + j * side + oy, c.x + (i + 1) * side + ox, c.y + (j + 1) * side + oy)
            for i in range(-k, k)
            for j in range(-k, k)
        ]
        cells = [shapely.affinity.rotate(b, angle, origin=c) for b in cells]
        pieces = shapely.intersection(np.array(cells, dtype=object), area)
    else:  # random straight cuts of the largest piece
        pieces_l = [area]
        while len(pieces_l) < n:
            pieces_l.sort(key=lambda g: -g.area)
            big = pieces_l.pop(0)
            parts = _split_box(big, rng)
            pieces_l += parts if len(parts) > 1 else [big]
            if len(parts) == 1:
                break
        pieces = np.array(pieces_l, dtype=object)
    out = []
    for g in pieces:
        for part in shapely.get_parts(shapely.make_valid(g)):
            if part.geom_type == "Polygon" and part.area > 1.0:
                out.append(part)
    return out


def _households(geoms: np.ndarray, rng: np.random.Generator, big_share: float) -> np.ndarray:
    density = rng.uniform(0.004, 0.02, len(geoms))  # 40–200 households per hectare
    hh = np.round(shapely.area(geoms) * density).astype(np.int64)
    big = rng.random(len(geoms)) < big_share
    hh[big] = np.maximum(hh[big] * 3, 900)
    return np.maximum(hh, 1)


def _synthetic_buildings(compound: shapely.Geometry, rng: np.random.Generator) -> list[shapely.Geometry]:
    """Rows of slabs over the compound at a random angle, those wholly inside it (built in one go)."""
    x0, y0, x1, y1 = compound.bounds
    ang = float(rng.uniform(0, 90))
    c = shapely.centroid(compound)
    sx, sy = rng.uniform(28, 45), rng.uniform(40, 60)
    span = max(x1 - x0, y1 - y0)
    ii, jj = np.meshgrid(np.arange(-span, span, sx), np.arange(-span, span, sy), indexing="ij")
    left, bottom = c.x + ii.ravel(), c.y + jj.ravel()
    boxes = shapely.box(left, bottom, c.x + ii.ravel() + 12, c.y + jj.ravel() + (40 if sy > 45 else 25))
    # the rotation of shapely.affinity.rotate about the centroid, written out for the whole array
    r = ang * math.pi / 180.0
    cosp, sinp = math.cos(r), math.sin(r)
    xoff, yoff = c.x - c.x * cosp + c.y * sinp, c.y - c.x * sinp - c.y * cosp

    def turn(xy: np.ndarray) -> np.ndarray:
        x, y = xy.T
        return np.stack([cosp * x + -sinp * y + xoff, sinp * x + cosp * y + yoff]).T

    boxes = shapely.transform(boxes, turn)
    return list(boxes[shapely.contains(compound, boxes)])


def make_case(seed: int, max_compounds: int = 45, max_half_m: float = 650.0) -> Case:
    """The field case of ``seed`` (same seed, same case)."""
    rng = np.random.default_rng(seed)
    source = _rng_choice(rng, ["beijing", "shanghai", "shenzhen", "streets"], [0.25, 0.25, 0.25, 0.25])
    city = "beijing" if source == "streets" else source
    crs = CITIES[city][4]
    outlines = mapv_outlines()[city]
    half = float(rng.uniform(300, 650))
    half = min(half, max_half_m)
    meta: dict[str, Any] = {"seed": seed, "source": source, "half_m": round(half)}
    if source == "streets":
        streets = beijing_streets()
        # a window on the line between streets, inside the compound-rich part of the city
        tree = shapely.STRtree(streets.geometry.values)
        for _ in range(50):
            c = shapely.centroid(outlines[int(rng.integers(len(outlines)))])
            window = shapely.box(c.x - half, c.y - half, c.x + half, c.y + half)
            hit = tree.query(window, predicate="intersects")
            if len(hit) >= 2:
                break
        pieces = []
        for k in hit:
            for part in shapely.get_parts(shapely.make_valid(shapely.intersection(streets.geometry.values[k], window))):
                if part.geom_type == "Polygon" and part.area > 0.08 * window.area:
                    pieces.append((str(streets["township"].iloc[k]), part))
        if not pieces:
            pieces = [("窗口", window)]
        comm_geoms = [g for _, g in pieces]
        comm_names = [n for n, _ in pieces]
    else:
        c = shapely.centroid(outlines[int(rng.integers(len(outlines)))])
        window = shapely.box(c.x - half, c.y - half, c.x + half, c.y + half)
        comm_geoms = _split_box(window, rng) if rng.random() < 0.4 else [window]
        comm_names = [f"社区{i + 1}" for i in range(len(comm_geoms))]
    if rng.random() < 0.15:  # a park or lake: a hole in the first community
        g = comm_geoms[0]
        hole = shapely.buffer(shapely.point_on_surface(g), float(rng.uniform(20, 60)), quad_segs=4)
        if g.contains(hole):
            comm_geoms[0] = shapely.difference(g, hole)
            meta["community_hole"] = True
    domain = shapely.union_all(comm_geoms)
    tree = shapely.STRtree(outlines)
    idx = tree.query(domain, predicate="intersects")
    idx = idx[shapely.contains(domain, shapely.point_on_surface(outlines[idx]))]
    idx = idx[np.argsort(shapely.distance(shapely.centroid(domain), outlines[idx]), kind="stable")][:max_compounds]
    geoms = list(outlines[np.sort(idx)])
    kinds = ["real"] * len(geoms)
    # the awkward inputs
    if geoms and rng.random() < 0.3:  # a duplicate outline (two AOIs for one estate)
        geoms.append(geoms[int(rng.integers(len(geoms)))])
        kinds.append("duplicate")
    if len(geoms) >= 2 and rng.random() < 0.3:  # a compound overlapping two others
        a, b = geoms[0], geoms[1]
        geoms.append(shapely.convex_hull(shapely.union_all([shapely.centroid(a), shapely.centroid(b)]).buffer(15)))
        kinds.append("overlap")
    if geoms and rng.random() < 0.25:  # a sliver along a compound's edge
        g = geoms[int(rng.integers(len(geoms)))]
        ring = shapely.get_exterior_ring(g)
        seg = shapely.line_interpolate_point(ring, [0.0, 0.1], normalized=True)
        sl = shapely.buffer(shapely.LineString(shapely.get_coordinates(seg)), 0.4, cap_style="flat")
        if sl.area > 1:
            geoms.append(shapely.intersection(sl, domain))
            kinds.append("sliver")
    if geoms and rng.random() < 0.25:  # a courtyard hole
        k = int(rng.integers(len(geoms)))
        g = geoms[k]
        hole = shapely.buffer(shapely.point_on_surface(g), math.sqrt(g.area) * 0.12, quad_segs=3)
        if g.contains(hole):
            geoms[k] = shapely.difference(g, hole)
            kinds[k] = "hole"
    if len(geoms) >= 4 and rng.random() < 0.25:  # one estate in two parts (a multipolygon)
        i, j = sorted(rng.choice(len(geoms), 2, replace=False))
        if kinds[i] == kinds[j] == "real" and not shapely.intersects(geoms[i], geoms[j]):
            geoms[i] = shapely.MultiPolygon([geoms[i], geoms[j]])
            kinds[i] = "multipolygon"
            del geoms[j], kinds[j]
    keep = [k for k, g in enumerate(geoms) if g is not None and not g.is_empty and g.area > 1.0]
    geoms, kinds = [geoms[k] for k in keep], [kinds[k] for k in keep]
    geoms_a = np.array(geoms, dtype=object)
    big_share = 0.2 if rng.random() < 0.4 else 0.03
    hh = _households(geoms_a, rng, big_share)
    bmode = _rng_choice(rng, ["none", "synthetic", "suzhou"], [0.4, 0.3, 0.3])
    meta |= {"buildings": bmode, "compounds": len(geoms)}
    b_geoms: list[shapely.Geometry] = []
    b_hh: list[int] = []
    if bmode == "synthetic":
        for g in geoms_a:
            bs = _synthetic_buildings(g, rng)
            b_geoms += bs
            b_hh += list(rng.integers(8, 60, len(bs)))
    elif bmode == "suzhou":
        fp, floors = suzhou_footprints()
        x0, y0, x1, y1 = domain.bounds
        w, h = x1 - x0, y1 - y0
        fx1, fy1 = shapely.total_bounds(fp)[2:]
        ox, oy = rng.uniform(0, max(1.0, fx1 - w)), rng.uniform(0, max(1.0, fy1 - h))
        moved = shapely.transform(fp, lambda cc: cc - [ox, oy] + [x0, y0])
        cs = shapely.union_all(geoms_a) if len(geoms_a) else shapely.Polygon()
        inside = shapely.contains(cs, shapely.point_on_surface(moved)) & shapely.intersects(domain, moved)
        b_geoms = list(moved[inside])
        b_hh = [max(1, int(round(a * f / 120.0))) for a, f in zip(shapely.area(moved[inside]), floors[inside])]
    # codes: district 110105, street 001.., community 001..
    comm_codes = [f"110105{(k // 3) + 1:03d}{(k % 3) + 1:03d}" for k in range(len(comm_geoms))]
    gmode = _rng_choice(rng, ["voronoi", "lattice", "lattice17", "cuts"])
    meta["grids"] = gmode
    grid_rows, grid_geoms = [], []
    for cc, cg in zip(comm_codes, comm_geoms):
        total = float(hh[shapely.contains(cg, shapely.point_on_surface(geoms_a))].sum()) if len(geoms_a) else 0.0
        n = 1 if rng.random() < 0.08 else max(1, int(round(total / rng.uniform(250, 550))))
        for g in _draw_grids(cg, min(n, 30), gmode, rng):
            seq = len([r for r in grid_rows if r["community_code"] == cc]) + 1
            grid_rows.append({"code": f"{cc}{seq:03d}", "name": f"第{seq}网格", "community_code": cc})
            grid_geoms.append(g)

    def frame(rows: list[dict], gs: list, columns: list[str]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(rows, columns=columns, geometry=list(gs), crs=crs).to_crs("EPSG:4326")

    communities = frame([{"code": c, "name": n} for c, n in zip(comm_codes, comm_names)], comm_geoms, ["code", "name"])
    compounds = frame(
        [
            {"code": f"{comm_codes[0]}Q{i + 1:03d}", "name": f"小区{i + 1}", "households": int(h), "kind": k}
            for i, (h, k) in enumerate(zip(hh, kinds))
        ],
        geoms,
        ["code", "name", "households", "kind"],
    )
    grids = frame(grid_rows, grid_geoms, ["code", "name", "community_code"])
    buildings = (
        frame(
            [{"code": f"B{i + 1:05d}", "name": f"{i + 1}号楼", "households": int(h)} for i, h in enumerate(b_hh)],
            b_geoms,
            ["code", "name", "households"],
        )
        if b_geoms
        else None
    )
    meta |= {"communities": len(communities), "grids_n": len(grids), "buildings_n": len(b_geoms)}
    return Case(seed, compounds, grids, communities, buildings, meta)


# --------------------------------------------------------------------------- invariants


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """4πA/P² per polygon (metric)."""
    a = shapely.area(geoms)
    p = shapely.length(geoms)
    return np.where(p > 0, 4 * math.pi * a / np.maximum(p, 1e-12) ** 2, 0.0)


def check_case(case: Case, reshuffle: bool = True) -> dict[str, Any]:
    """Run the whole chain on ``case``; ``failures`` lists every broken invariant (empty: passed).

    With ``reshuffle`` (the default), re-aligning the proposal after a storage round trip (written
    as GeoJSON with the 7 decimals every writer keeps, read back) must change nothing, as a planner
    aligns, saves, opens and aligns again (:func:`realign_after_geojson`)."""
    from gridgis.alignment.microgrid import split_microgrids
    from gridgis.alignment.party import party_structure
    from gridgis.alignment.propose import propose_alignment
    from gridgis.crs import metric_crs_for

    out: dict[str, Any] = {"seed": case.seed, "meta": case.meta, "failures": []}
    fail = out["failures"]
    try:
        prop = propose_alignment(case.compounds, case.grids, case.buildings, case.communities, workers=1)
    except Exception as exc:  # noqa: BLE001 - the first invariant: no exception
        fail.append(f"propose raised {type(exc).__name__}: {exc} | {traceback.format_exc(limit=-3)}")
        return out
    crs = metric_crs_for(case.grids)
    grids = prop.grids
    gm = grids.to_crs(crs)
    comm = case.communities.to_crs(crs)
    before = case.grids.to_crs(crs).geometry.values
    out["pp_before"] = float(np.median(polsby_popper(before)))
    out["pp_after"] = float(np.median(polsby_popper(gm.geometry.values))) if len(gm) else 0.0
    # every grid one piece wherever a neighbour could take the rest (the edit path's contiguity rule,
    # layers.coverage.detached_parts: a proposal it would refuse could not be applied)
    from gridgis.layers.coverage import detached_parts, takes_land

    stored = grids.geometry.values
    gcomm = grids["community_code"].astype(str).to_numpy()
    kinds = grids["kind"].to_numpy() if "kind" in grids.columns else np.full(len(grids), None)
    takers = np.array([takes_land("grids", k) for k in kinds], dtype=bool)
    for k in np.flatnonzero(shapely.get_num_geometries(stored) > 1):
        siblings = stored[takers & (gcomm == gcomm[k]) & (np.arange(len(stored)) != k)]
        if detached_parts(stored[k], siblings):
            fail.append(f"grid {grids['code'].iloc[k]}: in detached parts a neighbour borders")
    # rounded to the 7 decimals every writer keeps (a GeoJSON export, an API answer), every grid is
    # still a valid polygon without the writer's repair: a sub-centimetre notch must not come back as a spike
    from gridgis.crs import round_to_storage
    from gridgis.layers.coverage import unwritable

    plain = round_to_storage(np.asarray(stored, dtype=object), repair=False)
    for k in unwritable(stored):
        fail.append(f"grid {grids['code'].iloc[k]}: invalid once written ({shapely.is_valid_reason(plain[k])})")
    # coverage per community, area
    for code, geom in zip(comm["code"], comm.geometry.values):
        mine = gm[gm["community_code"].astype(str) == str(code)].geometry.values
        if not len(mine):
            fail.append(f"community {code}: no grid")
            continue
        if not shapely.coverage_is_valid(mine):
            fail.append(f"community {code}: coverage not valid")
        diff = float(shapely.area(shapely.symmetric_difference(shapely.union_all(mine), geom)))
        if diff > 1.0:
            fail.append(f"community {code}: union differs from the community by {diff:.2f} m²")
        da = abs(float(shapely.area(mine).sum()) - float(geom.area))
        if da > 1.0:
            fail.append(f"community {code}: grid areas add up {da:.2f} m² off")
    # households preserved, per community: a compound counts in the community it overlaps most, a
    # building in the community holding its point; a community holding buildings counts theirs, one
    # holding none its compounds' own figures
    cm = case.compounds.to_crs(crs)
    domain = shapely.union_all(comm.geometry.values)
    cgeoms, commg = np.asarray(cm.geometry.values), np.asarray(comm.geometry.values)
    ov = shapely.area(shapely.intersection(cgeoms[:, None], commg[None, :])).reshape(len(cm), len(comm))
    c_comm = np.where(ov.max(axis=1, initial=0.0) > 0, ov.argmax(axis=1) if len(comm) else -1, -1)
    b_comm = np.zeros(0, dtype=np.int64)
    if case.buildings is not None and len(case.buildings):
        bm = case.buildings.to_crs(crs)
        bpts = shapely.point_on_surface(bm.geometry.values)
        within = shapely.intersects(domain, bpts)
        inside = shapely.intersects(np.asarray(bpts)[:, None], commg[None, :]).reshape(len(bm), len(comm))
        b_comm = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    for k, code in enumerate(comm["code"].astype(str)):
        got_k = int(grids.loc[grids["community_code"].astype(str) == code, "households"].sum())
        if (b_comm == k).any():
            want_k, what = int(np.asarray(bm["households"])[b_comm == k].sum()), "buildings"
        else:
            want_k, what = int(np.asarray(cm["households"])[c_comm == k].sum()), "compounds"
        if got_k != want_k:
            fail.append(f"community {code}: households {got_k} after, {want_k} in its {what}")
    # no small compound cut: a compound's households are its buildings' by the one rule
    # (overlap.building_compounds: the compound a building names, else the one its footprint overlaps
    # most), as the proposal counts them; a copy of a large compound drawn over it (partition._copy)
    # is divided with the compound it copies
    copies: set[int] = set()
    if case.buildings is not None and len(case.buildings):
        from gridgis.alignment.overlap import building_compounds
        from gridgis.alignment.partition import _copy

        named = (
            bm["compound_code"].astype(object).where(bm["compound_code"].notna(), None).to_numpy()
            if "compound_code" in bm.columns
            else np.full(len(bm), None, dtype=object)
        )
        bhh = np.asarray(bm["households"], dtype=float)
        cgeoms = np.asarray(cm.geometry.values)
        bc = building_compounds(named, np.asarray(bm.geometry.values), np.asarray(cm["code"].astype(str)), cgeoms)
        own = bc >= 0
        chh = np.bincount(bc[own], weights=bhh[own], minlength=len(cm))
        copies = {k for k in range(len(cm)) if _copy(k, cgeoms, bpts, bhh, bc, 500)}
    else:
        chh = np.asarray(cm["households"], dtype=float)
    tree = shapely.STRtree(gm.geometry.values)
    for k in np.flatnonzero(chh <= 500):
        if k in copies:
            continue
        g = cm.geometry.values[k]
        if not shapely.covers(comm.geometry.values, shapely.buffer(g, -0.5)).any():
            continue  # crosses a community line: explained, not kept whole
        if shapely.get_num_geometries(shapely.buffer(g, 1.0)) > 1:
            continue  # drawn in parts that do not touch: each part is kept whole, not the set
        cand = tree.query(g, predicate="intersects")
        if len(cand) < 2:
            continue
        inter = shapely.area(shapely.intersection(gm.geometry.values[cand], g))
        rest = float(inter.sum() - inter.max())
        if rest > max(5.0, 0.01 * g.area):
            fail.append(f"compound {cm['code'].iloc[k]} ({int(chh[k])} households) cut: {rest:.1f} m² elsewhere")
    # micro-grids of the changed grids; every building in one micro-grid and one party group
    changed = set(prop.changes["from_grid"].dropna()) | set(prop.changes["to_grid"].dropna())
    changed |= {r["new_grid"] for r in prop.restructured if r["op"] == "split"}
    todo = grids[grids["code"].isin(changed)]
    out["changed_grids"] = len(todo)
    if len(todo):
        try:
            micro, _ = split_microgrids(todo, case.buildings)
        except Exception as exc:  # noqa: BLE001 - a failure to report, not to raise
            fail.append(f"microgrid split raised {type(exc).__name__}: {exc}")
            micro = None
        if micro is not None:
            # written, every micro-grid is valid; those only the writer's repair makes so (a neck under
            # a storage step, pinched to a point; a sub-millimetre spike a projection crossed) are
            # counted, not failed
            mgeoms = np.asarray(micro.geometry.values, dtype=object)
            out["micro_repaired"] = int((~shapely.is_valid(mgeoms)).sum()) + len(unwritable(mgeoms))
            written_m = round_to_storage(mgeoms)
            for k in np.flatnonzero(~shapely.is_valid(written_m)):
                fail.append(
                    f"micro-grid {micro['code'].iloc[k]}: invalid once written ({shapely.is_valid_reason(written_m[k])})"
                )
            mm = micro.to_crs(crs)
            for code, geom in zip(todo["code"], todo.to_crs(crs).geometry.values):
                mine = mm[mm["grid_code"] == code]
                parts = shapely.get_num_geometries(mine.geometry.values)
                if (parts != 1).any() or (shapely.get_type_id(mine.geometry.values) != 3).any():
                    fail.append(f"grid {code}: {int((parts != 1).sum())} micro-grid(s) in several parts")
                if not shapely.coverage_is_valid(mine.geometry.values):
                    fail.append(f"grid {code}: micro-grids do not form a valid coverage")
                d = float(shapely.area(shapely.symmetric_difference(shapely.union_all(mine.geometry.values), geom)))
                if d > 1.0:
                    fail.append(f"grid {code}: micro-grids differ from the grid by {d:.2f} m²")
                hh_g = int(grids.loc[grids["code"] == code, "households"].iloc[0])
                if case.buildings is not None and int(mine["households"].sum()) != hh_g:
                    fail.append(
                        f"grid {code}: micro-grids hold {int(mine['households'].sum())} households, grid {hh_g}"
                    )
            if case.buildings is not None:
                listed = [b for codes in micro["building_codes"] for b in codes]
                if len(listed) != len(set(listed)):
                    fail.append("a building is in two micro-grids")
    if case.buildings is not None and len(case.buildings):
        try:
            party = party_structure(case.compounds, grids, case.buildings, case.communities)
            seen: list[str] = []

            def walk(node: dict) -> None:
                if node["type"] == "building_group":
                    seen.append(node["code"])
                for k in node["children"]:
                    walk(k)

            for t in party.trees.values():
                walk(t)
            want = set(np.asarray(case.buildings["code"])[within])
            if len(seen) != len(set(seen)):
                fail.append(f"party: {len(seen) - len(set(seen))} building(s) in two groups")
            missing = want - set(seen)
            if missing:
                fail.append(f"party: {len(missing)} of {len(want)} buildings in no group")
        except Exception as exc:  # noqa: BLE001 - a failure to report, not to raise
            fail.append(f"party raised {type(exc).__name__}: {exc}")
    if reshuffle:
        try:
            changes = realign_after_geojson(case, grids)
            if changes:
                fail.append(f"re-aligning after a storage round trip changes {changes} piece(s)")
        except Exception as exc:  # noqa: BLE001 - a failure to report, not to raise
            fail.append(f"re-propose raised {type(exc).__name__}: {exc}")
    return out


def round_trip(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``grids`` as an export or API answer gives them back: written by gridgis's GeoJSON writer (the
    7 decimals of :func:`gridgis.crs.round_to_storage`) and read by GDAL through pyogrio."""
    import tempfile

    from gridgis.io.geojson import write_geojson

    with tempfile.TemporaryDirectory() as tmp:
        path = write_geojson(grids[["code", "geometry"]], f"{tmp}/grids.geojson")
        back = gpd.read_file(path, engine="pyogrio")
    out = grids.copy()
    out["geometry"] = back.set_index("code").loc[grids["code"].astype(str), "geometry"].values
    return out


def realign_after_geojson(case: Case, grids: gpd.GeoDataFrame) -> int:
    """Pieces that change when ``grids`` are re-aligned after a storage round trip (the 7 decimals
    every export and API answer writes: :func:`round_trip`)."""
    from gridgis.alignment.propose import propose_alignment

    back = round_trip(grids)
    again = propose_alignment(case.compounds, back, case.buildings, case.communities, workers=1)
    return len(again.changes)
