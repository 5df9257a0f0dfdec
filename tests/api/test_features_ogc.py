"""OGC API – Features Part 1 (and Part 2 CRS) over real HTTP on SQLite."""

from __future__ import annotations

import httpx
import pytest

from gridgis.editing.testing import editing_server

G1 = "110105001001001"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with (
        editing_server(str(tmp_path_factory.mktemp("ogc") / "g.db")) as (base, tokens, repo),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client, tokens, repo


def test_landing_page_links_the_api_conformance_and_collections(api):
    client, _, _ = api
    links = {link["rel"]: link for link in client.get("/").json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert client.get(links["service-desc"]["href"]).status_code == 200
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" in conf


def test_every_layer_is_a_collection_with_crs_and_extent(api):
    client, _, _ = api
    cols = client.get("/collections").json()["collections"]
    assert [c["id"] for c in cols] == [
        "streets",
        "communities",
        "compounds",
        "buildings",
        "grids",
        "micro_grids",
        "stations",
    ]
    grids = client.get("/collections/grids").json()
    assert grids["storageCrs"].endswith("CRS84") and "http://www.opengis.net/def/crs/EPSG/0/4326" in grids["crs"]
    assert grids["extent"]["spatial"]["bbox"][0] == [116.4, 39.9, 116.42, 39.91]


def test_paging_follows_next_links_through_every_feature(api):
    client, _, _ = api
    url, seen, pages = "/collections/grids/items?limit=1", [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        assert body["numberMatched"] == 4 and body["numberReturned"] == 1
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
        if pages > 1:
            assert any(link["rel"] == "prev" for link in body["links"])
    assert len(seen) == len(set(seen)) == 4 and pages == 4


def test_bbox_and_attribute_filters_narrow_the_items(api):
    client, _, _ = api
    body = client.get("/collections/grids/items", params={"bbox": "116.4001,39.901,116.4049,39.909"}).json()
    assert [f["id"] for f in body["features"]] == [G1]
    body = client.get("/collections/grids/items", params={"community_code": "110105001002"}).json()
    assert body["numberMatched"] == 2
    assert {f["properties"]["community_code"] for f in body["features"]} == {"110105001002"}
    assert client.get("/collections/compounds/items", params={"kind": "aging"}).json()["numberMatched"] == 1


def test_an_unknown_filter_is_a_clear_problem_not_an_unfiltered_answer(api):
    client, _, _ = api
    r = client.get("/collections/grids/items", params={"comunity_code": "110105001002"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert "comunity_code" in r.json()["detail"] and "community_code" in r.json()["detail"]


def test_items_in_epsg_4326_come_in_lat_lon_order_with_content_crs(api):
    client, _, _ = api
    r = client.get(f"/collections/grids/items/{G1}", params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    lat, lon = r.json()["geometry"]["coordinates"][0][0]
    assert 39 < lat < 40 and 116 < lon < 117
    plain = client.get(f"/collections/grids/items/{G1}").json()["geometry"]["coordinates"][0][0]
    assert plain == [lon, lat]


def test_a_single_item_has_an_etag_equal_to_its_version(api):
    client, _, _ = api
    r = client.get(f"/collections/grids/items/{G1}")
    assert r.headers["etag"] == f'"{r.json()["properties"]["version"]}"'
    assert r.json()["id"] == G1 and r.json()["properties"]["code"] == G1
    head = client.head(f"/collections/grids/items/{G1}")
    assert head.status_code == 200 and head.headers["etag"] == r.headers["etag"] and head.content == b""


def test_an_unknown_code_or_layer_is_404_problem_json(api):
    client, _, _ = api
    for url in ("/collections/grids/items/110105001001099", "/collections/parks/items"):
        r = client.get(url)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_options_advertise_put_and_delete_but_not_patch(api):
    client, _, _ = api
    assert "POST" in client.options("/collections/grids/items").headers["allow"]
    allow = {m.strip() for m in client.options(f"/collections/grids/items/{G1}").headers["allow"].split(",")}
    assert {"PUT", "DELETE"} <= allow and "PATCH" not in allow


def test_reads_are_closed_without_a_token_when_public_reads_are_off(tmp_path):
    with editing_server(str(tmp_path / "g.db"), {"public_reads": False}) as (base, tokens, _):
        assert httpx.get(f"{base}/collections/grids/items").status_code == 401
        ok = httpx.get(f"{base}/collections/grids/items", headers={"Authorization": f"Bearer {tokens['viewer']}"})
        assert ok.status_code == 200 and ok.json()["numberMatched"] == 4
