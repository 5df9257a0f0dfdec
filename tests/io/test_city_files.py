"""Folders of <layer>.geojson (``write_city``/``read_city``, ``gridgis sample-city``): written by gridgis's one
GeoJSON writer, so what is read back — by ``read_city`` or by ``gridgis import`` — is exactly what the store holds."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.crs import round_to_storage
from gridgis.io import read_city, write_city
from gridgis.io.geojson import read_geojson
from gridgis.layers import LAYERS, normalize_frame
from gridgis.sample import generate_city

GRIDGIS = Path(__file__).resolve().parents[2] / "gridgis"


def _station(x: float, y: float) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {
            "code": ["110105001001S001"],
            "name": ["建外党群服务站"],
            "kind": ["party_service"],
            "area_code": ["110105001001"],
            "services": [["议事"]],
        },
        geometry=[shapely.Point(x, y)],
        crs=4326,
    )
    return normalize_frame(LAYERS["stations"], frame)


def test_a_coordinate_one_storage_step_off_a_round_number_survives_write_city_and_read_city(tmp_path):
    """GDAL's writer (COORDINATE_PRECISION=7) wrote 116.4000009 as 116.4, a whole storage step away."""
    write_city({"stations": _station(116.4000009, 39.9000001)}, tmp_path)
    back = read_city(tmp_path)["stations"]
    assert (back.geometry[0].x, back.geometry[0].y) == (116.4000009, 39.9000001)
    strict = read_geojson(tmp_path / "stations.geojson").frame  # the reader of `gridgis import`
    assert (strict.geometry[0].x, strict.geometry[0].y) == (116.4000009, 39.9000001)
    assert back["name"][0] == "建外党群服务站" and back["services"][0] == ["议事"]


def test_city_files_are_rfc7946_utf8_with_chinese_as_text(tmp_path):
    cw = shapely.Polygon([(116.4, 39.9), (116.4, 39.91), (116.41, 39.91), (116.41, 39.9)])
    streets = normalize_frame(
        LAYERS["streets"],
        gpd.GeoDataFrame({"code": ["110105001000"], "name": ["建外街道"]}, geometry=[cw], crs=4326),
    )
    (path,) = write_city({"streets": streets}, tmp_path)
    raw = path.read_bytes()
    assert "建外街道".encode() in raw and b"\\u" not in raw
    doc = json.loads(raw.decode("utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946 §3.1.6: exterior rings counter-clockwise


def test_every_geojson_file_gridgis_writes_goes_through_its_own_writer():
    """One writer (gridgis.io.geojson.write_geojson): no GDAL GeoJSON driver anywhere in the package."""
    gdal_geojson = re.compile(r"""driver\s*=\s*["']GeoJSON|to_file\([^)]*["']GeoJSON""")
    found = [str(p.relative_to(GRIDGIS)) for p in GRIDGIS.rglob("*.py") if gdal_geojson.search(p.read_text("utf-8"))]
    assert found == []


def _values(column) -> list:
    """A column's values with every kind of missing value as None (the store reads missing text as NaN)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v for v in column]


@pytest.fixture(scope="module")
def sample_city():
    return generate_city(seed=0)


def test_sample_city_files_import_into_the_store_exactly(sample_city, repository, tmp_path):
    """`gridgis sample-city` then `gridgis import` of every layer: the store holds the generated city,
    every coordinate rounded to the storage's 7 decimals once and nothing else changed."""
    runner = CliRunner()
    folder = tmp_path / "city"
    res = runner.invoke(app, ["sample-city", "--seed", "0", "--no-people", "--out", str(folder)])
    assert res.exit_code == 0, res.output
    for layer in LAYERS:  # parents first
        res = runner.invoke(
            app,
            [
                "import",
                str(folder / f"{layer}.geojson"),
                "--layer",
                layer,
                "--commit",
                "--database-url",
                repository.url,
            ],
        )
        assert res.exit_code == 0, res.output
    for layer in LAYERS:
        stored = repository.read_layer(layer)
        made = sample_city[layer].sort_values("code", kind="stable").reset_index(drop=True)
        assert stored["code"].tolist() == made["code"].tolist(), layer
        # the one change a file makes besides the rounding: exterior rings wound counter-clockwise (RFC 7946)
        expected = shapely.orient_polygons(round_to_storage(np.asarray(made.geometry.values)), exterior_cw=False)
        assert shapely.equals_exact(np.asarray(stored.geometry.values), expected, 0).all(), layer
        for col in LAYERS[layer].columns:
            if col != "geometry":
                assert _values(stored[col]) == _values(made[col]), (layer, col)
