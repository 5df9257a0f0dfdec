"""The cell-raster locator agrees with shapely's exact ``covers`` everywhere, including on edges and vertices."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.routing.cells import CellLocator
from gridgis.sample.lattice import synthetic_city

CITY = synthetic_city(5, 4, micro=3, jitter=0.35, seed=3, grids_without_micro=0)
POLYS = CITY["micro_grids"].geometry.values
VERTS = shapely.get_coordinates(POLYS)
BOUNDS = shapely.total_bounds(POLYS)
# axis-aligned boxes (compounds and buildings) so that points on their edges are exactly representable
BOXES = np.concatenate([CITY["compounds"].geometry.values, CITY["buildings"].geometry.values])
BOX_VERTS = shapely.get_coordinates(BOXES)


def covering(geoms, x, y) -> list[set[int]]:
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(shapely.points(x, y), predicate="intersects")
    out: list[set[int]] = [set() for _ in range(len(x))]
    for p, g in zip(pi.tolist(), gi.tolist()):
        out[p].add(g)
    return out


def located(loc: CellLocator, x, y) -> list[set[int]]:
    first, mp, mpoly = loc.locate(x, y)
    out = [{int(f)} if f >= 0 else set() for f in first]
    for p, g in zip(mp.tolist(), mpoly.tolist()):
        out[p].add(g)
    return out


def _points(draw_from, n, rng, bounds, verts):
    kind = rng.integers(0, 3, n)
    x = rng.uniform(bounds[0] - 1e-4, bounds[2] + 1e-4, n)
    y = rng.uniform(bounds[1] - 1e-4, bounds[3] + 1e-4, n)
    v = verts[rng.integers(0, len(verts), n)]
    x = np.where(kind == 1, v[:, 0], x)
    y = np.where(kind == 1, v[:, 1], y)
    # kind 2: on a horizontal or vertical line through a vertex (on axis-aligned edges for boxes)
    x = np.where((kind == 2) & (rng.random(n) < 0.5), v[:, 0], x)
    y = np.where((kind == 2) & (x != v[:, 0]), v[:, 1], y)
    return x, y


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cell_m=st.sampled_from([None, 3.0, 17.0, 60.0]))
def test_batch_lookup_equals_shapely_covers_on_random_points_and_vertices(seed, cell_m):
    rng = np.random.default_rng(seed)
    loc = CellLocator.build(POLYS, cell_m=cell_m)
    x, y = _points(None, 400, rng, BOUNDS, VERTS)
    assert located(loc, x, y) == covering(POLYS, x, y)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cell_m=st.sampled_from([None, 1.5, 9.0]))
def test_points_on_axis_aligned_edges_are_covered_by_every_touching_box(seed, cell_m):
    rng = np.random.default_rng(seed)
    loc = CellLocator.build(BOXES, cell_m=cell_m)
    x, y = _points(None, 400, rng, shapely.total_bounds(BOXES), BOX_VERTS)
    assert located(loc, x, y) == covering(BOXES, x, y)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_single_lookup_equals_batch_lookup(seed):
    rng = np.random.default_rng(seed)
    loc = CellLocator.build(POLYS, cell_m=7.0)
    x, y = _points(None, 200, rng, BOUNDS, VERTS)
    assert [set(loc.locate_one(a, b)) for a, b in zip(x.tolist(), y.tolist())] == located(loc, x, y)


def test_polygons_with_holes_and_multipolygons_are_exact():
    outer = shapely.box(121.0, 31.0, 121.01, 31.01)
    hole = shapely.box(121.003, 31.003, 121.007, 31.007)
    donut = outer.difference(hole)
    multi = shapely.MultiPolygon(
        [shapely.box(121.004, 31.004, 121.006, 31.006), shapely.box(121.02, 31.0, 121.03, 31.01)]
    )
    geoms = np.array([donut, multi, None, shapely.Polygon()], dtype=object)
    loc = CellLocator.build(geoms)
    assert loc.locate_one(121.005, 31.005) == (1,)  # in the hole: the island of the multipolygon
    assert loc.locate_one(121.0035, 31.0035) == ()  # in the hole, off the island
    assert loc.locate_one(121.001, 31.001) == (0,)
    assert loc.locate_one(121.025, 31.005) == (1,)
    assert set(loc.locate_one(121.003, 31.005)) == {0}  # on the hole's edge: the donut covers it
    rng = np.random.default_rng(0)
    x, y = rng.uniform(120.999, 121.031, 3000), rng.uniform(30.999, 31.011, 3000)
    assert located(loc, x, y) == covering(geoms, x, y)


def test_overlapping_polygons_report_every_cover():
    a = shapely.box(121.0, 31.0, 121.01, 31.01)
    b = shapely.box(121.002, 31.002, 121.008, 31.008)  # wholly inside a
    loc = CellLocator.build(np.array([a, b], dtype=object), cell_m=20.0)
    assert set(loc.locate_one(121.005, 31.005)) == {0, 1}
    first, mp, mpoly = loc.locate(np.array([121.005, 121.001]), np.array([31.005, 31.001]))
    assert first.tolist() == [-2, 0]
    assert sorted(zip(mp.tolist(), mpoly.tolist())) == [(0, 0), (0, 1)]


def test_nan_and_far_points_are_located_nowhere():
    loc = CellLocator.build(POLYS)
    first, mp, _ = loc.locate(np.array([np.nan, 0.0, np.inf]), np.array([31.2, np.nan, 31.2]))
    assert first.tolist() == [-1, -1, -1] and len(mp) == 0
    assert loc.locate_one(10.0, 10.0) == ()


def test_no_polygons_builds_an_empty_locator():
    loc = CellLocator.build(np.array([], dtype=object))
    assert loc.locate_one(121.0, 31.0) == ()
    assert loc.locate(np.array([121.0]), np.array([31.0]))[0].tolist() == [-1]


# ---------------------------------------------------------------------- compiled kernel vs numpy path
def test_the_compiled_kernel_is_in_use_where_numba_is_installed():
    from gridgis.routing import kernels

    assert kernels.AVAILABLE, "numba is a declared dependency; without it batches take the slower numpy path"


def _covering_numpy(loc: CellLocator, x, y, split):
    from gridgis.routing import kernels

    saved, kernels.AVAILABLE = kernels.AVAILABLE, False
    try:
        return loc.covering(x, y, split)
    finally:
        kernels.AVAILABLE = saved


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cell_m=st.sampled_from([None, 1.5, 9.0, 40.0]))
def test_compiled_kernel_answers_bit_for_bit_like_the_numpy_path(seed, cell_m):
    """Overlapping boxes (compounds with their buildings) split into two id ranges, points on edges,
    on vertices, NaN and far outside: lowest id per range and the cover count agree exactly."""
    rng = np.random.default_rng(seed)
    loc = CellLocator.build(BOXES, cell_m=cell_m)
    x, y = _points(None, 500, rng, shapely.total_bounds(BOXES), BOX_VERTS)
    x[:3], y[:3] = [np.nan, 0.0, 1e9], [31.2, np.nan, 31.2]
    split = len(CITY["compounds"])
    got = loc.covering(x, y, split)
    want = _covering_numpy(loc, x, y, split)
    for a, b in zip(got, want):
        assert a.tolist() == b.tolist()
    cover = covering(BOXES, x, y)  # and both equal shapely
    assert got[2].tolist() == [len(c) for c in cover]
    assert got[0].tolist() == [min((i for i in c if i < split), default=-1) for c in cover]
    assert got[1].tolist() == [min((i - split for i in c if i >= split), default=-1) for c in cover]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_single_point_answers_equal_the_batch_with_and_without_the_kernels(seed):
    from gridgis.routing import kernels

    rng = np.random.default_rng(seed)
    loc = CellLocator.build(BOXES, cell_m=3.0)
    x, y = _points(None, 300, rng, shapely.total_bounds(BOXES), BOX_VERTS)
    split = len(CITY["compounds"])
    lo, hi, _ = loc.covering(x, y, split)
    pairs = list(zip(x.tolist(), y.tolist()))
    compiled = [loc.covering_one(a, b, split) for a, b in pairs], [set(loc.locate_one(a, b)) for a, b in pairs]
    saved, kernels.AVAILABLE = kernels.AVAILABLE, False
    try:
        plain = [loc.covering_one(a, b, split) for a, b in pairs], [set(loc.locate_one(a, b)) for a, b in pairs]
    finally:
        kernels.AVAILABLE = saved
    assert compiled == plain
    assert compiled[0] == list(zip(lo.tolist(), hi.tolist()))
    assert compiled[1] == covering(BOXES, x, y)
