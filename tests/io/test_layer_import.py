"""import_layer: a file becomes a storable layer frame, or the import is refused with every problem."""

from __future__ import annotations

import pytest
import shapely
from iohelpers import box_coords, feature_collection, polygon_feature, write_json

from gridgis.errors import CRSError, MalformedInputError, ValidationError
from gridgis.io.export import export_layers
from gridgis.io.geojson import write_geojson
from gridgis.io.layer_import import import_layer
from gridgis.layers import check_frame, get_spec


def test_clean_geojson_imports_as_a_checked_layer_frame(tmp_path, streets_frame):
    path = write_geojson(streets_frame, tmp_path / "streets.geojson")
    frame, report = import_layer(path, "streets", "wgs84")
    assert report.ok and report.read == report.kept == 3 and report.source_crs == "wgs84"
    assert list(frame.columns) == get_spec("streets").columns
    check_frame(get_spec("streets"), frame)  # storable as it is
    assert frame["name"].tolist() == ["建外街道", "朝外街道", "呼家楼街道"]


def _dirty_streets(tmp_path):
    doc = feature_collection(
        [
            polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), code="110105001000", name="甲"),
            polygon_feature([[116.42, 39.90], [116.43, 39.90], [116.43, 39.91]], code="110105002000", name="乙"),
            polygon_feature(
                [[116.44, 39.90], [116.45, 39.91], [116.45, 39.90], [116.44, 39.91], [116.44, 39.90]],
                code="110105003000",
                name="丙",
            ),
            polygon_feature(box_coords(116.46, 39.90, 116.47, 39.91), code="110105001000", name="丁"),
        ]
    )
    return write_json(tmp_path / "dirty.geojson", doc)


def test_dirty_input_is_refused_with_the_whole_list(tmp_path):
    with pytest.raises(ValidationError) as err:
        import_layer(_dirty_streets(tmp_path), "streets", "wgs84")
    kinds = sorted((p.feature, p.kind) for p in err.value.problems)
    assert kinds == [
        ("#1 110105002000 (乙)", "unclosed_ring"),
        ("#2 110105003000 (丙)", "self_intersection"),
        ("#3 110105001000 (丁)", "duplicate_code"),
    ]
    assert "nothing was imported" in str(err.value) and "--repair" in str(err.value)
    assert err.value.report.kept == 0


def test_repair_imports_the_fixable_and_reports_what_it_did(tmp_path):
    frame, report = import_layer(_dirty_streets(tmp_path), "streets", "wgs84", repair=True)
    assert frame["code"].tolist() == ["110105001000", "110105002000", "110105003000"]
    assert report.counts() == {"duplicate_code": 1, "self_intersection": 1, "unclosed_ring": 1}
    assert report.read == 4 and report.kept == 3
    check_frame(get_spec("streets"), frame)


def test_attribute_problems_are_listed_with_geometry_problems(tmp_path):
    doc = feature_collection(
        [
            polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), code="12345", name="甲"),
            polygon_feature(box_coords(2.3, 48.8, 2.4, 48.9), code="110105002000", name="巴黎"),
        ]
    )
    with pytest.raises(ValidationError) as err:
        import_layer(write_json(tmp_path / "x.geojson", doc), "streets", "wgs84", repair=True)
    assert sorted(p.kind for p in err.value.problems) == ["bad_code", "out_of_area"]


def test_mapping_renames_source_columns(tmp_path):
    doc = feature_collection(
        [polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), 编码="110105001000", 名称="建外街道", 区县="朝阳区")]
    )
    path = write_json(tmp_path / "x.geojson", doc)
    frame, _ = import_layer(path, "streets", "wgs84", mapping={"编码": "code", "名称": "name", "区县": "district"})
    assert frame.iloc[0][["code", "name", "district"]].tolist() == ["110105001000", "建外街道", "朝阳区"]
    with pytest.raises(ValidationError, match="does not have"):
        import_layer(path, "streets", "wgs84", mapping={"编号": "code"})


def test_bd09_import_lands_on_the_wgs84_position(tmp_path, stations_frame):
    path = write_geojson(stations_frame, tmp_path / "stations.geojson", crs="bd09")
    frame, report = import_layer(path, "stations", None)
    assert report.source_crs == "bd09"
    assert shapely.distance(frame.geometry.values, stations_frame.geometry.values).max() < 2e-7
    assert frame["services"].tolist() == [["帮办代办", "政策咨询"], ["休息", "饮水", "充电"]]


def test_missing_crs_is_refused_before_anything_else(tmp_path):
    path = tmp_path / "stations.csv"  # a CSV cannot say its CRS (a GeoJSON is WGS84 by RFC 7946)
    path.write_text("code,name,kind,lon,lat\n110105001001S001,站,help_desk,116.4,39.9\n", encoding="utf-8")
    with pytest.raises(CRSError, match="none was given"):
        import_layer(path, "stations", None)


def test_shapefile_field_names_are_restored_on_import(tmp_path, grids_frame):
    export_layers({"grids": grids_frame}, "shp", tmp_path / "grids.shp", encoding="gbk")
    frame, _ = import_layer(tmp_path / "grids.shp", "grids", "wgs84")
    assert frame["community_code"].tolist() == ["110105001001", "110105001001"]
    assert frame["dedicated_for"].tolist() == [None, "school"]
    assert frame["workers"][0] == [{"name": "王芳", "role": "full_time", "phone": "010-65000000"}]


def test_gpkg_table_named_like_the_layer_is_taken(tmp_path, streets_frame, grids_frame):
    export_layers({"streets": streets_frame, "grids": grids_frame}, "gpkg", tmp_path / "city.gpkg")
    frame, _ = import_layer(tmp_path / "city.gpkg", "grids", None)
    assert frame["code"].tolist() == grids_frame["code"].tolist()


def test_csv_stations_import(tmp_path):
    p = tmp_path / "stations.csv"
    p.write_text(
        "code,name,kind,area_code,lng,lat\n110105001001S001,永安里驿站,red_station,110105001001,116.45,39.91\n",
        encoding="utf-8",
    )
    frame, report = import_layer(p, "stations", "gcj02")
    assert report.ok and frame["area_code"][0] == "110105001001"
    assert frame.geometry[0].x < 116.45  # GCJ-02 → WGS84 moves west near Beijing


def test_malformed_files_are_malformed_input_errors(tmp_path):
    p = tmp_path / "x.geojson"
    p.write_text("{", encoding="utf-8")
    with pytest.raises(MalformedInputError):
        import_layer(p, "streets", "wgs84")


def test_the_committed_sample_city_imports_clean(sample_dir):
    from gridgis.layers import LAYERS

    found = 0
    for layer in LAYERS:
        path = sample_dir / f"{layer}.geojson"
        if not path.exists():
            continue
        frame, report = import_layer(path, layer, "wgs84")
        assert report.ok and report.kept == report.read == len(frame) > 0
        found += 1
    if not found:
        pytest.skip("the sample city is not generated yet")


def test_a_file_without_codes_says_how_to_map_them(tmp_path):
    doc = feature_collection(
        [polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), 编码="110105001000", 名称="甲")]
    )
    with pytest.raises(ValidationError, match="no 'code' or 'name' column.*--map"):
        import_layer(write_json(tmp_path / "x.geojson", doc), "streets", "wgs84")


def test_an_explicit_mapping_wins_over_the_shapefile_names(tmp_path, grids_frame):
    export_layers({"grids": grids_frame}, "shp", tmp_path / "grids.shp")
    frame, _ = import_layer(tmp_path / "grids.shp", "grids", "wgs84", mapping={"comm_code": "community_code"})
    assert frame["community_code"].tolist() == ["110105001001", "110105001001"]


def test_unknown_crs_name_is_a_crs_error(tmp_path, streets_frame):
    path = write_geojson(streets_frame, tmp_path / "streets.geojson")
    with pytest.raises(CRSError, match="unknown CRS 'mars2'"):
        import_layer(path, "streets", "mars2")


def test_parent_codes_are_checked_when_given(tmp_path, grids_frame):
    path = write_geojson(grids_frame, tmp_path / "grids.geojson")
    with pytest.raises(ValidationError) as err:
        import_layer(path, "grids", "wgs84", parent_codes={"110105001002"})
    assert {p.kind for p in err.value.problems} == {"unknown_parent"} and len(err.value.problems) == 2
    frame, _ = import_layer(path, "grids", "wgs84", parent_codes={"110105001001"})
    assert len(frame) == 2
