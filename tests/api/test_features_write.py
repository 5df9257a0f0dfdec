"""OGC API – Features Part 4 over real HTTP: optimistic locking, validated writes, bad input, audit."""

from __future__ import annotations

import json

import httpx
import pytest

from gridgis.auth.store import AuditLog
from gridgis.editing.testing import editing_server

G1, G2 = "110105001001001", "110105001001002"
B1 = "110105001002001"
GEO = {"content-type": "application/geo+json"}


@pytest.fixture()
def api(tmp_path):
    with (
        editing_server(str(tmp_path / "g.db"), {"max_body_bytes": 200_000}) as (base, tokens, repo),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client, tokens, repo


def auth(tokens, who="planner", **extra):
    return {"Authorization": f"Bearer {tokens[who]}", **GEO, **extra}


def get(client, code, layer="grids"):
    r = client.get(f"/collections/{layer}/items/{code}")
    return r.json(), r.headers["etag"]


def test_put_with_the_current_version_is_stored_as_a_new_generation(api):
    client, tokens, repo = api
    feat, _tag = get(client, G1)
    feat["properties"]["name"] = "新名字"
    r = client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens, **{"X-Gridgis-Message": "rename"}))
    assert r.status_code == 200 and r.headers["etag"] == '"2"' and r.json()["properties"]["version"] == 2
    assert repo.current_generation().message == "rename" and repo.current_generation().author == "planner"


def test_a_stale_if_match_is_412_and_nothing_changes(api):
    client, tokens, repo = api
    feat, _tag = get(client, G1)
    feat["properties"].pop("version")
    feat["properties"]["households"] = 1
    r = client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens, **{"If-Match": '"7"'}))
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"
    assert repo.get_feature("grids", G1)["households"] == 400 and len(repo.generations()) == 1


def test_a_write_with_neither_if_match_nor_version_is_428(api):
    client, tokens, _ = api
    feat, _ = get(client, G1)
    feat["properties"].pop("version")
    assert client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens)).status_code == 428
    patch = {"properties": {"name": "x"}}
    r = client.patch(
        f"/collections/grids/items/{G1}",
        content=json.dumps(patch),
        headers={**auth(tokens), "content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 428 and '"1"' in r.json()["detail"]


def test_patch_with_if_match_merges_only_the_given_properties(api):
    client, tokens, repo = api
    _, tag = get(client, G1)
    r = client.patch(
        f"/collections/grids/items/{G1}",
        content=json.dumps({"properties": {"population": 999}}),
        headers={**auth(tokens), "content-type": "application/merge-patch+json", "If-Match": tag},
    )
    assert r.status_code == 200
    stored = repo.get_feature("grids", G1)
    assert stored["population"] == 999 and stored["name"] == "多福巷第一网格" and stored["version"] == 2


def test_delete_needs_if_match_then_removes_the_feature(api):
    client, tokens, _repo = api
    code = "110105001001S001"
    assert client.delete(f"/collections/stations/items/{code}", headers=auth(tokens)).status_code == 428
    _, tag = get(client, code, "stations")
    r = client.delete(f"/collections/stations/items/{code}", headers=auth(tokens, **{"If-Match": tag}))
    assert r.status_code == 204
    assert client.get(f"/collections/stations/items/{code}").status_code == 404


def test_post_creates_with_201_and_location(api):
    client, tokens, _ = api
    new = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [116.406, 39.908]},
        "properties": {
            "code": "110105001001S002",
            "name": "红色驿站",
            "kind": "red_station",
            "area_code": "110105001001",
        },
    }
    r = client.post("/collections/stations/items", json=new, headers=auth(tokens))
    assert r.status_code == 201 and r.headers["location"].endswith("/collections/stations/items/110105001001S002")
    assert client.get(r.headers["location"]).json()["properties"]["version"] == 1


def test_a_put_that_would_leave_a_gap_and_an_overlap_lists_both_located_and_stores_nothing(api):
    client, tokens, repo = api
    feat, _ = get(client, G1)
    feat["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [
                [116.400, 39.900],
                [116.406, 39.900],
                [116.406, 39.905],
                [116.404, 39.905],
                [116.404, 39.910],
                [116.400, 39.910],
                [116.400, 39.900],
            ]
        ],
    }
    r = client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    kinds = {p["kind"]: p for p in r.json()["problems"]}
    assert {"gap", "overlap"} <= set(kinds)
    assert all(len(p["where"]) == 2 for p in kinds.values())
    assert repo.get_feature("grids", G1)["version"] == 1 and len(repo.generations()) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b"{not json", GEO, 400, "JSON"),
        (json.dumps({"type": "FeatureCollection"}).encode(), GEO, 400, "Feature"),
        (
            json.dumps(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [116.401, 39.901]},
                    "properties": {"version": 1},
                }
            ).encode(),
            GEO,
            422,
            "Polygon",
        ),
        (
            json.dumps(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [[39.90, 116.40], [39.90, 116.405], [39.91, 116.405], [39.91, 116.40], [39.90, 116.40]]
                        ],
                    },
                    "properties": {"version": 1},
                }
            ).encode(),
            GEO,
            422,
            "lat/lon",
        ),
        (
            json.dumps(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[[116.40, 39.90]]]},
                    "properties": {"version": 1},
                }
            ).encode(),
            GEO,
            400,
            "GeoJSON",
        ),
        (
            json.dumps({"type": "Feature", "geometry": None, "properties": {"version": 1, "colour": "red"}}).encode(),
            GEO,
            422,
            "colour",
        ),
        (b"{}", {"content-type": "text/plain"}, 415, "geo+json"),
        (b"[" + b" " * 300_000 + b"]", GEO, 413, "limit"),
    ],
)
def test_bad_input_is_a_clear_problem_and_changes_nothing(api, body, headers, status, needle):
    client, tokens, repo = api
    r = client.put(
        f"/collections/grids/items/{G1}",
        content=body,
        headers={**headers, "Authorization": f"Bearer {tokens['planner']}"},
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in json.dumps(r.json(), ensure_ascii=False)
    assert len(repo.generations()) == 1


def test_writes_need_a_token_the_right_role_and_scope(api):
    client, tokens, _ = api
    feat, _ = get(client, G1)
    url = f"/collections/grids/items/{G1}"
    assert client.put(url, json=feat, headers=GEO).status_code == 401
    assert client.put(url, json=feat, headers={**GEO, "Authorization": "Bearer ggt_nope.nope"}).status_code == 401
    assert client.put(url, json=feat, headers=auth(tokens, "viewer")).status_code == 403
    r = client.put(url, json=feat, headers=auth(tokens, "planner_b"))
    assert r.status_code == 403 and "scope" in r.json()["detail"]
    other, _ = get(client, B1)
    other["properties"]["population"] = 5
    r = client.put(f"/collections/grids/items/{B1}", json=other, headers=auth(tokens, "planner_b"))
    assert r.status_code == 200


def test_every_write_attempt_is_in_the_audit_log_with_its_generation(api):
    client, tokens, repo = api
    feat, _ = get(client, G1)
    feat["properties"]["population"] = 12
    client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens))
    client.put(f"/collections/grids/items/{G1}", json=feat, headers=auth(tokens, "admin"))  # now stale
    entries = client.get("/audit", headers=auth(tokens, "admin")).json()["entries"]
    assert [(e["principal"], e["status"], e["generation"]) for e in entries[:2]] == [
        ("admin", 412, None),
        ("planner", 200, 2),
    ]
    assert entries[0]["codes"] == [G1]
    assert client.get("/audit", headers=auth(tokens, "planner")).status_code == 403
    assert AuditLog(repo.engine).entries()[0]["action"] == "replace"


def test_a_geometry_only_merge_patch_with_if_match_and_content_crs_is_validated(api):
    client, tokens, repo = api
    code = "110105001001S001"
    _, tag = get(client, code, "stations")
    headers = {
        **auth(tokens),
        "content-type": "application/merge-patch+json",
        "If-Match": tag,
        "Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4326>",
    }
    moved = {"geometry": {"type": "Point", "coordinates": [39.906, 116.403]}}  # lat, lon
    r = client.patch(f"/collections/stations/items/{code}", json=moved, headers=headers)
    assert r.status_code == 200, r.text
    stored = repo.get_feature("stations", code)
    assert (stored["geometry"].x, stored["geometry"].y) == (116.403, 39.906) and stored["kind"] == "party_mass_centre"
    away = {"geometry": {"type": "Point", "coordinates": [39.906, 116.415]}}  # into the other community
    r = client.patch(f"/collections/stations/items/{code}", json=away, headers={**headers, "If-Match": '"2"'})
    assert r.status_code == 422 and r.json()["problems"][0]["kind"] == "outside_parent"
