"""The planar partition of one community into faces and atoms (metric CRS, private to proposals).

Faces come from polygonizing the noded boundaries of the community, its grids, its compounds and,
inside large compounds, the lines between buildings (Voronoi regions of each building's outline).
All vertices are snapped to ``grid_size`` metres, so faces share their edges exactly and any union
of faces is an exact coverage. An *atom* is what a proposal moves as one piece:

- ``compound``: a compound (overlapping compounds together) that is not large, or the part of a
  large compound's group held by its small compounds;
- ``building``: the region of one building inside a large compound;
- ``land``: one face outside every compound (roads, open space).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.overlap import building_compounds
from gridgis.alignment.roads import LandDivision, divide_land, land_labels
from gridgis.crs import STORAGE_RESOLUTION_M


@dataclass
class CommunityInput:
    """One community's layers in the metric CRS (already clipped, polygonal)."""

    code: str
    area: shapely.Geometry
    grid_codes: list[str]
    grid_geoms: np.ndarray
    compound_codes: list[str]
    compound_geoms: np.ndarray
    compound_households: np.ndarray
    building_codes: list[str] = field(default_factory=list)
    building_geoms: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    building_households: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: dedicated grids (专属网格: a school, hospital …): they keep their land, take no compound and are
    #: left out of household balancing
    dedicated: frozenset[str] = frozenset()
    #: explanations found while splitting the city into communities (e.g. a compound crossing its border)
    notes: list[dict] = field(default_factory=list)
    #: road centre lines that may cut open land (:func:`gridgis.alignment.roads.road_cut_lines`)
    roads: np.ndarray | None = None
    #: the compound of each building (index into ``compound_codes``, -1: none or another community's),
    #: by :func:`gridgis.alignment.overlap.building_compounds`; None: by footprint alone
    building_compound: np.ndarray | None = None

    @property
    def has_buildings(self) -> bool:
        return len(self.building_codes) > 0


@dataclass
class Partition:
    """Faces, atoms and their adjacency for one community."""

    faces: np.ndarray
    face_area: np.ndarray
    face_grid: np.ndarray  # current grid code per face (None in a gap)
    face_group: np.ndarray  # compound group per face (-1 outside compounds)
    face_atom: np.ndarray
    face_households: np.ndarray
    face_buildings: list[list[int]]  # building indices whose point lies in the face
    groups: list[list[int]]  # compound indices per group
    group_large: np.ndarray
    group_households: np.ndarray
    atoms: pd.DataFrame  # atom, kind, group, building, households, area
    atom_adjacency: dict[int, dict[int, float]]
    #: (lo, hi, shared length) of neighbouring faces, as :func:`_face_adjacency` gives them (kept so
    #: later steps need not measure the shared edges again)
    face_adjacency: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _snap(geoms: np.ndarray, grid_size: float) -> np.ndarray:
    return shapely.set_precision(geoms, grid_size) if len(geoms) else geoms


def _clip(geoms: np.ndarray, area: shapely.Geometry, grid_size: float) -> np.ndarray:
    if not len(geoms):
        return geoms
    shapely.prepare(area)
    inside = shapely.contains_properly(area, geoms)
    out = geoms.copy()
    rest = ~inside
    if rest.any():
        out[rest] = [_poly(g) for g in shapely.intersection(geoms[rest], area, grid_size=grid_size)]
    return out


def _poly(g: shapely.Geometry) -> shapely.Geometry:
    if g is None or g.is_empty:
        return shapely.Polygon()
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _compound_groups(geoms: np.ndarray, min_overlap: float) -> list[list[int]]:
    """Compounds that overlap each other by more than ``min_overlap`` m² move together."""
    n = len(geoms)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if n:
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        if len(a):
            inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
            for i, j in zip(a[inter > min_overlap], b[inter > min_overlap]):
                ri, rj = find(int(i)), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        if not geoms[i].is_empty:
            groups.setdefault(find(i), []).append(i)
    return [groups[k] for k in sorted(groups)]


def _building_regions(bgeoms: np.ndarray, grid_size: float, step: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Sample points along each outline (labelled by position) for a Voronoi split between them."""
    pts, labels = [], []
    for k, g in enumerate(bgeoms):
        if g.is_empty:
            continue
        if g.geom_type in ("Polygon", "MultiPolygon"):
            ring = shapely.segmentize(shapely.boundary(g), step)
            xy = shapely.get_coordinates(ring)
        else:
            xy = shapely.get_coordinates(g)
        if not len(xy):
            xy = shapely.get_coordinates(shapely.point_on_surface(g))
        pts.append(xy)
        labels.append(np.full(len(xy), k))
    xy = np.round(np.concatenate(pts) / grid_size) * grid_size
    lab = np.concatenate(labels)
    # the distinct points in (x, y) order, each with the label of its first occurrence (what
    # np.unique(axis=0, return_index=True) gives, without its structured-array sort)
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    xy = xy[order]
    first = np.r_[True, (xy[1:, 0] != xy[:-1, 0]) | (xy[1:, 1] != xy[:-1, 1])] if len(xy) else np.zeros(0, bool)
    return xy[first], lab[order[first]]


def _voronoi_cells(xy: np.ndarray, lab: np.ndarray, extend_to: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The Voronoi cells of the points (polygons) and the label of each."""
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=extend_to, ordered=True))
    polys = np.isin(shapely.get_type_id(cells), (3, 6)) & ~shapely.is_empty(cells)
    if len(cells) != len(xy) or not polys.all():
        # degenerate input: label each cell by the point it holds
        cells = cells[polys]
        ci, pi = shapely.STRtree(shapely.points(xy)).query(cells, predicate="intersects")
        first = np.r_[True, ci[1:] != ci[:-1]] if len(ci) else np.zeros(0, bool)
        cell_lab = np.full(len(cells), -1)
        cell_lab[ci[first]] = lab[pi[first]]
        return cells, cell_lab
    return cells, lab


def _border_lines(
    cells: np.ndarray, cell_lab: np.ndarray, within: shapely.Geometry, tolerance: float = 0.2
) -> list[shapely.Geometry]:
    """The borders between differently labelled cells (simplified by ``tolerance`` m), inside ``within``."""
    p, q, a, b = _shared_segments(cells)
    border = cell_lab[a] != cell_lab[b]
    if not border.any():
        return []
    segs = shapely.linestrings(np.stack([p[border], q[border]], axis=1))
    merged = shapely.line_merge(shapely.multilinestrings(segs))
    clipped = shapely.intersection(shapely.simplify(merged, tolerance) if tolerance else merged, within)
    return [_overshoot(clipped, 0.001)]


def _voronoi_lines(
    within: shapely.Geometry, xy: np.ndarray, lab: np.ndarray, extend_to: shapely.Geometry | None = None
) -> list[shapely.Geometry]:
    """The borders between the Voronoi regions of differently labelled points, inside ``within``."""
    if len(np.unique(lab)) < 2 or within.is_empty:
        return []
    cells, cell_lab = _voronoi_cells(xy, lab, extend_to or within)
    return _border_lines(cells, cell_lab, within)


def _overshoot(lines: shapely.Geometry, d: float) -> shapely.Geometry:
    """``lines`` with both ends of every part prolonged by ``d`` metres along their end segments.

    A line clipped to a polygon ends on its boundary only up to rounding; snapped to the grid, the end
    can miss the boundary by a fraction of a grid cell and stay a dangle that cuts no face (a face then
    spans two Voronoi regions, and where later grid lines do cut it, re-aligning labels it differently).
    Prolonged ends cross the boundary, and a crossing is always noded; the prolongations are dangles
    outside the clipped area, which polygonizing drops.
    """
    parts = [g for g in shapely.get_parts(lines) if g.geom_type == "LineString" and not g.is_empty]
    if not parts:
        return lines
    xy, idx = shapely.get_coordinates(np.array(parts, dtype=object), return_index=True)
    starts = np.r_[0, np.flatnonzero(idx[1:] != idx[:-1]) + 1]
    ends = np.r_[starts[1:] - 1, len(idx) - 1]
    ok = ends > starts
    for head, nxt in ((starts[ok], starts[ok] + 1), (ends[ok], ends[ok] - 1)):
        v = xy[head] - xy[nxt]
        n = np.hypot(v[:, 0], v[:, 1])
        good = n > 0
        xy[head[good]] += v[good] / n[good, None] * d
    return shapely.multilinestrings(shapely.linestrings(xy, indices=idx))


def _shared_segments(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments that two polygons share exactly: their ends (p, q: (n, 2) arrays, p before q in (x, y)
    order), the two polygons (lower index first), in (p, q) order."""
    empty = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(polys) < 2:
        return empty
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    xy, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[:-1] == ring_idx[1:]
    # number the distinct vertices in (x, y) order (complex numbers sort by real, then imaginary
    # part): a segment is then one integer, and one sort of integers finds the shared ones
    vertices, vid = np.unique(xy[:, 0] + 1j * xy[:, 1], return_inverse=True)
    a, b = vid[:-1][same], vid[1:][same]
    poly = ring_poly[ring_idx[:-1][same]]
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    order = np.argsort(lo * len(vertices) + hi, kind="stable")
    lo, hi, poly = lo[order], hi[order], poly[order]
    i = np.flatnonzero((lo[1:] == lo[:-1]) & (hi[1:] == hi[:-1]) & (poly[1:] != poly[:-1]))
    if not len(i):
        return empty
    ends = np.stack([vertices.real, vertices.imag], axis=1)
    return ends[lo[i]], ends[hi[i]], np.minimum(poly[i], poly[i + 1]), np.maximum(poly[i], poly[i + 1])


def _face_adjacency(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of faces sharing an edge (exactly equal segments) and the shared length."""
    p, q, lo, hi = _shared_segments(faces)
    if not len(lo):
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    length = np.hypot(q[:, 0] - p[:, 0], q[:, 1] - p[:, 1])
    key = lo * len(faces) + hi
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=length)
    return uniq // len(faces), uniq % len(faces), total


def label_components(n: int, label: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Component id (its lowest face index) of every face in the graph of edges joining faces of
    the same label."""
    same = label[lo] == label[hi]
    a, b = np.asarray(lo[same], dtype=np.int64), np.asarray(hi[same], dtype=np.int64)
    comp = np.arange(n, dtype=np.int64)
    while len(a):
        ca, cb = comp[a], comp[b]
        if (ca == cb).all():
            break
        low = np.minimum(ca, cb)
        np.minimum.at(comp, ca, low)  # hook each root onto the lowest root it meets
        np.minimum.at(comp, cb, low)
        while True:  # and point every face straight at its root
            jumped = comp[comp]
            if (jumped == comp).all():
                break
            comp = jumped
    return comp


def _shared_by_area(
    group_hh: np.ndarray,
    face_group: np.ndarray,
    face_area: np.ndarray,
    width: np.ndarray,
    fi: np.ndarray,
    ki: np.ndarray,
) -> np.ndarray:
    """Households per face when there are no buildings: each compound group's figure shared by area
    over the faces that count for it, so the faces of a community hold exactly its compounds' total.

    - A face counts for one group only (``face_group``), yet groups may overlap by up to the sliver
      area (a sliver along a compound's edge is a compound of its own). Shared over each group's
      own outline, the overlap's share of the group that does not hold it was lost; shared over the
      faces it holds, nothing is. A group holding no face at all (wholly under another) shares its
      figure over the faces inside its outline (``fi``/``ki``: pairs of a face inside a group).
    - Hairline faces (narrower than :data:`HAIRLINE_M`: a grid line read back from storage a hair
      beside a compound line) hold none, unless the group has nothing else. Such a face can join a
      neighbouring atom (:func:`_hairlines_follow_neighbours`); with a share it made empty land an
      atom "with households" (0.00005 of one), which rebalancing then moved on its own or no longer
      crossed as empty land, so re-aligning a stored proposal moved compounds.
    """
    n = len(face_area)
    out = np.zeros(n)
    weight = np.where(width >= HAIRLINE_M, face_area, 0.0)
    held = face_group >= 0
    own = np.bincount(face_group[held], weights=weight[held], minlength=len(group_hh))
    thin = own <= 0  # a group of hairlines only: shared over them after all
    if thin[face_group[held]].any():
        weight = np.where(held & thin[np.maximum(face_group, 0)], face_area, weight)
        own = np.bincount(face_group[held], weights=weight[held], minlength=len(group_hh))
    out[held] = group_hh[face_group[held]] * weight[held] / np.maximum(own[face_group[held]], 1e-12)
    empty = (own <= 0) & (group_hh > 0)
    if empty.any():
        pick = empty[ki]
        fi, ki = fi[pick], ki[pick]
        inside = np.bincount(ki, weights=face_area[fi], minlength=len(group_hh))
        np.add.at(out, fi, group_hh[ki] * face_area[fi] / np.maximum(inside[ki], 1e-12))
    return out


def _pick_first(n: int, left: np.ndarray, right: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each of ``n`` items, the ``right`` with the lowest ``rank`` among its pairs (-1 when none)."""
    out = np.full(n, -1, dtype=np.int64)
    if len(left):
        order = np.lexsort((rank[right], left))
        left, right = left[order], right[order]
        first = np.r_[True, left[1:] != left[:-1]]
        out[left[first]] = right[first]
    return out


#: a face narrower than this (twice its area over its perimeter, in metres) is a hairline: the sliver
#: between two lines that are one line up to the storage precision (7 decimals move a vertex up to ~1 cm)
HAIRLINE_M = 2 * STORAGE_RESOLUTION_M
#: atoms touching along less than this (metres) are not neighbours: a contact a few storage steps
#: long is a point up to rounding, and a grid joined through it is pinched to a point once stored
MIN_CONTACT_M = 4 * STORAGE_RESOLUTION_M


def _contacts(n: int, a: np.ndarray, b: np.ndarray, length: np.ndarray) -> dict[int, dict[int, float]]:
    """Atom adjacency from face contacts (atom pairs ``a``–``b`` along ``length`` metres): total
    shared length per pair, leaving out pairs touching along less than :data:`MIN_CONTACT_M`
    unless one of the two atoms has no longer contact at all (it still needs a neighbour)."""
    total: dict[tuple[int, int], float] = {}
    for x, y, ln in zip(a.tolist(), b.tolist(), length.tolist()):
        if x != y:
            key = (x, y) if x < y else (y, x)
            total[key] = total.get(key, 0.0) + ln
    has_long = np.zeros(n, dtype=bool)
    for (x, y), ln in total.items():
        if ln >= MIN_CONTACT_M:
            has_long[x] = has_long[y] = True
    adjacency: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for (x, y), ln in sorted(total.items()):
        if ln >= MIN_CONTACT_M or not has_long[x] or not has_long[y]:
            adjacency[x][y] = ln
            adjacency[y][x] = ln
    return adjacency


def _hairlines_follow_neighbours(
    keys: list[tuple[str, int, int]],
    faces: np.ndarray,
    face_area: np.ndarray,
    face_grid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    length: np.ndarray,
) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """Hairline faces join the atom of the neighbouring face of their own grid sharing most edge.

    Two nearly coincident lines (a grid line read back from storage, or from GeoJSON rounded to 7
    decimals, beside the compound or Voronoi line it was drawn along) leave faces under 2 cm wide.
    Labelled on their own (by the compound or land nearest their point), such a face can belong to
    another atom than the land around it, and re-aligning would move it; joined to its neighbour it
    moves only with it. Faces are taken in order, so the result is deterministic.

    Returns the keys and, in the order they were taken, the ``(hairline, neighbour)`` pairs of the
    hairlines whose key changed (see :func:`_pieces`).
    """
    n = len(faces)
    followed: list[tuple[int, int]] = []
    if not n or not len(lo):
        return keys, followed
    width = 2 * face_area / np.maximum(shapely.length(faces), 1e-12)
    hair = width < HAIRLINE_M
    if not hair.any():
        return keys, followed
    keys = list(keys)
    grid = np.array(["" if g is None else str(g) for g in face_grid], dtype=object)
    nbrs: dict[int, list[tuple[int, float]]] = {}
    for a, b, ln in zip(lo.tolist(), hi.tolist(), length.tolist()):
        if hair[a]:
            nbrs.setdefault(a, []).append((b, ln))
        if hair[b]:
            nbrs.setdefault(b, []).append((a, ln))
    resolved = ~hair
    patient = True  # a hairline whose own-grid neighbours are hairlines too waits for them first
    for _ in range(16):  # a hairline beside hairlines takes the key its neighbour took
        todo = [f for f in np.flatnonzero(~resolved).tolist() if f in nbrs]
        done = False
        for f in todo:
            same = [(b, ln) for b, ln in nbrs[f] if grid[b] == grid[f]]
            options = [(b, ln) for b, ln in (same or nbrs[f]) if resolved[b]]
            if not options and not patient:
                options = [(b, ln) for b, ln in nbrs[f] if resolved[b]]
            if not options:
                continue
            b = min(options, key=lambda o: (grid[o[0]] != grid[f], -o[1], o[0]))[0]
            if keys[f] != keys[b]:
                followed.append((f, b))
            keys[f] = keys[b]
            resolved[f] = done = True
        if not done:
            if not patient:
                break
            patient = False
        else:
            patient = True
    return keys, followed


def _pieces(
    keys: list[tuple],
    lo: np.ndarray,
    hi: np.ndarray,
    length: np.ndarray,
    hair: np.ndarray,
    followed: list[tuple[int, int]],
) -> np.ndarray:
    """The connected piece (component id) of every face among the faces of its key.

    A hairline that took another atom's key (:func:`_hairlines_follow_neighbours`) goes with the
    piece of the neighbour it followed, but never joins pieces: a grid line read back a hair inside
    a compound leaves a strip of the compound along it, labelled after the land beside it, and such
    strips ran on along the compound's edge to other land of the same key. Joined through them, a
    separate piece of land (22 m², field seed 550) became part of its compound's atom, and
    re-aligning the stored proposal moved it. Without the strips, the pieces are those of the
    partition the proposal was made from. A piece of hairlines only (cut off by such strips) joins
    the piece of its key it touches along most edge: it is no piece of its own."""
    n = len(keys)
    if not n:
        return np.zeros(0, dtype=np.int64)
    first = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    label = np.array([first[key] for key in keys], dtype=np.int64)
    if not followed:
        return label_components(n, label, lo, hi)
    moved = np.zeros(n, dtype=bool)
    moved[[f for f, _ in followed]] = True
    bridge = ~moved[lo] & ~moved[hi]
    comp = label_components(n, label, lo[bridge], hi[bridge])
    for f, b in followed:  # in the order taken: a neighbour followed is settled first
        comp[f] = comp[b]
    same = label[lo] == label[hi]
    for _ in range(8):
        thin = np.ones(n, dtype=bool)  # pieces made of hairlines only
        np.logical_and.at(thin, comp, hair)
        a, b, ln = lo[same], hi[same], length[same]
        a, b, ln = np.r_[a, b], np.r_[b, a], np.r_[ln, ln]
        pick = thin[comp[a]] & ~thin[comp[b]]
        if not pick.any():
            break
        totals: dict[tuple[int, int], float] = {}
        for ca, cb, x in zip(comp[a[pick]].tolist(), comp[b[pick]].tolist(), ln[pick].tolist()):
            totals[(ca, cb)] = totals.get((ca, cb), 0.0) + x
        target: dict[int, int] = {}
        for (ca, cb), x in sorted(totals.items()):
            if ca not in target or x > totals[(ca, target[ca])]:
                target[ca] = cb
        remap = np.arange(n, dtype=np.int64)  # component ids are face indices
        remap[list(target)] = list(target.values())
        comp = remap[comp]
    return comp


def _onto_lines(
    geoms: np.ndarray, lines: shapely.Geometry | np.ndarray, tolerance: float, grid_size: float
) -> np.ndarray:
    """``geoms`` with every vertex within ``tolerance`` metres of ``lines`` (and not on them, up to
    ``grid_size``) moved onto them: onto a vertex of the lines when one is that near, else onto the
    nearest point of their segments.

    Grid lines drawn along compound, Voronoi or community lines come back from storage up to a
    storage step beside them (7 decimals of a degree); beside their line they would leave hairline
    faces whose labels and contacts differ from the ones the aligned grids were made of. Moved back,
    they are that line again. Each vertex moves on its own, so grids sharing a vertex keep sharing it.
    """
    parts = shapely.get_parts(lines) if lines is not None else np.array([], dtype=object)
    if not len(geoms) or not len(parts):
        return geoms
    xy, idx = shapely.get_coordinates(parts, return_index=True)
    if len(xy) < 2:
        return geoms
    same = idx[1:] == idx[:-1]
    segs = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    flat = np.unique(xy[:, 0] + 1j * xy[:, 1])  # the distinct vertices, in (x, y) order
    verts = np.stack([flat.real, flat.imag], axis=1)
    vtree, stree = shapely.STRtree(shapely.points(verts)), shapely.STRtree(segs)

    def move(c: np.ndarray) -> np.ndarray:
        out = c.copy()
        pts = shapely.points(c)
        # a vertex on a line already (where a grid line crosses it) stays
        si_, di = stree.query_nearest(pts, max_distance=tolerance, all_matches=False, return_distance=True)
        near = si_[0][di > grid_size]
        pi, vi = vtree.query_nearest(pts[near], max_distance=tolerance, all_matches=False)
        out[near[pi]] = verts[vi]
        rest = np.ones(len(near), dtype=bool)
        rest[pi] = False
        ri = near[rest]
        qi, si = stree.query_nearest(pts[ri], max_distance=tolerance, all_matches=False)
        if len(qi):
            on = shapely.line_interpolate_point(segs[si], shapely.line_locate_point(segs[si], pts[ri[qi]]))
            out[ri[qi]] = shapely.get_coordinates(on)
        return out

    out = shapely.transform(geoms, move)
    # a part narrower than the tolerance can fold onto itself: keep what is left of it as a polygon
    for i in np.flatnonzero(~shapely.is_valid(out) & ~shapely.is_missing(out)).tolist():
        out[i] = _poly(shapely.make_valid(out[i], method="structure", keep_collapsed=False))
    return out


@dataclass
class Structure:
    """What of a community's partition does not depend on its grids (built once, reused by every pass)."""

    area: shapely.Geometry
    comps: np.ndarray
    groups: list[list[int]]
    group_geoms: np.ndarray
    bpts: np.ndarray
    bgroup: np.ndarray
    group_hh: np.ndarray
    member_large: np.ndarray
    large: np.ndarray
    subs: list[tuple[int, list[int]]]
    #: the community line, compound outlines and Voronoi lines (LineStrings, their vertices rounded
    #: to the grid size, not noded): they are snap-rounded once, together with the grid lines, in
    #: :func:`build_partition`. Noding them here as well rounded them twice: three times the work,
    #: and the second rounding left sub-centimetre faces the first did not
    lines: np.ndarray
    land_points: tuple[np.ndarray, np.ndarray] | None
    split_points: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
    #: open land divided along roads (:func:`gridgis.alignment.roads.divide_land`), when roads divide it
    land_division: LandDivision | None = None


def _copy(
    i: int, comps: np.ndarray, bpts: np.ndarray, bhh: np.ndarray, building_compound: np.ndarray, limit: float
) -> bool:
    """True when compound ``i`` is a copy of a large compound drawn over it: none of the buildings
    inside it is its own by the one rule (:func:`gridgis.alignment.overlap.building_compounds`), and
    they hold more than ``limit`` households. Kept whole as an atom of its own, it would take in the
    large compound's buildings, households the buildings' split could then never divide (a compound
    drawn twice made one grid of 8,397 households in field seed 534); it is divided with the
    compound it copies. A small compound overlapping a large one with a few of its buildings inside
    stays whole."""
    if not len(bpts):
        return False
    inside = np.flatnonzero(shapely.contains_properly(comps[i], bpts))
    if not len(inside) or bool(np.any(building_compound[inside] == i)):
        return False
    return float(bhh[inside].sum()) > limit


def partition_structure(ci: CommunityInput, config: AlignmentConfig) -> Structure:
    """The grid-independent part of :func:`build_partition`: compound groups, households, the lines of
    the community, its compounds, the Voronoi lines through open land and between buildings."""
    gs = config.grid_size_m
    area = _poly(shapely.set_precision(ci.area, gs))
    comps = _clip(_snap(ci.compound_geoms, gs), area, gs)
    groups = _compound_groups(comps, config.sliver_area_m2)
    group_geoms = np.array(
        [comps[g[0]] if len(g) == 1 else shapely.union_all(comps[g], grid_size=gs) for g in groups], dtype=object
    )
    bgeoms = ci.building_geoms
    bpts = shapely.point_on_surface(bgeoms) if len(bgeoms) else np.array([], dtype=object)
    # households per group: from buildings when there are any, else the compounds' own figures
    if ci.has_buildings and len(group_geoms):
        gi, bi = shapely.STRtree(bpts).query(group_geoms, predicate="contains_properly")
        bgroup = np.full(len(bpts), -1)
        bgroup[bi] = gi
        group_hh = np.bincount(gi, weights=ci.building_households[bi], minlength=len(groups)).astype(np.int64)
    else:
        bgroup = np.full(len(bpts), -1)
        group_hh = np.array([int(ci.compound_households[g].sum()) for g in groups], dtype=np.int64)
    # a group is split along buildings only when one of its compounds is large on its own; small
    # compounds inside it (and small ones overlapping each other) still stay whole
    if ci.has_buildings and len(comps):
        # each building counts once, for its compound by the analysis's rule (overlap.building_compounds):
        # a building inside two overlapping or duplicated compounds does not make both large
        bc = ci.building_compound
        if bc is None or len(bc) != len(bgeoms):
            bc = building_compounds(np.full(len(bgeoms), None, dtype=object), bgeoms, np.arange(len(comps)), comps)
        own = bc >= 0
        member_hh = np.bincount(bc[own], weights=ci.building_households[own], minlength=len(comps))
    else:
        bc = np.zeros(0, dtype=np.int64)
        member_hh = np.asarray(ci.compound_households, dtype=float)
    member_large = member_hh > config.large_households
    large = np.array([bool(member_large[g].any()) for g in groups], dtype=bool)
    subs: list[tuple[int, list[int]]] = []  # (group, compound indices) of small compounds in large groups
    for k in np.flatnonzero(large).tolist():
        small = [
            i
            for i in groups[k]
            if not member_large[i]
            and not (ci.has_buildings and _copy(i, comps, bpts, ci.building_households, bc, config.large_households))
        ]
        for local in _compound_groups(comps[small], config.sliver_area_m2) if small else []:
            subs.append((int(k), [small[j] for j in local]))
    lines = [shapely.boundary(area)]
    lines += [shapely.boundary(g) for g in group_geoms]
    # small compounds inside a large group are atoms of their own: their outlines must cut faces too
    lines += [shapely.boundary(comps[i]) for _, m in subs for i in m]
    land_points: tuple[np.ndarray, np.ndarray] | None = None
    land_cells: tuple[np.ndarray, np.ndarray] | None = None
    division: LandDivision | None = None
    # land between compounds is cut where it is equally near two compounds, so each compound's
    # surroundings can move with it
    if len(group_geoms) >= 2:
        land = shapely.difference(area, shapely.union_all(group_geoms), grid_size=gs)
        xy, lab = _building_regions(shapely.simplify(group_geoms, 1.0), gs, step=25.0)
        if len(np.unique(lab)) >= 2 and not land.is_empty:
            land_cells = _voronoi_cells(xy, lab, area)
            # roads, where they divide the land, cut it first (roads.py); else, and in blocks
            # without a compound, the Voronoi lines
            division = divide_land(area, group_geoms, land, ci.roads, land_cells, (xy, lab), config)
            if division is not None:
                land_cells = (division.regions, division.labels)
                lines += division.lines
            else:  # not simplified: the lines between buildings below end exactly on these borders
                lines += _border_lines(*land_cells, land, tolerance=0.0)
        land_points = (xy, lab)
    split_points: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k in np.flatnonzero(large).tolist():
        members = np.flatnonzero(bgroup == k)
        if len(members) >= 2:
            # the lines between buildings run on through the land that goes with the compound (its
            # Voronoi cell), so every land face lies in one building's region whatever the grids
            if land_points is None:
                reach = area
            elif land_cells is None:
                reach = group_geoms[k]
            else:
                cells, cell_lab = land_cells
                own = shapely.intersection(shapely.coverage_union_all(cells[cell_lab == k]), area, grid_size=gs)
                reach = _poly(shapely.union(group_geoms[k], own, grid_size=gs))
            xy, lab = _building_regions(bgeoms[members], gs, step=8.0)
            lines += _voronoi_lines(reach, xy, lab)
            split_points[int(k)] = (xy, lab, members)
    return Structure(
        area=area,
        comps=comps,
        groups=groups,
        group_geoms=group_geoms,
        bpts=bpts,
        bgroup=bgroup,
        group_hh=group_hh,
        member_large=member_large,
        large=large,
        subs=subs,
        lines=shapely.set_precision(shapely.get_parts(np.array(lines, dtype=object)), gs, mode="pointwise"),
        land_points=land_points,
        split_points=split_points,
        land_division=division,
    )


def build_partition(ci: CommunityInput, config: AlignmentConfig, structure: Structure | None = None) -> Partition:
    """Build the faces and atoms of one community (see the module docstring).

    ``structure`` (from :func:`partition_structure` on the same community, whatever its grids) saves
    rebuilding the grid-independent lines when a community is partitioned again with new grids.
    """
    gs = config.grid_size_m
    st = structure if structure is not None else partition_structure(ci, config)
    area, comps, groups, group_geoms, bpts = st.area, st.comps, st.groups, st.group_geoms, st.bpts
    group_hh, member_large, large, subs = st.group_hh, st.member_large, st.large, st.subs
    land_points, split_points = st.land_points, st.split_points
    grids = _clip(_snap(_onto_lines(ci.grid_geoms, st.lines, STORAGE_RESOLUTION_M, gs), gs), area, gs)
    lines = [*st.lines, *(shapely.boundary(g) for g in grids if not g.is_empty)]
    noded = shapely.union_all(np.array(lines, dtype=object), grid_size=gs)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    rep = shapely.point_on_surface(faces)
    inside = shapely.contains_properly(area, rep) if len(faces) else np.zeros(0, bool)
    faces, rep = faces[inside], rep[inside]
    # sort faces so that everything downstream is deterministic
    order = np.lexsort((shapely.get_y(rep), shapely.get_x(rep)))
    faces, rep = faces[order], rep[order]
    n = len(faces)
    face_area = shapely.area(faces)
    # current grid: the lowest code among the grids holding the face
    gcodes = np.asarray(ci.grid_codes, dtype=object)
    grank = np.argsort(np.argsort(gcodes.astype(str))) if len(gcodes) else np.zeros(0, int)
    fi, gi_ = shapely.STRtree(grids).query(rep, predicate="within") if len(grids) else (np.zeros(0, int),) * 2
    fg = _pick_first(n, fi, gi_, grank)
    # hairline gaps (reprojection, re-noding and the 7 decimals of GeoJSON leave faces of mm² to m²,
    # a centimetre wide, between grids that meet) belong to the grid they touch, so a proposal read
    # back from storage is the same coverage
    width = 2 * face_area / np.maximum(shapely.length(faces), 1e-12) if n else np.zeros(0)
    tiny = (fg < 0) & ((face_area < 1.0) | (width < HAIRLINE_M))
    if tiny.any() and len(grids):
        fg[tiny] = shapely.STRtree(grids).nearest(rep[tiny])
    face_grid = np.full(n, None, dtype=object)  # the grid code of each face; None outside every grid
    face_grid[fg >= 0] = gcodes[fg[fg >= 0]]
    fi, ki = (
        shapely.STRtree(group_geoms).query(rep, predicate="within") if len(group_geoms) else (np.zeros(0, int),) * 2
    )
    face_group = _pick_first(n, fi, ki, np.arange(len(group_geoms)))
    # buildings and households per face
    face_hh = np.zeros(n)
    face_buildings: list[list[int]] = [[] for _ in range(n)]
    if ci.has_buildings and n:
        bi, fj = shapely.STRtree(faces).query(bpts, predicate="intersects")
        bf = _pick_first(len(bpts), bi, fj, np.arange(n))
        for b in np.flatnonzero(bf >= 0).tolist():
            face_buildings[bf[b]].append(int(b))
        ok = bf >= 0
        np.add.at(face_hh, bf[ok], ci.building_households[ok])
    elif n:
        face_hh = _shared_by_area(group_hh, face_group, face_area, width, fi, ki)
    # atoms
    face_building = np.full(n, -1)
    face_sub = np.full(n, -1)
    if subs and n:
        sub_geoms = np.array([shapely.union_all(comps[m]) for _, m in subs], dtype=object)
        fi, si = shapely.STRtree(sub_geoms).query(rep, predicate="within")
        face_sub = _pick_first(n, fi, si, np.arange(len(subs)))
        face_sub[face_sub >= 0] = np.where(large[face_group[face_sub >= 0]], face_sub[face_sub >= 0], -1)
    for k, (xy, lab, members) in split_points.items():
        fk = np.flatnonzero(face_group == k)
        if len(fk):
            tree = shapely.STRtree(shapely.points(xy))
            nearest = tree.nearest(rep[fk])
            face_building[fk] = members[lab[nearest]]
    # open land goes with the compound it is nearest to (the land is cut along the Voronoi lines of
    # the compound outlines above), so grid lines run between compounds rather than along the old
    # grid lines through the land; land of a dedicated grid stays its own
    land_key: dict[int, tuple[str, int, int]] = {}
    if config.land_with_compounds and len(group_geoms) and n:
        open_land = np.flatnonzero((face_group < 0) & ~np.isin(face_grid.astype(str), list(ci.dedicated)))
        if len(open_land):
            if land_points is None:  # one compound group: all open land is its surroundings
                near = np.zeros(len(open_land), dtype=np.int64)
            elif st.land_division is not None:  # the regions the roads and Voronoi lines cut the land into
                near = land_labels(st.land_division, rep[open_land])
            else:  # the same Voronoi regions that cut the land, so a face's side is never in doubt
                xy_l, lab_l = land_points
                near = lab_l[shapely.STRtree(shapely.points(xy_l)).nearest(rep[open_land])]
            for lf, lk in zip(open_land.tolist(), near.tolist()):
                if lk not in split_points:
                    land_key[lf] = ("compound", lk, -1)
            for lk, (xy_b, lab_b, members_b) in split_points.items():
                mine = open_land[near == lk]
                if len(mine):  # one tree per large compound, asked for all its land faces at once
                    b = lab_b[shapely.STRtree(shapely.points(xy_b)).nearest(rep[mine])]
                    for lf, bk in zip(mine.tolist(), b.tolist()):
                        land_key[lf] = ("building", lk, int(members_b[bk]))
    keys: list[tuple[str, int, int]] = []
    for f in range(n):
        k = int(face_group[f])
        if k < 0:
            keys.append(land_key.get(int(f), ("land", -1, int(f))))
        elif face_sub[f] >= 0:
            keys.append(("compound", int(k), int(face_sub[f])))
        elif face_building[f] >= 0:
            keys.append(("building", int(k), int(face_building[f])))
        else:
            keys.append(("compound", int(k), -1))
    lo, hi, length = _face_adjacency(faces)
    keys, followed = _hairlines_follow_neighbours(keys, faces, face_area, face_grid, lo, hi, length)
    # an atom is one piece: a compound drawn as a multipolygon, or cut in two by the community line,
    # or land whose Voronoi cell is split, gives one atom per connected piece (so no later step has
    # to pull a piece away from its atom, and re-aligning finds the same atoms)
    comp = _pieces(keys, lo, hi, length, width < HAIRLINE_M, followed)
    piece: dict[tuple, dict[int, int]] = {}
    for i, key in enumerate(keys):
        d = piece.setdefault(key, {})
        d.setdefault(int(comp[i]), len(d))
    pkeys = [(*key, piece[key][int(comp[i])]) for i, key in enumerate(keys)]
    uniq = {key: i for i, key in enumerate(sorted(set(pkeys), key=lambda t: (t[0] != "compound", t[1], t[2], t[3])))}
    face_atom = np.array([uniq[key] for key in pkeys], dtype=np.int64)

    def members_of(key: tuple) -> list[int]:
        if key[0] == "land":
            return []
        if key[0] == "compound" and key[2] >= 0:
            return subs[key[2]][1]
        return [i for i in groups[key[1]] if key[0] == "compound" or member_large[i]]

    ordered = list(uniq)  # uniq numbers the keys 0.. in this order
    atoms = pd.DataFrame(
        {
            "atom": np.arange(len(ordered), dtype=np.int64),
            "kind": pd.Series([key[0] for key in ordered], dtype=object),
            "group": np.array([key[1] for key in ordered], dtype=np.int64),
            "members": pd.Series([members_of(key) for key in ordered], dtype=object),
            "building": np.array([key[2] if key[0] == "building" else -1 for key in ordered], dtype=np.int64),
            "households": np.bincount(face_atom, weights=face_hh, minlength=len(ordered)),
            "area": np.bincount(face_atom, weights=face_area, minlength=len(ordered)),
        }
    )
    adjacency = _contacts(len(atoms), face_atom[lo], face_atom[hi], length)
    return Partition(
        faces=faces,
        face_area=face_area,
        face_grid=face_grid,
        face_group=face_group,
        face_atom=face_atom,
        face_households=face_hh,
        face_buildings=face_buildings,
        groups=groups,
        group_large=large,
        group_households=group_hh,
        atoms=atoms,
        atom_adjacency=adjacency,
        face_adjacency=(lo, hi, length),
    )
