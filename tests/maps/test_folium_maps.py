"""Saved maps: self-contained, offline (no outside host named), every layer present, base maps."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from citykit import make_city, make_tickets

from gridgis.errors import ValidationError
from gridgis.maps import assets
from gridgis.maps.folium_maps import for_basemap, grid_relations, overview_map, save_map


@pytest.fixture(scope="module")
def city():
    return make_city()


@pytest.fixture(scope="module")
def overview_html(city, tmp_path_factory):
    path = save_map(overview_map(city), tmp_path_factory.mktemp("maps") / "overview.html")
    return path.read_text(encoding="utf-8")


def layer_data(html: str) -> dict[str, dict]:
    """The GeoJSON handed to each GridGIS.geojsonLayer call in a saved map."""
    out = {}
    for kind, data in re.findall(
        r'GridGIS\.geojsonLayer\("(\w+)", (\{"type":"FeatureCollection".*?\}\]\}), \{\}\)', html
    ):
        out[kind] = json.loads(data)
    return out


def test_a_saved_map_names_no_outside_host(overview_html):
    assert assets.external_urls(overview_html) == []
    assert "<script src=" not in overview_html and "<link " not in overview_html  # everything inline
    assert "GridGIS.decorate(" in overview_html and "L.map(" in overview_html


def test_the_url_scanner_catches_outside_hosts():
    text = '<script src="https://cdn.jsdelivr.net/npm/leaflet.js"></script><img src="http://localhost:8000/a.png">'
    assert assets.external_urls(text) == ["https://cdn.jsdelivr.net/npm/leaflet.js"]


def test_every_layer_is_in_the_map_with_its_features(city, overview_html):
    data = layer_data(overview_html)
    assert {k: len(v["features"]) for k, v in data.items()} == {k: len(v) for k, v in city.items()}
    station = data["stations"]["features"][0]["properties"]
    assert {"name", "kind", "level", "opening_hours", "services", "contact"} <= set(station)


def test_a_grid_popup_carries_its_compounds_and_stations(city, overview_html):
    grids = {f["properties"]["code"]: f["properties"] for f in layer_data(overview_html)["grids"]["features"]}
    north_west = grids["310115007001001"]
    assert north_west["_compounds"] == [["310115007001Q001", "崂山二村"]]
    assert len(north_west["_stations"]) == 7
    assert grids["310115007002002"]["_stations"] == []
    assert grid_relations(city)["310115007002001"]["compounds"] == [["310115007002Q001", "乳山二村"]]


def test_amap_overlays_are_shifted_to_gcj02(city):
    shifted = for_basemap(city["stations"], "amap")
    d = np.hypot(shifted.geometry.x - city["stations"].geometry.x, shifted.geometry.y - city["stations"].geometry.y)
    assert (d * 100_000 > 100).all() and (d * 100_000 < 1000).all()  # GCJ-02 offsets are 100–700 m
    assert for_basemap(city["stations"], "osm") is not None
    same = for_basemap(city["stations"], "none")
    assert same.geometry.equals(city["stations"].geometry)


def test_base_maps_need_their_settings(city, tmp_path):
    with pytest.raises(ValidationError, match="key"):
        overview_map(city, basemap="tianditu")
    with pytest.raises(ValidationError, match="base map"):
        overview_map(city, basemap="google")
    html = save_map(overview_map(city, basemap="tianditu", tianditu_key="K123"), tmp_path / "t.html").read_text()
    assert "tianditu.gov.cn" in html and "tk=K123" in html
    local = save_map(overview_map(city, basemap="http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"), tmp_path / "l.html")
    assert assets.external_urls(local.read_text()) == []


def test_a_map_that_would_fetch_from_outside_is_not_written_as_offline(city, tmp_path):
    m = overview_map(city, basemap="osm")
    with pytest.raises(ValidationError, match="outside hosts"):
        save_map(m, tmp_path / "osm.html", allow_external=False)
    assert not (tmp_path / "osm.html").exists()


def test_heat_points_come_from_the_tickets(city, tmp_path):
    from gridgis.maps.views import workload_map

    html = save_map(workload_map(city, make_tickets(city, 12)), tmp_path / "w.html").read_text()
    points = json.loads(re.search(r"new GridGIS\.HeatLayer\((\[\[.*?\]\])", html).group(1))
    assert len(points) == 12


def test_folium_is_imported_only_when_a_map_is_built():
    import subprocess
    import sys

    code = (
        "import sys, gridgis.maps, gridgis.maps.folium_maps, gridgis.maps.views, gridgis.api.routes.viewer, "
        "gridgis.cli.maps; print('folium' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
