"""match_vertices: grids of neighbouring communities end up with the same vertices on shared edges."""

from __future__ import annotations

import numpy as np
import shapely

from gridgis.alignment.propose import match_vertices


def _communities():
    # community A (x 0..100) has two grids meeting its east edge at y=40; community B (x 100..200)
    # has two grids meeting the shared edge at y=70: each side lacks the other's vertex
    return {
        "a1": shapely.box(0, 0, 100, 40),
        "a2": shapely.box(0, 40, 100, 100),
        "b1": shapely.box(100, 0, 200, 70),
        "b2": shapely.box(100, 70, 200, 100),
    }, {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}


def test_both_ways_of_matching_give_a_valid_coverage_of_the_same_area():
    geoms, owner = _communities()
    before = np.array([geoms[c] for c in sorted(geoms)], dtype=object)
    assert not shapely.coverage_is_valid(before)
    for out in (match_vertices(geoms, 0.0001), match_vertices(geoms, 0.0001, community_of=owner)):
        after = np.array([out[c] for c in sorted(out)], dtype=object)
        assert shapely.coverage_is_valid(after)
        assert np.allclose(shapely.area(after), shapely.area(before))
        # the vertex each side lacked is now on both sides
        assert (100.0, 70.0) in set(map(tuple, shapely.get_coordinates(out["a2"])))
        assert (100.0, 40.0) in set(map(tuple, shapely.get_coordinates(out["b1"])))
