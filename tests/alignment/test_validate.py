"""validate_coverage: exact tilings pass; gaps, overlaps, mismatched edges and area differences are found."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridgis.alignment.validate import validate_coverage
from gridgis.errors import CRSError

X, Y = 116.30, 39.90
D = 0.001  # about 85 m east-west, 111 m north-south


def frame(*boxes, codes=None):
    codes = codes or [f"g{i}" for i in range(len(boxes))]
    return gpd.GeoDataFrame({"code": codes}, geometry=list(boxes), crs="EPSG:4326")


def box(i0, j0, i1, j1):
    return shapely.box(X + i0 * D, Y + j0 * D, X + i1 * D, Y + j1 * D)


def test_exact_tiling_of_the_area_is_ok():
    report = validate_coverage(frame(box(0, 0, 1, 1), box(1, 0, 2, 1)), box(0, 0, 2, 1))
    assert report.ok
    assert report.coverage_valid and report.difference_m2 < 1.0
    assert report.area_m2 == pytest.approx(report.union_area_m2)


def test_gap_between_grids_is_reported_with_its_area_and_neighbours():
    report = validate_coverage(frame(box(0, 0, 1, 1), box(1.2, 0, 2, 1)), box(0, 0, 2, 1))
    assert not report.ok
    assert len(report.gaps) == 1
    assert report.gaps[0]["grids"] == ["g0", "g1"]
    assert report.gaps[0]["area_m2"] == pytest.approx(0.2 * report.area_m2 / 2, rel=0.01)
    assert any(p.kind == "coverage_gap" for p in report.problems())


def test_overlapping_grids_are_reported_and_coverage_invalid():
    report = validate_coverage(frame(box(0, 0, 1.3, 1), box(1, 0, 2, 1)), box(0, 0, 2, 1))
    assert not report.ok and not report.coverage_valid
    assert [o["grids"] for o in report.overlaps] == [["g0", "g1"]]
    assert report.invalid_edges


def test_edges_that_do_not_match_exactly_are_invalid_even_without_area():
    left = box(0, 0, 1, 1)
    # the right grid's shared edge has a vertex 1 cm inside the left grid
    x1 = X + D
    right = shapely.Polygon([(x1, Y), (X + 2 * D, Y), (X + 2 * D, Y + D), (x1, Y + D), (x1 - 1e-7, Y + D / 2)])
    report = validate_coverage(frame(left, right), box(0, 0, 2, 1))
    assert not report.coverage_valid
    assert report.invalid_edges and report.invalid_edges[0]["length_m"] > 0


def test_without_area_only_holes_in_the_union_are_gaps():
    ring = shapely.box(X, Y, X + 3 * D, Y + 3 * D).difference(box(1, 1, 2, 2))
    report = validate_coverage(frame(ring))
    assert len(report.gaps) == 1 and not report.ok
    assert validate_coverage(frame(box(0, 0, 1, 1))).ok


def test_grid_reaching_outside_the_area_is_reported():
    report = validate_coverage(frame(box(0, 0, 1, 1), box(1, 0, 2.5, 1)), box(0, 0, 2, 1))
    assert [o["grids"] for o in report.outside] == [["g1"]]
    assert report.difference_m2 > 1


def test_invalid_bow_tie_grid_is_repaired_before_checking():
    bow = shapely.Polygon([(X, Y), (X + D, Y + D), (X + D, Y), (X, Y + D)])
    report = validate_coverage(frame(bow))
    assert report.union_area_m2 > 0


def test_frame_in_another_crs_is_an_error():
    g = frame(box(0, 0, 1, 1)).to_crs("EPSG:4548")
    with pytest.raises(CRSError):
        validate_coverage(g)


def test_report_serialises_to_json_without_geometry_by_default():
    import json

    report = validate_coverage(frame(box(0, 0, 1, 1), box(1.2, 0, 2, 1)), box(0, 0, 2, 1))
    data = json.loads(json.dumps(report.to_dict()))
    assert "geometry" not in data["gaps"][0] and data["ok"] is False


def test_a_repeated_check_sees_a_changed_grid():
    """The second check of the same grids answers from the first; a grid moved in place is checked anew."""
    grids = frame(box(0, 0, 1, 1), box(1, 0, 2, 1))
    area = box(0, 0, 2, 1)
    assert validate_coverage(grids, area).ok
    again = validate_coverage(grids, area, tolerance_m2=5.0)
    assert again.ok and again.tolerance_m2 == 5.0
    grids.loc[1, "geometry"] = box(1.2, 0, 2, 1)  # the same frame, edited in place
    moved = validate_coverage(grids, area)
    assert not moved.ok and len(moved.gaps) == 1
    renamed = frame(box(0, 0, 1, 1), box(1, 0, 1.5, 1), box(1.5, 0, 2, 1), codes=["g0", "g1", "g2"])
    assert validate_coverage(renamed, area).ok
    assert not validate_coverage(renamed, box(0, 0, 2, 2)).ok
