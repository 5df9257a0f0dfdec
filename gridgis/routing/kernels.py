"""Compiled batch kernels of the router (numba): cell look-ups, nearest segments, snapping.

The numpy path of :meth:`~gridgis.routing.cells.CellLocator.locate` spends most of its time
materialising (point, edge) pairs for the points that fall in cells with edges; these kernels walk
each point's cell once, in a loop compiled by numba, with the *same* arithmetic in the same order
(no fast-math, no contraction), so they return the same answers as the numpy path bit for bit —
the tests run both against each other, against ``shapely.covers`` and ``shapely.distance``.

A random batch over a city misses the CPU cache on nearly every cell it reads, so the kernels are
written around memory, not arithmetic: the cells of all points are computed first, then read with
the cell of the point sixteen steps ahead *prefetched* (an instruction that starts the load and
does not wait for it); the points in cells with edges are queued and answered in a second pass
that prefetches their cell records the same way. That halves the time of a batch compared with
a plain loop. (Reading the micro-grid raster and the compound-and-building raster in one fused
pass was tried and measured no faster than two prefetching passes, so it is two.)

Used when numba imports and ``GRIDGIS_ROUTING_JIT`` is not ``0``; otherwise the numpy path
answers (slower, same results). The functions compile on first use (a few seconds; cached on disk
by numba afterwards, see ``NUMBA_CACHE_DIR``) — :func:`warm_up` does that when an index is built,
so no request pays it.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

import numpy as np

numba: ModuleType | None
try:  # numba is a declared dependency; the numpy path still answers without it
    if os.environ.get("GRIDGIS_ROUTING_JIT", "1") == "0":
        raise ImportError("disabled by GRIDGIS_ROUTING_JIT=0")
    import numba
except ImportError:  # pragma: no cover - exercised with GRIDGIS_ROUTING_JIT=0
    numba = None

#: whether the compiled kernels are in use
AVAILABLE = numba is not None

if AVAILABLE:
    import llvmlite.binding
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _jit(function, **options):
        """``njit`` with numba's on-disk cache where a cache directory is writable, without it elsewhere
        (a read-only install with no writable home: the kernels then compile once per process)."""
        options = {"nogil": True, "boundscheck": False, **options}
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function …: no locator available"
            return numba.njit(**options)(function)

    def _jit_inline(function):
        """:func:`_jit`, inlined into its callers by numba (the per-point step of a batch loop)."""
        return _jit(function, inline="always")

    # LLVM names the prefetch intrinsic by its pointer type: opaque pointers ("p0") from LLVM 17 on
    _PREFETCH = "llvm.prefetch.p0" if llvmlite.binding.llvm_version_info[0] >= 17 else "llvm.prefetch.p0i8"

    @intrinsic
    def _prefetch(typingctx, array, index):
        """Ask the CPU to start loading ``array[index]`` into the cache, without waiting for it.

        A plain load would do the same but hold up the instructions after it until it arrives;
        a prefetch retires at once, so misses of points many steps ahead overlap."""
        sig = numba.types.void(array, index)

        def codegen(context, builder, signature, args):
            aryty, _ = signature.args
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), _PREFETCH
            )
            # read access, keep in all cache levels, data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    @_jit
    def _cell_index(x, y, x0, y0, dx, dy, nx, ny):
        """The raster cell of each point, -1 outside the raster (or NaN)."""
        n = x.shape[0]
        cell = np.empty(n, dtype=np.int64)
        for i in range(n):
            cf = np.floor((x[i] - x0) / dx)
            rf = np.floor((y[i] - y0) / dy)
            if cf >= 0 and cf < nx and rf >= 0 and rf < ny:  # also false for NaN
                cell[i] = np.int64(rf) * nx + np.int64(cf)
            else:
                cell[i] = -1
        return cell

    @_jit_inline
    def _answer_in_record(records, o, px, py, x0, y0, dx, dy, ref_dx, ref_dy, split, state, on):
        """(lowest id below ``split``, lowest id at or above it minus ``split``, cover count) of the point
        (px, py) in the special cell whose record starts at ``o`` (see :class:`CellLocator`)."""
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
            # crossing: q and the reference on opposite sides of the edge's line, and the edge's
            # ends on opposite sides of the segment q → reference (branch-free: these are coin tosses)
            opposite = (o_r != 0.0) & ((o_q > 0.0) != (o_r > 0.0))
            s_a = sx * (ay - py) - sy * (ax - px) > 0
            s_b = sx * (by - py) - sy * (bx - px) > 0
            state[s] ^= np.int64(opposite & (s_a != s_b))
        lo = np.int64(-1)
        hi = np.int64(-1)
        hits = 0
        for c in range(nc):
            if state[c] or on[c]:
                hits += 1
                p = np.int64(records[o + 2 + c]) >> 1
                if p < split:
                    if lo < 0 or p < lo:
                        lo = p
                elif hi < 0 or p - split < hi:
                    hi = p - split
        return lo, hi, hits

    @_jit
    def _special_pass(
        x, y, x0, y0, dx, dy, records, ref_dx, ref_dy, split, special, start, m, lo, hi, count, state, on
    ):
        """Answer the queued points of special cells (their cell's record starts at ``start``).

        The record of the point sixteen steps ahead is prefetched, so that its cache miss overlaps
        with the edge tests of the points before it: a random batch over a city misses the cache on
        nearly every record.
        """
        for j in range(m):
            if j + 16 < m:
                _prefetch(records, start[j + 16])
            i = special[j]
            lo[i], hi[i], count[i] = _answer_in_record(
                records, start[j], x[i], y[i], x0, y0, dx, dy, ref_dx, ref_dy, split, state, on
            )

    @_jit
    def _answer_one(records, o, px, py, x0, y0, dx, dy, ref_dx, ref_dy, split, width):
        """:func:`_answer_in_record` for one point, with its own scratch (safe from many threads)."""
        state = np.empty(width, dtype=np.int64)
        on = np.empty(width, dtype=np.int64)
        return _answer_in_record(records, o, px, py, x0, y0, dx, dy, ref_dx, ref_dy, split, state, on)

    @_jit
    def _covering(x, y, x0, y0, dx, dy, nx, ny, cells, records, ref_dx, ref_dy, split, lo, hi, count, state, on):
        """Per point: the lowest covering id below ``split`` (``lo``), the lowest at or above it
        minus ``split`` (``hi``; both -1 when none) and how many polygons cover it (``count``). Two passes: the
        cell of every point (independent loads the CPU overlaps), then the points in special cells."""
        n = x.shape[0]
        special = np.empty(n, dtype=np.int64)
        start = np.empty(n, dtype=np.int64)
        cell = _cell_index(x, y, x0, y0, dx, dy, nx, ny)
        m = 0
        for i in range(n):
            lo[i] = -1
            hi[i] = -1
            count[i] = 0
            if i + 16 < n and cell[i + 16] >= 0:
                _prefetch(cells, cell[i + 16])
            if cell[i] < 0:
                continue
            v = np.int64(cells[cell[i]])
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
        _special_pass(x, y, x0, y0, dx, dy, records, ref_dx, ref_dy, split, special, start, m, lo, hi, count, state, on)

    @_jit
    def _segment_distance(px, py, ax, ay, bx, by):
        """Point–segment distance with the operations of :func:`gridgis.routing.nearest.segment_distance`
        (GEOS's ``pointToSegment``), in the same order, so the value is the same bit for bit."""
        ex = bx - ax
        ey = by - ay
        len2 = ex * ex + ey * ey
        if len2 == 0.0:
            return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
        r = ((px - ax) * ex + (py - ay) * ey) / len2
        if r <= 0.0:
            return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
        if r >= 1.0:
            return np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
        s = ((ay - py) * ex - (ax - px) * ey) / len2
        return np.abs(s) * np.sqrt(len2)

    @_jit
    def _nearest_in_cells(mx, my, x0, y0, step, nx, ny, ptr, cand, ax, ay, bx, by, owner, out_owner, out_dist):
        """Per metric point inside the raster: the nearest owner among its cell's candidate segments
        (ties: lowest owner); points outside the raster keep -1 / NaN."""
        for i in range(mx.shape[0]):
            out_owner[i] = -1
            out_dist[i] = np.nan
            c = np.floor((mx[i] - x0) / step)
            r = np.floor((my[i] - y0) / step)
            if not (c >= 0 and c < nx and r >= 0 and r < ny):
                continue
            cell = np.int64(r) * nx + np.int64(c)
            best = np.inf
            who = np.int64(-1)
            for k in range(ptr[cell], ptr[cell + 1]):
                sgm = cand[k]
                d = _segment_distance(mx[i], my[i], ax[sgm], ay[sgm], bx[sgm], by[sgm])
                if d < best or (d == best and owner[sgm] < who):
                    best = d
                    who = owner[sgm]
            out_owner[i] = who
            out_dist[i] = best

    @_jit
    def _nearest_of_group(mx, my, group, tol, ptr, ax, ay, bx, by, owner, out_owner, out_dist):
        """Per metric point: the nearest owner within ``tol`` among the segments of its ``group``
        (rows ``ptr[g]:ptr[g + 1]``; ties: lowest owner); -1 / NaN where none is within ``tol``."""
        for i in range(mx.shape[0]):
            out_owner[i] = -1
            out_dist[i] = np.nan
            g = group[i]
            if g < 0:
                continue
            px = mx[i]
            py = my[i]
            best = np.inf
            who = np.int64(-1)
            for k in range(ptr[g], ptr[g + 1]):
                # a cheap bounding-box test first: most segments of the group are far away
                if (
                    px < min(ax[k], bx[k]) - tol
                    or px > max(ax[k], bx[k]) + tol
                    or py < min(ay[k], by[k]) - tol
                    or py > max(ay[k], by[k]) + tol
                ):
                    continue
                d = _segment_distance(px, py, ax[k], ay[k], bx[k], by[k])
                if d <= tol and (d < best or (d == best and owner[k] < who)):
                    best = d
                    who = owner[k]
            if who >= 0:
                out_owner[i] = who
                out_dist[i] = best


def _outputs(locator, n: int) -> tuple[np.ndarray, ...]:
    width = max(locator.max_candidates, 1)
    return (
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int32),
        np.zeros(width, dtype=np.int64),
        np.zeros(width, dtype=np.int64),
    )


def _raster(locator) -> tuple:
    return (locator.x0, locator.y0, locator.dx, locator.dy, locator.nx, locator.ny, locator.cells, locator.records)


def covering(
    locator, x: np.ndarray, y: np.ndarray, split: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lowest id < split, lowest id >= split minus split, number of covering polygons) per point (lon, lat)."""
    from gridgis.routing.cells import REF_DX, REF_DY

    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    lo, hi, count, state, on = _outputs(locator, len(x))
    _covering(
        x, y, *_raster(locator), REF_DX, REF_DY, locator.n if split is None else int(split), lo, hi, count, state, on
    )
    return lo, hi, count


def warm_up(locator) -> None:
    """Compile (or load from numba's cache) the kernels, so the first real batch does not wait.

    Should compiling fail (an LLVM that numba ships but this module's intrinsic does not suit),
    the kernels are switched off with a warning and the numpy path answers: slower, same results.
    """
    global AVAILABLE
    if not AVAILABLE:
        return
    try:
        one = np.zeros(1)
        covering(locator, one, one)
        _segment_distance(0.0, 0.0, 0.0, 0.0, 1.0, 1.0)
        if locator.nspecial:  # the first record starts at 0 (no scan of the cells: they may be a mapped file)
            answer_one(locator, 0, locator.x0, locator.y0, 0)
    except Exception as err:  # noqa: BLE001  # pragma: no cover - numba/llvmlite can fail in many ways
        AVAILABLE = False
        logging.getLogger(__name__).warning("routing kernels disabled, using the numpy path: %s", err)


def nearest_in_cells(ns, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`NearestSegments.nearest` for the points inside its raster (-1 / NaN for the others)."""
    mx = np.ascontiguousarray(mx, dtype=np.float64)
    my = np.ascontiguousarray(my, dtype=np.float64)
    owner = np.empty(len(mx), dtype=np.int64)
    dist = np.empty(len(mx))
    _nearest_in_cells(
        mx, my, ns.x0, ns.y0, ns.step, ns.nx, ns.ny, ns.ptr, ns.cand, ns.ax, ns.ay, ns.bx, ns.by, ns.owner, owner, dist
    )
    return owner, dist


def nearest_of_group(
    mx: np.ndarray, my: np.ndarray, group: np.ndarray, tol: float, ptr: np.ndarray, ax, ay, bx, by, owner
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest owner (and distance) within ``tol`` among the segments of each point's group."""
    mx = np.ascontiguousarray(mx, dtype=np.float64)
    my = np.ascontiguousarray(my, dtype=np.float64)
    out = np.empty(len(mx), dtype=np.int64)
    dist = np.empty(len(mx))
    _nearest_of_group(
        mx, my, np.ascontiguousarray(group, dtype=np.int64), float(tol), ptr, ax, ay, bx, by, owner, out, dist
    )
    return out, dist


def answer_one(locator, start: int, x: float, y: float, split: int) -> tuple[int, int, int]:
    """(lowest id < split, lowest id >= split minus split, cover count) of one point (lon, lat) in the
    special cell of ``locator`` whose record begins at ``start``."""
    from gridgis.routing.cells import REF_DX, REF_DY

    return _answer_one(
        locator.records,
        start,
        x,
        y,
        locator.x0,
        locator.y0,
        locator.dx,
        locator.dy,
        REF_DX,
        REF_DY,
        split,
        max(locator.max_candidates, 1),
    )
