"""The locking guarantees on PostGIS: concurrent saves of one feature, and an operation racing a save."""

from __future__ import annotations

import threading

import httpx
import pytest
import shapely

from gridgis.errors import StorageUnavailableError
from tests.support.editing import editing_server
from tests.support.storage import temporary_postgis_database

pytestmark = pytest.mark.postgis
G1, G2 = "110105001001001", "110105001001002"
GEO = {"content-type": "application/geo+json"}


@pytest.fixture()
def api():
    try:
        db = temporary_postgis_database(prefix="gridgis_t_editing")
        url = db.__enter__()
    except StorageUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        with editing_server(url) as (base, tokens, repo):
            yield base, tokens, repo
    finally:
        db.__exit__(None, None, None)


def _parallel(calls):
    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, fn):
        start.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_six_planners_saving_the_same_version_at_once_one_wins_and_nothing_is_lost(api):
    base, tokens, repo = api
    feat = httpx.get(f"{base}/collections/grids/items/{G1}").json()
    headers = {**GEO, "Authorization": f"Bearer {tokens['planner']}"}

    def save(n):
        body = {**feat, "properties": {**feat["properties"], "population": 1000 + n}}
        return lambda: httpx.put(f"{base}/collections/grids/items/{G1}", json=body, headers=headers, timeout=60)

    codes = [r.status_code for r in _parallel([save(n) for n in range(6)])]
    assert sorted(codes) == [200, 412, 412, 412, 412, 412]
    stored = repo.get_feature("grids", G1)
    assert stored["version"] == 2 and 1000 <= stored["population"] <= 1005
    assert len(repo.generations()) == 2


def test_an_operation_racing_a_stale_save_of_the_same_grid_leaves_a_valid_coverage(api):
    base, tokens, repo = api
    feat = httpx.get(f"{base}/collections/grids/items/{G1}").json()
    headers = {"Authorization": f"Bearer {tokens['planner']}"}
    body = {**feat, "properties": {**feat["properties"], "name": "并发改名"}}
    move = {
        "a": G1,
        "b": G2,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[116.400, 39.900], [116.407, 39.900], [116.407, 39.910], [116.400, 39.910], [116.400, 39.900]]
            ],
        },
    }
    put, op = _parallel(
        [
            lambda: httpx.put(
                f"{base}/collections/grids/items/{G1}", json=body, headers={**headers, **GEO}, timeout=60
            ),
            lambda: httpx.post(f"{base}/operations/move-boundary", json=move, headers=headers, timeout=60),
        ]
    )
    assert {put.status_code, op.status_code} <= {200, 412} and 200 in (put.status_code, op.status_code)
    grids = repo.read_layer("grids", filters={"community_code": "110105001001"})
    union = shapely.union_all(list(grids.geometry.values))
    assert shapely.symmetric_difference(union, shapely.box(116.400, 39.900, 116.410, 39.910)).area < 1e-12
    assert repo.get_feature("grids", G1)["version"] == 1 + (put.status_code == 200) + (op.status_code == 200)
