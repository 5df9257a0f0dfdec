"""What follows a boundary edit so the store stays a valid hierarchy.

- :func:`node_family` — re-draws a family of siblings (the grids of a community, the micro-grids of
  a grid) from their noded linework, so they share every vertex on shared edges and carry no
  spike or sliver below :data:`SLIVER_M2`: an operation's output is a valid coverage by
  construction (:func:`gridgis.layers.coverage.check_coverage`).
- :func:`with_micro_grids` — micro-grids follow every grid edit: a grid whose outline changes, or a
  new grid, is split again into contiguous micro-grids of whole buildings that tile it exactly, and
  its households become the sum of its buildings'; a deleted grid's micro-grids are deleted.

Pure: lon/lat frames and :class:`~gridgis.editing.changes.Edit` lists in, edits out.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridgis.codes import area_of, grid_of
from gridgis.crs import STORAGE_CRS, metric_crs_for
from gridgis.editing.changes import Edit, plain, row_properties
from gridgis.layers.coverage import overlay, project

#: faces of the noded linework smaller than this (m²) go to the neighbour they share most border with
SLIVER_M2 = 0.5


def node_family(
    geoms: dict[str, shapely.Geometry], outline: shapely.Geometry | None = None, metric_crs: str | None = None
) -> dict[str, shapely.Geometry]:
    """The siblings ``geoms`` (code → lon/lat polygon) re-drawn as a valid coverage.

    Their boundaries (and ``outline``'s) are noded together and polygonized; each face goes to the
    sibling that overlaps it most; a face below :data:`SLIVER_M2`, or (with ``outline``) a face of
    the outline that no sibling holds, goes to the sibling sharing the longest border with it.
    Faces outside ``outline`` and faces no sibling holds (without ``outline``) are left out. Shared
    edges are then made of the same vertices on both sides, so :func:`shapely.coverage_is_valid`
    holds; a sibling that gets no face maps to an empty polygon.

    >>> import shapely
    >>> a = shapely.box(0, 0, 1, 1)
    >>> spiky = shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5), (0.9999999, 0.5), (1, 0.4999999)])
    >>> bool(shapely.coverage_is_valid([a, spiky]))
    False
    >>> out = node_family({"a": a, "b": spiky}, metric_crs="EPSG:3857")
    >>> bool(shapely.coverage_is_valid(list(out.values()))), round(out["b"].area, 6)
    (True, 1.0)
    """
    codes = sorted(geoms)
    arr = np.array([geoms[c] for c in codes], dtype=object)
    if not len(arr):
        return {}
    metric = metric_crs or metric_crs_for(gpd.GeoSeries(arr, crs=STORAGE_CRS))
    lines = list(shapely.boundary(arr))
    if outline is not None:
        lines.append(shapely.boundary(outline))
    noded = shapely.union_all(np.array(lines, dtype=object))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if not len(faces):
        return {c: shapely.Polygon() for c in codes}
    rep = shapely.point_on_surface(faces)
    if outline is not None:
        inside = shapely.intersects(outline, rep)
        faces, rep = faces[inside], rep[inside]
    n = len(faces)
    owner = np.full(n, -1)
    best = np.zeros(n)
    fi, gi = shapely.STRtree(arr).query(faces, predicate="intersects")
    if len(fi):
        shares = shapely.area(overlay("intersection", faces[fi], arr[gi]))
        for f, g, s in zip(fi, gi, shares):
            if s > best[f] or (s == best[f] and s > 0 and g < owner[f]):
                owner[f], best[f] = g, s
    area_m = shapely.area(project(faces, STORAGE_CRS, metric))
    tiny = area_m < SLIVER_M2
    if outline is None:
        tiny &= owner >= 0  # a gap stays a gap
    orphan = owner < 0 if outline is not None else np.zeros(n, bool)
    movable = np.flatnonzero(tiny | orphan)
    if len(movable):
        tree = shapely.STRtree(faces)
        edges = shapely.boundary(faces)
        settled = ~(tiny | orphan)
        for f in sorted(movable, key=lambda f: -area_m[f]):
            border: dict[int, float] = {}
            for k in tree.query(faces[f], predicate="intersects"):
                if k == f or owner[k] < 0 or not settled[k]:
                    continue
                length = float(shapely.length(shapely.intersection(edges[f], edges[k])))
                border[int(owner[k])] = border.get(int(owner[k]), 0.0) + length
            if border:
                owner[f] = max(sorted(border), key=lambda g: border[g])
            settled[f] = owner[f] >= 0
    out: dict[str, shapely.Geometry] = {}
    for k, code in enumerate(codes):
        mine = faces[owner == k]
        out[code] = shapely.coverage_union_all(mine) if len(mine) else shapely.Polygon()
    return out


def _same(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    """Same vertices and same shape (so nothing needs storing)."""
    if a is None or b is None:
        return a is b
    coords = {tuple(c) for c in shapely.get_coordinates(a)} == {tuple(c) for c in shapely.get_coordinates(b)}
    return coords and bool(shapely.equals(a, b))


def node_edits(frame: gpd.GeoDataFrame, edits: list[Edit], layer: str = "grids") -> list[Edit]:
    """``edits`` with the family of every edited feature of ``layer`` noded by :func:`node_family`.

    ``frame`` holds the current features of ``layer`` (with ``version``); an untouched sibling whose
    outline gains a vertex or a sliver gets an update edit carrying its version, so a concurrent change
    of it refuses the whole operation.
    """
    from gridgis.editing.validate import parent_of

    edited = {e.code: e for e in edits if e.layer == layer and e.op != "delete" and e.geometry is not None}
    if not edited:
        return edits
    gone = {e.code for e in edits if e.layer == layer and e.op == "delete"}
    parents = {parent_of(layer, c) for c in edited}
    rows = {
        str(r["code"]): r
        for _, r in frame.iterrows()
        if str(r["code"]) not in gone and parent_of(layer, str(r["code"])) in parents
    }
    out = list(edits)
    for parent in parents:
        family = {c: r.geometry for c, r in rows.items() if parent_of(layer, c) == parent}
        family.update({c: e.geometry for c, e in edited.items() if parent_of(layer, c) == parent})
        noded = node_family(family)
        for code, new in noded.items():
            if new.is_empty:
                continue  # validation names it
            if code in edited:
                edited[code].geometry = new if not _same(new, edited[code].geometry) else edited[code].geometry
            elif not _same(new, family[code]):
                row = rows[code]
                out.append(Edit(layer, "replace", code, row_properties(layer, row), new, _pinned(row)))
    return out


def with_micro_grids(
    edits: list[Edit],
    grids: gpd.GeoDataFrame,
    micro_grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    config: Any = None,
    always: bool = False,
) -> list[Edit]:
    """``edits`` plus the micro-grid edits that keep every changed grid exactly tiled.

    Parameters
    ----------
    edits : list of Edit
        Grid edits of one operation (inserts, updates, deletes).
    grids : GeoDataFrame
        The current grids the edits were computed from (to tell which outlines changed).
    micro_grids : GeoDataFrame
        The current micro-grids of every grid the edits touch (with ``version``).
    buildings : GeoDataFrame or None
        The buildings of the communities concerned (``households``).
    config : AlignmentConfig, optional
        The micro-grid household range (default 30–100).
    always : bool
        Split every changed grid, also when none of the touched grids had micro-grids (alignment).

    When a grid the edits touch has micro-grids, every grid inserted or updated with a new outline
    (also one that had none: it gave or took land next to grids that have them) is split again into
    contiguous micro-grids of whole buildings (:func:`gridgis.alignment.microgrid.split_microgrids`)
    noded to its exact outline;
    when its community has buildings, its households become theirs (the micro-grids add up to it);
    a grid of a community without buildings gets one micro-grid holding its households. Micro-grids
    keep their codes where they can (an update pinned to the stored version), others are inserted
    or deleted.
    """
    from gridgis.alignment.microgrid import split_microgrids

    current = {str(r["code"]): r for _, r in grids.iterrows()}
    grid_edits = [e for e in edits if e.layer == "grids"]
    touched_all = {e.code for e in grid_edits}
    had = {grid_of(str(c)) for c in micro_grids["code"]} & touched_all if len(micro_grids) else set()
    if not had and not always:
        return list(edits)  # grids that never had micro-grids keep none
    # one rule: once an operation touches micro-grids, every grid it gives a new outline is split again,
    # the giving side too (a grid without micro-grids that hands land to one with them was left untiled)
    resplit = [
        e
        for e in grid_edits
        if e.op != "delete"
        and e.geometry is not None
        and (
            e.op == "create"  # a grid the caller did not read is left as it is
            or (e.code in current and not shapely.equals(current[e.code].geometry, e.geometry))
        )
    ]
    retired = {e.code for e in grid_edits if e.op == "delete"}
    touched = {e.code for e in resplit} | retired
    old = micro_grids[np.array([grid_of(str(c)) in touched for c in micro_grids["code"]], dtype=bool)]
    old_rows = {str(r["code"]): r for _, r in old.iterrows()}
    out = list(edits)
    new_codes: set[str] = set()
    if resplit:
        frame = gpd.GeoDataFrame(
            {"code": [e.code for e in resplit], "name": [e.properties.get("name") for e in resplit]},
            geometry=[e.geometry for e in resplit],
            crs=STORAGE_CRS,
        )
        communities = {area_of(e.code) for e in resplit}
        bld = None
        if buildings is not None and len(buildings):
            mask = [area_of(str(c)) in communities for c in buildings["community_code"]]
            bld = buildings[mask] if any(mask) else None
        micro, _ = split_microgrids(frame, bld, config)
        complete = _buildings_complete(
            [current[c] for c in touched_all if c in current], bld if bld is not None else None
        )
        metric = metric_crs_for(frame)
        for e in resplit:
            mine = micro[micro["grid_code"] == e.code]
            noded = node_family(dict(zip(mine["code"].astype(str), mine.geometry.values)), e.geometry, metric)
            codes = [c for c in sorted(noded) if not noded[c].is_empty]
            own = {str(c): int(h) for c, h in zip(mine["code"], mine["households"])}
            if complete:
                e.properties["households"] = sum(own[c] for c in codes)
                hh = {c: own[c] for c in codes}
            else:
                target = int(plain(e.properties.get("households")) or 0)
                hh = _apportion(target, [own[c] for c in codes], [float(noded[c].area) for c in codes], codes)
            for code in codes:
                geom = noded[code]
                new_codes.add(code)
                name = str(mine.loc[mine["code"] == code, "name"].iloc[0])
                props = {"name": name, "grid_code": e.code, "households": hh[code]}
                if code in old_rows:
                    row = old_rows[code]
                    base = row_properties("micro_grids", row)
                    base.update(props)
                    out.append(Edit("micro_grids", "replace", code, base, geom, _pinned(row)))
                else:
                    out.append(Edit("micro_grids", "create", code, props, geom, None))
    for code, row in sorted(old_rows.items()):
        if code not in new_codes:
            out.append(Edit("micro_grids", "delete", code, {}, None, _pinned(row)))
    return out


def _buildings_complete(old_grids: list[Any], buildings: gpd.GeoDataFrame | None) -> bool:
    """True when the grids' recorded households are exactly their buildings' (the buildings are complete):
    then households follow the buildings; otherwise the recorded figures are kept."""
    if buildings is None or not len(buildings) or not old_grids:
        return False
    area = shapely.union_all([r.geometry for r in old_grids])
    inside = shapely.intersects(area, shapely.point_on_surface(buildings.geometry.values))
    recorded = sum(int(plain(r.get("households")) or 0) for r in old_grids)
    return recorded == int(np.nansum(np.asarray(buildings["households"], dtype=float)[inside]))


def _apportion(total: int, own: list[int], areas: list[float], codes: list[str]) -> dict[str, int]:
    """Split ``total`` households over micro-grids: each keeps its buildings' households and the rest is
    shared by area (largest remainder); when ``total`` is below the buildings' sum, by their households."""
    if not codes:
        return {}
    base = sum(own)
    if total >= base:
        weights, start, rest = np.asarray(areas, float), np.asarray(own, float), total - base
    else:
        weights, start, rest = np.asarray(own, float), np.zeros(len(own)), total
    if weights.sum() <= 0:
        weights = np.ones(len(codes))
    exact = start + rest * weights / weights.sum()
    floor = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - floor), kind="stable")[: total - int(floor.sum())]:
        floor[i] += 1
    return {c: int(h) for c, h in zip(codes, floor)}


def _pinned(row: Any) -> int | None:
    v = row.get("version") if hasattr(row, "get") else None
    return None if v is None or bool(np.isnan(v)) else int(v)


__all__ = ["SLIVER_M2", "node_edits", "node_family", "with_micro_grids"]
