"""The query-parameter dependencies (gridgis/api/params.py) over HTTP: OGC API – Features Part 1
answers 400 for a bad limit, bbox or unknown parameter, and caps a limit above the maximum."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gridgis.api.app import create_app
from gridgis.api.params import MAX_GENERATION, parse_bbox
from gridgis.editing.ogc import MAX_LIMIT
from gridgis.errors import InvalidParameterError
from gridgis.settings import get_settings
from gridgis.storage import Repository

ITEMS = "/collections/grids/items"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('params') / 'g.db'}"
    repo = Repository(url)
    repo.create_schema()
    with TestClient(create_app(get_settings(database_url=url), repo)) as c:
        yield c
    repo.dispose()


def _problem(resp, status: int, parameter_text: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert parameter_text in resp.json()["detail"]


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_a_limit_below_one_is_a_400_naming_limit(client, limit):
    _problem(client.get(ITEMS, params={"limit": limit}), 400, "limit")


def test_a_limit_above_the_maximum_is_capped_not_refused(client):
    resp = client.get(ITEMS, params={"limit": MAX_LIMIT + 1})
    assert resp.status_code == 200, resp.text
    self_link = next(link for link in resp.json()["links"] if link["rel"] == "self")
    assert f"limit={MAX_LIMIT}&" in self_link["href"] or self_link["href"].endswith(f"limit={MAX_LIMIT}")


@pytest.mark.parametrize(
    ("bbox", "why"),
    [
        ("1,2,3", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("200,100,300,120", "longitude 200.0"),
        ("116,100,117,101", "latitude 100.0"),
        ("117,40,116,41", "minimum exceeds"),
        ("nan,1,2,3", "four numbers"),
    ],
)
def test_a_bad_bbox_is_a_400_saying_what_is_wrong(client, bbox, why):
    _problem(client.get(ITEMS, params={"bbox": bbox}), 400, why)


def test_an_unknown_query_parameter_is_a_400_naming_it(client):
    _problem(client.get(ITEMS, params={"colour": "red"}), 400, "colour")


def test_an_unsupported_crs_is_a_400_naming_the_parameter(client):
    _problem(client.get(ITEMS, params={"bbox": "116,39,117,40", "bbox-crs": "EPSG:2000"}), 400, "bbox-crs")
    _problem(client.get(ITEMS, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/2000"}), 400, "crs")


def test_a_generation_out_of_range_is_a_400(client):
    _problem(client.get(ITEMS, params={"generation": MAX_GENERATION + 1}), 400, "generation")
    _problem(client.get(ITEMS, params={"generation": -1}), 400, "generation")


def test_a_datetime_interval_is_a_400(client):
    _problem(client.get(ITEMS, params={"datetime": "2026-01-01T00:00:00Z/.."}), 400, "datetime")


def test_good_parameters_answer_200(client):
    resp = client.get(ITEMS, params={"bbox": "116,39,117,40", "limit": 5, "offset": 0, "crs": "EPSG:4326"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["type"] == "FeatureCollection"


def test_bbox_in_epsg_4326_is_read_lat_lon_and_in_3857_as_metres():
    assert parse_bbox("39.8,116.3,40.0,116.5", _crs(4326)) == (116.3, 39.8, 116.5, 40.0)
    lon0, lat0, lon1, lat1 = parse_bbox("12946000,4838000,12969000,4870000", _crs(3857))
    assert 116.2 < lon0 < lon1 < 116.6 and 39.7 < lat0 < lat1 < 40.1
    with pytest.raises(InvalidParameterError):
        parse_bbox("0,0,30000000,1", _crs(3857))


def _crs(epsg: int):
    from gridgis.editing.geojson import parse_crs_uri

    return parse_crs_uri(f"http://www.opengis.net/def/crs/EPSG/0/{epsg}")
