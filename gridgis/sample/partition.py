"""Partitions for the sample city, in a metric plane (metres).

Areas are cut recursively (a k-d split): each cut runs across the longer side of the
piece, at the position that splits the weight (area or households) in the wanted
proportion. Administrative cuts wiggle like real boundary roads; grid cuts are straight,
the way grid workers draw them on a map, and pay no attention to compound walls.

Every cut is also returned as a line reaching ``overshoot`` metres past its piece, so
that the whole hierarchy can be noded and polygonised *once* (:func:`faces_of`): all
layers then share exactly the same vertices along every shared edge, and the grids of a
community form a valid coverage of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box

OVERSHOOT = 2.0


@dataclass
class Piece:
    """One part of a partition: its polygon and the ids of the points that fall in it."""

    polygon: shapely.Geometry
    index: np.ndarray
    lines: list[shapely.Geometry] = field(default_factory=list)


def _weighted_cut(coords: np.ndarray, weights: np.ndarray, fraction: float, lo: float, hi: float) -> float:
    """The coordinate below which about ``fraction`` of the weight lies.

    The cut falls midway between two *distinct* coordinates (buildings of one row share
    their centre line), so both sides keep points whenever there are two distinct values;
    it keeps 10 % of the extent away from either edge when that leaves both sides points.
    """
    if len(coords) == 0 or weights.sum() <= 0:
        return lo + (hi - lo) * fraction
    order = np.argsort(coords, kind="stable")
    c = coords[order]
    cum = np.cumsum(weights[order])
    breaks = np.flatnonzero(c[1:] != c[:-1])  # a cut may fall after these positions
    if len(breaks) == 0:
        return lo + (hi - lo) * fraction
    j = breaks[int(np.argmin(np.abs(cum[breaks] - fraction * cum[-1])))]
    cut = (c[j] + c[j + 1]) / 2.0
    margin = 0.1 * (hi - lo)
    clamped = min(max(cut, lo + margin), hi - margin)
    if not (c[0] < clamped <= c[-1]):
        return float(cut)
    return float(clamped)


def _wiggle(axis: int, cut: float, lo: float, hi: float, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Vertices of a cut across [lo, hi] at ``cut`` (x when axis 0, y when axis 1), wiggled by ``amp``."""
    t = np.linspace(lo - 50.0, hi + 50.0, 6)
    off = np.zeros_like(t)
    if amp > 0:
        off[1:-1] = rng.uniform(-amp, amp, 4)
    pos = cut + off
    return np.column_stack([pos, t]) if axis == 0 else np.column_stack([t, pos])


def _halves(poly: shapely.Geometry, line_xy: np.ndarray, axis: int) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Split ``poly`` along the polyline ``line_xy`` into (low side, high side)."""
    minx, miny, _maxx, _maxy = poly.bounds
    pad = 1e4
    if axis == 0:  # cut runs south→north at x≈cut; low side is west
        ring = [tuple(p) for p in line_xy] + [(minx - pad, line_xy[-1, 1]), (minx - pad, line_xy[0, 1])]
    else:  # cut runs west→east at y≈cut; low side is south
        ring = [tuple(p) for p in line_xy] + [(line_xy[-1, 0], miny - pad), (line_xy[0, 0], miny - pad)]
    low_half = Polygon(ring)
    return shapely.intersection(poly, low_half), shapely.difference(poly, low_half)


def kd_split(
    poly: shapely.Geometry,
    xy: np.ndarray,
    weights: np.ndarray,
    n: int,
    rng: np.random.Generator,
    wiggle: float = 0.0,
    index: np.ndarray | None = None,
) -> list[Piece]:
    """Split ``poly`` into ``n`` pieces holding about equal ``weights`` of the points ``xy``.

    Returns the pieces, each with the indices of its points; the cut lines (extended by
    :data:`OVERSHOOT` past ``poly``) are in ``pieces[0].lines``.
    """
    if index is None:
        index = np.arange(len(xy))
    lines: list[shapely.Geometry] = []
    pieces = _split(poly, xy, weights, n, rng, wiggle, index, lines)
    if pieces:
        pieces[0].lines = lines
    return pieces


def _split(poly, xy, weights, n, rng, wiggle, index, lines) -> list[Piece]:
    if n <= 1 or poly.is_empty:
        return [Piece(poly, index)]
    minx, miny, maxx, maxy = poly.bounds
    axis = 0 if (maxx - minx) >= (maxy - miny) else 1
    lo, hi = (minx, maxx) if axis == 0 else (miny, maxy)
    n_low = n // 2
    pts = xy[index]
    cut = _weighted_cut(pts[:, axis], weights[index], n_low / n, lo, hi)
    other = (miny, maxy) if axis == 0 else (minx, maxx)
    if wiggle > 0:
        line_xy = _wiggle(axis, cut, other[0], other[1], rng, wiggle)
        low, high = _halves(poly, line_xy, axis)
        lines.append(shapely.intersection(LineString(line_xy), poly.buffer(OVERSHOOT)))
    else:
        # straight cut: rectangle clipping is much faster; the cut line may overshoot into a
        # neighbour where the piece is not convex, which only adds faces with the same label
        big = 1e9
        if axis == 0:
            low = shapely.clip_by_rect(poly, -big, -big, cut, big)
            high = shapely.clip_by_rect(poly, cut, -big, big, big)
            seg = LineString([(cut, miny - OVERSHOOT), (cut, maxy + OVERSHOOT)])
        else:
            low = shapely.clip_by_rect(poly, -big, -big, big, cut)
            high = shapely.clip_by_rect(poly, -big, cut, big, big)
            seg = LineString([(minx - OVERSHOOT, cut), (maxx + OVERSHOOT, cut)])
        lines.append(seg)
    if low.is_empty or high.is_empty:
        return [Piece(poly, index)]
    in_low = shapely.contains_xy(low, pts[:, 0], pts[:, 1]) if len(pts) else np.zeros(0, bool)
    return _split(low, xy, weights, n_low, rng, wiggle, index[in_low], lines) + _split(
        high, xy, weights, n - n_low, rng, wiggle, index[~in_low], lines
    )


def kd_boxes(
    bounds: tuple[float, float, float, float],
    xy: np.ndarray,
    weights: np.ndarray,
    n: int,
    boxes: list[tuple[float, float, float, float]],
    segments: list[tuple[float, float, float, float]],
) -> None:
    """Split the rectangle ``bounds`` into ``n`` boxes of about equal weight (pure numpy, fast).

    Appends the boxes to ``boxes`` and the cut segments (x0, y0, x1, y1), extended by
    :data:`OVERSHOOT`, to ``segments``. Used for micro-grids, where tens of thousands of
    splits are needed: the boxes are intersected with the grid by the final polygonisation.
    """
    if n <= 1:
        boxes.append(bounds)
        return
    minx, miny, maxx, maxy = bounds
    axis = 0 if (maxx - minx) >= (maxy - miny) else 1
    lo, hi = (minx, maxx) if axis == 0 else (miny, maxy)
    n_low = n // 2
    cut = _weighted_cut(xy[:, axis], weights, n_low / n, lo, hi)
    low = xy[:, axis] < cut
    if axis == 0:
        segments.append((cut, miny - OVERSHOOT, cut, maxy + OVERSHOOT))
        b_low, b_high = (minx, miny, cut, maxy), (cut, miny, maxx, maxy)
    else:
        segments.append((minx - OVERSHOOT, cut, maxx + OVERSHOOT, cut))
        b_low, b_high = (minx, miny, maxx, cut), (minx, cut, maxx, maxy)
    kd_boxes(b_low, xy[low], weights[low], n_low, boxes, segments)
    kd_boxes(b_high, xy[~low], weights[~low], n - n_low, boxes, segments)


def segments_to_lines(segments: list[tuple[float, float, float, float]]) -> list[shapely.Geometry]:
    """Cut segments as LineStrings (vectorised)."""
    if not segments:
        return []
    a = np.asarray(segments, dtype=float).reshape(-1, 2, 2)
    return list(shapely.linestrings(a))


def label_within_group(
    faces: np.ndarray, face_group: np.ndarray, cells: np.ndarray, cell_group: np.ndarray
) -> np.ndarray:
    """For each face, the cell of the *same group* its interior point lies in (-1 when none)."""
    pts = shapely.point_on_surface(faces)
    f_idx, c_idx = shapely.STRtree(cells).query(pts, predicate="within")
    same = face_group[f_idx] == cell_group[c_idx]
    label = np.full(len(faces), -1, dtype=np.int64)
    label[f_idx[same]] = c_idx[same]
    return label


def strip(poly: shapely.Geometry, fraction: float) -> tuple[shapely.Geometry, shapely.Geometry, shapely.Geometry]:
    """Cut a strip of ``fraction`` of the width off the east side: (rest, strip, cut line)."""
    minx, miny, maxx, maxy = poly.bounds
    x = maxx - fraction * (maxx - minx)
    east = box(x, miny - 10, maxx + 10, maxy + 10)
    line = shapely.intersection(LineString([(x, miny - 10), (x, maxy + 10)]), poly.buffer(OVERSHOOT))
    return shapely.difference(poly, east), shapely.intersection(poly, east), line


def reading_order(geoms: np.ndarray, band: float) -> np.ndarray:
    """Order polygons north→south in bands of ``band`` metres, west→east within a band."""
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    if len(x) == 0:
        return np.zeros(0, int)
    rows = np.floor((y.max() - y) / band)
    return np.lexsort((x, rows))


def faces_of(boundary: shapely.Geometry, lines: list[shapely.Geometry]) -> np.ndarray:
    """Node ``boundary`` and every cut line together and polygonise them into faces."""
    parts = [shapely.get_exterior_ring(g) for g in shapely.get_parts(boundary)]
    merged = shapely.union_all(np.array(parts + [ln for ln in lines if not ln.is_empty], dtype=object))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(merged)))
    return polys[shapely.area(polys) > 1e-6]


def label_faces(faces: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """For each face, the index of the cell polygon its interior point lies in (nearest if none)."""
    pts = shapely.point_on_surface(faces)
    tree = shapely.STRtree(cells)
    f_idx, c_idx = tree.query(pts, predicate="within")
    label = np.full(len(faces), -1, dtype=np.int64)
    label[f_idx] = c_idx
    missing = np.flatnonzero(label < 0)
    if len(missing):
        near = tree.nearest(pts[missing])
        label[missing] = near
    return label


def dissolve(faces: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    """Union the faces of each label 0..n-1 (coverage union keeps shared vertices)."""
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for i in range(n):
        group = faces[order[bounds[i] : bounds[i + 1]]]
        out[i] = group[0] if len(group) == 1 else shapely.coverage_union_all(group)
    return out
