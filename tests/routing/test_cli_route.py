"""`gridgis route` on CSV, GeoJSON and GeoPackage: every input column kept, routing columns added."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from gridgis import chinacoords
from gridgis.cli import app
from gridgis.io import write_city
from tests.routing.conftest import GRID_A, GRID_B, two_grid_city

ROUTING_COLUMNS = ["micro_grid_code", "grid_code", "community_code", "street_code", "snapped", "distance_m", "reason"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("city")
    write_city(two_grid_city(), d)
    return d


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_csv_keeps_columns_text_and_adds_codes_and_reasons(data_dir, tmp_path):
    src = tmp_path / "tickets.csv"
    src.write_text(
        "工单号,经度,纬度,备注\n007,121.5003,31.2008,噪声\n008,121.5012,31.2003,\n009,,31.2,缺坐标\n"
        "010,121.60,31.20,太远\n",
        encoding="utf-8",
    )
    out = tmp_path / "routed.csv"
    res = run(
        "route",
        src,
        "--out",
        out,
        "--lon-col",
        "经度",
        "--lat-col",
        "纬度",
        "--data-dir",
        data_dir,
        "--chunk-size",
        "2",
        "--crs",
        "wgs84",
    )
    assert "2 of 4 rows routed" in res
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["工单号", "经度", "纬度", "备注", *ROUTING_COLUMNS]
    assert [r["工单号"] for r in rows] == ["007", "008", "009", "010"]  # leading zeros kept: text as written
    assert (rows[0]["micro_grid_code"], rows[0]["grid_code"], rows[0]["street_code"]) == (
        GRID_A + "01",
        GRID_A,
        GRID_A[:9] + "000",
    )
    assert rows[1]["grid_code"] == GRID_B and rows[1]["reason"] == ""
    assert rows[2]["grid_code"] == "" and "missing" in rows[2]["reason"]
    assert rows[3]["grid_code"] == "" and rows[3]["reason"].startswith("outside the service area")


def test_geojson_in_gcj02_routes_like_wgs84_and_keeps_properties(data_dir, tmp_path):
    lon, lat = chinacoords.wgs84_to_gcj02(121.5003, 31.2008)
    src = tmp_path / "in.geojson"
    src.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "T1", "标题": "占道经营"},
                        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                    }
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.geojson"
    run("route", src, "--out", out, "--crs", "gcj02", "--data-dir", data_dir)
    got = gpd.read_file(out)
    assert got["标题"][0] == "占道经营" and got["micro_grid_code"][0] == GRID_A + "01"
    assert got.geometry[0].equals(shapely.Point(float(lon), float(lat)))  # input geometry kept


def test_routed_gcj02_geojson_says_so_and_routes_again_without_a_crs(data_dir, tmp_path):
    """GDAL's writer labelled GCJ-02 points as WGS84; gridgis's writer keeps them and adds gridgis_crs."""
    lon, lat = chinacoords.wgs84_to_gcj02(121.5003, 31.2008)
    point = {"type": "Point", "coordinates": [float(lon), float(lat)]}
    src = tmp_path / "in.geojson"
    src.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {"标题": "占道经营"}, "geometry": point}],
            }
        ),
        encoding="utf-8",
    )
    run("route", src, "--out", tmp_path / "once.geojson", "--crs", "gcj02", "--data-dir", data_dir)
    doc = json.loads((tmp_path / "once.geojson").read_text(encoding="utf-8"))
    assert doc["gridgis_crs"] == "gcj02" and doc["features"][0]["geometry"] == point
    assert "占道经营" in (tmp_path / "once.geojson").read_text(encoding="utf-8")
    run("route", tmp_path / "once.geojson", "--out", tmp_path / "twice.csv", "--data-dir", data_dir)  # no --crs
    assert next(iter(csv.DictReader((tmp_path / "twice.csv").open(encoding="utf-8"))))["grid_code"] == GRID_A


def test_geopackage_round_trip_and_csv_to_gpkg(data_dir, tmp_path):
    pts = gpd.GeoDataFrame(
        {"name": ["甲", "乙"]},
        geometry=[shapely.Point(121.5003, 31.2008), shapely.Point(121.5015, 31.2003)],
        crs="EPSG:4326",
    )
    src = tmp_path / "in.gpkg"
    pts.to_file(src, layer="points")
    out = tmp_path / "out.gpkg"
    run("route", src, "--out", out, "--layer", "points", "--data-dir", data_dir)
    got = gpd.read_file(out)
    assert got["name"].tolist() == ["甲", "乙"] and got["grid_code"].tolist() == [GRID_A, GRID_B]
    csv_src = tmp_path / "pts.csv"
    csv_src.write_text("lon,lat\n121.5003,31.2008\n", encoding="utf-8")
    run("route", csv_src, "--out", tmp_path / "pts.gpkg", "--crs", "wgs84", "--data-dir", data_dir)
    g = gpd.read_file(tmp_path / "pts.gpkg")
    assert g.crs.to_epsg() == 4326 and g["grid_code"][0] == GRID_A and g.geometry[0].x == pytest.approx(121.5003)


def test_missing_column_and_unknown_crs_are_clear_errors(data_dir, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("x,y\n121.5,31.2\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["route", str(src), "--out", str(tmp_path / "o.csv"), "--data-dir", str(data_dir)])
    assert res.exit_code != 0 and "pass --crs" in str(res.exception)  # a CSV cannot say its CRS: never guessed
    res = CliRunner().invoke(
        app, ["route", str(src), "--out", str(tmp_path / "o.csv"), "--crs", "wgs84", "--data-dir", str(data_dir)]
    )
    assert res.exit_code != 0 and "--lon-col" in str(res.exception)
    res = CliRunner().invoke(
        app,
        [
            "route",
            str(src),
            "--out",
            str(tmp_path / "o.csv"),
            "--lon-col",
            "x",
            "--lat-col",
            "y",
            "--crs",
            "nope",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code != 0 and "unknown CRS" in str(res.exception)


def test_route_against_the_store_at_a_time(tmp_path):
    from gridgis.storage import Repository

    url = f"sqlite:///{tmp_path / 'g.db'}"
    repo = Repository(url)
    repo.create_schema()
    g1 = repo.write_city(two_grid_city(), author="测试")
    repo.dispose()
    src = tmp_path / "p.csv"
    src.write_text("lon,lat\n121.5003,31.2008\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    res = run("route", src, "--out", out, "--crs", "wgs84", "--database-url", url, "--at", g1.created_at.isoformat())
    assert f"generation {g1.id};" in res
    assert next(iter(csv.DictReader(out.open(encoding="utf-8"))))["grid_code"] == GRID_A


def test_demo_step_routes_the_sample_tickets_and_records_the_counts(data_dir, tmp_path):
    from types import SimpleNamespace

    from gridgis.cli.route import demo
    from gridgis.storage import Repository

    tickets = gpd.GeoDataFrame(
        {"id": ["T1", "T2", "T3"], "address": ["梅园三街坊12号楼", "梅园路8号", "远处"]},
        geometry=[shapely.Point(121.50100, 31.20035), shapely.Point(121.5003, 31.2008), shapely.Point(121.60, 31.20)],
        crs="EPSG:4326",
    )
    tickets.to_file(data_dir / "tickets.geojson", driver="GeoJSON")
    repo = Repository(f"sqlite:///{tmp_path / 'demo.db'}")
    repo.create_schema()  # empty store: the step builds its index from the folder
    ctx = SimpleNamespace(repository=repo, data_dir=data_dir, out_dir=tmp_path, facts={})
    demo(ctx)
    facts = ctx.facts["routing"]
    assert (facts["tickets"], facts["in_micro_grid"], facts["outside"]) == (3, 2, 1)
    assert facts["address_checked"] == 1 and facts["address_same_compound"] == 1
    repo.dispose()


def test_geojson_points_are_wgs84_unless_they_carry_the_gridgis_crs_marker(data_dir, tmp_path):
    """RFC 7946 GeoJSON is WGS84; a ``gridgis_crs`` member (as gridgis writes for GCJ-02) is obeyed, not guessed."""
    from gridgis.chinacoords import convert_points

    gx, gy = convert_points(np.array([121.5003]), np.array([31.2008]), "wgs84", "gcj02")
    feature = {
        "type": "Feature",
        "properties": {"id": "1"},
        "geometry": {"type": "Point", "coordinates": [gx[0], gy[0]]},
    }
    marked = tmp_path / "gcj.geojson"
    marked.write_text(
        json.dumps({"type": "FeatureCollection", "gridgis_crs": "gcj02", "features": [feature]}), encoding="utf-8"
    )
    run("route", marked, "--out", tmp_path / "a.csv", "--data-dir", data_dir)
    assert next(iter(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8"))))["grid_code"] == GRID_A
    plain = tmp_path / "plain.geojson"
    plain.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    run("route", plain, "--out", tmp_path / "b.csv", "--data-dir", data_dir)  # read as WGS84: ~500 m off
    assert next(iter(csv.DictReader((tmp_path / "b.csv").open(encoding="utf-8"))))["grid_code"] != GRID_A
