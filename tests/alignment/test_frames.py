"""Private alignment helpers: shared segments of a coverage and the two-thread element-wise split."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import shapely

from gridgis.alignment import _frames
from gridgis.alignment._frames import HALVES_MIN, halves
from gridgis.alignment.partition import _shared_segments


def _shared_by_brute_force(polys: np.ndarray) -> set[tuple]:
    """Every segment two polygons share, by comparing each polygon's segments with every other's."""
    segs: dict[tuple, set[int]] = {}
    for k, poly in enumerate(polys):
        for ring in shapely.get_rings(poly):
            xy = shapely.get_coordinates(ring)
            for a, b in zip(map(tuple, xy[:-1]), map(tuple, xy[1:])):
                segs.setdefault((min(a, b), max(a, b)), set()).add(k)
    return {(p, q, min(s), max(s)) for (p, q), s in segs.items() if len(s) == 2}


def test_shared_segments_of_voronoi_cells_match_brute_force():
    rng = np.random.default_rng(7)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(rng.random((300, 2)) * 100)))
    p, q, a, b = _shared_segments(cells)
    found = {(tuple(x), tuple(y), int(i), int(j)) for x, y, i, j in zip(p, q, a, b)}
    assert found == _shared_by_brute_force(cells)
    assert len(found) == len(p) > 700  # no pair twice; a Voronoi diagram of 300 points has ~3n edges
    # p before q, pairs in (p, q) order, lower polygon first
    assert all(tuple(x) < tuple(y) for x, y in zip(p, q))
    keys = [(*x, *y) for x, y in zip(p, q)]
    assert keys == sorted(keys)
    assert (a < b).all()


def test_shared_segments_of_two_squares():
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    p, q, a, b = _shared_segments(np.array([right, left]))
    assert p.tolist() == [[1.0, 0.0]] and q.tolist() == [[1.0, 1.0]]
    assert a.tolist() == [0] and b.tolist() == [1]
    apart = _shared_segments(np.array([left, shapely.box(5, 5, 6, 6)]))
    assert all(len(x) == 0 for x in apart)


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    xy = rng.random((n, 2)) * 1000
    return shapely.buffer(shapely.points(xy), 5.0, quad_segs=4), shapely.buffer(shapely.points(xy + 4.0), 3.0)


def test_halves_gives_what_the_whole_call_gives():
    a, b = _pairs(HALVES_MIN * 2 + 1)
    assert shapely.equals_exact(halves(shapely.intersection, a, b), shapely.intersection(a, b), 0).all()
    assert np.array_equal(halves(shapely.is_valid, a), shapely.is_valid(a))
    small = a[:10]
    assert np.array_equal(halves(shapely.area, small), shapely.area(small))


def _in_child(queue) -> None:
    a, b = _pairs(HALVES_MIN * 2)
    queue.put(float(shapely.area(halves(shapely.intersection, a, b)).sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_halves_in_a_forked_child_of_a_process_that_used_it():
    a, b = _pairs(HALVES_MIN * 2)
    expected = float(shapely.area(halves(shapely.intersection, a, b)).sum())
    assert _frames._HELPER is not None  # the parent's helper thread exists; the child must make its own
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == expected
