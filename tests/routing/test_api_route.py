"""GET/POST /route over real HTTP (uvicorn on a free port), against a repository with two generations."""

from __future__ import annotations

import time

import httpx
import pytest

from gridgis import chinacoords
from tests.routing.conftest import GRID_A, GRID_B, live_api, two_grid_city
from tests.routing.test_service import moved_city


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path_factory.mktemp('route-api') / 'g.db'}")
    repo.create_schema()
    g1 = repo.write_city(two_grid_city(), author="测试", message="first")
    time.sleep(0.05)
    g2 = repo.write_city(moved_city(), author="测试", message="edge moved")
    with live_api(repo, max_batch_points=5) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, g1, g2
    repo.dispose()


def test_get_route_returns_every_level_workers_and_generation(api):
    client, _, g2 = api
    r = client.get("/route", params={"lon": 121.5003, "lat": 31.2008})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["micro_grid"]["code"] == GRID_A + "01" and body["grid"]["code"] == GRID_A
    assert body["grid"]["workers"] == [{"name": "张三", "role": "full_time"}]
    assert body["community"] == {"code": GRID_A[:12], "name": "梅园社区"}
    assert body["street"]["name"] == "潍坊新村街道"
    assert body["snapped"] is False and body["distance_m"] == 0 and body["generation"] == g2.id


def test_get_route_at_an_earlier_time_uses_that_generation(api):
    client, g1, g2 = api
    at = (g1.created_at + (g2.created_at - g1.created_at) / 2).isoformat()
    old = client.get("/route", params={"lon": 121.5012, "lat": 31.2008, "at": at}).json()
    new = client.get("/route", params={"lon": 121.5012, "lat": 31.2008}).json()
    assert (old["grid"]["code"], old["generation"]) == (GRID_B, g1.id)
    assert (new["grid"]["code"], new["generation"]) == (GRID_A, g2.id)


def test_gcj02_input_lands_in_the_same_grid(api):
    client, _, _ = api
    lon, lat = chinacoords.wgs84_to_gcj02(121.5003, 31.2008)
    body = client.get("/route", params={"lon": float(lon), "lat": float(lat), "crs": "gcj02"}).json()
    assert body["micro_grid"]["code"] == GRID_A + "01"
    assert body["point"]["lon"] == pytest.approx(121.5003, abs=1e-7)


def test_address_routes_to_the_building(api):
    client, _, _ = api
    body = client.get("/route", params={"address": "梅园三街坊12号楼"}).json()
    assert body["address"]["building"]["code"] == GRID_A[:12] + "Q001B012"
    assert body["building"]["code"] == GRID_A[:12] + "Q001B012" and body["compound"]["name"] == "梅园三街坊"


@pytest.mark.parametrize(
    "params,status,word",
    [
        ({"lon": "nan", "lat": 31.2}, 422, "out of range"),
        ({"lon": 121.5, "lat": 95}, 422, "out of range"),
        ({"lon": 121.5, "lat": 31.2, "crs": "mars-2"}, 400, "unknown CRS"),
        ({"lon": 121.6, "lat": 31.2}, 422, GRID_B),
        ({"lat": 31.2}, 422, "lon and lat"),
        ({"address": "东方明珠塔"}, 404, "梅园三街坊"),
    ],
)
def test_bad_requests_are_problem_json_saying_what_is_wrong(api, params, status, word):
    client, _, _ = api
    r = client.get("/route", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert word in r.json()["detail"]


def test_batch_of_points_with_per_row_reasons(api):
    client, _, g2 = api
    body = [
        {"id": "a", "lon": 121.5003, "lat": 31.2008},
        [121.5012, 31.2008],
        {"lon": "x", "lat": 1},
        {"lon": 121.7, "lat": 31.2},
    ]
    r = client.post("/route", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["generation"] == g2.id and out["count"] == 4 and out["routed"] == 2
    rows = out["results"]
    assert rows[0]["id"] == "a" and rows[0]["micro_grid_code"] == GRID_A + "01"
    assert rows[1]["grid_code"] == GRID_A
    assert rows[2]["grid_code"] is None and "missing" in rows[2]["reason"]
    assert rows[3]["reason"].startswith("outside the service area")


def test_batch_geojson_feature_collection_keeps_properties(api):
    client, _, _ = api
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"工单": "T1"},
                "geometry": {"type": "Point", "coordinates": [121.5003, 31.2008]},
            },
            {"type": "Feature", "properties": {"工单": "T2"}, "geometry": None},
        ],
    }
    out = client.post("/route", json=fc).json()
    assert out["type"] == "FeatureCollection"
    props = [f["properties"] for f in out["features"]]
    assert props[0]["工单"] == "T1" and props[0]["grid_code"] == GRID_A
    assert props[1]["grid_code"] is None and props[1]["reason"]


def test_oversized_batch_is_413_and_malformed_body_is_400(api):
    client, _, _ = api
    r = client.post("/route", json=[[121.5, 31.2]] * 6)
    assert r.status_code == 413 and "at most 5" in r.json()["detail"]
    r = client.post("/route", json={"hello": 1})
    assert r.status_code == 400


def test_the_service_builds_the_routing_index_at_start_up_not_on_the_first_request(tmp_path):
    from gridgis.api import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.live import LiveServer

    repo = Repository(f"sqlite:///{tmp_path / 'g.db'}")
    repo.create_schema()
    generation = repo.write_city(two_grid_city(), author="测试", message="first")
    app = create_app(get_settings(database_url=repo.url, prewarm_routing=True), repo)
    service = app.state.routing
    with LiveServer(app) as server:
        service.wait(30)
        assert service.builds == 1 and service._current.generation == generation.id  # before any request
        r = httpx.get(f"{server.url}/route", params={"lon": 121.5003, "lat": 31.2008}, timeout=30)
        assert r.status_code == 200 and r.json()["grid"]["code"] == GRID_A
        assert service.builds == 1
    repo.dispose()


def test_without_prewarm_the_index_is_built_on_the_first_request(tmp_path):
    from gridgis.api import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.live import LiveServer

    repo = Repository(f"sqlite:///{tmp_path / 'g.db'}")
    repo.create_schema()
    repo.write_city(two_grid_city(), author="测试", message="first")
    app = create_app(get_settings(database_url=repo.url, prewarm_routing=False), repo)
    with LiveServer(app) as server:
        assert app.state.routing.builds == 0
        assert httpx.get(f"{server.url}/route", params={"lon": 121.5003, "lat": 31.2008}, timeout=30).status_code == 200
        assert app.state.routing.builds == 1
    repo.dispose()


def test_a_full_batch_at_the_default_limits_fits_the_default_body_limit(tmp_path):
    """max_batch_points points, as clients send them, are accepted: the body limit does not refuse first."""
    import json

    import numpy as np

    from gridgis.api import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.live import LiveServer

    repo = Repository(f"sqlite:///{tmp_path / 'g.db'}")
    repo.create_schema()
    repo.write_city(two_grid_city(), author="测试", message="first")
    settings = get_settings(database_url=repo.url)
    rng = np.random.default_rng(3)
    n = settings.max_batch_points
    points = [
        {"lon": float(x), "lat": float(y), "id": f"T{i:06d}"}
        for i, (x, y) in enumerate(zip(rng.uniform(121.5, 121.502, n), rng.uniform(31.2, 31.201, n)))
    ]
    body = json.dumps(points)
    with LiveServer(create_app(settings, repo)) as server:
        r = httpx.post(f"{server.url}/route", content=body, headers={"content-type": "application/json"}, timeout=120)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["count"] == n
        too_many = json.dumps(points + points[:1])
        r = httpx.post(
            f"{server.url}/route", content=too_many, headers={"content-type": "application/json"}, timeout=120
        )
        assert r.status_code == 413 and "at most" in r.json()["detail"]
    repo.dispose()


def test_batch_answer_with_a_nan_id_from_the_client_is_still_valid_json(api):
    client, _, _ = api
    r = client.post(
        "/route",
        content=b'[{"lon": 121.5003, "lat": 31.2008, "id": NaN}]',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200
    body = r.json()  # strict JSON: NaN written as null
    assert body["results"][0]["id"] is None and body["results"][0]["grid_code"] == GRID_A
