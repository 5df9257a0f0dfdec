"""Split grids into micro-grids (微网格) of whole buildings, contiguous, covering the grid exactly.

Each building gets the part of the grid nearer to its outline than to any other building's
(Voronoi regions of points along the outlines, snapped and polygonized like proposals). Buildings
are then grouped by growing regions through neighbouring buildings, north-west first, towards an
equal share of the grid's households within the micro-grid range (default 30–100).
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.alignment._frames import households, metric, require_frame, text_column, to_storage_series
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.partition import (
    _building_regions,
    _contacts,
    _face_adjacency,
    _poly,
    _voronoi_lines,
    label_components,
)
from gridgis.crs import metric_crs_for
from gridgis.errors import ValidationError
from gridgis.layers.coverage import MIN_AREA_M2, storable

MICRO_COLUMNS = ["code", "name", "grid_code", "households", "buildings", "building_codes", "geometry"]


def _target_count(total: float, config: AlignmentConfig) -> int:
    lo, hi = config.microgrid_min, config.microgrid_max
    k = max(1, int(np.ceil(total / hi)))
    if total / k < lo:
        k = max(1, int(total // lo))
    return k


def _connected(members: list[int], adj: list[set[int]]) -> bool:
    """True when ``members`` form one piece in the adjacency ``adj``."""
    from gridgis.alignment.rebalance import components

    return bool(members) and len(components(members, adj)) == 1


def _group(hh: np.ndarray, xy: np.ndarray, adj: list[set[int]], config: AlignmentConfig) -> list[list[int]]:
    """Grow contiguous groups of buildings towards the target size, then repair small ones (deterministic)."""
    n = len(hh)
    lo, hi = config.microgrid_min, config.microgrid_max
    total = float(hh.sum())
    target = total / _target_count(total, config)
    order = sorted(range(n), key=lambda i: (-round(xy[i, 1], 3), round(xy[i, 0], 3), i))
    group_of = np.full(n, -1)
    groups: list[list[int]] = []
    for seed in order:
        if group_of[seed] >= 0:
            continue
        g = len(groups)
        members, size = [seed], float(hh[seed])
        group_of[seed] = g
        while True:
            frontier = sorted(
                {b for a in members for b in adj[a] if group_of[b] < 0},
                key=lambda b: (np.hypot(*(xy[b] - xy[seed])), b),
            )
            if not frontier:
                break
            b = frontier[0]
            if size >= lo and (size + hh[b] > hi or abs(size + hh[b] - target) >= abs(size - target)):
                break
            members.append(b)
            group_of[b] = g
            size += float(hh[b])
        groups.append(members)
    sizes = [float(hh[m].sum()) for m in groups]
    # a group below the minimum takes border buildings from neighbours that can spare them ...
    for g in sorted(range(len(groups)), key=lambda g: (sizes[g], g)):
        while groups[g] and sizes[g] < lo:
            options = []
            for a in groups[g]:
                for b in adj[a]:
                    h = int(group_of[b])
                    if h != g and sizes[h] - hh[b] >= lo and sizes[g] + hh[b] <= hi:
                        options.append((abs(sizes[g] + hh[b] - target), int(b), h))
            moved = False
            for _, b, h in sorted(set(options)):
                rest = [m for m in groups[h] if m != b]
                if _connected(rest, adj):
                    groups[h] = rest
                    groups[g].append(b)
                    group_of[b] = g
                    sizes[h] -= hh[b]
                    sizes[g] += hh[b]
                    moved = True
                    break
            if not moved:
                break
    # ... else joins its smallest neighbour when the two fit together
    for g in sorted(range(len(groups)), key=lambda g: (sizes[g], g)):
        if not groups[g] or sizes[g] >= lo:
            continue
        neighbours = sorted({int(group_of[b]) for a in groups[g] for b in adj[a]} - {g}, key=lambda h: (sizes[h], h))
        fits = [h for h in neighbours if groups[h] and sizes[h] + sizes[g] <= hi]
        if fits:
            h = fits[0]
            for a in groups[g]:
                group_of[a] = h
            groups[h] += groups[g]
            sizes[h] += sizes[g]
            groups[g], sizes[g] = [], 0.0
    return [sorted(m) for m in groups if m]


def contiguous_labels(
    faces: np.ndarray,
    label: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    length: np.ndarray,
    homes: np.ndarray,
    max_rounds: int = 50,
) -> np.ndarray:
    """Relabel faces so that every label's faces form one piece.

    A building's Voronoi region clipped to a non-convex grid can fall apart. The piece holding the
    building (``homes[label]``, a point; else the largest piece) keeps the label; every other piece
    joins the neighbouring label it shares most boundary with, through faces already in their
    label's home piece, until no piece is detached (or nothing changes: the grid itself is in
    several parts).
    """
    label = np.asarray(label).copy()
    n = len(faces)
    if n < 2:
        return label
    area = shapely.area(faces)
    home_face = np.full(int(label.max()) + 1, -1)
    if len(homes):
        fi, hi_ = shapely.STRtree(faces).query(homes, predicate="intersects")
        for h, f in zip(fi, hi_):
            if h < len(home_face) and label[f] == h and home_face[h] < 0:
                home_face[h] = f
    for _ in range(max_rounds):
        comp = label_components(n, label, lo, hi)
        comp_area = np.bincount(comp, weights=area, minlength=n)
        home_comp: dict[int, int] = {}
        for f in np.argsort(-comp_area[comp], kind="stable"):  # largest piece first
            home_comp.setdefault(int(label[f]), int(comp[f]))
        for lab_, f in enumerate(home_face):
            if f >= 0 and lab_ in home_comp:
                home_comp[lab_] = int(comp[f])
        good = np.array([home_comp[int(label[f])] == comp[f] for f in range(n)])
        if good.all():
            break
        shared: dict[int, dict[int, float]] = {}
        for a, b, ln in zip(lo, hi, length):
            for x, y in ((a, b), (b, a)):
                if not good[x] and good[y] and label[x] != label[y]:
                    d = shared.setdefault(int(comp[x]), {})
                    d[int(label[y])] = d.get(int(label[y]), 0.0) + float(ln)
        if not shared:
            break
        for c, options in shared.items():
            best = min(options.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            label[comp == c] = best
    return label


def _face_buildings(
    faces: np.ndarray, rep: np.ndarray, xy: np.ndarray, lab: np.ndarray, bpts: np.ndarray
) -> np.ndarray:
    """The building whose region each face is: the building whose point the face holds, else the
    building nearest to the face's representative point.

    A grid line drawn along a Voronoi line between buildings (an aligned grid) runs a hair beside
    this split's own Voronoi line, and the face of a building can take in the hairline wedge
    between the two. Its representative point may land in the wedge, on the line itself, where the
    nearest building is a toss-up: labelled by it, the building's own face went to its neighbour and
    the building to no micro-grid. A building's inside is nearer to its own outline than to any
    other, so the face holding its point is its region, whatever that point says. A face holding
    several buildings' points (duplicate footprints) takes the nearest of them.
    """
    near = shapely.STRtree(shapely.points(xy))
    face_b = lab[near.nearest(rep)]
    bi, fi = shapely.STRtree(faces).query(bpts, predicate="intersects")
    if not len(bi):
        return face_b
    held = np.zeros(len(faces), dtype=bool)
    held[fi] = True
    ok = np.zeros(len(faces), dtype=bool)
    ok[fi[face_b[fi] == bi]] = True  # the nearest building is one of those the face holds
    todo = held & ~ok
    for f in np.flatnonzero(todo).tolist():
        mine = np.unique(bi[fi == f])
        d = shapely.distance(rep[f], shapely.points(xy[np.isin(lab, mine)]))
        face_b[f] = lab[np.isin(lab, mine)][int(np.argmin(d))]
    return face_b


def split_grid(
    grid_geom: shapely.Geometry, bgeoms: np.ndarray, bhh: np.ndarray, config: AlignmentConfig
) -> tuple[list[shapely.Geometry], list[list[int]]]:
    """Split one grid (metric) into micro-grid polygons; returns the polygons and their building indices."""
    gs = config.grid_size_m
    grid = _poly(shapely.set_precision(grid_geom, gs))
    if len(bgeoms) == 0 or float(bhh.sum()) <= 0 or _target_count(float(bhh.sum()), config) == 1:
        return [grid], [list(range(len(bgeoms)))]
    xy, lab = _building_regions(bgeoms, gs)
    lines = [shapely.boundary(grid), *_voronoi_lines(grid, xy, lab)]
    noded = shapely.union_all(np.array(lines, dtype=object), grid_size=gs)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    rep = shapely.point_on_surface(faces)
    inside = shapely.contains_properly(grid, rep)
    faces, rep = faces[inside], rep[inside]
    bpts = shapely.point_on_surface(bgeoms)
    face_b = _face_buildings(faces, rep, xy, lab, bpts)
    lo, hi, length = _face_adjacency(faces)
    face_b = contiguous_labels(faces, face_b, lo, hi, length, bpts)
    # buildings are neighbours as atoms are (partition._contacts): regions touching along a few storage
    # steps only are not, as a micro-grid joined there would be pinched to a point once written
    contacts = _contacts(len(bgeoms), face_b[lo], face_b[hi], length)
    adj: list[set[int]] = [set(contacts[b]) for b in range(len(bgeoms))]
    # a building with no face of its own (its outline swallowed by a neighbour's) counts no households
    has_face = np.zeros(len(bgeoms), bool)
    has_face[face_b] = True
    cxy = shapely.get_coordinates(bpts)
    groups = _group(np.where(has_face, bhh, 0).astype(float), cxy, adj, config)
    # a building without a face (a duplicate footprint) joins the group of the face holding its point
    orphans = np.flatnonzero(~has_face)
    if len(orphans):
        host = face_b[shapely.STRtree(faces).nearest(bpts[orphans])]
        where = {b: i for i, m in enumerate(groups) for b in m}
        for b, h in zip(orphans, host):
            if where.get(int(b)) != where.get(int(h)):
                groups[where[int(b)]] = [x for x in groups[where[int(b)]] if x != b]
                groups[where[int(h)]] = sorted(groups[where[int(h)]] + [int(b)])
        groups = [m for m in groups if m]
    polys = []
    for members in groups:
        u = shapely.coverage_union_all(faces[np.isin(face_b, members)])
        if shapely.get_num_geometries(u) > 1:  # crumbs below 1 cm² touching at a vertex only are noise
            parts = shapely.get_parts(u)
            parts = parts[shapely.area(parts) >= 0.01]
            u = shapely.union_all(parts) if len(parts) else u
        polys.append(shapely.get_geometry(u, 0) if shapely.get_num_geometries(u) == 1 else u)
    groups = [sorted(m) for m in groups]
    keep = [i for i, p in enumerate(polys) if not p.is_empty]
    return [polys[i] for i in keep], [groups[i] for i in keep]


def split_grid_parts(
    grid_geom: shapely.Geometry, bgeoms: np.ndarray, bhh: np.ndarray, config: AlignmentConfig
) -> tuple[list[shapely.Geometry], list[list[int]], list[bool]]:
    """:func:`split_grid` for a grid (metric) in one part or several: no micro-grid spans two parts.

    A grid in several parts (an island of its community, an imported multipolygon) is split part by
    part, each with the buildings whose representative point it holds (else the nearest part); a
    part without buildings is one micro-grid of its own. Parts below the coverage rule's
    :data:`~gridgis.layers.coverage.MIN_AREA_M2` are rounding crumbs and get none. Returns the
    polygons, their building indices, and for each whether it lies in a part apart from the grid's
    largest.
    """
    parts = shapely.get_parts(_poly(grid_geom))
    parts = parts[shapely.area(parts) >= MIN_AREA_M2] if len(parts) > 1 else parts
    if len(parts) <= 1:
        whole, members = split_grid(grid_geom if not len(parts) else parts[0], bgeoms, bhh, config)
        return whole, members, [False] * len(whole)
    parts = parts[np.argsort(-shapely.area(parts), kind="stable")]
    home = np.zeros(len(bgeoms), dtype=int)
    if len(bgeoms):
        pts = shapely.point_on_surface(bgeoms)
        home = shapely.STRtree(parts).nearest(pts)  # the part holding the point is the nearest one
    polys: list[shapely.Geometry] = []
    groups: list[list[int]] = []
    apart: list[bool] = []
    for j, part in enumerate(parts):
        idx = np.flatnonzero(home == j)
        ps, gs_ = split_grid(part, bgeoms[idx], bhh[idx], config)
        polys += ps
        groups += [sorted(int(idx[b]) for b in g) for g in gs_]
        apart += [j > 0] * len(ps)
    return polys, groups, apart


def split_microgrids(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    config: AlignmentConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Split every grid into micro-grids of whole buildings.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids (EPSG:4326) with ``code``.
    buildings : GeoDataFrame or None
        Buildings with ``households``; each goes to the grid holding its representative point.
    config : AlignmentConfig, optional
        ``microgrid_min`` and ``microgrid_max`` (default 30–100 households).

    Returns
    -------
    (GeoDataFrame, list of dict)
        The micro-grids (EPSG:4326; ``code`` = grid code + 2 digits, numbered north→south,
        west→east; ``grid_code``, ``households``, ``buildings``, ``building_codes``) and the
        explanations for every micro-grid outside the range.
    """
    config = config or AlignmentConfig()
    grids = require_frame(grids, "grids")
    buildings = require_frame(buildings, "buildings", allow_none=True)
    crs = metric_crs_for(grids)
    gg = metric(grids, crs)
    gcodes = grids["code"].astype(str).to_numpy()
    names = text_column(grids, "name")
    if buildings is not None and len(buildings):
        bg = metric(buildings, crs)
        bcodes = buildings["code"].astype(str).to_numpy()
        bhh = households(buildings)
        bi, gi = shapely.STRtree(gg).query(shapely.point_on_surface(bg), predicate="intersects")
        order = np.lexsort((gi, bi))
        bi, gi = bi[order], gi[order]
        first = np.r_[True, bi[1:] != bi[:-1]] if len(bi) else np.zeros(0, bool)
        bgrid = np.full(len(bg), -1)
        bgrid[bi[first]] = gi[first]
    else:
        bg, bcodes, bhh, bgrid = (
            np.array([], dtype=object),
            np.array([], dtype=object),
            np.zeros(0, int),
            np.zeros(0, int),
        )
    rows, geoms, explanations = [], [], []
    for k in range(len(gg)):
        mine = np.flatnonzero(bgrid == k)
        polys, groups, apart = split_grid_parts(gg[k], bg[mine], bhh[mine], config)
        cent = shapely.get_coordinates(shapely.point_on_surface(np.array(polys, dtype=object)))
        seq_order = sorted(range(len(polys)), key=lambda i: (-round(cent[i, 1], 1), round(cent[i, 0], 1), i))
        if len(seq_order) > 99:
            raise ValidationError(
                f"grid {gcodes[k]} ({names[k]}) would need {len(seq_order)} micro-grids; codes allow 99: "
                "raise microgrid_max or split the grid first"
            )
        for seq, i in enumerate(seq_order, start=1):
            members = mine[groups[i]] if len(mine) else np.array([], dtype=int)
            h = int(bhh[members].sum()) if len(members) else 0
            code = f"{gcodes[k]}{seq:02d}"
            rows.append(
                {
                    "code": code,
                    "name": f"{names[k] or gcodes[k]}第{seq}微网格",
                    "grid_code": gcodes[k],
                    "households": h,
                    "buildings": len(members),
                    "building_codes": [str(b) for b in bcodes[members]] if len(members) else [],
                }
            )
            geoms.append(polys[i])
            if not config.microgrid_min <= h <= config.microgrid_max:
                big = [str(bcodes[b]) for b in members if bhh[b] > config.microgrid_max]
                if big:
                    reason = f"building {big[0]} alone has more than {config.microgrid_max} households"
                elif apart[i]:
                    reason = f"a part of the grid apart from the rest, with {h} households in its buildings"
                elif len(seq_order) == 1:
                    reason = f"the grid has {h} households in all"
                else:
                    reason = "its buildings cannot be grouped with neighbours without leaving the range"
                explanations.append({"micro_grid": code, "grid": gcodes[k], "households": h, "reason": reason})
        if on_progress:
            on_progress(k + 1, len(gg))
    out = gpd.GeoDataFrame(
        rows,
        columns=MICRO_COLUMNS[:-1],
        # written with the 7 decimals of storage (exports, API answers, tiles), every micro-grid stays valid
        geometry=storable(to_storage_series(geoms, crs).values, crs) if geoms else [],
        crs="EPSG:4326",
    )
    return out, explanations


def split_micro_grids(
    grid: gpd.GeoDataFrame | gpd.GeoSeries | pd.Series,
    buildings: gpd.GeoDataFrame | None,
    config: AlignmentConfig | None = None,
) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """(Re)split the micro-grids of one grid or a few grids, e.g. after a planner operation.

    The one entry point for operations (split, merge, move-boundary, transfers, apply-proposal):
    call it for every grid the operation changed or created and replace that grid's micro-grids
    with the result. Signature and output are stable.

    Parameters
    ----------
    grid : GeoDataFrame, or one row of it (Series with ``code`` and ``geometry``)
        The grid(s) in EPSG:4326 with ``code`` (``name`` optional, used for micro-grid names).
        A row must carry its frame's CRS (pass ``frame.loc[[i]]`` when unsure); a bare Series
        is taken to be EPSG:4326.
    buildings : GeoDataFrame or None
        Buildings (EPSG:4326, ``code``, ``households``); each goes to the grid holding its
        representative point; buildings elsewhere are ignored, so the whole layer may be passed.
    config : AlignmentConfig, optional
        ``microgrid_min`` / ``microgrid_max`` (default 30–100 households).

    Returns
    -------
    (GeoDataFrame, list of dict)
        Micro-grids in EPSG:4326 with the columns ``MICRO_COLUMNS`` (``code`` = grid code + 2
        digits numbered north→south, west→east; ``grid_code``, ``households``, ``buildings``,
        ``building_codes``), and explanations for micro-grids outside the range. Guarantees
        per grid: each micro-grid is one polygon (a grid itself in several parts gives parts
        accordingly), together they tile the grid exactly (``shapely.coverage_is_valid``, same
        union), every building lies in exactly one, and their households add up to those of the
        grid's buildings.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"code": ["110105001001001"]},
    ...     geometry=[shapely.box(116.30, 39.90, 116.301, 39.901)], crs="EPSG:4326")
    >>> micro, notes = split_micro_grids(g.iloc[0], None)
    >>> micro["code"].tolist()
    ['11010500100100101']
    """
    if isinstance(grid, pd.Series) and not isinstance(grid, gpd.GeoSeries):
        frame = gpd.GeoDataFrame([grid.to_dict()], geometry="geometry", crs="EPSG:4326")
    elif isinstance(grid, gpd.GeoSeries):
        raise ValidationError("grid: pass a GeoDataFrame (or one row of it) with a code, not a bare GeoSeries")
    else:
        frame = grid
    return split_microgrids(frame, buildings, config)
