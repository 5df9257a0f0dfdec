"""GeoJSON: strict reading (every kind of malformed input named) and RFC 7946 writing."""

from __future__ import annotations

import json

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from iohelpers import box_coords, feature_collection, polygon_feature, write_json

from gridgis.errors import CRSError, MalformedInputError
from gridgis.io.geojson import parse_geometry, read_geojson, to_feature_collection, write_geojson
from gridgis.io.source import to_storage_frame


def test_malformed_json_names_line_and_column(tmp_path):
    p = tmp_path / "bad.geojson"
    p.write_text('{"type": "FeatureCollection",\n "features": [,]}', encoding="utf-8")
    with pytest.raises(MalformedInputError, match="line 2 column"):
        read_geojson(p)


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "Feature", "properties": {}, "geometry": None},
        {"type": "Polygon", "coordinates": []},
        [1, 2, 3],
    ],
)
def test_a_top_level_that_is_not_a_feature_collection_is_refused(tmp_path, doc):
    with pytest.raises(MalformedInputError, match="expected a GeoJSON FeatureCollection"):
        read_geojson(write_json(tmp_path / "x.geojson", doc))


def test_bad_geometries_are_all_listed_by_feature_index_and_code(tmp_path):
    doc = feature_collection(
        [
            polygon_feature(box_coords(116.4, 39.9, 116.41, 39.91), code="110105001000"),
            {
                "type": "Feature",
                "properties": {"code": "110105002000", "name": "朝外"},
                "geometry": {"type": "Circle", "coordinates": [116.4, 39.9]},
            },
            {
                "type": "Feature",
                "properties": {"code": "110105003000"},
                "geometry": {"type": "Polygon", "coordinates": [[["116.4", 39.9], [1, 2], [3, 4], [5, 6]]]},
            },
            {"type": "Feature", "properties": None, "geometry": {"type": "Point"}},
            {"type": "NotAFeature"},
        ]
    )
    with pytest.raises(MalformedInputError) as err:
        read_geojson(write_json(tmp_path / "x.geojson", doc))
    found = {p.feature: p.message for p in err.value.problems}
    assert set(found) == {"#1 110105002000 (朝外)", "#2 110105003000", "#3", "#4"}
    assert "unknown geometry type 'Circle'" in found["#1 110105002000 (朝外)"]
    assert "position" in found["#2 110105003000"]
    assert "no 'coordinates'" in found["#3"]


def test_unclosed_and_degenerate_rings_become_notes_not_silent_fixes(tmp_path):
    doc = feature_collection(
        [
            polygon_feature([[116.4, 39.9], [116.41, 39.9], [116.41, 39.91]], code="a"),  # unclosed
            polygon_feature([[116.4, 39.9], [116.41, 39.9], [116.4, 39.9]], code="b"),  # 2 distinct points
            polygon_feature(box_coords(116.4, 39.9, 116.41, 39.91), code="c"),
        ]
    )
    raw = read_geojson(write_json(tmp_path / "x.geojson", doc))
    assert [(n.feature, n.kind) for n in raw.notes] == [("#0 a", "unclosed_ring"), ("#1 b", "degenerate")]
    geoms = raw.frame.geometry.values
    assert geoms[0].is_valid and geoms[0].exterior.is_closed
    assert geoms[1] is None
    assert raw.frame["code"].tolist() == ["a", "b", "c"]


def test_degenerate_hole_is_dropped_from_the_polygon_with_a_note():
    geom, notes = parse_geometry(
        {"type": "Polygon", "coordinates": [box_coords(0, 0, 10, 10), [[1, 1], [2, 2], [1, 1]]]}
    )
    assert len(geom.interiors) == 0
    assert notes[0][0] == "degenerate" and "hole 1" in notes[0][1]


def test_non_utf8_text_is_refused_unless_the_encoding_is_given(tmp_path):
    doc = feature_collection(
        [
            polygon_feature(box_coords(116.4, 39.9, 116.41, 39.91), code="1", name="Jianwai"),
            polygon_feature(box_coords(116.4, 39.9, 116.41, 39.91), code="2", name="建外街道"),
        ]
    )
    p = tmp_path / "gbk.geojson"
    p.write_bytes(json.dumps(doc, ensure_ascii=False).encode("gbk"))
    with pytest.raises(MalformedInputError, match="not valid utf-8.*gbk") as err:
        read_geojson(p)
    assert [(q.feature, q.kind) for q in err.value.problems] == [("#1 2", "bad_encoding")]
    assert "name" in err.value.problems[0].message
    assert read_geojson(p, encoding="gbk").frame["name"].tolist() == ["Jianwai", "建外街道"]


def test_declared_crs_must_agree_with_the_given_one(tmp_path):
    legacy = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4548"}}
    doc = feature_collection([polygon_feature(box_coords(500000, 4400000, 500100, 4400100))], crs=legacy)
    raw = read_geojson(write_json(tmp_path / "gk.geojson", doc))
    assert raw.declared.epsg == 4548
    with pytest.raises(CRSError, match="declares EPSG:4548 but wgs84 was given"):
        to_storage_frame(raw, "wgs84")
    frame, src = to_storage_frame(raw, None)  # declared: no guess needed
    assert src.epsg == 4548 and 116.9 < frame.geometry[0].centroid.x < 117.1


def test_geojson_without_a_crs_member_is_wgs84_as_rfc_7946_says_unless_a_crs_is_given(tmp_path):
    raw = read_geojson(write_json(tmp_path / "x.geojson", feature_collection([])))
    assert raw.declared is None and raw.implied.label == "wgs84"
    assert to_storage_frame(raw, None)[1].label == "wgs84"
    assert to_storage_frame(raw, "EPSG:4548")[1].epsg == 4548  # a legacy projected file: the user says so


def test_writer_keeps_codes_as_strings_chinese_as_text_and_json_as_json(tmp_path, grids_frame):
    p = write_geojson(grids_frame, tmp_path / "grids.geojson")
    raw = p.read_bytes()
    assert "永安里第一网格".encode() in raw  # not \\u escapes
    doc = json.loads(raw.decode("utf-8"))
    props = doc["features"][0]["properties"]
    assert props["code"] == "110105001001001" and props["community_code"] == "110105001001"
    assert props["workers"] == [{"name": "王芳", "role": "full_time", "phone": "010-65000000"}]
    assert props["dedicated_for"] is None
    assert "crs" not in doc and "gridgis_crs" not in doc


def test_writer_follows_rfc7946_winding_and_precision(grids_frame):
    cw = shapely.Polygon([(116.4, 39.9), (116.4, 39.91), (116.41, 39.91), (116.41, 39.9)])  # clockwise shell
    frame = grids_frame.iloc[:1].copy()
    frame.loc[frame.index[0], "geometry"] = shapely.Polygon(
        [(x + 1e-9, y) for x, y in cw.exterior.coords], [shapely.box(116.402, 39.902, 116.403, 39.903).exterior.coords]
    )
    geom = to_feature_collection(frame)["features"][0]["geometry"]
    shell, hole = (shapely.LinearRing(r) for r in geom["coordinates"])
    assert shell.is_ccw and not hole.is_ccw
    assert all(len(repr(c).split(".")[1]) <= 7 for c in geom["coordinates"][0][0])


def test_codes_stored_as_numbers_are_written_as_strings():
    import geopandas as gpd

    f = gpd.GeoDataFrame(
        {"code": [110105001000], "street_code": [110105001000]}, geometry=[shapely.Point(116.4, 39.9)], crs=4326
    )
    props = to_feature_collection(f)["features"][0]["properties"]
    assert props == {"code": "110105001000", "street_code": "110105001000"}


def test_gcj02_output_is_labelled_and_reads_back_without_a_guess(tmp_path, stations_frame):
    p = write_geojson(stations_frame, tmp_path / "s.geojson", crs="gcj02")
    doc = json.loads(p.read_text(encoding="utf-8"))
    assert doc["gridgis_crs"] == "gcj02"
    x, _y = doc["features"][0]["geometry"]["coordinates"]
    assert 0.004 < x - 116.446 < 0.008  # shifted east by a few hundred metres
    raw = read_geojson(p)
    frame, src = to_storage_frame(raw, None)
    assert src.china == "gcj02"
    assert frame.geometry[0].distance(stations_frame.geometry[0]) < 2e-7
    with pytest.raises(CRSError):
        to_storage_frame(raw, "bd09")


def test_failed_write_leaves_no_file(tmp_path, streets_frame):
    bad = streets_frame.set_crs(4548, allow_override=True)
    with pytest.raises(CRSError):
        write_geojson(bad, tmp_path / "x.geojson")
    assert list(tmp_path.iterdir()) == []


def test_positions_with_and_without_elevation_may_mix():
    geom, notes = parse_geometry({"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 5.0], [1, 1], [0, 0, 2.0]]]})
    assert geom.wkt == "POLYGON ((0 0, 1 0, 1 1, 0 0))" and notes == []


def test_polygons_with_holes_of_different_sizes():
    holes = [[[1, 1], [2, 1], [2, 2], [1, 1]], [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]
    geom, notes = parse_geometry({"type": "Polygon", "coordinates": [box_coords(0, 0, 10, 10), *holes]})
    assert len(geom.interiors) == 2 and geom.is_valid and notes == []


def test_the_crs84_declaration_gdal_writes_is_wgs84(tmp_path):
    legacy = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    raw = read_geojson(write_json(tmp_path / "x.geojson", feature_collection([], crs=legacy)))
    assert raw.declared.china == "wgs84"
    assert to_storage_frame(raw, "gcj02")[1].china == "gcj02"  # lon/lat may hold GCJ-02 when the user says so


def test_a_property_called_geometry_does_not_replace_the_geometry(tmp_path):
    doc = feature_collection([polygon_feature(box_coords(116.4, 39.9, 116.41, 39.91), geometry="方形", code="a")])
    raw = read_geojson(write_json(tmp_path / "x.geojson", doc))
    assert raw.frame.geometry[0].geom_type == "Polygon"
    assert raw.frame["properties.geometry"].tolist() == ["方形"]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from(["Polygon", "Point", "MultiPolygon", "Feature", "coordinates"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["type", "coordinates", "geometries", "properties", "geometry", "code"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(geometry=JSON_VALUES, properties=JSON_VALUES)
def test_any_json_is_either_read_or_refused_as_malformed(geometry, properties):
    from gridgis.errors import GridGISError
    from gridgis.io.geojson import parse_features

    doc = feature_collection([{"type": "Feature", "geometry": geometry, "properties": properties}])
    try:
        raw = parse_features(doc, "fuzz.geojson")
    except GridGISError:
        return
    assert len(raw.frame) == 1
