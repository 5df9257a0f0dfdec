"""Compiled batch kernels for :class:`~gridgis.routing.cells.CellLocator` (numba, one pass per batch).

The numpy path of :meth:`CellLocator.locate` spends most of its time materialising
(point, edge) pairs for the points that fall in cells with edges; these kernels walk each point's
cell once, in a loop compiled by numba, with the *same* arithmetic in the same order (no fast-math,
no contraction), so they return the same answers as the numpy path bit for bit — the tests run
both against each other and against ``shapely.covers``.

They are used when numba imports and ``GRIDGIS_ROUTING_JIT`` is not ``0``; otherwise the numpy
path answers (slower, same results). The functions compile on first use (about a second; cached
on disk by numba afterwards) — :func:`warm_up` does that at index build time, so no request pays it.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is a declared dependency; the numpy path still answers without it
    if os.environ.get("GRIDGIS_ROUTING_JIT", "1") == "0":
        raise ImportError("disabled by GRIDGIS_ROUTING_JIT=0")
    import numba
except ImportError:  # pragma: no cover - exercised with GRIDGIS_ROUTING_JIT=0
    numba = None

#: whether the compiled kernels are in use
AVAILABLE = numba is not None

if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, boundscheck=False)

    @_jit
    def _special_pass(x, y, x0, y0, dx, dy, records, ref_dx, ref_dy, split, special, start, m,
                      lo, hi, count, state, on):
        """Answer the queued points of special cells (their cell's record starts at ``start``).

        The record of the point eight steps ahead is touched first, so that its cache miss
        overlaps with the edge tests of the current point: a random batch over a city misses
        the cache on nearly every record.
        """
        touched = 0.0
        for j in range(m):
            if j + 8 < m:  # prefetch: a load whose value nothing waits for
                touched += records[start[j + 8]]
            i = special[j]
            px = x[i]
            py = y[i]
            o = start[j]
            ne = np.int64(records[o])
            nc = np.int64(records[o + 1])
            for c in range(nc):
                state[c] = np.int64(records[o + 2 + c]) & 1
                on[c] = 0
            rx = x0 + (np.floor((px - x0) / dx) + ref_dx) * dx
            ry = y0 + (np.floor((py - y0) / dy) + ref_dy) * dy
            sx = rx - px
            sy = ry - py
            e = o + 2 + nc
            for _ in range(ne):
                ax = records[e]
                ay = records[e + 1]
                bx = records[e + 2]
                by = records[e + 3]
                s = np.int64(records[e + 4])
                o_r = records[e + 5]
                e += 6
                o_q = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
                if o_q == 0.0:
                    if min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by):
                        on[s] = 1
                    continue
                if not ((o_q > 0 and o_r < 0) or (o_q < 0 and o_r > 0)):
                    continue
                s_a = sx * (ay - py) - sy * (ax - px) > 0
                s_b = sx * (by - py) - sy * (bx - px) > 0
                if s_a != s_b:
                    state[s] ^= 1
            hits = 0
            for c in range(nc):
                if state[c] or on[c]:
                    hits += 1
                    p = np.int64(records[o + 2 + c]) >> 1
                    if p < split:
                        if lo[i] < 0 or p < lo[i]:
                            lo[i] = p
                    elif hi[i] < 0 or p - split < hi[i]:
                        hi[i] = p - split
            count[i] = hits
        return touched

    @_jit
    def _covering(x, y, x0, y0, dx, dy, nx, ny, cells, records, ref_dx, ref_dy, split,
                  lo, hi, count, state, on):
        """Per point: the lowest covering id below ``split`` (``lo``), the lowest at or above it
        minus ``split`` (``hi``; both -1 when none) and how many polygons cover it (``count``). Two passes: the
        cell of every point (independent loads the CPU overlaps), then the points in special cells."""
        n = x.shape[0]
        special = np.empty(n, dtype=np.int64)
        start = np.empty(n, dtype=np.int64)
        m = 0
        for i in range(n):
            lo[i] = -1
            hi[i] = -1
            count[i] = 0
            cf = np.floor((x[i] - x0) / dx)
            rf = np.floor((y[i] - y0) / dy)
            if not (cf >= 0 and cf < nx and rf >= 0 and rf < ny):  # also false for NaN
                continue
            v = np.int64(cells[np.int64(rf) * nx + np.int64(cf)])
            if v >= 0:
                count[i] = 1
                if v < split:
                    lo[i] = v
                else:
                    hi[i] = v - split
            elif v <= -2:
                special[m] = i
                start[m] = -2 - v
                m += 1
        return _special_pass(x, y, x0, y0, dx, dy, records, ref_dx, ref_dy, split, special, start, m,
                             lo, hi, count, state, on)

    @_jit
    def _covering_pair(x, y, ref_dx, ref_dy,
                       x0a, y0a, dxa, dya, nxa, nya, cellsa, recordsa, splita, loa, hia, counta, statea, ona,
                       x0b, y0b, dxb, dyb, nxb, nyb, cellsb, recordsb, splitb, lob, hib, countb, stateb, onb):
        """:func:`_covering` over two rasters at once: one pass reads both cells of each point
        (two independent cache misses in flight instead of one), then each raster's special cells."""
        n = x.shape[0]
        special_a = np.empty(n, dtype=np.int64)
        start_a = np.empty(n, dtype=np.int64)
        special_b = np.empty(n, dtype=np.int64)
        start_b = np.empty(n, dtype=np.int64)
        ma = 0
        mb = 0
        for i in range(n):
            px = x[i]
            py = y[i]
            loa[i] = -1
            hia[i] = -1
            counta[i] = 0
            lob[i] = -1
            hib[i] = -1
            countb[i] = 0
            va = np.int64(-1)
            vb = np.int64(-1)
            cf = np.floor((px - x0a) / dxa)
            rf = np.floor((py - y0a) / dya)
            if cf >= 0 and cf < nxa and rf >= 0 and rf < nya:
                va = np.int64(cellsa[np.int64(rf) * nxa + np.int64(cf)])
            cf = np.floor((px - x0b) / dxb)
            rf = np.floor((py - y0b) / dyb)
            if cf >= 0 and cf < nxb and rf >= 0 and rf < nyb:
                vb = np.int64(cellsb[np.int64(rf) * nxb + np.int64(cf)])
            if va >= 0:
                counta[i] = 1
                if va < splita:
                    loa[i] = va
                else:
                    hia[i] = va - splita
            elif va <= -2:
                special_a[ma] = i
                start_a[ma] = -2 - va
                ma += 1
            if vb >= 0:
                countb[i] = 1
                if vb < splitb:
                    lob[i] = vb
                else:
                    hib[i] = vb - splitb
            elif vb <= -2:
                special_b[mb] = i
                start_b[mb] = -2 - vb
                mb += 1
        t = _special_pass(x, y, x0a, y0a, dxa, dya, recordsa, ref_dx, ref_dy, splita, special_a, start_a, ma,
                          loa, hia, counta, statea, ona)
        return t + _special_pass(x, y, x0b, y0b, dxb, dyb, recordsb, ref_dx, ref_dy, splitb, special_b, start_b,
                                 mb, lob, hib, countb, stateb, onb)


def _outputs(locator, n: int) -> tuple[np.ndarray, ...]:
    width = max(locator.max_candidates, 1)
    return (np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int32),
            np.zeros(width, dtype=np.int64), np.zeros(width, dtype=np.int64))


def _raster(locator) -> tuple:
    return (locator.x0, locator.y0, locator.dx, locator.dy, locator.nx, locator.ny, locator.cells, locator.records)


def covering(locator, x: np.ndarray, y: np.ndarray, split: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lowest id < split, lowest id >= split minus split, number of covering polygons) per point (lon, lat)."""
    from gridgis.routing.cells import REF_DX, REF_DY

    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    lo, hi, count, state, on = _outputs(locator, len(x))
    _covering(x, y, *_raster(locator), REF_DX, REF_DY, locator.n if split is None else int(split),
              lo, hi, count, state, on)
    return lo, hi, count


def covering_pair(a, split_a: int, b, split_b: int, x: np.ndarray, y: np.ndarray
                  ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """:func:`covering` against two locators in one pass over the points: ``(lo, hi, count)`` of each."""
    from gridgis.routing.cells import REF_DX, REF_DY

    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    out_a, out_b = _outputs(a, len(x)), _outputs(b, len(x))
    _covering_pair(x, y, REF_DX, REF_DY, *_raster(a), int(split_a), *out_a, *_raster(b), int(split_b), *out_b)
    return out_a[:3], out_b[:3]


def warm_up(locator) -> None:
    """Compile (or load from numba's cache) the kernels, so the first real batch does not wait."""
    if AVAILABLE:
        one = np.zeros(1)
        covering(locator, one, one)
        covering_pair(locator, locator.n, locator, locator.n, one, one)
