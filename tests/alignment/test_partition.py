"""The planar partition treats lines closer than one storage step (7 decimals of a degree) as one line.

These are the two rules that make re-aligning grids read back from storage or GeoJSON change
nothing (field seeds 50, 131, 250 of ``python -m bench --only field`` moved before them).
"""

from __future__ import annotations

import numpy as np
import shapely

from gridgis.alignment.partition import MIN_CONTACT_M, _contacts, _onto_lines
from gridgis.crs import STORAGE_RESOLUTION_M

GS = 0.0001


def _coords(g: shapely.Geometry) -> list[tuple[float, float]]:
    return [tuple(map(float, xy)) for xy in shapely.get_coordinates(g)]


def test_grid_vertices_a_storage_step_beside_a_line_go_back_onto_it():
    line = shapely.LineString([(0, 0), (10, 0), (20, 0)])
    grid = shapely.Polygon([(0, 0.004), (5, 0.006), (10, -0.005), (15, 0.03), (20, 0.003), (20, 10), (0, 10)])
    out = _onto_lines(np.array([grid]), line, STORAGE_RESOLUTION_M, GS)[0]
    xy = _coords(out)
    assert xy[:5] == [(0.0, 0.0), (5.0, 0.0), (10.0, 0.0), (15.0, 0.03), (20.0, 0.0)]  # 3 cm is a line of its own
    assert xy[5:] == [(20.0, 10.0), (0.0, 10.0), (0.0, 0.0)]


def test_a_vertex_on_the_line_stays_even_beside_one_of_its_vertices():
    # where a grid line leaves a compound line it is noded onto it; pulling it 5 mm to the compound's
    # corner would leave a sliver between the two leaving lines
    line = shapely.LineString([(0, 0), (10, 0), (20, 0)])
    grid = shapely.Polygon([(0, 0), (10.005, 0), (10.005, 10), (0, 10)])
    out = _onto_lines(np.array([grid]), line, STORAGE_RESOLUTION_M, GS)[0]
    assert _coords(out)[1] == (10.005, 0.0)


def test_grids_sharing_a_vertex_still_share_it_after_moving():
    line = shapely.LineString([(0, 0), (20, 0)])
    left = shapely.Polygon([(0, 0.005), (10, 0.004), (10, 10), (0, 10)])
    right = shapely.Polygon([(10, 0.004), (20, 0.005), (20, 10), (10, 10)])
    a, b = _onto_lines(np.array([left, right]), line, STORAGE_RESOLUTION_M, GS)
    assert shapely.coverage_is_valid(np.array([a, b]))
    assert (10.0, 0.0) in _coords(a) and (10.0, 0.0) in _coords(b)


def test_atoms_touching_along_less_than_a_few_storage_steps_are_not_neighbours():
    # 0–1 and 1–2 share 10 m; 0 and 2 meet at a (nearly) point contact; 3 touches 2 only briefly
    a = np.array([0, 1, 0, 3])
    b = np.array([1, 2, 2, 2])
    length = np.array([10.0, 10.0, 0.001, 0.01])
    adj = _contacts(4, a, b, length)
    assert set(adj[0]) == {1} and set(adj[2]) == {1, 3}
    assert adj[3] == {2: 0.01}  # its only contact: it still needs a neighbour
    assert MIN_CONTACT_M > 2 * STORAGE_RESOLUTION_M


def test_a_part_narrower_than_a_storage_step_folded_onto_the_line_is_dropped_not_left_invalid():
    # a 1 cm wide tongue along the line (15 m long): every vertex of it lands on the line
    line = shapely.LineString([(-10, 0), (20, 0)])
    grid = shapely.Polygon([(0, 0.005), (15, 0.005), (15, -0.005), (5, -0.005), (5, -5), (0, -5)])
    assert grid.is_valid
    out = _onto_lines(np.array([grid]), line, STORAGE_RESOLUTION_M, GS)[0]
    assert out.is_valid and out.geom_type == "Polygon"
    assert abs(out.area - 25) < 1e-9 and out.bounds[2] == 5.0  # the square below; nothing left of the tongue
