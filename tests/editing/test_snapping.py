"""Snapping written vertices back onto stored ones (QGIS writes 6 decimals)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from gridgis.editing.snapping import snap_vertices

REF = np.array(
    [[121.5115408, 31.2415377], [121.5101457, 31.24153], [121.5101714, 31.2396006], [121.5114348, 31.2396153]]
)


def _rounded(geom, nd=6):
    return shapely.transform(geom, lambda xy: np.round(xy, nd))


def test_six_decimal_coordinates_come_back_exactly_as_stored():
    stored = Polygon(REF)
    back = snap_vertices(_rounded(stored), REF, 0.5)
    assert back.equals_exact(stored, 0) and not _rounded(stored).equals_exact(stored, 0)


def test_a_vertex_moved_farther_than_the_tolerance_is_kept_and_the_others_snap():
    moved = REF.copy()
    moved[0] += [0.00001, 0.0]  # ~0.95 m east at 31°N
    sent = _rounded(Polygon(moved))
    back = snap_vertices(sent, REF, 0.5)
    coords = np.array(back.exterior.coords)
    assert tuple(coords[0]) == (round(moved[0][0], 6), round(moved[0][1], 6))
    assert (coords[1:4] == REF[1:4]).all()
    assert np.array_equal(snap_vertices(sent, REF, 2.0).exterior.coords[0], REF[0])  # within 2 m: taken back


def test_a_vertex_near_a_neighbours_vertex_lands_on_it_and_repeated_vertices_merge():
    neighbour = np.array([[121.52, 31.25]])
    sent = Polygon([(121.5200001, 31.2500001), (121.52, 31.2500002), (121.53, 31.25), (121.53, 31.26)])
    back = snap_vertices(sent, neighbour, 0.5)
    assert list(back.exterior.coords)[:2] == [(121.52, 31.25), (121.53, 31.25)]


def test_points_snap_and_nothing_happens_without_reference_or_tolerance():
    assert snap_vertices(Point(121.5101457 + 2e-7, 31.24153), REF, 0.5).equals(Point(REF[1]))
    p = Point(121.5, 31.2)
    assert snap_vertices(p, np.empty((0, 2)), 0.5) is p and snap_vertices(p, REF, 0) is p
