"""``gridgis import``, ``export`` and ``info`` end to end on a local SQLite store."""

from __future__ import annotations

import json

import pytest
from iohelpers import box_coords, feature_collection, polygon_feature, write_json
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.io.geojson import write_geojson

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'g.db'}"


def test_import_export_and_info_round_trip(tmp_path, store, streets_frame, grids_frame):
    streets = write_geojson(streets_frame, tmp_path / "streets.geojson", crs="gcj02")
    result = run(
        "import",
        str(streets),
        "--layer",
        "streets",
        "--crs",
        "gcj02",
        "--database-url",
        store,
        "--author",
        "tester",
        "--commit",
    )
    assert result.exit_code == 0, result.output
    assert "stored 3 streets in generation 1" in result.output

    result = run("info", "--database-url", store)
    assert result.exit_code == 0 and "generation 1" in result.output and "streets" in result.output

    out = tmp_path / "out.gpkg"
    result = run("export", "--all", "--format", "gpkg", "--out", str(out), "--database-url", store)
    assert result.exit_code == 0, result.output
    result = run("info", str(out))
    assert "streets" in result.output and "EPSG:4326" in result.output

    shp = tmp_path / "shp"
    result = run(
        "export",
        "--layer",
        "streets",
        "--format",
        "shp",
        "--encoding",
        "gbk",
        "--out",
        str(shp),
        "--database-url",
        store,
        "--generation",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert (shp / "streets.cpg").read_text() == "GBK"


def test_dirty_import_is_refused_with_the_problem_table_and_stores_nothing(tmp_path, store):
    doc = feature_collection(
        [
            polygon_feature(box_coords(116.40, 39.90, 116.41, 39.91), code="110105001000", name="甲"),
            polygon_feature([[116.42, 39.90], [116.43, 39.90], [116.43, 39.91]], code="110105002000", name="乙"),
        ]
    )
    path = write_json(tmp_path / "dirty.geojson", doc)
    report = tmp_path / "report.json"
    result = run(
        "import",
        str(path),
        "--layer",
        "streets",
        "--crs",
        "wgs84",
        "--database-url",
        store,
        "--report",
        str(report),
        "--commit",
    )
    assert result.exit_code == 2
    assert "by kind: unclosed_ring 1" in result.output
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["problems"][0]["feature"] == "#1 110105002000 (乙)" and saved["kept"] == 0
    assert "unclosed_ring" in result.output and "110105002000" in result.output
    assert "nothing was imported" in result.output
    assert "no gridgis schema" in run("info", "--database-url", store).output  # the store was not even created

    result = run(
        "import", str(path), "--layer", "streets", "--crs", "wgs84", "--repair", "--database-url", store, "--commit"
    )
    assert result.exit_code == 0, result.output
    assert "repaired 1 problem(s)" in result.output and "unclosed_ring" in result.output
    assert "stored 2 streets" in result.output


def test_geojson_is_wgs84_by_rfc_7946_and_a_csv_without_crs_is_refused(tmp_path, store, streets_frame):
    path = write_geojson(streets_frame, tmp_path / "streets.geojson")
    result = run("import", str(path), "--layer", "streets", "--database-url", store)
    assert result.exit_code == 0 and "source CRS wgs84" in result.output and "dry run: nothing stored" in result.output
    csv = tmp_path / "stations.csv"
    csv.write_text("code,name,kind,lon,lat\n110105001001S001,站,help_desk,116.4,39.9\n", encoding="utf-8")
    result = run("import", str(csv), "--layer", "stations", "--database-url", store, "--commit")
    assert result.exit_code == 2 and "--crs" in result.output


def test_import_is_a_dry_run_unless_commit(tmp_path, store, streets_frame):
    path = write_geojson(streets_frame, tmp_path / "streets.geojson")
    dry = run("import", str(path), "--layer", "streets", "--crs", "wgs84", "--database-url", store)
    assert dry.exit_code == 0 and "add --commit" in dry.output
    assert "no gridgis schema" in run("info", "--database-url", store).output
    done = run("import", str(path), "--layer", "streets", "--crs", "wgs84", "--database-url", store, "--commit")
    assert done.exit_code == 0 and "stored 3 streets in generation 1" in done.output


def test_export_from_a_folder_in_bd09(tmp_path, streets_frame):
    src = tmp_path / "city"
    src.mkdir()
    write_geojson(streets_frame, src / "streets.geojson")
    out = tmp_path / "bd.geojson"
    result = run("export", "--layer", "streets", "--from", str(src), "--crs", "bd09", "--out", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["gridgis_crs"] == "bd09" and doc["features"][0]["properties"]["code"] == "110105001000"


def test_info_on_a_geojson_file_says_wgs84_as_rfc_7946_does(tmp_path, streets_frame):
    path = write_geojson(streets_frame, tmp_path / "streets.geojson")
    result = run("info", str(path))
    assert result.exit_code == 0 and "implied" in result.output and "wgs84" in result.output


def test_export_needs_a_layer_or_all(tmp_path):
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0


def test_import_real_stores_the_coded_beijing_townships(tmp_path, store, shared_data):
    result = run(
        "import-real",
        "townships",
        str(shared_data / "beijing-township-boundaries/beijing.shp"),
        "--adcode",
        str(shared_data / "cn-adcode-communities/adcode"),
        "--commit",
        "--database-url",
        store,
        "--out",
        str(tmp_path / "bj.gpkg"),
        "--author",
        "tester",
    )
    assert result.exit_code == 0, result.output
    assert "with a statistical code: 330" in result.output and "stored 330 streets" in result.output
    assert "330" in run("info", "--database-url", store).output
    assert (tmp_path / "bj.gpkg").exists()


def test_unknown_parent_codes_are_refused_until_the_parents_are_stored(tmp_path, store, streets_frame):
    import geopandas as gpd
    import shapely

    communities = gpd.GeoDataFrame(
        {
            "code": ["110105001001", "110105009001"],
            "name": ["永安里社区", "无主社区"],
            "street_code": ["110105001000", "110105009000"],
        },
        geometry=[shapely.box(116.431, 39.901, 116.44, 39.91), shapely.box(116.441, 39.901, 116.45, 39.91)],
        crs=4326,
    )
    comm = write_geojson(communities, tmp_path / "communities.geojson")
    streets = write_geojson(streets_frame, tmp_path / "streets.geojson")
    first = run("import", str(streets), "--layer", "streets", "--crs", "wgs84", "--database-url", store, "--commit")
    assert first.exit_code == 0
    result = run("import", str(comm), "--layer", "communities", "--crs", "wgs84", "--database-url", store, "--commit")
    assert result.exit_code == 2 and "unknown_parent" in result.output and "110105009001" in result.output
    result = run(
        "import",
        str(comm),
        "--layer",
        "communities",
        "--crs",
        "wgs84",
        "--database-url",
        store,
        "--skip-parent-check",
        "--commit",
    )
    assert result.exit_code == 0, result.output
