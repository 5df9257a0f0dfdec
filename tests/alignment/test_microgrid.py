"""split_microgrids: whole buildings, contiguous, exact cover of the grid, sizes in range."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from alignment_synth import COMMUNITY, METRIC, city

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.microgrid import split_microgrids
from gridgis.alignment.validate import validate_coverage

G1 = f"{COMMUNITY}001"


def one_grid(per_building=10, rects=None):
    c = city(strips=[], rects=rects or [(20, 20, 580, 280), (20, 320, 300, 580)], per_building=per_building)
    return c["grids"], c["buildings"]


def test_micro_grids_cover_the_grid_exactly():
    grids, buildings = one_grid()
    mg, _ = split_microgrids(grids, buildings)
    assert len(mg) > 5
    report = validate_coverage(mg, grids)
    assert report.ok, report.to_dict()


def test_every_building_lies_whole_in_one_micro_grid():
    grids, buildings = one_grid()
    mg, _ = split_microgrids(grids, buildings)
    b = buildings.to_crs(METRIC)
    m = mg.to_crs(METRIC)
    inter = gpd.overlay(
        b[["code", "geometry"]],
        m[["code", "geometry"]].rename(columns={"code": "mg"}),
        how="intersection",
        keep_geom_type=True,
    )
    share = inter.assign(a=inter.area).groupby("code")["a"].max() / b.set_index("code").area
    assert (share > 0.999).all()
    listed = sorted(code for codes in mg["building_codes"] for code in codes)
    assert listed == sorted(buildings["code"])


def test_micro_grids_are_contiguous_and_within_the_household_range():
    grids, buildings = one_grid()
    mg, explanations = split_microgrids(grids, buildings)
    assert (mg.geometry.geom_type == "Polygon").all()
    assert mg["households"].between(30, 100).all(), mg["households"].tolist()
    assert explanations == []
    assert mg["households"].sum() == buildings["households"].sum()


def test_codes_extend_the_grid_code_and_are_deterministic():
    grids, buildings = one_grid()
    one, _ = split_microgrids(grids, buildings)
    two, _ = split_microgrids(grids, buildings)
    assert one["code"].tolist() == [f"{G1}{i:02d}" for i in range(1, len(one) + 1)]
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(one.geometry, two.geometry))
    # numbered north to south: the first micro-grid lies north of the last
    assert one.geometry.iloc[0].centroid.y > one.geometry.iloc[-1].centroid.y


def test_grid_without_buildings_is_one_micro_grid():
    grids, _ = one_grid()
    mg, explanations = split_microgrids(grids, None)
    assert len(mg) == 1 and mg["code"].iloc[0] == f"{G1}01"
    assert explanations and "households in all" in explanations[0]["reason"]


def test_building_above_the_range_is_alone_and_explained():
    grids, buildings = one_grid(per_building=150, rects=[(20, 20, 200, 100)])
    mg, explanations = split_microgrids(grids, buildings, AlignmentConfig())
    assert (mg["buildings"] == 1).all()
    assert explanations and all("alone" in e["reason"] for e in explanations)


def test_custom_range_gives_more_smaller_micro_grids():
    grids, buildings = one_grid()
    small, _ = split_microgrids(grids, buildings, AlignmentConfig(microgrid_min=10, microgrid_max=40))
    default, _ = split_microgrids(grids, buildings)
    assert len(small) > len(default)
    assert np.all(small["households"] <= 40)


def test_split_micro_grids_of_a_concave_grid_gives_single_part_micro_grids_tiling_it():
    """A U-shaped grid: the top of the right arm is nearest to the left arm's buildings, so their
    Voronoi regions clipped to the grid fall apart (multi-part micro-grids before the fix)."""
    import geopandas as gpd
    import numpy as np
    import shapely
    import shapely.affinity

    from gridgis.alignment.microgrid import split_micro_grids

    metric = "EPSG:4548"
    grid = shapely.Polygon([(0, 0), (160, 0), (160, 400), (100, 400), (100, 60), (60, 60), (60, 400), (0, 400)])
    boxes = [shapely.box(15, 20 + k * 60, 45, 50 + k * 60) for k in range(6)] + [shapely.box(115, 15, 145, 45)]
    hh = [40] * len(boxes)

    def shift(g):
        return shapely.affinity.translate(g, 440000.0, 4420000.0)

    grids = gpd.GeoDataFrame({"code": ["110105001001001"]}, geometry=[shift(grid)], crs=metric).to_crs(4326)
    buildings = gpd.GeoDataFrame(
        {"code": [f"B{k}" for k in range(len(boxes))], "households": hh},
        geometry=[shift(b) for b in boxes],
        crs=metric,
    ).to_crs(4326)
    micro, _ = split_micro_grids(grids.iloc[0], buildings)
    m = micro.to_crs(metric).geometry.values
    assert len(m) > 1
    assert (shapely.get_type_id(m) == 3).all()  # every micro-grid one polygon
    assert shapely.coverage_is_valid(m)
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(m), shift(grid))) < 1.0
    listed = [b for codes in micro["building_codes"] for b in codes]
    assert sorted(listed) == sorted(buildings["code"]) and micro["households"].sum() == sum(hh)
    assert np.all(micro["grid_code"] == "110105001001001")


def test_a_grid_in_several_parts_gets_micro_grids_that_each_lie_in_one_part():
    """A grid stored in two parts (an island of its community, or an imported multipolygon): no
    micro-grid may span both, however few households the smaller part has (the concurrency test
    found one of 23,968 + 4,416 m²). Each part is split on its own; a part without buildings is a
    micro-grid of 0 households, explained."""
    import shapely.affinity

    from gridgis.alignment.microgrid import split_micro_grids

    metric = "EPSG:4548"
    west, east = shapely.box(0, 0, 200, 200), shapely.box(260, 0, 320, 60)
    bare = shapely.box(400, 0, 430, 30)
    boxes = [shapely.box(20 + 60 * i, 20 + 60 * j, 60 + 60 * i, 60 + 60 * j) for i in range(3) for j in range(3)]
    boxes.append(shapely.box(275, 15, 305, 45))  # one building of 20 households in the east part
    hh = [40] * 9 + [20]

    def shift(g):
        return shapely.affinity.translate(g, 440000.0, 4420000.0)

    grid = shapely.MultiPolygon([shift(west), shift(east), shift(bare)])
    grids = gpd.GeoDataFrame({"code": [G1]}, geometry=[grid], crs=metric).to_crs(4326)
    buildings = gpd.GeoDataFrame(
        {"code": [f"B{k}" for k in range(len(boxes))], "households": hh},
        geometry=[shift(b) for b in boxes],
        crs=metric,
    ).to_crs(4326)
    micro, notes = split_micro_grids(grids, buildings)
    m = micro.to_crs(metric).geometry.values
    assert (shapely.get_type_id(m) == 3).all(), list(micro.geometry.geom_type)
    parts = [shift(west), shift(east), shift(bare)]
    for geom in m:  # each micro-grid inside exactly one part
        assert sum(shapely.area(shapely.intersection(geom, p)) > 1.0 for p in parts) == 1
    assert shapely.coverage_is_valid(m)
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(m), grid)) < 1.0
    assert micro["households"].sum() == sum(hh)
    listed = [b for codes in micro["building_codes"] for b in codes]
    assert sorted(listed) == sorted(buildings["code"])
    empty = micro[micro["households"] == 0]
    assert len(empty) == 1 and shapely.area(shapely.intersection(empty.to_crs(metric).geometry.iloc[0], parts[2])) > 800
    assert any(n["micro_grid"] == empty["code"].iloc[0] and "part" in n["reason"] for n in notes), notes
