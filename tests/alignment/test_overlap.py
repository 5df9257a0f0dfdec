"""compound_grid_overlaps and assign_buildings: pieces by area and by households."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from alignment_synth import city

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.overlap import assign_buildings, compound_grid_overlaps
from gridgis.errors import CRSError


def test_pieces_of_a_compound_add_up_to_its_area_and_households():
    c = city(per_building=5)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"])
    area = c["compounds"].to_crs("EPSG:4548").area.to_numpy()
    for code, a, hh in zip(c["compounds"]["code"], area, c["compounds"]["households"]):
        p = pieces[pieces["compound_code"] == code]
        assert p["area_m2"].sum() == pytest.approx(a, abs=0.01)
        assert p["households"].sum() == hh


def test_compound_cut_by_a_strip_has_one_piece_per_grid():
    c = city(rects=[(150, 100, 260, 300)], per_building=5)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"])
    assert sorted(pieces["grid_code"]) == ["110105001001001", "110105001001002"]
    west = pieces[pieces["grid_code"] == "110105001001001"].iloc[0]
    assert west["area_m2"] == pytest.approx(50 * 200, rel=1e-3)


def test_households_follow_building_footprints_not_area():
    # the grid line at x=200 passes just east of the last column of buildings (x 158–172, 188-202)
    c = city(rects=[(150, 100, 205, 300)], per_building=7, building_step=30)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"])
    east = pieces[pieces["grid_code"] == "110105001001002"].iloc[0]
    assert east["households"] == 0  # the buildings straddling x=200 lie mostly west
    assert east["area_m2"] > 0


def test_tiny_piece_is_a_sliver():
    c = city(rects=[(20, 20, 200.5, 180)], per_building=5)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"], AlignmentConfig(sliver_area_m2=100))
    sliver = pieces[pieces["grid_code"] == "110105001001002"].iloc[0]
    assert bool(sliver["sliver"]) and sliver["area_m2"] == pytest.approx(80, rel=0.01)


def test_part_outside_every_grid_is_a_piece_without_grid():
    c = city(rects=[(20, 20, 180, 180)], per_building=5)
    grids = c["grids"].copy()
    grids = grids[grids["code"] != "110105001001001"]
    pieces = compound_grid_overlaps(c["compounds"], grids)
    assert pieces["grid_code"].isna().all()
    assert pieces["area_m2"].sum() == pytest.approx(160 * 160, rel=1e-3)


def test_without_buildings_households_are_spread_by_area():
    c = city(rects=[(100, 0, 300, 100)], per_building=5)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"])
    total = int(c["compounds"]["households"].iloc[0])
    assert pieces["households"].to_list() == [round(total / 2), round(total / 2)]
    assert (pieces["cut_buildings"] == -1).all()


def test_buildings_crossing_a_grid_line_are_flagged():
    c = city(rects=[(150, 100, 260, 300)], per_building=5)
    assigned = assign_buildings(c["buildings"], c["grids"], c["compounds"])
    assert assigned["crossing"].sum() >= 1
    assert set(assigned["compound_code"]) == {"110105001001Q001"}
    assert np.isin(assigned["grid_code"], c["grids"]["code"]).all()


def test_layer_in_metric_crs_is_refused():
    c = city()
    with pytest.raises(CRSError):
        compound_grid_overlaps(c["compounds"].to_crs("EPSG:4548"), c["grids"])


def test_empty_compounds_give_no_pieces():
    c = city()
    pieces = compound_grid_overlaps(c["compounds"].iloc[0:0], c["grids"])
    assert len(pieces) == 0 and "grid_code" in pieces.columns
    assert shapely.is_empty(shapely.Polygon())
