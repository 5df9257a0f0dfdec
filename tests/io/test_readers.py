"""Shapefile, GeoPackage and CSV readers: encodings, declared CRS, tables, bad rows."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridgis.errors import CRSError, MalformedInputError
from gridgis.io.readers import read_csv_points, read_features, read_gpkg, read_shapefile, read_source
from gridgis.io.shapefile import write_shapefile


def _shapefile(tmp_path, frame, encoding, keep_cpg=True):
    path = tmp_path / "streets.shp"
    write_shapefile(frame, path, encoding=encoding)
    if not keep_cpg:
        path.with_suffix(".cpg").unlink()
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_shapefile_text_is_read_through_its_cpg(tmp_path, streets_frame, encoding):
    path = _shapefile(tmp_path, streets_frame, encoding)
    assert path.with_suffix(".cpg").read_text() == encoding.upper()
    raw = read_shapefile(path)
    assert raw.frame["name"].tolist() == ["建外街道", "朝外街道", "呼家楼街道"]


def test_gbk_shapefile_without_cpg_is_refused_with_advice(tmp_path, streets_frame):
    path = _shapefile(tmp_path, streets_frame, "gbk", keep_cpg=False)
    with pytest.raises(MalformedInputError, match="--encoding gbk") as err:
        read_shapefile(path)
    # features 0-2 have Chinese names; the district of #2 is empty
    assert [(p.feature, p.kind) for p in err.value.problems] == [
        ("#0", "bad_encoding"),
        ("#1", "bad_encoding"),
        ("#2", "bad_encoding"),
    ]
    assert "district" in err.value.problems[0].message and "district" not in err.value.problems[2].message
    assert read_shapefile(path, encoding="gbk").frame["name"].tolist()[0] == "建外街道"


def test_explicit_encoding_overrides_a_wrong_cpg(tmp_path, streets_frame):
    path = _shapefile(tmp_path, streets_frame, "gbk")
    path.with_suffix(".cpg").write_text("UTF-8")
    with pytest.raises(MalformedInputError, match="encoding"):
        read_shapefile(path)
    assert read_shapefile(path, encoding="gbk").frame["name"].tolist()[1] == "朝外街道"


def test_shapefile_declares_its_crs_through_the_prj(tmp_path, streets_frame):
    path = _shapefile(tmp_path, streets_frame.to_crs(4548), "utf-8")
    frame, src, _ = read_features(path, None)
    assert src.epsg == 4548
    assert shapely.normalize(frame.geometry[0]).equals_exact(shapely.normalize(streets_frame.geometry[0]), 1e-7)
    with pytest.raises(CRSError, match="declares EPSG:4548 but gcj02 was given"):
        read_features(path, "gcj02")


def test_shapefile_without_prj_needs_a_crs(tmp_path, streets_frame):
    path = _shapefile(tmp_path, streets_frame, "utf-8")
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match="none was given"):
        read_features(path, None)
    frame, src, _ = read_features(path, "gcj02")
    assert src.china == "gcj02" and frame.crs.to_epsg() == 4326


def test_wgs84_labelled_files_may_hold_gcj02_when_the_user_says_so(tmp_path, streets_frame):
    # no file format can declare GCJ-02; a lon/lat .prj is the most such a file can say
    path = _shapefile(tmp_path, streets_frame, "utf-8")
    frame, src, _ = read_features(path, "gcj02")
    assert src.china == "gcj02"
    assert frame.geometry[0].centroid.distance(streets_frame.geometry[0].centroid) > 0.003


def test_gpkg_tables_are_chosen_by_name(tmp_path, streets_frame, stations_frame):
    path = tmp_path / "city.gpkg"
    streets_frame.to_file(path, layer="streets", engine="pyogrio")
    stations_frame.assign(services="[]").to_file(path, layer="stations", engine="pyogrio")
    with pytest.raises(MalformedInputError, match="holds 2 tables"):
        read_gpkg(path)
    with pytest.raises(MalformedInputError, match="no table 'grids'"):
        read_gpkg(path, table="grids")
    raw = read_gpkg(path, table="stations")
    assert raw.declared.china == "wgs84" and len(raw.frame) == 2


def test_csv_points_keep_codes_as_text_and_convert_from_gcj02(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("code,名称,lng,lat\n011,甲,116.404,39.915\n002,乙,,\n", encoding="utf-8")
    raw = read_csv_points(p)
    assert raw.frame["code"].tolist() == ["011", "002"]
    assert raw.frame.geometry[1] is None
    frame, _src, _ = read_features(p, "gcj02")
    assert frame.geometry[0].x == pytest.approx(116.39775575, abs=1e-6)


def test_csv_rows_with_non_numeric_coordinates_are_named(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("code,lon,lat\na,116.4,39.9\nb,east,39.9\n", encoding="utf-8")
    with pytest.raises(MalformedInputError) as err:
        read_csv_points(p)
    assert err.value.problems[0].feature == "row 3"


def test_csv_needs_its_coordinate_columns_named_when_ambiguous(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("a,b\n116.4,39.9\n", encoding="utf-8")
    with pytest.raises(MalformedInputError, match="lon=/lat="):
        read_csv_points(p)
    assert read_csv_points(p, lon="a", lat="b").frame.geometry[0].equals(shapely.Point(116.4, 39.9))


def test_gbk_csv_is_refused_unless_the_encoding_is_given(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_bytes("name,lon,lat\n建外,116.4,39.9\n".encode("gbk"))
    with pytest.raises(MalformedInputError, match="line 2"):
        read_csv_points(p)
    assert read_csv_points(p, encoding="gbk").frame["name"].tolist() == ["建外"]


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(MalformedInputError, match="unknown file type"):
        read_source(tmp_path / "x.kml")
    with pytest.raises(MalformedInputError, match="no such file"):
        read_source(tmp_path / "x.geojson")


def test_unknown_encoding_name_is_a_clear_error(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("lon,lat\n1,2\n")
    with pytest.raises(MalformedInputError, match="unknown text encoding"):
        read_csv_points(p, encoding="klingon")


def test_reading_a_frame_keeps_feature_positions(tmp_path, streets_frame):
    path = tmp_path / "s.gpkg"
    streets_frame.to_file(path, layer="streets", engine="pyogrio")
    raw = read_gpkg(path)
    assert raw.frame["_feature"].tolist() == [0, 1, 2]
    assert isinstance(raw.frame, gpd.GeoDataFrame)


def test_a_csv_row_with_more_fields_than_the_header_is_a_clear_error(tmp_path):
    from gridgis.errors import MalformedInputError
    from gridgis.io.readers import read_csv_points

    path = tmp_path / "points.csv"
    path.write_text("name,lon,lat\n甲,121.5,31.2,extra\n乙,121.5,31.2\n", encoding="utf-8")
    with pytest.raises(MalformedInputError, match="more fields than the header"):
        read_csv_points(path)  # pandas would take the first column as an index and shift the others
    path.write_text("name,lon,lat\n甲,121.5,31.2\n乙,121.5,31.2,extra\n", encoding="utf-8")
    with pytest.raises(MalformedInputError, match="line 3"):
        read_csv_points(path)
