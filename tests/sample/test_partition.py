"""The k-d partition behind grids and micro-grids: n pieces that exactly cover the parent."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.sample import partition as P

PARENT = shapely.Polygon([(0, 0), (420, 15), (400, 380), (180, 430), (-10, 300)])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 10_000), wiggle=st.sampled_from([0.0, 20.0]))
def test_pieces_node_into_an_exact_valid_coverage_of_the_parent(n, seed, wiggle):
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(0, 400, 300), rng.uniform(0, 400, 300)])
    pts = pts[shapely.contains_xy(PARENT, pts[:, 0], pts[:, 1])]
    weights = rng.integers(10, 200, len(pts)).astype(float)
    pieces = P.kd_split(PARENT, pts, weights, n, rng, wiggle=wiggle)
    assert len(pieces) == n
    assert sum(len(p.index) for p in pieces) == len(pts)  # every point in exactly one piece
    faces = P.faces_of(PARENT, pieces[0].lines)
    label = P.label_faces(faces, np.array([p.polygon for p in pieces], dtype=object))
    cells = P.dissolve(faces, label, n)
    assert shapely.coverage_is_valid(cells)
    assert abs(shapely.area(shapely.coverage_union_all(cells)) - PARENT.area) < 1e-6
    assert shapely.symmetric_difference(shapely.coverage_union_all(cells), PARENT).area < 1e-6


def test_pieces_hold_about_equal_weight():
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(0, 400, 2000), rng.uniform(0, 400, 2000)])
    pts = pts[shapely.contains_xy(PARENT, pts[:, 0], pts[:, 1])]
    pieces = P.kd_split(PARENT, pts, np.ones(len(pts)), 4, rng)
    sizes = np.array([len(p.index) for p in pieces])
    assert sizes.min() > 0.8 * sizes.mean() and sizes.max() < 1.2 * sizes.mean()


def test_reading_order_goes_west_to_east_then_north_to_south():
    cells = np.array([shapely.box(x, y, x + 10, y + 10) for y in (100, 0) for x in (50, 0)], dtype=object)
    order = P.reading_order(cells, band=50)
    assert [tuple(np.round(cells[i].bounds[:2])) for i in order] == [(0, 100), (50, 100), (0, 0), (50, 0)]
