"""Helpers for nearest-grid search and metric distances used by the routing index (snapping)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyproj
import shapely


def first_per_point(pi: np.ndarray, owner: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, ...]:
    """From (point, owner, distance) triples keep, per point, the nearest owner (ties: lowest id = code)."""
    order = np.lexsort((owner, d, pi))
    pi, owner, d = pi[order], owner[order], d[order]
    head = np.concatenate([[True], pi[1:] != pi[:-1]]) if len(pi) else np.zeros(0, bool)
    return pi[head], owner[head], d[head]


def outer_edges(ax, ay, bx, by, owner):
    """Drop the edges two grids share exactly (interior to the service area): an outside point's
    nearest grid is always reached through an edge on the outline."""
    swap = (ax > bx) | ((ax == bx) & (ay > by))
    k = np.column_stack(
        [np.where(swap, bx, ax), np.where(swap, by, ay), np.where(swap, ax, bx), np.where(swap, ay, by)]
    )
    _, inverse, counts = np.unique(k, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.ravel()] == 1
    return ax[once], ay[once], bx[once], by[once], owner[once]


@lru_cache(maxsize=16)
def metric_transformer(metric_crs: str) -> pyproj.Transformer:
    """EPSG:4326 → ``metric_crs`` (lon/lat order), created once per CRS: PROJ set-up is slow."""
    return pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)


def haversine_m(x1: float, y1: float, x2: float, y2: float) -> float:
    """Great-circle distance in metres between two lon/lat points (for points beyond any metric zone)."""
    p1, p2 = math.radians(y1), math.radians(y2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x2 - x1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Point–segment distances (metric), element-wise, with the very operations GEOS uses
    (``Distance::pointToSegment``), so the values equal ``shapely.distance`` bit for bit."""
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * ex + (py - ay) * ey) / len2
        s = ((ay - py) * ex - (ax - px) * ey) / len2
        perp = np.abs(s) * np.sqrt(len2)
    da = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    db = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    return np.where((len2 == 0) | (r <= 0.0), da, np.where(r >= 1.0, db, perp))


class NearestSegments:
    """Exact nearest owner (and distance) of metric points among a set of segments, vectorised.

    A coarse raster over the segments' extent (plus a margin) keeps, per cell, the segments that
    can be nearest to some point of the cell: with ``d_c`` the distance from the cell's centre to
    its nearest segment and ``h`` the half-diagonal, every point of the cell has its nearest
    segment within ``d_c + 2h`` of the centre. A query is then a handful of point–segment
    distances per point (:func:`segment_distance`); points beyond the raster fall back to
    ``STRtree.query_nearest``. Ties go to the lowest owner id (= lowest code).
    """

    def __init__(self, ax, ay, bx, by, owner, tree, cells_per_side: int = 240, margin: float = 0.25) -> None:
        self.ax, self.ay, self.bx, self.by = ax, ay, bx, by
        self.owner, self._tree = owner, tree
        self.nx = self.ny = 0
        if len(ax) == 0:
            return
        xmin, xmax = float(min(ax.min(), bx.min())), float(max(ax.max(), bx.max()))
        ymin, ymax = float(min(ay.min(), by.min())), float(max(ay.max(), by.max()))
        pad = margin * max(xmax - xmin, ymax - ymin, 1.0)
        self.step = (max(xmax - xmin, ymax - ymin) + 2 * pad) / cells_per_side
        self.x0, self.y0 = xmin - pad, ymin - pad
        self.nx = int(math.ceil((xmax + pad - self.x0) / self.step))
        self.ny = int(math.ceil((ymax + pad - self.y0) / self.step))
        cx, cy = np.meshgrid(
            self.x0 + (np.arange(self.nx) + 0.5) * self.step, self.y0 + (np.arange(self.ny) + 0.5) * self.step
        )
        centres = shapely.points(cx.ravel(), cy.ravel())  # cell r * nx + c
        (ci, _), dc = tree.query_nearest(centres, return_distance=True, all_matches=False)
        near = np.empty(len(centres))
        near[ci] = dc
        reach = near + self.step * math.sqrt(2.0) * (1 + 1e-9) + 1e-6 * self.step  # d_c + 2h, padded
        ci, si = tree.query(centres, predicate="dwithin", distance=reach)
        order = np.lexsort((si, ci))
        self.cand = si[order].astype(np.int64)
        self.ptr = np.searchsorted(ci[order], np.arange(len(centres) + 1)).astype(np.int64)

    @property
    def tree(self) -> shapely.STRtree:
        """The segments' search tree (kept from the build; rebuilt from the arrays after unpickling)."""
        if self._tree is None:
            ends = np.stack([np.column_stack([self.ax, self.ay]), np.column_stack([self.bx, self.by])], axis=1)
            self._tree = shapely.STRtree(shapely.linestrings(ends))
        return self._tree

    def __getstate__(self) -> dict:
        return {**vars(self), "_tree": None}  # arrays only: they pickle out of band (gridgis.routing.shared)

    def nearest(self, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, distance) per finite metric point; ``-1``/NaN for non-finite ones."""
        n = len(mx)
        owner = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        if n == 0 or len(self.ax) == 0:
            return owner, dist
        from gridgis.routing import kernels

        if kernels.AVAILABLE:  # one compiled pass; the tree for the points beyond the raster
            owner, dist = kernels.nearest_in_cells(self, mx, my)
            self._beyond(mx, my, np.flatnonzero((owner < 0) & np.isfinite(mx) & np.isfinite(my)), owner, dist)
            return owner, dist
        with np.errstate(invalid="ignore"):
            c = np.floor((mx - self.x0) / self.step)
            r = np.floor((my - self.y0) / self.step)
            inr = (c >= 0) & (c < self.nx) & (r >= 0) & (r < self.ny)
        rows = np.flatnonzero(inr)
        cell = r[rows].astype(np.int64) * self.nx + c[rows].astype(np.int64)
        start, k = self.ptr[cell], self.ptr[cell + 1] - self.ptr[cell]
        pi = np.repeat(np.arange(len(rows)), k)
        si = self.cand[np.repeat(start - (np.cumsum(k) - k), k) + np.arange(int(k.sum()))]
        d = segment_distance(mx[rows][pi], my[rows][pi], self.ax[si], self.ay[si], self.bx[si], self.by[si])
        if len(rows):  # per point (pairs are grouped by point, k >= 1): the minimal distance, then lowest owner
            heads = np.cumsum(k) - k
            dmin = np.minimum.reduceat(d, heads)
            own = np.where(d == dmin[pi], self.owner[si], np.iinfo(np.int64).max)
            owner[rows], dist[rows] = np.minimum.reduceat(own, heads), dmin
        self._beyond(mx, my, np.flatnonzero(~inr & np.isfinite(mx) & np.isfinite(my)), owner, dist)
        return owner, dist

    def _beyond(self, mx, my, rest: np.ndarray, owner: np.ndarray, dist: np.ndarray) -> None:
        """Points beyond the raster: the tree (all segments at the minimal distance, then lowest owner)."""
        if len(rest):
            (pj, sj), dj = self.tree.query_nearest(
                shapely.points(mx[rest], my[rest]), return_distance=True, all_matches=True
            )
            pj, gj, dj = first_per_point(pj, self.owner[sj], dj)
            owner[rest[pj]], dist[rest[pj]] = gj, dj
