"""Exact point-in-polygon over a raster of cells: O(1) for most points, a few edge tests for the rest.

:class:`CellLocator` lays a regular raster over the polygons (lon/lat degrees, with cells of
about ``cell_m`` metres: the longitude step is widened by ``1/cos(lat)`` so cells are square in
a local equirectangular approximation; the approximation only sizes the cells, every answer is
exact in lon/lat). Each cell is one of

- *empty*: no polygon covers it (``-1``);
- *interior*: no polygon edge touches the closed cell and exactly one polygon covers it
  (the polygon id, answered by one array look-up);
- *special*: an edge touches the cell, or several (overlapping) polygons cover it. A special
  cell keeps the edges that touch it and, for each candidate polygon, whether the cell's
  *reference point* lies inside. A query point ``q`` in that cell is inside polygon ``p`` when
  ``inside(ref, p)`` XOR (the segment ``q → ref`` crosses an odd number of ``p``'s edges); both
  points lie in the (convex) cell, so only the edges touching the cell can cross the segment.

A point *on* an edge of ``p`` counts as covered by ``p`` (closed polygons, like
``shapely.covers``), so a point on a shared edge is covered by both neighbours and the caller
breaks the tie. Crossings use the half-open rule (a vertex on the segment's line counts as lying
on its negative side), which resolves every degenerate case consistently.

The reference point of each cell sits at an irrational-looking offset from the cell's corner, so
edges with round coordinates never pass through it; ``inside(ref, p)`` for every cell comes from
one horizontal scanline per row of reference points (even-odd rule, per polygon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from gridgis.routing import kernels

#: reference-point offsets inside a cell, in cell units
REF_DX = 0.5 + 0.0731059293
REF_DY = 0.5 - 0.0529981127
#: a cell is widened by this fraction of its size when collecting the edges that touch it
_EPS = 1e-6
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0


@dataclass(frozen=True)
class CellLocator:
    """An exact point-in-polygon locator over ``n`` polygons (see the module docstring).

    Build it with :meth:`build`; query one point with :meth:`locate_one` or arrays of points
    with :meth:`locate`. Polygon ids are positions in the geometry array given to :meth:`build`.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    n: int
    cells: np.ndarray  # int32 (ny * nx,): polygon id, -1 empty, -2 - o: a special cell whose record starts at o
    records: np.ndarray  # float64: the records of the special cells, one after another (see below)
    nspecial: int  # number of special cells
    nedges: int  # number of (cell, edge) rows over all records
    max_candidates: int  # the most candidates any special cell has

    # A special cell's record is [nedges, ncands, cand_0 … cand_(ncands-1), edge_0 … edge_(nedges-1)]:
    # a candidate is 2 * polygon id + (the cell's reference point lies inside it); an edge is six
    # numbers ax, ay, bx, by, slot (the candidate it belongs to), side of the reference point (+1/-1/0).
    # One record is contiguous, so answering a point in a special cell reads one run of memory
    # right after the cell itself (ids and flags are small integers, exact in float64).

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, geoms, cell_m: float | None = None, max_cells: int = 12_000_000) -> CellLocator:
        """Build the locator for an array of (multi)polygons in lon/lat degrees.

        Parameters
        ----------
        geoms
            shapely polygons or multipolygons; ``None``, empty and non-polygonal parts are ignored.
        cell_m
            cell size in metres; default: a tenth of the side of the median polygon, at least 2 m.
        max_cells
            the cell size grows until the raster has at most this many cells.
        """
        geoms = np.asarray(geoms, dtype=object)
        n = len(geoms)
        ax, ay, bx, by, poly = polygon_edges(geoms)
        if len(ax) == 0:
            return cls(0.0, 0.0, 1.0, 1.0, 1, 1, n, np.full(1, -1, np.int32), np.zeros(0), 0, 0, 0)
        xmin, xmax = float(min(ax.min(), bx.min())), float(max(ax.max(), bx.max()))
        ymin, ymax = float(min(ay.min(), by.min())), float(max(ay.max(), by.max()))
        coslat = max(math.cos(math.radians((ymin + ymax) / 2)), 0.05)
        width_m = (xmax - xmin) * M_PER_DEG_LON * coslat
        height_m = (ymax - ymin) * M_PER_DEG_LAT
        if cell_m is None:
            areas = shapely.area(geoms[~shapely.is_missing(geoms)]) * M_PER_DEG_LON * coslat * M_PER_DEG_LAT
            areas = areas[areas > 0]
            cell_m = max(math.sqrt(float(np.median(areas))) / 10.0, 2.0) if len(areas) else 10.0
        cell_m = max(cell_m, math.sqrt(max(width_m * height_m, 1.0) / max_cells))
        dx = cell_m / (M_PER_DEG_LON * coslat)
        dy = cell_m / M_PER_DEG_LAT
        x0, y0 = xmin - dx, ymin - dy
        nx = int(math.ceil((xmax - x0) / dx)) + 2
        ny = int(math.ceil((ymax - y0) / dy)) + 2
        geo = (x0, y0, dx, dy, nx, ny)

        edge_cell, edge_id = _touched_cells(ax, ay, bx, by, geo)
        cov_cell, cov_poly = _scanline_cover(ax, ay, bx, by, poly, geo)
        ncells = nx * ny
        cover_count = np.bincount(cov_cell, minlength=ncells)
        special = cover_count > 1
        special[edge_cell] = True
        cells = np.full(ncells, -1, dtype=np.int32)
        single = ~special[cov_cell]
        cells[cov_cell[single]] = cov_poly[single].astype(np.int32)
        special_ids = np.flatnonzero(special)
        cells[special_ids] = (-2 - np.arange(len(special_ids))).astype(np.int32)
        rank = np.full(ncells, -1, dtype=np.int64)
        rank[special_ids] = np.arange(len(special_ids))

        # candidates of each special cell: polygons with an edge in it, or covering its reference point
        e_rank = rank[edge_cell]
        in_sp = special[cov_cell]
        c_rank = rank[cov_cell[in_sp]]
        c_poly = cov_poly[in_sp]
        keys_cover = c_rank * n + c_poly
        keys = _sorted_unique(np.concatenate([e_rank * n + poly[edge_id], keys_cover]))
        cand_rank = keys // n
        cand = (keys % n).astype(np.int32)
        cover_sorted = np.sort(keys_cover)
        pos = np.minimum(np.searchsorted(cover_sorted, keys), max(len(cover_sorted) - 1, 0))
        ref_in = cover_sorted[pos] == keys if len(cover_sorted) else np.zeros(len(keys), bool)
        nsp = len(special_ids)
        cand_ptr = np.searchsorted(cand_rank, np.arange(nsp + 1)).astype(np.int64)
        # edges of each special cell, ordered by cell (edge_cell is sorted by _touched_cells)
        edge_ptr = np.searchsorted(e_rank, np.arange(nsp + 1)).astype(np.int64)
        slot = np.searchsorted(keys, e_rank * n + poly[edge_id]) - cand_ptr[e_rank]
        ea, eb, ec, ed = ax[edge_id], ay[edge_id], bx[edge_id], by[edge_id]
        sp_cell = special_ids[e_rank]
        rx = x0 + (sp_cell % nx + REF_DX) * dx
        ry = y0 + (sp_cell // nx + REF_DY) * dy
        side = np.sign((ec - ea) * (ry - eb) - (ed - eb) * (rx - ea))
        # pack the records: header, candidates, edges (rows of six)
        n_e, n_c = np.diff(edge_ptr), np.diff(cand_ptr)
        size = 2 + n_c + 6 * n_e
        start = np.cumsum(size) - size
        records = np.empty(int(size.sum()), dtype=np.float64)
        records[start] = n_e
        records[start + 1] = n_c
        records[start[cand_rank] + 2 + np.arange(len(keys)) - cand_ptr[cand_rank]] = cand * 2 + ref_in
        at = start[e_rank] + 2 + n_c[e_rank] + 6 * (np.arange(len(e_rank)) - edge_ptr[e_rank])
        for col, values in enumerate((ea, eb, ec, ed, slot.astype(float), side)):
            records[at + col] = values
        if len(records) + 2 >= 2**31:  # a city too large for int32 cell values
            cells = cells.astype(np.int64)
        cells[special_ids] = -2 - start
        return cls(x0, y0, dx, dy, nx, ny, n, cells, records, nsp, len(e_rank), int(n_c.max()) if nsp else 0)

    # ------------------------------------------------------------------ queries
    @property
    def stats(self) -> dict[str, float]:
        """Size figures: cells, special cells, edges stored, cell size in metres."""
        return {
            "cells": self.nx * self.ny,
            "special_cells": self.nspecial,
            "edges": self.nedges,
            "cell_m": self.dy * M_PER_DEG_LAT,
            "megabytes": round((self.cells.nbytes + self.records.nbytes) / 2**20, 1),
        }

    def locate_one(self, x: float, y: float) -> tuple[int, ...]:
        """Ids of the polygons covering the point (lon, lat); ``()`` when none.

        Pure Python with array look-ups: a handful of operations for most points.
        """
        c = math.floor((x - self.x0) / self.dx)
        r = math.floor((y - self.y0) / self.dy)
        if not (0 <= c < self.nx and 0 <= r < self.ny):
            return ()
        v = int(self.cells[r * self.nx + c])
        if v >= 0:
            return (v,)
        if v == -1:
            return ()
        o = -2 - v
        if kernels.AVAILABLE:  # compiled edge tests; the Python loop below only for points on shared edges
            lo, _, count = kernels.answer_one(self, o, x, y, self.n)
            if count <= 1:
                return (lo,) if count else ()
        return self._locate_in_record(o, c, r, x, y)

    def covering_one(self, x: float, y: float, split: int) -> tuple[int, int]:
        """:meth:`covering` of one point: (lowest id below ``split``, lowest id at or above it minus ``split``)."""
        c = math.floor((x - self.x0) / self.dx)
        r = math.floor((y - self.y0) / self.dy)
        if not (0 <= c < self.nx and 0 <= r < self.ny):
            return -1, -1
        v = int(self.cells[r * self.nx + c])
        if v >= 0:
            return (v, -1) if v < split else (-1, v - split)
        if v == -1:
            return -1, -1
        if kernels.AVAILABLE:
            lo, hi, _ = kernels.answer_one(self, -2 - v, x, y, split)
            return lo, hi
        ids = self._locate_in_record(-2 - v, c, r, x, y)
        return (min((i for i in ids if i < split), default=-1), min((i - split for i in ids if i >= split), default=-1))

    def _locate_in_record(self, o: int, c: int, r: int, x: float, y: float) -> tuple[int, ...]:
        """Every polygon covering (x, y) in the special cell (c, r) whose record begins at ``o`` (pure Python)."""
        ne, nc = int(self.records[o]), int(self.records[o + 1])
        rx = self.x0 + (c + REF_DX) * self.dx
        ry = self.y0 + (r + REF_DY) * self.dy
        cands = [int(cd) for cd in self.records[o + 2 : o + 2 + nc].tolist()]
        state = [cd & 1 for cd in cands]
        on = [False] * nc
        sx, sy = rx - x, ry - y  # the segment point → reference
        for ax, ay, bx, by, s, side in self.records[o + 2 + nc : o + 2 + nc + 6 * ne].reshape(ne, 6).tolist():
            o_q = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            if o_q == 0.0:
                if min(ax, bx) <= x <= max(ax, bx) and min(ay, by) <= y <= max(ay, by):
                    on[int(s)] = True
                continue
            if side == 0.0 or (o_q > 0) == (side > 0):
                continue
            if (sx * (ay - y) - sy * (ax - x) > 0) != (sx * (by - y) - sy * (bx - x) > 0):
                state[int(s)] ^= 1
        if len(cands) == 1:
            return (cands[0] >> 1,) if state[0] or on[0] else ()
        return tuple([cd >> 1 for cd, st, o in zip(cands, state, on) if st or o])

    def covering(self, x, y, split: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per point (lon, lat degrees): the lowest covering polygon id below ``split``, the lowest id
        at or above it minus ``split`` (``-1`` where none; ``split`` defaults to ``n``, so everything
        is "below"), and the number of polygons covering the point (int32). With compounds first and
        buildings after them (``split`` = number of compounds) that is (compound, building) at once.

        One compiled pass (:mod:`gridgis.routing.kernels`) when numba is available, else the numpy path.
        """
        split = self.n if split is None else int(split)
        if kernels.AVAILABLE:
            return kernels.covering(self, x, y, split)
        x = np.asarray(x, dtype=float)
        first, mp, mpoly = self._locate_numpy(x, np.asarray(y, dtype=float))
        lo = np.where((first >= 0) & (first < split), first, -1)
        hi = np.where(first >= split, first - split, -1)
        count = (first >= 0).astype(np.int32)
        if len(mp):
            heads = np.flatnonzero(np.concatenate([[True], mp[1:] != mp[:-1]]))
            count[mp[heads]] = np.diff(np.append(heads, len(mp))).astype(np.int32)
            for out, keep, shift in ((lo, mpoly < split, 0), (hi, mpoly >= split, split)):  # grouped by point
                p, i = mp[keep], mpoly[keep] - shift
                if len(p):
                    h = np.flatnonzero(np.concatenate([[True], p[1:] != p[:-1]]))
                    out[p[h]] = np.minimum.reduceat(i, h)
        return lo, hi, count

    def locate(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised look-up of arrays of points (lon, lat degrees).

        Returns
        -------
        first : int64 array
            the covering polygon id per point, ``-1`` when none covers it, ``-2`` when several do.
        multi_point, multi_poly : int64 arrays
            for the points covered by several polygons, one (point, polygon) pair per covering
            polygon, ordered by point.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if not kernels.AVAILABLE:
            return self._locate_numpy(x, y)
        first, _, count = kernels.covering(self, x, y, self.n)
        return self._with_pairs(x, y, first, count)

    def _with_pairs(self, x, y, first, count) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``first`` with -2 where several polygons cover a point, and those (point, polygon) pairs."""
        several = np.flatnonzero(count > 1)
        if len(several) == 0:
            return first, np.zeros(0, np.int64), np.zeros(0, np.int64)
        first[several] = -2
        _, mp, mpoly = self._locate_numpy(x[several], y[several])  # the few points on shared edges
        return first, several[mp], mpoly

    def _locate_numpy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`locate` in numpy alone (the reference the compiled kernel is tested against)."""
        with np.errstate(invalid="ignore"):
            cf = np.floor((x - self.x0) / self.dx)
            rf = np.floor((y - self.y0) / self.dy)
            ok = (cf >= 0) & (cf < self.nx) & (rf >= 0) & (rf < self.ny)
        if ok.all():  # the usual batch: no masked copies
            first = self.cells[rf.astype(np.int64) * self.nx + cf.astype(np.int64)].astype(np.int64)
        else:
            first = np.full(len(x), -1, dtype=np.int64)
            first[ok] = self.cells[rf[ok].astype(np.int64) * self.nx + cf[ok].astype(np.int64)]
        idx = np.flatnonzero(first <= -2)
        if len(idx) == 0:
            return first, np.zeros(0, np.int64), np.zeros(0, np.int64)
        rec = -2 - first[idx]  # where each point's record starts
        qx, qy = x[idx], y[idx]
        rx = self.x0 + (cf[idx] + REF_DX) * self.dx
        ry = self.y0 + (rf[idx] + REF_DY) * self.dy
        nedge = self.records[rec].astype(np.int64)
        ncand = self.records[rec + 1].astype(np.int64)
        cand_off = np.cumsum(ncand) - ncand  # first slot of each point in the flat (point, candidate) list
        total = int(ncand.sum())
        pe = np.repeat(np.arange(len(idx)), nedge)
        row = np.arange(int(nedge.sum())) - np.repeat(np.cumsum(nedge) - nedge, nedge)  # edge number in its record
        base = (rec + 2 + ncand)[pe] + 6 * row
        ax, ay, bx, by = (self.records[base + k] for k in range(4))
        slot, o_r = self.records[base + 4].astype(np.int64), self.records[base + 5]
        px, py, pr_x, pr_y = qx[pe], qy[pe], rx[pe], ry[pe]
        o_q = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        on = (
            (o_q == 0)
            & (px >= np.minimum(ax, bx))
            & (px <= np.maximum(ax, bx))
            & (py >= np.minimum(ay, by))
            & (py <= np.maximum(ay, by))
        )
        sx, sy = pr_x - px, pr_y - py
        s_a = sx * (ay - py) - sy * (ax - px) > 0
        s_b = sx * (by - py) - sy * (bx - px) > 0
        crosses = (s_a != s_b) & (((o_q > 0) & (o_r < 0)) | ((o_q < 0) & (o_r > 0)))
        flat = cand_off[pe] + slot
        parity = np.bincount(flat, weights=crosses, minlength=total).astype(np.int64) % 2 == 1
        on_any = np.bincount(flat, weights=on, minlength=total) > 0
        pc = np.repeat(np.arange(len(idx)), ncand)
        cid = np.repeat(rec + 2 - cand_off, ncand) + np.arange(total)
        cd = self.records[cid].astype(np.int64)
        covers = ((cd & 1).astype(bool) ^ parity) | on_any
        count = np.bincount(pc, weights=covers, minlength=len(idx)).astype(np.int64)
        hit_pt, hit_poly = pc[covers], cd[covers] >> 1
        one = count == 1
        res = np.full(len(idx), -1, dtype=np.int64)
        res[count > 1] = -2
        sel = one[hit_pt]
        res[hit_pt[sel]] = hit_poly[sel]
        first[idx] = res
        multi = count[hit_pt] > 1
        return first, idx[hit_pt[multi]], hit_poly[multi]


# ---------------------------------------------------------------------- build helpers
def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a plain sort: much faster than ``np.unique``'s hashing here)."""
    a = np.sort(a)
    if len(a) == 0:
        return a
    return a[np.concatenate([[True], a[1:] != a[:-1]])]


def polygon_edges(geoms: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every ring edge (ax, ay, bx, by) of the polygons with the id of its polygon."""
    valid = ~shapely.is_missing(geoms)
    parts, part_of = shapely.get_parts(geoms[valid], return_index=True)
    owner = np.flatnonzero(valid)[part_of]
    is_poly = shapely.get_type_id(parts) == 3
    parts, owner = parts[is_poly], owner[is_poly]
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, vert_of = shapely.get_coordinates(rings, return_index=True)
    same = vert_of[1:] == vert_of[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    poly = owner[ring_of[vert_of[:-1][same]]]
    keep = (a[:, 0] != b[:, 0]) | (a[:, 1] != b[:, 1])
    return a[keep, 0], a[keep, 1], b[keep, 0], b[keep, 1], poly[keep].astype(np.int64)


def _touched_cells(ax, ay, bx, by, geo) -> tuple[np.ndarray, np.ndarray]:
    """(cell, edge) pairs, sorted by cell, for every cell an edge touches (conservatively).

    Each edge is cut into pieces no longer than a cell along either axis; the bounding box of
    a piece, widened by a tiny margin, covers every cell the piece touches (at most 3 x 3).
    """
    x0, y0, dx, dy, nx, _ny = geo
    u0, v0 = (ax - x0) / dx, (ay - y0) / dy
    u1, v1 = (bx - x0) / dx, (by - y0) / dy
    npieces = np.maximum(np.ceil(np.maximum(np.abs(u1 - u0), np.abs(v1 - v0))), 1).astype(np.int64)
    e = np.repeat(np.arange(len(ax)), npieces)
    k = np.arange(len(e)) - np.repeat(np.cumsum(npieces) - npieces, npieces)
    t0, t1 = k / npieces[e], (k + 1) / npieces[e]
    du, dv = u1 - u0, v1 - v0
    pu0, pu1 = u0[e] + t0 * du[e], u0[e] + t1 * du[e]
    pv0, pv1 = v0[e] + t0 * dv[e], v0[e] + t1 * dv[e]
    umin = np.floor(np.minimum(pu0, pu1) - _EPS).astype(np.int64)
    umax = np.floor(np.maximum(pu0, pu1) + _EPS).astype(np.int64)
    vmin = np.floor(np.minimum(pv0, pv1) - _EPS).astype(np.int64)
    vmax = np.floor(np.maximum(pv0, pv1) + _EPS).astype(np.int64)
    keys = []
    nedges = len(ax)
    for i in range(3):
        for j in range(3):
            m = (umin + i <= umax) & (vmin + j <= vmax)
            cell = (vmin[m] + j) * nx + (umin[m] + i)
            keys.append(cell * nedges + e[m])
    allk = _sorted_unique(np.concatenate(keys))
    return allk // nedges, allk % nedges


def _scanline_cover(ax, ay, bx, by, poly, geo) -> tuple[np.ndarray, np.ndarray]:
    """(cell, polygon) pairs: the cell's reference point lies inside the polygon (even-odd rule).

    One horizontal ray per row of reference points; an edge crosses row ``r`` when
    ``min(ay, by) <= y_r < max(ay, by)`` (half-open, so a vertex on the row counts once).
    """
    x0, y0, dx, dy, nx, ny = geo
    ylo, yhi = np.minimum(ay, by), np.maximum(ay, by)
    r0 = np.maximum(np.ceil((ylo - y0) / dy - REF_DY).astype(np.int64) - 1, 0)
    r1 = np.minimum(np.ceil((yhi - y0) / dy - REF_DY).astype(np.int64) + 1, ny)
    span = np.maximum(r1 - r0, 0)
    e = np.repeat(np.arange(len(ax)), span)
    r = np.repeat(r0, span) + np.arange(len(e)) - np.repeat(np.cumsum(span) - span, span)
    yr = y0 + (r + REF_DY) * dy
    m = (ylo[e] <= yr) & (yr < yhi[e])
    e, r, yr = e[m], r[m], yr[m]
    xc = ax[e] + (yr - ay[e]) * (bx[e] - ax[e]) / (by[e] - ay[e])
    p = poly[e]
    order = np.lexsort((xc, p, r))
    r, p, xc = r[order], p[order], xc[order]
    x_in, x_out, rows, polys = xc[0::2], xc[1::2], r[0::2], p[0::2]
    c0 = np.maximum(np.ceil((x_in - x0) / dx - REF_DX).astype(np.int64), 0)
    c1 = np.minimum(np.ceil((x_out - x0) / dx - REF_DX).astype(np.int64), nx)
    # nudge the ends so the cell set matches the exact comparison with the reference x
    c0 += x0 + (c0 + REF_DX) * dx <= x_in
    c0 -= (c0 > 0) & (x0 + (c0 - 1 + REF_DX) * dx > x_in)
    c1 += (c1 < nx) & (x0 + (c1 + REF_DX) * dx < x_out)
    c1 -= (c1 > 0) & (x0 + (c1 - 1 + REF_DX) * dx >= x_out)
    n = np.maximum(c1 - c0, 0)
    cells = np.repeat(rows * nx + c0, n) + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return cells, np.repeat(polys, n)
