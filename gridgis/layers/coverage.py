"""The one coverage rule: children tile their parent exactly, edge to edge.

Grids tile their community, communities their street, micro-grids their grid. Every path that
judges a coverage calls :func:`check_coverage` — ``gridgis check`` (:func:`gridgis.layers.hierarchy.check_city`),
alignment (:func:`gridgis.alignment.validate.validate_coverage`) and the commit check of every edit
(:func:`gridgis.editing.validate.validate_edits`) — so they cannot disagree. The rule:

- **edges match** — GEOS coverage validity (:func:`shapely.coverage_is_valid`, gap width 0) of the
  children *as stored* (EPSG:4326): no overlap and no edge that differs from its neighbour's, down to
  the last vertex (a 0.2 mm spike is an invalid edge);
- **no gap, no overlap, nothing outside** — parts of the parent covered by no child, parts covered by
  two, parts of a child outside the parent, each reported from :data:`MIN_AREA_M2` up (metric CRS);
- **same area** — the union of the children differs from the parent by at most
  :data:`TOLERANCE_M2` (symmetric difference, metric CRS).

A child reaching out of its parent is judged by :func:`outside_parent` (also one rule: further than
:data:`OUTSIDE_TOLERANCE_M` metres out), and a child in pieces by :func:`detached_parts` (a child is
one piece wherever a neighbour could take the rest), and a child that would be invalid once
written with the 7 decimals every writer keeps by :func:`unwritable` (:func:`storable` removes
what makes it so from a coverage).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely

from gridgis.crs import STORAGE_CRS, STORAGE_DECIMALS, round_to_storage

#: gap, overlap and outside parts from this area (m²) up are reported; smaller ones are rounding noise
MIN_AREA_M2 = 0.5
#: the union of the children may differ from the parent by this much (m², symmetric difference)
TOLERANCE_M2 = 1.0
#: a child may reach this far (m) out of its parent before it is reported
OUTSIDE_TOLERANCE_M = 1.0

_LOCK = threading.Lock()
_TRANSFORMERS: dict[tuple[str, str], pyproj.Transformer] = {}


def _transformer(src: str, dst: str) -> pyproj.Transformer:
    with _LOCK:
        tr = _TRANSFORMERS.get((src, dst))
        if tr is None:
            tr = _TRANSFORMERS[(src, dst)] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
        return tr


def project(geoms: Any, src: str, dst: str) -> Any:
    """``geoms`` (one geometry or an array) from ``src`` to ``dst`` (``always_xy``); None stays None."""
    tr = _transformer(src, dst)

    def fn(xy: np.ndarray) -> np.ndarray:
        with _LOCK:  # a pyproj Transformer is not thread-safe
            x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def overlay(op: str, a: Any, b: Any) -> Any:
    """``shapely.<op>(a, b)`` (difference, intersection, union), retried on repaired inputs when GEOS
    meets a topology conflict (a geometry valid in lon/lat may be invalid by a hair once projected)."""
    fn = getattr(shapely, op)
    try:
        return fn(a, b)
    except shapely.errors.GEOSException:
        return fn(shapely.make_valid(a), shapely.make_valid(b))


@dataclass
class CoverageIssue:
    """One defect of a coverage.

    ``kind`` is ``coverage_edge`` (``measure`` in m of mismatched edges), ``coverage_overlap``,
    ``coverage_gap`` or ``coverage_outside`` (``measure`` in m²); ``codes`` are the children at fault
    (for a gap: the children around it); ``geometry`` is in EPSG:4326.
    """

    kind: str
    codes: tuple[str, ...]
    measure: float
    geometry: shapely.Geometry
    metric_geometry: shapely.Geometry

    @property
    def where(self) -> tuple[float, float] | None:
        """A lon/lat point on the defect."""
        if self.geometry is None or shapely.is_empty(self.geometry):
            return None
        g = self.geometry
        p = shapely.line_interpolate_point(g, 0.5, normalized=True) if g.geom_type.endswith("LineString") else None
        p = p if p is not None else shapely.point_on_surface(g)
        return (round(p.x, STORAGE_DECIMALS), round(p.y, STORAGE_DECIMALS))


@dataclass
class CoverageCheck:
    """What :func:`check_coverage` found for one parent and its children."""

    valid: bool
    parent_area_m2: float
    union_area_m2: float
    difference_m2: float
    tolerance_m2: float
    issues: list[CoverageIssue] = field(default_factory=list)
    #: the parent's area covered by no child (EPSG:4326, polygonal; empty without a parent)
    gap: shapely.Geometry = field(default_factory=shapely.Polygon)

    @property
    def ok(self) -> bool:
        """True when edges match, nothing is reported and the union equals the parent within tolerance."""
        return self.valid and not self.issues and self.difference_m2 <= self.tolerance_m2

    def of_kind(self, kind: str) -> list[CoverageIssue]:
        return [i for i in self.issues if i.kind == kind]


def check_coverage(
    children: Sequence[Any] | np.ndarray,
    codes: Sequence[str] | None = None,
    parent: shapely.Geometry | None = None,
    *,
    metric_crs: str = "EPSG:4548",
    min_area_m2: float = MIN_AREA_M2,
    tolerance_m2: float = TOLERANCE_M2,
) -> CoverageCheck:
    """Check that ``children`` (EPSG:4326) are a valid coverage of ``parent`` (EPSG:4326 or None).

    Parameters
    ----------
    children : sequence of shapely geometries
        The children as stored (EPSG:4326); None, empty and non-polygonal ones are skipped (the
        per-feature checks report those).
    codes : sequence of str, optional
        The children's codes (default: their positions).
    parent : shapely geometry, optional
        The area they must tile; None checks only the children among themselves.
    metric_crs : str
        The metric CRS areas and lengths are measured in. Overlays run on the geometries as stored
        (their edges are straight in lon/lat); only their results are projected to be measured.
    min_area_m2, tolerance_m2 : float
        See :data:`MIN_AREA_M2` and :data:`TOLERANCE_M2`.

    Returns
    -------
    CoverageCheck

    Examples
    --------
    >>> import shapely
    >>> a, b = shapely.box(116.0, 39.9, 116.001, 39.901), shapely.box(116.001, 39.9, 116.002, 39.901)
    >>> check_coverage([a, b], ["a", "b"], shapely.box(116.0, 39.9, 116.002, 39.901)).ok
    True
    >>> spike = shapely.Polygon([(116.001, 39.9), (116.002, 39.9), (116.002, 39.901), (116.001, 39.901),
    ...                          (116.001, 39.9005), (116.000999999, 39.9005), (116.001, 39.90049)])
    >>> [(i.kind, i.codes) for i in check_coverage([a, spike], ["a", "b"]).issues]
    [('coverage_edge', ('a',)), ('coverage_edge', ('b',))]
    """
    geoms = np.asarray(list(children), dtype=object)
    names = [str(c) for c in (codes if codes is not None else range(len(geoms)))]
    keep = (
        ~shapely.is_missing(geoms) & np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
        if len(geoms)
        else np.zeros(0, bool)
    )
    geoms = geoms[keep]
    names = [n for n, k in zip(names, keep) if k]
    issues: list[CoverageIssue] = []

    def measured(g: shapely.Geometry) -> tuple[shapely.Geometry, float]:
        m = project(g, STORAGE_CRS, metric_crs)
        return m, float(shapely.area(m))

    # every overlay runs on the geometries as stored (straight edges in lon/lat); only its results
    # are projected to be measured, so a projection never makes slivers of its own
    valid = bool(shapely.coverage_is_valid(geoms)) if len(geoms) > 1 else True
    if not valid:
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        pairs = a < b
        a, b = a[pairs], b[pairs]
        if len(a):
            inner = shapely.relate_pattern(geoms[a], geoms[b], "2********")
            a, b = a[inner], b[inner]
        for x, y in zip(a, b):
            inter = overlay("intersection", geoms[x], geoms[y])
            inter_m, area = measured(inter)
            if area >= min_area_m2:
                issues.append(CoverageIssue("coverage_overlap", (names[x], names[y]), area, inter, inter_m))
        edges = shapely.coverage_invalid_edges(geoms)
        for k, e in enumerate(edges):
            if e is None or shapely.is_empty(e):
                continue
            e_m = project(e, STORAGE_CRS, metric_crs)
            issues.append(CoverageIssue("coverage_edge", (names[k],), float(shapely.length(e_m)), e, e_m))
    if not len(geoms):
        union = shapely.Polygon()
    elif valid:
        union = shapely.coverage_union_all(geoms)
    else:
        union = shapely.union_all(geoms)
    _, union_area = measured(union)
    gap: shapely.Geometry = shapely.Polygon()
    difference = 0.0
    parent_area = union_area
    if parent is not None and not shapely.is_empty(parent):
        _, parent_area = measured(parent)
        gap = polygonal_part(overlay("difference", parent, union))
        outside = polygonal_part(overlay("difference", union, parent))
        _, gap_area = measured(gap)
        _, outside_area = measured(outside)
        difference = gap_area + outside_area
        tree = shapely.STRtree(geoms) if len(geoms) else None
        for kind, parts in (("coverage_gap", gap), ("coverage_outside", outside)):
            for part in shapely.get_parts(parts):
                part_m, area = measured(part)
                if area < min_area_m2:
                    continue
                near = sorted(names[j] for j in tree.query(part, predicate="intersects")) if tree is not None else []
                issues.append(CoverageIssue(kind, tuple(near), area, part, part_m))
    return CoverageCheck(
        valid=valid,
        parent_area_m2=parent_area,
        union_area_m2=union_area,
        difference_m2=difference,
        tolerance_m2=tolerance_m2,
        issues=issues,
        gap=gap,
    )


def polygonal_part(geom: shapely.Geometry | None) -> shapely.Geometry:
    """The polygons of ``geom`` (an overlay may add lines or points); an empty Polygon when none.

    >>> polygonal_part(shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (2, 2)])])).wkt
    'POLYGON ((1 0, 1 1, 0 1, 0 0, 1 0))'
    """
    if geom is None or shapely.is_empty(geom):
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def outside_parent(
    child_metric: Any,
    parent_metric: Any,
    tolerance_m: float = OUTSIDE_TOLERANCE_M,
    min_area_m2: float = 1e-3,
    grown_parent_metric: Any = None,
) -> tuple[Any, np.ndarray]:
    """The parts of children (metric) further than ``tolerance_m`` out of their parents, and their areas.

    Vectorized over equal-length arrays; a part counts (non-zero area) when its area exceeds
    ``min_area_m2``. ``grown_parent_metric``: the parents already buffered by ``tolerance_m``.

    >>> import shapely
    >>> parts, areas = outside_parent([shapely.box(0, 0, 12, 10)], [shapely.box(0, 0, 10, 10)])
    >>> [round(float(a), 1) for a in areas]
    [10.0]
    """
    child_metric = np.asarray(child_metric, dtype=object)
    grown = (
        np.asarray(grown_parent_metric, dtype=object)
        if grown_parent_metric is not None
        else shapely.buffer(np.asarray(parent_metric, dtype=object), tolerance_m)
    )
    outside = overlay("difference", child_metric, grown)
    area = shapely.area(outside)
    area = np.where(area > min_area_m2, area, 0.0)
    return outside, area


def takes_land(layer: str, kind: Any = None) -> bool:
    """Whether a sibling can take a detached part of its neighbour (:func:`detached_parts`): every
    community and micro-grid, and every grid but a dedicated one (专属网格 cover one institution and
    take no land from their neighbours, as alignment keeps them fixed).

    >>> takes_land("grids", "basic"), takes_land("grids", "dedicated"), takes_land("micro_grids")
    (True, False, True)
    """
    return not (layer == "grids" and str(kind) == "dedicated")


def detached_parts(child: shapely.Geometry | None, siblings: Sequence[Any] | np.ndarray) -> list[shapely.Geometry]:
    """The one contiguity rule: the parts of ``child`` that are detached from it.

    A grid (a community, a micro-grid) is one piece: one worker walks it. Of a child in several
    parts, every part but its largest that shares an edge (a line, not a point) with a sibling is
    detached: that neighbour could take it. ``siblings`` are the neighbours that can take land
    (:func:`takes_land`). A part bordering none (an island of the parent itself, such as a community
    in two parts, or land between a dedicated grid and the community's edge) is not. Geometries as
    stored (EPSG:4326); the parts are returned as stored, largest first.

    >>> a = shapely.MultiPolygon([shapely.box(0, 0, 2, 1), shapely.box(3, 0, 4, 1)])
    >>> [p.bounds for p in detached_parts(a, [shapely.box(2, 0, 3, 1)])]
    [(3.0, 0.0, 4.0, 1.0)]
    >>> detached_parts(a, [shapely.box(0, 1, 2, 2)])  # the small part borders no sibling: an island
    []
    """
    if child is None or shapely.is_empty(child) or shapely.get_num_geometries(child) < 2:
        return []
    parts = shapely.get_parts(polygonal_part(child))
    if len(parts) < 2:
        return []
    parts = parts[np.argsort(-shapely.area(parts), kind="stable")]
    others = np.asarray([g for g in siblings if g is not None and not shapely.is_empty(g)], dtype=object)
    if not len(others):
        return []
    tree = shapely.STRtree(others)
    found = []
    for part in parts[1:]:
        near = others[tree.query(part, predicate="intersects")]
        if len(near) and bool(np.any(shapely.relate_pattern(part, near, "****1****"))):
            found.append(part)
    return found


def unwritable(geoms: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Positions of the polygons (EPSG:4326) that are valid as stored but invalid once their
    coordinates are rounded to :data:`gridgis.crs.STORAGE_DECIMALS` decimals (every GeoJSON export
    and API answer): a notch or a tooth narrower than a storage step (about 1 cm) comes back as a
    spike or a crossing ring. Writers repair such a polygon (:func:`gridgis.crs.round_to_storage`);
    a producer should not need it (:func:`storable`).

    >>> notch = shapely.Polygon([(116.0, 39.9), (116.001, 39.9), (116.001, 39.901), (116.00050004, 39.901),
    ...                          (116.0005, 39.90099994), (116.00049996, 39.901), (116.0, 39.901)])
    >>> unwritable([shapely.box(116.0, 39.9, 116.001, 39.901), notch]).tolist()
    [1]
    """
    geoms = np.asarray(list(geoms), dtype=object)
    if not len(geoms):
        return np.zeros(0, dtype=np.int64)
    present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    folded = present[~shapely.is_valid(round_to_storage(geoms[present], repair=False))]
    return folded[shapely.is_valid(geoms[folded])]


def _edge_faults(geoms: np.ndarray) -> float:
    """Length (degrees) of the edges of a coverage that do not match a neighbour's (0: a valid coverage)."""
    if len(geoms) < 2 or bool(shapely.coverage_is_valid(geoms)):
        return 0.0
    return float(np.nansum(shapely.length(shapely.coverage_invalid_edges(geoms))))


def _folded(geoms: np.ndarray) -> np.ndarray:
    """Polygons invalid as they are or once rounded to storage (True), of a coverage (EPSG:4326)."""
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    bad = np.zeros(len(geoms), dtype=bool)
    if present.any():
        g = geoms[present]
        bad[present] = ~shapely.is_valid(g) | ~shapely.is_valid(round_to_storage(g, repair=False))
    return bad


def storable(geoms: Sequence[Any] | np.ndarray, metric_crs: str | None = None) -> np.ndarray:
    """A coverage (EPSG:4326) whose polygons all stay valid once written (:func:`unwritable`).

    Writing rounds every coordinate to a storage step (1e-7°, about 1 cm); vertices that lie
    closer than that to each other can round so that a ring folds back on itself (a notch or tooth
    a tenth of a millimetre wide becomes a spike). In each polygon that would be unwritable, every
    group of its vertices within 1.5 steps of each other (diagonal of a step) becomes one vertex:
    the one most polygons share (a junction), then the lowest. The same exact coordinates are
    replaced in every polygon that has them, so shared edges stay shared and the coverage valid (a
    coverage whose edges already differed somewhere gets no more such edges).
    A polygon a projection left invalid by such vertices (crossing by a fraction of a millimetre) is
    treated the same way. A change is kept only when no polygon it touches is left invalid, as
    stored or written, that was not before; what cannot be so fixed (two sides of a neck a
    centimetre apart) is left for :func:`unwritable` to report. Every other polygon is returned as
    it came. With ``metric_crs`` (the CRS the caller measures in), no change is kept that leaves a
    polygon invalid once projected there.

    >>> tooth = [(116.0005, 39.90049996), (116.00050006, 39.9005), (116.0005, 39.90050004)]
    >>> left = shapely.Polygon([(116.0, 39.9), (116.0005, 39.9), *tooth, (116.0005, 39.901), (116.0, 39.901)])
    >>> right = shapely.Polygon([(116.0005, 39.9), (116.001, 39.9), (116.001, 39.901), (116.0005, 39.901), *tooth[::-1]])
    >>> out = storable([left, right])
    >>> unwritable([left, right]).tolist(), unwritable(out).tolist(), bool(shapely.coverage_is_valid(out))
    ([0, 1], [], True)
    """
    out = np.asarray(list(geoms), dtype=object).copy()
    bad = np.flatnonzero(_folded(out))
    if not len(bad):
        return out
    step = 10.0**-STORAGE_DECIMALS
    near = 1.5 * step
    tree = shapely.STRtree(out)
    for k in bad:
        if not _folded(out[k : k + 1]).any():
            continue  # fixed with a neighbour's vertices
        xy = np.unique(shapely.get_coordinates(out[k]), axis=0)
        vertices = shapely.points(xy)
        a, b = shapely.STRtree(vertices).query(vertices, predicate="dwithin", distance=near)
        close = a != b
        a, b = a[close], b[close]
        group = np.arange(len(xy))
        for _ in range(len(xy)):  # connected groups of close vertices: each takes its lowest member
            merged = group.copy()
            np.minimum.at(merged, a, group[b])
            if (merged == group).all():
                break
            group = merged
        members = [np.flatnonzero(group == g) for g in np.unique(group)]
        # a group whose vertices all round to one point is harmless to writing (they become one)
        rounded = np.round(xy, STORAGE_DECIMALS)
        crossed = not shapely.is_valid(out[k])  # then merging is what fixes it, rounded or not
        members = [m for m in members if len(m) > 1 and (crossed or len(np.unique(rounded[m], axis=0)) > 1)]
        for m in members:
            if not _folded(out[k : k + 1]).any():
                break
            pts = xy[m]
            for _ in range(4):  # the group grows over the vertices its neighbours have near it
                touched = np.unique(tree.query(shapely.points(pts), predicate="intersects")[1])
                touched = touched[~shapely.is_missing(out[touched]) & ~shapely.is_empty(out[touched])]
                theirs = np.unique(shapely.get_coordinates(out[touched]), axis=0)
                gap = np.hypot(theirs[:, None, 0] - pts[None, :, 0], theirs[:, None, 1] - pts[None, :, 1])
                grown = theirs[(gap < near).any(axis=1)]
                if len(grown) == len(pts):
                    break
                pts = grown
            share = shapely.intersects(out[touched][:, None], shapely.points(pts)[None, :]).sum(axis=0)
            keep = pts[np.lexsort((pts[:, 1], pts[:, 0], -share))[0]]
            mapping = {(float(x), float(y)): (float(keep[0]), float(keep[1])) for x, y in pts}

            def snap(c: np.ndarray, mapping: dict = mapping) -> np.ndarray:
                return np.array([mapping.get((float(x), float(y)), (x, y)) for x, y in c], dtype=float).reshape(-1, 2)

            try:
                moved = shapely.remove_repeated_points(shapely.transform(out[touched], snap), 0.0)
            except shapely.errors.GEOSException:
                continue  # a ring collapsed: not a notch
            if _no_worse(out[touched], moved, metric_crs):
                out[touched] = moved
        if _folded(out[k : k + 1]).any():
            _onto_segments(out, int(k), tree, near, metric_crs)
    return out


def _no_worse(before: np.ndarray, moved: np.ndarray, metric_crs: str | None = None) -> bool:
    """Whether ``moved`` may replace ``before`` (the same polygons of a coverage, EPSG:4326): no
    polygon folded (invalid as stored or written) that was not, none invalid as stored that was
    valid, no more folded ones, no more unmatched edges, and the area kept within a hundred square
    storage steps; with ``metric_crs``, none invalid once projected there that was valid (a
    projection can cross edges a fraction of a millimetre apart)."""
    step = 10.0**-STORAGE_DECIMALS
    was, now = _folded(before), _folded(moved)
    if metric_crs is not None:
        measured_before = shapely.is_valid(project(before, STORAGE_CRS, metric_crs))
        if (~shapely.is_valid(project(moved, STORAGE_CRS, metric_crs)) & measured_before).any():
            return False
    return bool(
        not (now & ~was).any()
        and not (~shapely.is_valid(moved) & shapely.is_valid(before)).any()
        and now.sum() <= was.sum()
        and _edge_faults(moved) <= _edge_faults(before) * (1 + 1e-9)
        and abs(float(shapely.area(moved).sum() - shapely.area(before).sum())) <= 100 * step * step
    )


def _rings_edited(geom: shapely.Geometry, edit) -> shapely.Geometry:
    """``geom`` (a Polygon or MultiPolygon) with every ring's closed coordinates passed through
    ``edit`` (which returns closed coordinates, or None when the ring collapsed: ValueError)."""
    polys = []
    for part in shapely.get_parts(geom):
        rings = [shapely.get_exterior_ring(part)] + [
            shapely.get_interior_ring(part, h) for h in range(shapely.get_num_interior_rings(part))
        ]
        coords = [edit(shapely.get_coordinates(r)) for r in rings]
        if any(c is None for c in coords):
            raise ValueError("a ring collapsed")
        polys.append(shapely.Polygon(coords[0], coords[1:]))
    return polys[0] if len(polys) == 1 and geom.geom_type == "Polygon" else shapely.MultiPolygon(polys)


def _without_spikes(ring: np.ndarray) -> np.ndarray | None:
    """A closed ring without repeated points and without spikes (``a, b, a`` becomes ``a``)."""
    pts = [tuple(p) for p in ring[:-1]]
    changed = True
    while changed and len(pts) >= 3:
        changed = False
        for i in range(len(pts)):
            if pts[i] == pts[(i + 1) % len(pts)]:
                del pts[i]
                changed = True
                break
            if pts[i - 1] == pts[(i + 1) % len(pts)]:
                for j in sorted({i, (i + 1) % len(pts)}, reverse=True):
                    del pts[j]
                changed = True
                break
    if len(pts) < 3:
        return None
    return np.array(pts + [pts[0]], dtype=float)


def _onto_segments(out: np.ndarray, k: int, tree: shapely.STRtree, near: float, metric_crs: str | None = None) -> None:
    """Fix polygon ``k`` of ``out`` in place where one of its vertices lies within ``near`` of one
    of its own segments (a sliver wedge a millimetre wide, folded once written): the segment is
    made to pass through the vertex in every polygon that has it, which turns the wedge into a
    spike of no area, and spikes are removed. Kept only when :func:`_no_worse`."""
    geom = out[k]
    for part in shapely.get_parts(geom):
        for ring in [shapely.get_exterior_ring(part)] + [
            shapely.get_interior_ring(part, h) for h in range(shapely.get_num_interior_rings(part))
        ]:
            c = shapely.get_coordinates(ring)
            n = len(c) - 1
            if n < 4:
                continue
            segs = shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1))
            vi, si = shapely.STRtree(segs).query(shapely.points(c[:-1]), predicate="dwithin", distance=near)
            for v, j in zip(vi.tolist(), si.tolist()):
                if j == v or (j + 1) % n == v or not _folded(out[k : k + 1]).any():
                    continue
                a, b, p = tuple(c[j]), tuple(c[j + 1]), tuple(c[v])
                touched = np.unique(tree.query(segs[j], predicate="intersects"))
                touched = touched[~shapely.is_missing(out[touched]) & ~shapely.is_empty(out[touched])]

                def through(r: np.ndarray, a=a, b=b, p=p) -> np.ndarray | None:
                    pts = [tuple(q) for q in r]
                    res = [pts[0]]
                    for q0, q1 in itertools.pairwise(pts):
                        if {q0, q1} == {a, b}:
                            res.append(p)
                        res.append(q1)
                    return _without_spikes(np.array(res, dtype=float))

                try:
                    moved = np.array([_rings_edited(g, through) for g in out[touched]], dtype=object)
                except (ValueError, shapely.errors.GEOSException):
                    continue
                if _no_worse(out[touched], moved, metric_crs):
                    out[touched] = moved


__all__ = [
    "MIN_AREA_M2",
    "OUTSIDE_TOLERANCE_M",
    "TOLERANCE_M2",
    "CoverageCheck",
    "CoverageIssue",
    "check_coverage",
    "detached_parts",
    "outside_parent",
    "overlay",
    "polygonal_part",
    "project",
    "storable",
    "takes_land",
    "unwritable",
]
