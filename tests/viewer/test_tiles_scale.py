"""Issue 16 on a real uvicorn: gzip for every answer above a size, and Mapbox Vector Tiles beside the
GeoJSON tiles (same features, same ETag scheme per generation)."""

from __future__ import annotations

import gzip
import json

import httpx
import mapbox_vector_tile
import pytest
from conftest import LiveServer

from gridgis.api.middleware import GZIP_MIN_BYTES
from gridgis.maps.tiles import tile_for


@pytest.fixture(scope="module")
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=20) as client:
        yield client


def _raw(client: httpx.Client, path: str, encoding: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (not decoded by httpx)."""
    with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as r:
        return r, b"".join(r.iter_raw())


def test_a_large_item_list_is_gzipped_and_decodes_to_the_same_json(http):
    path = "/collections/micro_grids/items?limit=1000"
    plain, plain_body = _raw(http, path, "identity")
    zipped, zipped_body = _raw(http, path, "gzip")
    assert plain.status_code == zipped.status_code == 200
    assert "content-encoding" not in plain.headers and len(plain_body) >= GZIP_MIN_BYTES
    assert zipped.headers["content-encoding"] == "gzip" and "accept-encoding" in zipped.headers["vary"].lower()
    assert zipped.headers["x-request-id"]  # the access-log middleware still wraps the answer
    assert len(zipped_body) < len(plain_body)
    first, second = json.loads(gzip.decompress(zipped_body)), json.loads(plain_body)
    assert first["numberReturned"] == second["numberReturned"] > 0
    # the same items (timeStamp differs between two requests)
    assert first["features"] == second["features"]


def test_a_small_answer_is_not_gzipped(http):
    r, body = _raw(http, "/health", "gzip")
    assert r.status_code == 200 and len(body) < GZIP_MIN_BYTES
    assert "content-encoding" not in r.headers
    assert json.loads(body)


def test_a_tile_gzipped_by_its_route_is_not_gzipped_twice(http):
    x, y = tile_for(121.505, 31.232, 13)
    r, body = _raw(http, f"/tiles/streets/13/{x}/{y}.geojson", "gzip")
    assert r.status_code == 200
    text = gzip.decompress(body) if r.headers.get("content-encoding") == "gzip" else body
    assert json.loads(text)["type"] == "FeatureCollection"


def _codes_geojson(client: httpx.Client, layer: str, z: int, x: int, y: int) -> set[str]:
    fc = client.get(f"/tiles/{layer}/{z}/{x}/{y}.geojson").json()
    return {f["properties"]["code"] for f in fc["features"]}


def _codes_mvt(client: httpx.Client, layer: str, z: int, x: int, y: int) -> set[str]:
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(r.content)
    features = decoded.get(layer, {"features": []})["features"]
    assert int(r.headers["x-feature-count"]) == len(features)
    return {f["properties"]["code"] for f in features}


@pytest.mark.parametrize(
    ("layer", "z"), [("micro_grids", 15), ("grids", 14), ("stations", 16), ("streets", 13), ("micro_grids", 12)]
)
def test_an_mvt_tile_decodes_to_the_same_features_as_the_geojson_tile(http, layer, z):
    x, y = tile_for(121.505, 31.232, z)
    geojson = _codes_geojson(http, layer, z, x, y)
    assert _codes_mvt(http, layer, z, x, y) == geojson
    if z >= 13:
        assert geojson  # the comparison is not between two empty tiles


def test_an_mvt_tile_keeps_its_chinese_properties_and_answers_304(http):
    x, y = tile_for(121.505, 31.232, 15)
    r = http.get(f"/tiles/micro_grids/15/{x}/{y}.mvt")
    names = {f["properties"]["name"] for f in mapbox_vector_tile.decode(r.content)["micro_grids"]["features"]}
    assert any("社区" in n or "网格" in n for n in names)
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "no-cache"
    assert etag != http.get(f"/tiles/micro_grids/15/{x}/{y}.geojson").headers["etag"]
    again = http.get(f"/tiles/micro_grids/15/{x}/{y}.mvt", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_bad_mvt_tiles_are_problems(http):
    assert http.get("/tiles/roads/15/1/1.mvt").status_code == 404
    assert http.get("/tiles/grids/15/999999/1.mvt").status_code == 422


def test_an_mvt_etag_changes_with_a_new_generation(tmp_path, city):
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'gen.db'}")
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="first")
    app = create_app(get_settings(database_url=repo.url), repo)
    x, y = tile_for(121.505, 31.232, 14)
    path = f"/tiles/stations/14/{x}/{y}.mvt"
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        before = client.get(path)
        assert client.get(path, headers={"If-None-Match": before.headers["etag"]}).status_code == 304
        changed = {k: v.copy() for k, v in city.items()}
        changed["stations"].loc[changed["stations"]["kind"] == "canteen", "name"] = "新社区食堂"
        repo.write_city(changed, author="viewer-tests", message="rename the canteen")
        after = client.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    names = lambda r: {f["properties"]["name"] for f in mapbox_vector_tile.decode(r.content)["stations"]["features"]}
    assert "崂山社区食堂" in names(before) and "新社区食堂" in names(after)


def test_a_tile_asked_for_by_its_current_generation_may_be_cached_by_proxies(http):
    gen = http.get("/viewer/meta").json()["generation"]
    x, y = tile_for(121.505, 31.232, 15)
    for ext in ("mvt", "geojson"):
        current = http.get(f"/tiles/micro_grids/15/{x}/{y}.{ext}?g={gen}")
        assert current.status_code == 200
        assert current.headers["cache-control"] == "public, max-age=86400, immutable"
        older = http.get(f"/tiles/micro_grids/15/{x}/{y}.{ext}?g={gen + 1000}")  # not the current one
        assert older.headers["cache-control"] == "no-cache" and older.content == current.content


def test_the_vector_tile_plugin_is_served_locally_without_outside_links(http):
    from gridgis.maps import assets

    r = http.get("/static/vendor/vectorgrid.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    if assets.vector_tile_plugin() is None:
        pytest.fail(f"{assets.VECTOR_TILE_PLUGIN} is not installed in {assets.node_modules()}: run npm ci")
    assert "VectorGrid" in r.text and assets.external_urls(r.text) == []


def test_the_serving_process_prerenders_the_low_zooms_and_loads_every_layer_after_each_generation(tmp_path, city):
    import time

    from gridgis.api.app import create_app
    from gridgis.maps.viewer import VIEWER_LAYERS
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'pre.db'}")
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="first")
    app = create_app(get_settings(database_url=repo.url, tile_prerender_zoom=11, generation_poll_interval_s=0.2), repo)

    def wait_until(check, what: str) -> None:
        deadline = time.monotonic() + 60
        while not check():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    def warm() -> bool:
        cache = getattr(app.state, "tile_cache", None)
        if cache is None or cache._generation != repo.current_generation().id:
            return False
        loaded = set(cache.loaded()) >= {n for n, _ in VIEWER_LAYERS}
        return loaded and cache.prerendered == cache._generation and len(cache._encoded) > 0

    with LiveServer(app):  # no request at all: the start-up renders
        wait_until(warm, "layers loaded and low zooms rendered after start-up")
        streets = {k for k in app.state.tile_cache._encoded if k[1] == "streets"}
        assert {k[3] for k in streets} == set(range(12))  # every zoom up to the setting
        changed = {k: v.copy() for k, v in city.items()}
        changed["stations"].loc[changed["stations"]["kind"] == "canteen", "name"] = "新社区食堂"
        repo.write_city(changed, author="viewer-tests", message="rename the canteen")
        wait_until(warm, "rendered again for the new generation")
