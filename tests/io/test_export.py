"""Export and re-import: GeoJSON, GeoPackage and Shapefile (UTF-8 and GBK) keep codes, names, JSON fields
and geometry (hypothesis round trips); GCJ-02/BD-09 output; nothing half-written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgis.errors import ValidationError
from gridgis.io.export import export_layers
from gridgis.io.layer_import import import_layer
from gridgis.io.shapefile import SHAPEFILE_NAMES, shapefile_names
from gridgis.layers import get_spec, normalize_frame

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)  # every one is in GBK too
NAMES = (
    st.text(alphabet=st.one_of(CJK, st.sampled_from("ABC123-()（）· ")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
WORKER = st.fixed_dictionaries(
    {
        "name": st.text(alphabet=CJK, min_size=2, max_size=3),
        "role": st.sampled_from(["full_time", "part_time", "auxiliary"]),
    }
)


@st.composite
def grid_frames(draw) -> gpd.GeoDataFrame:
    n = draw(st.integers(1, 6))
    seqs = draw(st.lists(st.integers(1, 999), min_size=n, max_size=n, unique=True))
    street = draw(st.integers(1, 99))
    community = draw(st.integers(1, 999))
    parent = f"110105{street:03d}{community:03d}"
    geoms = []
    x0 = draw(st.floats(100, 120))
    for i in range(n):  # side by side, never the same geometry twice
        x = round(x0 + 0.06 * i, 6)
        y = round(draw(st.floats(20, 45)), 6)
        w = round(draw(st.floats(1e-4, 0.05)), 6)
        h = round(draw(st.floats(1e-4, 0.05)), 6)
        geoms.append(shapely.box(x, y, round(x + w, 6), round(y + h, 6)))
    return gpd.GeoDataFrame(
        {
            "code": [f"{parent}{s:03d}" for s in seqs],
            "name": draw(st.lists(NAMES, min_size=n, max_size=n)),
            "community_code": [parent] * n,
            "kind": ["basic"] * n,
            "households": draw(st.lists(st.integers(0, 100_000), min_size=n, max_size=n)),
            "population": draw(st.lists(st.integers(0, 300_000), min_size=n, max_size=n)),
            "workers": draw(st.lists(st.lists(WORKER, max_size=2), min_size=n, max_size=n)),
        },
        geometry=geoms,
        crs=4326,
    )


def _same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert b["code"].tolist() == a["code"].tolist()
    assert b["name"].tolist() == a["name"].tolist()
    assert b["community_code"].tolist() == a["community_code"].tolist()
    assert b["households"].tolist() == a["households"].tolist()
    assert b["workers"].tolist() == a["workers"].tolist()
    got = shapely.normalize(b.geometry.values)
    want = shapely.normalize(a.geometry.values)
    assert shapely.equals_exact(got, want, tolerance=1e-7).all()


@pytest.mark.parametrize(
    ("fmt", "encoding"), [("geojson", "utf-8"), ("gpkg", "utf-8"), ("shp", "utf-8"), ("shp", "gbk")]
)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=grid_frames())
def test_round_trip_keeps_codes_names_json_and_geometry(fmt, encoding, frame):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"grids.{fmt}"
        export_layers({"grids": frame}, fmt, out, encoding=encoding)
        back, report = import_layer(out, "grids", "wgs84")
    assert report.ok
    _same(frame, back)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@settings(max_examples=6, deadline=None)
@given(frame=grid_frames())
def test_round_trip_through_chinese_web_coordinates(crs, frame):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grids.gpkg"
        export_layers({"grids": frame}, "gpkg", out, crs=crs)
        back, report = import_layer(out, "grids", crs)
    assert report.source_crs == crs
    assert (
        shapely.hausdorff_distance(
            shapely.normalize(back.geometry.values), shapely.normalize(frame.geometry.values)
        ).max()
        < 2e-7
    )  # ~2 cm incl. rounding


def test_gpkg_is_one_file_with_a_table_per_layer(tmp_path, streets_frame, grids_frame, stations_frame):
    city = {"streets": streets_frame, "grids": grids_frame, "stations": stations_frame}
    (path,) = export_layers(city, "gpkg", tmp_path / "city.gpkg")
    tables = dict(pyogrio.list_layers(path))
    assert tables == {"streets": "MultiPolygon", "grids": "Polygon", "stations": "Point"}
    raw = gpd.read_file(path, layer="stations")
    assert raw["services"][0] == '["帮办代办", "政策咨询"]'  # JSON fields are JSON text for QGIS
    assert raw.crs.to_epsg() == 4326


def test_gcj02_gpkg_says_so_in_the_table_description(tmp_path, streets_frame):
    (path,) = export_layers({"streets": streets_frame}, "gpkg", tmp_path / "c.gpkg", crs="gcj02")
    info = pyogrio.read_info(path, layer="streets")
    assert "GCJ02" in info["layer_metadata"]["DESCRIPTION"]
    got = shapely.get_x(shapely.centroid(gpd.read_file(path).geometry.values))
    assert np.all(got - shapely.get_x(shapely.centroid(streets_frame.geometry.values)) > 0.004)


@pytest.mark.parametrize(("crs", "fmt"), [("bd09", "gpkg"), ("gcj02", "gpkg"), ("bd09", "shp")])
def test_chinese_web_coordinates_carry_a_crs_entry_that_reimports_without_crs(tmp_path, streets_frame, crs, fmt):
    """Seen: ``export --crs bd09 -f gpkg`` wrote SRS 4326 and re-imported ~1 km off. The file now says BD-09."""
    (path,) = export_layers({"streets": streets_frame}, fmt, tmp_path / f"s.{fmt}", crs=crs)
    back, report = import_layer(path, "streets", None)  # nothing given: the file's own CRS entry decides
    assert report.source_crs == crs
    far = shapely.hausdorff_distance(
        shapely.normalize(back.geometry.values), shapely.normalize(streets_frame.geometry.values)
    )
    assert far.max() < 2e-7
    with pytest.raises(Exception, match="declares"):
        import_layer(path, "streets", "EPSG:4549")  # a disagreeing --crs is refused, not obeyed


def test_several_layers_go_to_a_folder(tmp_path, streets_frame, grids_frame):
    written = export_layers({"streets": streets_frame, "grids": grids_frame}, "shp", tmp_path / "out")
    assert sorted(p.name for p in written) == ["grids.shp", "streets.shp"]
    assert (tmp_path / "out" / "grids.cpg").read_text() == "UTF-8"


def test_shapefile_field_names_fit_ten_characters():
    names = shapefile_names(
        [
            "code",
            "has_property_management",
            "has_owners_committee",
            "boundary_clear",
            "community_code",
            "a_long_field_one",
            "a_long_field_two",
        ]
    )
    assert all(len(n) <= 10 for n in names.values())
    assert len(set(names.values())) == len(names)
    assert names["has_property_management"] == SHAPEFILE_NAMES["has_property_management"]


def test_gbk_shapefile_refuses_text_gbk_cannot_hold_and_writes_nothing(tmp_path, streets_frame):
    frame = streets_frame.copy()
    frame.loc[1, "name"] = "朝外街道😀"
    with pytest.raises(ValidationError) as err:
        export_layers({"streets": frame}, "shp", tmp_path / "s.shp", encoding="gbk")
    assert err.value.problems[0].feature == "110105002000" and err.value.problems[0].kind == "bad_encoding"
    assert list(tmp_path.iterdir()) == []


def test_shapefile_refuses_text_over_254_bytes(tmp_path, streets_frame):
    frame = streets_frame.copy()
    frame.loc[0, "district"] = "长" * 100  # 300 bytes in UTF-8
    with pytest.raises(ValidationError, match="cannot be written") as err:
        export_layers({"streets": frame}, "shp", tmp_path / "s.shp")
    assert err.value.problems[0].kind == "too_long"


def test_unknown_format_or_encoding_is_refused(tmp_path, streets_frame):
    with pytest.raises(ValidationError, match="unknown export format"):
        export_layers({"streets": streets_frame}, "kml", tmp_path / "x")
    with pytest.raises(ValidationError, match="utf-8 or gbk"):
        export_layers({"streets": streets_frame}, "shp", tmp_path / "x.shp", encoding="big5")


@pytest.mark.parametrize(("fmt", "encoding"), [("geojson", "utf-8"), ("gpkg", "utf-8"), ("shp", "gbk")])
def test_point_layer_round_trip_keeps_every_field(tmp_path, fmt, encoding, stations_frame):
    out = tmp_path / f"stations.{fmt}"
    export_layers({"stations": stations_frame}, fmt, out, encoding=encoding)
    back, report = import_layer(out, "stations", "wgs84")
    assert report.ok
    want = normalize_frame(get_spec("stations"), stations_frame)  # missing text as None
    for col in ("code", "name", "kind", "level", "area_code", "opening_hours", "services", "contact", "address"):
        assert back[col].tolist() == want[col].tolist(), col
    assert back["opening_hours"].tolist()[1] is None
    assert shapely.equals_exact(back.geometry.values, stations_frame.geometry.values, tolerance=1e-7).all()


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_long_json_fields_continue_in_numbered_shapefile_fields(tmp_path, grids_frame, encoding):
    frame = grids_frame.copy()
    crew = [{"name": f"网格员{i}号", "role": "part_time", "phone": f"1380000{i:04d}"} for i in range(12)]
    frame.at[frame.index[0], "workers"] = crew  # ~700 bytes of JSON
    export_layers({"grids": frame}, "shp", tmp_path / "grids.shp", encoding=encoding)
    raw = gpd.read_file(tmp_path / "grids.shp")
    assert {"workers", "workers_2", "workers_3"} <= set(raw.columns)
    back, _ = import_layer(tmp_path / "grids.shp", "grids", "wgs84")
    assert back["workers"].tolist() == [crew, []]
    assert "workers_2" not in back.columns


@pytest.mark.parametrize(
    ("fmt", "encoding", "crs"), [("shp", "gbk", "wgs84"), ("gpkg", "utf-8", "wgs84"), ("geojson", "utf-8", "gcj02")]
)
def test_the_sample_city_round_trips_through_every_format(tmp_path, sample_dir, fmt, encoding, crs):
    from gridgis.io import read_city

    city = {k: v for k, v in read_city(sample_dir).items() if k != "tickets"}
    if not city:
        pytest.skip("the sample city is not generated yet")
    export_layers(city, fmt, tmp_path / ("city.gpkg" if fmt == "gpkg" else "out"), crs=crs, encoding=encoding)
    for layer, orig in city.items():
        src = tmp_path / "city.gpkg" if fmt == "gpkg" else tmp_path / "out" / f"{layer}.{fmt}"
        back, report = import_layer(src, layer, None if fmt != "shp" else crs)
        assert report.ok and len(back) == len(orig)
        for col in orig.columns.drop("geometry"):
            assert back[col].tolist() == orig[col].tolist(), (layer, col)
        moved = shapely.hausdorff_distance(
            shapely.normalize(back.geometry.values), shapely.normalize(orig.geometry.values)
        )
        assert moved.max() < 2e-7, layer
