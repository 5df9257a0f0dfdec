"""The viewer's HTTP routes on a real uvicorn: page, assets, tiles, search, locate, related."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import shapely
from conftest import LiveServer

from gridgis.maps.assets import external_urls
from gridgis.maps.tiles import tile_for


@pytest.fixture(scope="module")
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=20) as client:
        yield client


def test_the_map_page_loads_only_assets_served_by_gridgis(http):
    page = http.get("/map")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/static/") for r in refs)
    for ref in refs:
        asset = http.get(ref)
        assert asset.status_code == 200, ref
        assert external_urls(asset.text) == [], ref


def test_meta_reports_bounds_and_the_stored_counts(http, city):
    meta = http.get("/viewer/meta").json()
    counts = {layer["name"]: layer["count"] for layer in meta["layers"]}
    assert counts == {name: len(frame) for name, frame in city.items()}
    minx, miny, maxx, maxy = meta["bounds"]
    assert (minx, miny) == pytest.approx((121.5, 31.228)) and maxx > minx and maxy > miny
    assert meta["station_kinds"]["canteen"] == "社区食堂"


def test_a_tile_is_geojson_with_an_etag_that_answers_304(http):
    x, y = tile_for(121.505, 31.232, 15)
    r = http.get(f"/tiles/micro_grids/15/{x}/{y}.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and int(r.headers["x-feature-count"]) == len(fc["features"]) > 0
    assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in fc["features"])
    again = http.get(f"/tiles/micro_grids/15/{x}/{y}.geojson", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_bad_tiles_and_unknown_codes_are_problems(http):
    assert http.get("/tiles/roads/15/1/1.geojson").status_code == 404
    assert http.get("/tiles/grids/15/999999/1.geojson").status_code == 422
    r = http.get("/viewer/locate/999999999999S999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_search_finds_names_and_codes(http):
    hits = http.get("/viewer/search", params={"q": "食堂"}).json()
    assert [h["code"] for h in hits] == ["310115007001S006"]
    by_code = http.get("/viewer/search", params={"q": "310115007002Q00"}).json()
    assert {h["code"] for h in by_code if h["layer"] == "compounds"} == {"310115007002Q001", "310115007002Q002"}


def test_locate_and_related_give_click_through_targets(http):
    loc = http.get("/viewer/locate/310115007002001").json()
    assert loc["layer"] == "grids" and len(loc["bbox"]) == 4
    rel = http.get("/viewer/related/grids/310115007001001").json()
    assert [c[0] for c in rel["compounds"]] == ["310115007001Q001"]
    assert len(rel["stations"]) == 7
    south = http.get("/viewer/related/grids/310115007001002").json()
    assert south["stations"] == []


def test_tiles_follow_a_new_generation(tmp_path, city):
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'gen.db'}")
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="first")
    app = create_app(get_settings(database_url=repo.url), repo)
    x, y = tile_for(121.505, 31.232, 14)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        before = client.get(f"/tiles/stations/14/{x}/{y}.geojson").json()
        changed = {k: v.copy() for k, v in city.items()}
        changed["stations"].loc[changed["stations"]["kind"] == "canteen", "name"] = "新社区食堂"
        repo.write_city(changed, author="viewer-tests", message="rename the canteen")
        after = client.get(f"/tiles/stations/14/{x}/{y}.geojson").json()
    names = lambda fc: {f["properties"]["name"] for f in fc["features"]}
    assert "崂山社区食堂" in names(before) and "新社区食堂" in names(after)
    assert json.dumps(before) != json.dumps(after)


def test_the_viewer_has_no_base_map_unless_one_is_configured(http, tmp_path, store):
    meta = http.get("/viewer/meta").json()
    assert {k: meta["basemap"][k] for k in ("name", "tiles", "crs")} == {"name": "none", "tiles": [], "crs": "wgs84"}
    assert [b["name"] for b in meta["basemaps"]] == ["none", "osm", "tianditu", "amap"]  # the page's switcher
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    app = create_app(get_settings(database_url=store.url, tile_source="amap"), store)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        amap = client.get("/viewer/meta").json()["basemap"]
        x, y = tile_for(121.505, 31.232, 14)
        shifted = client.get(f"/tiles/stations/14/{x}/{y}.geojson", params={"crs": "gcj02"})
        plain = client.get(f"/tiles/stations/14/{x}/{y}.geojson")
    assert amap["crs"] == "gcj02" and "autonavi" in amap["tiles"][0]["url"]
    a = {f["id"]: f["geometry"]["coordinates"] for f in shifted.json()["features"]}
    b = {f["id"]: f["geometry"]["coordinates"] for f in plain.json()["features"]}
    common = a.keys() & b.keys()  # the shift (~500 m) may move a station into the next tile
    assert common and all(a[k] != b[k] for k in common)


def test_a_tianditu_base_map_without_a_key_is_a_message_not_a_422(store):
    # issue 12: /viewer/meta answered 422 and the page stayed empty
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    app = create_app(get_settings(database_url=store.url, tile_source="tianditu", tianditu_key=""), store)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        r = client.get("/viewer/meta")
    assert r.status_code == 200
    meta = r.json()
    assert meta["basemap"]["name"] == "tianditu" and meta["basemap"]["tiles"] == []
    assert "GRIDGIS_TIANDITU_KEY" in meta["basemap"]["message"]
    assert meta["layers"] and meta["bounds"]


def test_thematic_views_are_layers_of_the_viewer(http):
    cov = http.get("/viewer/views/coverage", params={"circle": "5min", "kind": "canteen"}).json()
    assert cov["kind_zh"] == "社区食堂" and cov["uncovered"]["features"] and cov["service_areas"]["features"]
    assert {r["community_code"] for r in cov["table"]} == {"310115007001", "310115007002"}
    align = http.get("/viewer/views/alignment").json()
    assert align["proposed_grids"]["features"]
    assert http.get("/viewer/views/heat").json()["count"] >= 0
    assert http.get("/viewer/views/nonsense").status_code == 400  # a bad path parameter (one rule: 400 naming it)


def test_the_coverage_view_walks_the_configured_roads_and_its_drawing_agrees_with_its_counts(tmp_path, shared_data):
    """Issue 12: with the Lujiazui OSM roads, the households /map counts as covered lie inside the
    service areas it draws, and the view says that the roads cover only part of the sample city."""
    from gridgis.api.app import create_app
    from gridgis.maps.coverage import demand_points
    from gridgis.sample import generate_city
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    city = generate_city(0, "small", tickets=0)
    repo = Repository(f"sqlite:///{tmp_path / 'sample.db'}")
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="sample city")
    roads = shared_data / "shanghai-lujiazui-osm-tiles" / "roads.geojson"
    app = create_app(get_settings(database_url=repo.url, roads_file=str(roads)), repo)
    params = {"circle": "15min", "kind": "mediation_room"}
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        assert client.get("/viewer/meta").json()["roads"] is True
        cov = client.get("/viewer/views/coverage", params=params).json()
        straight = client.get("/viewer/views/coverage", params={**params, "roads": "false"}).json()
    repo.dispose()
    assert "路网" in cov["method"] and 0.2 < cov["roads_share"] < 0.8
    assert f"{cov['roads_share']:.0%}" in cov["method"]  # says the roads cover only part of the area
    assert straight["roads_share"] is None and "直线" in straight["method"]

    drawn = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in cov["service_areas"]["features"]])
    edge = shapely.buffer(shapely.boundary(drawn), 1e-5)  # ≈ 1 m: the drawing's 7-decimal coordinates
    d = demand_points(city)
    x, y = d.geometry.x.to_numpy(), d.geometry.y.to_numpy()
    inside, near = shapely.intersects_xy(drawn, x, y), shapely.intersects_xy(edge, x, y)
    hh = d["households"].to_numpy()
    counted = {r["community_code"]: r["covered_households"] for r in cov["table"]}
    assert sum(counted.values()) > 0
    for code, covered in counted.items():
        mine = (d["community_code"] == code).to_numpy()
        assert hh[mine & inside & ~near].sum() <= covered <= hh[mine & (inside | near)].sum(), code
