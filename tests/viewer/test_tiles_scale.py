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
