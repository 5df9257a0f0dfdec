"""A coverage stays valid once written with the 7 decimals of storage (layers.coverage.storable)."""

from __future__ import annotations

import numpy as np
import shapely

from gridgis.crs import round_to_storage
from gridgis.layers.coverage import storable, unwritable

X, Y = 116.3, 39.9  # multiples of a storage step
S = 1e-7  # one storage step (degrees)


def _three_grids_with_a_tooth_at_their_junction():
    """Three grids meeting at a junction with a vertex on each of two of its edges a tenth of a step
    away, as snap-rounding at 0.1 mm leaves them (the layout of field seed 127): the middle grid's
    ring runs vertex, junction, vertex, and once rounded the two vertices fall on one point and the
    junction on the next: the ring folds back."""
    j = (X - 0.534 * S, Y + 0.309 * S)  # rounds to (X - S, Y)
    a = (X - 0.451 * S, Y + 0.247 * S)  # rounds to (X, Y)
    b = (X - 0.464 * S, Y + 0.382 * S)  # rounds to (X, Y)
    e0, e1 = (X + 1e-3, Y - 5e-4), (X + 1e-3, Y + 5e-4)
    middle = shapely.Polygon([j, a, e0, e1, b])
    south = shapely.Polygon([j, (X - 1e-3, j[1]), (X - 1e-3, Y - 1e-3), (X + 1e-3, Y - 1e-3), e0, a])
    north = shapely.Polygon([j, b, e1, (X + 1e-3, Y + 1e-3), (X - 1e-3, Y + 1e-3), (X - 1e-3, j[1])])
    return np.array([south, middle, north], dtype=object)


def test_the_junction_tooth_is_unwritable_as_drawn():
    grids = _three_grids_with_a_tooth_at_their_junction()
    assert shapely.is_valid(grids).all() and shapely.coverage_is_valid(grids)
    assert len(unwritable(grids)) > 0


def test_storable_makes_every_grid_valid_once_written_and_keeps_the_coverage():
    grids = _three_grids_with_a_tooth_at_their_junction()
    out = storable(grids)
    assert unwritable(out).tolist() == []
    written = round_to_storage(out)
    assert shapely.is_valid(written).all()
    assert shapely.coverage_is_valid(out) and shapely.coverage_is_valid(written)
    # nothing moves further than a storage step, and the area is kept
    assert max(shapely.hausdorff_distance(a, b) for a, b in zip(grids, out)) < 1.5 * S
    assert abs(shapely.area(out).sum() - shapely.area(grids).sum()) < S * S


def test_storable_returns_writable_polygons_untouched_and_is_idempotent():
    grids = _three_grids_with_a_tooth_at_their_junction()
    far = shapely.box(X + 0.01, Y, X + 0.011, Y + 0.001)
    out = storable(np.append(grids, far))
    assert out[-1] is far or shapely.equals_exact(out[-1], far, 0.0)
    again = storable(out)
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(out, again))


def test_a_neck_narrower_than_a_step_is_left_for_unwritable_to_report():
    # two squares joined by a neck 0.3 steps wide: no vertex merge can keep it one valid polygon
    neck = shapely.Polygon(
        [(X, Y), (X + 1e-4, Y), (X + 1e-4, Y + 1e-4 - 0.15 * S), (X + 2e-4, Y + 1e-4 - 0.15 * S),
         (X + 2e-4, Y + 2e-4), (X + 1e-4, Y + 2e-4), (X + 1e-4, Y + 1e-4 + 0.15 * S),
         (X + 1e-4 - 1e-5, Y + 1e-4 + 0.15 * S), (X + 1e-4 - 1e-5, Y + 1e-4 + 0.15 * S + 1e-5),
         (X, Y + 1e-4 + 1e-5)]
    )  # fmt: skip
    assert neck.is_valid
    assert unwritable([neck]).tolist() == [0]
    out = storable([neck])
    assert shapely.is_valid(out).all()  # never made invalid as stored
    assert unwritable(out).tolist() == [0]


def test_every_writer_repairs_what_plain_rounding_would_fold():
    grids = _three_grids_with_a_tooth_at_their_junction()
    plain = round_to_storage(grids, repair=False)
    assert not shapely.is_valid(plain).all()
    written = round_to_storage(grids)
    assert shapely.is_valid(written).all()
    # only the folded polygon changes; the others are plain rounding, vertex for vertex
    for a, b in zip(plain, written):
        if shapely.is_valid(a):
            assert shapely.equals_exact(a, b, 0.0)
    # every vertex written lies on the storage lattice
    xy = shapely.get_coordinates(written)
    assert np.array_equal(xy, np.round(xy, 7))


def test_a_notch_in_a_polygon_of_fifty_thousand_vertices_is_removed():
    # vertex groups are found through a search tree: a ring this long once asked for a 50,000 × 50,000
    # distance matrix (20 GB)
    t = np.linspace(0, 2 * np.pi, 50_000, endpoint=False)
    xy = np.column_stack([X + 0.01 * np.cos(t), Y + 0.01 * np.sin(t)])
    x0 = np.round(xy[0], 7)
    notch = [x0 + [0, 0.4 * S], x0 + [-0.6 * S, 0.45 * S], x0 + [0, 0.5 * S]]
    big = shapely.Polygon(np.vstack([xy[:1], notch, xy[1:]]))
    assert big.is_valid and unwritable([big]).tolist() == [0]
    out = storable([big])
    assert unwritable(out).tolist() == [] and shapely.is_valid(out).all()
    # the group becomes one of its vertices: the circle's corner moves by under 1.5 steps along edges
    # 12.6 steps long, within the hundred square steps storable allows
    assert abs(shapely.area(out[0]) - big.area) < 100 * S * S
