"""Dirty input feature by feature: each kind found, named and located; repaired when asked."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from iohelpers import box_coords, feature_collection, polygon_feature

from gridgis.io.clean import clean_features
from gridgis.io.geojson import parse_features

BOW_TIE = [[116.40, 39.90], [116.41, 39.91], [116.41, 39.90], [116.40, 39.91], [116.40, 39.90]]


def dirty_collection() -> dict:
    return feature_collection(
        [
            polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), code="A", name="好"),  # 0 clean
            polygon_feature([[116.42, 39.90], [116.43, 39.90], [116.43, 39.91]], code="B"),  # 1 unclosed
            polygon_feature([[116.44, 39.90], [116.45, 39.90], [116.44, 39.90]], code="C"),  # 2 degenerate
            polygon_feature(BOW_TIE, code="D"),  # 3 self-intersection
            polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), code="E"),  # 4 same geometry as A
            polygon_feature(box_coords(116.46, 39.90, 116.47, 39.91), code="A"),  # 5 same code as A
            {"type": "Feature", "properties": {"code": "G"}, "geometry": None},  # 6 empty
            polygon_feature(
                [[116.48, 39.90], [116.49, 39.90], [116.50, 39.90], [116.48, 39.90]], code="H"
            ),  # 7 zero area
            polygon_feature(box_coords(2.30, 48.80, 2.40, 48.90), code="I"),  # 8 Paris
            {
                "type": "Feature",
                "properties": {"code": "J"},
                "geometry": {"type": "LineString", "coordinates": [[116.4, 39.9], [116.5, 39.9]]},
            },  # 9 line
        ]
    )


def _clean(repair: bool):
    raw = parse_features(dirty_collection(), "dirty.geojson")
    frame = raw.frame.set_crs(4326)
    return clean_features(frame, notes=raw.notes, repair=repair, layer="streets")


def test_every_kind_is_found_and_named_by_index_and_code():
    result = _clean(repair=False)
    found = {(p.feature, p.kind) for p in result.problems}
    assert found == {
        ("#1 B", "unclosed_ring"),
        ("#2 C", "degenerate"),
        ("#3 D", "self_intersection"),
        ("#4 E", "duplicate_geometry"),
        ("#5 A", "duplicate_code"),
        ("#6 G", "empty_geometry"),
        ("#7 H", "degenerate"),
        ("#8 I", "out_of_area"),
        ("#9 J", "wrong_geometry_type"),
    }
    assert all(p.layer == "streets" for p in result.problems)
    assert len(result.frame) == 10  # without repair nothing is changed or dropped


def test_problems_say_where_they_are():
    result = _clean(repair=False)
    where = {p.kind: p.where for p in result.problems}
    assert where["self_intersection"] == pytest.approx((116.405, 39.905))
    assert where["unclosed_ring"] is not None and 116.42 <= where["unclosed_ring"][0] <= 116.43
    assert "A" in next(p.message for p in result.problems if p.kind == "duplicate_geometry")


def test_repair_fixes_what_can_be_fixed_and_reports_each_action():
    result = _clean(repair=True)
    assert {(p.feature, p.kind) for p in result.problems} == {("#8 I", "out_of_area"), ("#9 J", "wrong_geometry_type")}
    actions = {p.feature: p.details["action"] for p in result.repairs}
    assert actions == {
        "#1 B": "closed the ring",
        "#2 C": "dropped the feature",
        "#3 D": "made valid (polygonal parts kept)",
        "#4 E": "dropped the duplicate",
        "#5 A": "dropped the duplicate",
        "#6 G": "dropped the feature",
        "#7 H": "dropped the feature",
    }
    kept = result.frame.set_index("code")
    assert sorted(kept.index) == ["A", "B", "D", "I", "J"]
    assert kept.geometry["B"].is_valid and kept.geometry["B"].area > 0
    bow = kept.geometry["D"]
    assert bow.is_valid and bow.geom_type == "MultiPolygon" and len(bow.geoms) == 2
    assert bow.area == pytest.approx(0.5 * 0.01 * 0.01, rel=1e-6)


def test_make_valid_keeps_only_polygonal_parts():
    # a polygon with a dangling spike: make_valid yields a polygon plus a line, the line goes
    spike = shapely.Polygon(
        [(116.40, 39.90), (116.41, 39.90), (116.41, 39.91), (116.415, 39.915), (116.41, 39.91), (116.40, 39.91)]
    )
    frame = gpd.GeoDataFrame({"code": ["S"]}, geometry=[spike], crs=4326)
    result = clean_features(frame, repair=True)
    geom = result.frame.geometry.iloc[0]
    assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon")
    assert geom.area == pytest.approx(0.0001, rel=1e-6)


def test_point_layers_accept_points_only():
    frame = gpd.GeoDataFrame(
        {"code": ["a", "b"]}, geometry=[shapely.Point(116.4, 39.9), shapely.box(116, 39, 117, 40)], crs=4326
    )
    result = clean_features(frame, geometry="point", repair=True)
    assert [(p.feature, p.kind) for p in result.problems] == [("#1 b", "wrong_geometry_type")]


def test_clean_input_gives_no_problems_and_is_untouched(streets_frame):
    result = clean_features(streets_frame, repair=True)
    assert result.problems == [] and result.repairs == []
    assert result.frame.geometry.equals(streets_frame.geometry)


def test_points_may_share_a_position_but_not_a_code():
    here = shapely.Point(116.4, 39.9)
    frame = gpd.GeoDataFrame({"code": ["S1", "S2", "S1"]}, geometry=[here, here, shapely.Point(116.5, 39.9)], crs=4326)
    result = clean_features(frame, geometry="point")
    assert [(p.feature, p.kind) for p in result.problems] == [("#2 S1", "duplicate_code")]
