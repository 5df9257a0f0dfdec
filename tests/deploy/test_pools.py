"""Routing pools per county: a pool answers exactly what a whole-store server answers for its counties
and 421 for the others; the county rule is the one every pool and the front share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gridgis.codes import county_of, with_county
from gridgis.errors import CodeError, MisdirectedError
from gridgis.routing import RoutingIndex
from gridgis.routing.county import CountyLocator, filter_counties, parse_counties
from gridgis.routing.service import RoutingService
from gridgis.sample.lattice import synthetic_city
from gridgis.scale.province import county_codes, replicate
from gridgis.storage import Repository

COUNTIES = county_codes(3)


@pytest.fixture(scope="module")
def province():
    return replicate(synthetic_city(6, 6), COUNTIES)


@pytest.fixture(scope="module")
def store(province, tmp_path_factory):
    repo = Repository(f"sqlite:///{tmp_path_factory.mktemp('pools') / 'p.db'}")
    repo.create_schema()
    repo.write_city(province, author="tests", message="three counties")
    yield repo
    repo.dispose()


def _points(frames, n=6000, seed=7):
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    return rng.uniform(minx - 0.004, maxx + 0.004, n), rng.uniform(miny - 0.004, maxy + 0.004, n)


def test_county_codes_come_from_the_code_rule():
    assert county_of("31011500100100301") == "310115"
    assert with_county("310115001001003", "310215") == "310215001001003"
    assert parse_counties(" 310115,310104 ,") == frozenset({"310115", "310104"})
    assert parse_counties("") is None
    with pytest.raises(CodeError, match="31011"):
        parse_counties("31011")
    with pytest.raises(CodeError, match="no county"):
        county_of("Q12")


def test_each_pool_answers_its_counties_exactly_like_the_whole_index(province):
    """Inside, in the gaps, snapped and beyond the tolerance (the reason names the nearest grid):
    the pool of the locator's county answers every point as the whole index does."""
    whole = RoutingIndex.build(province)
    lon, lat = _points(province)
    county = CountyLocator.build(province["grids"]).locate_many(lon, lat)
    assert set(county) == set(COUNTIES)
    full = whole.route_many(lon, lat)
    routed = full["grid_code"].notna()
    assert (full.loc[routed, "grid_code"].map(county_of) == county[routed.to_numpy()]).all()
    assert (full["reason"] != "").any() and full["snapped"].any()  # the sample reaches both edge cases
    for c in COUNTIES:
        pool = RoutingIndex.build({k: filter_counties(v, frozenset([c])) for k, v in province.items()})
        rows = county == c
        pd.testing.assert_frame_equal(pool.route_many(lon[rows], lat[rows]), full[rows].reset_index(drop=True))


def test_a_pool_refuses_points_of_other_counties_with_421(store, province):
    service = RoutingService(store, counties=frozenset({COUNTIES[0]}))
    whole = RoutingService(store)
    lon, lat = _points(province, 400)
    county = service.county_locator(whole.current()).locate_many(lon, lat)
    mine = np.flatnonzero(county == COUNTIES[0])
    other = np.flatnonzero(county == COUNTIES[1])
    i = int(mine[np.flatnonzero(whole.route_many(lon[mine], lat[mine])["reason"] == "")[0]])
    assert service.route(lon[i], lat[i]) == whole.route(lon[i], lat[i])
    with pytest.raises(MisdirectedError, match=f"holds counties {COUNTIES[0]}.*county {COUNTIES[1]}"):
        service.route(lon[other[0]], lat[other[0]])
    with pytest.raises(MisdirectedError):  # a batch with one point elsewhere: the whole batch is sent back
        service.route_many(lon[[i, int(other[0])]], lat[[i, int(other[0])]])


def test_the_front_look_up_and_421_over_http(store, province):
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    app = create_app(get_settings(database_url=store.url, counties=COUNTIES[1], prewarm_routing=False), store)
    lon, lat = _points(province, 300)
    county = CountyLocator.build(province["grids"]).locate_many(lon, lat)
    here, there = int(np.flatnonzero(county == COUNTIES[1])[0]), int(np.flatnonzero(county == COUNTIES[2])[0])
    with TestClient(app) as client:
        r = client.get("/route/county", params={"lon": lon[there], "lat": lat[there]})
        assert r.status_code == 200 and r.headers["gridgis-county"] == COUNTIES[2]
        assert r.json() == {"county": COUNTIES[2], "held": False}
        for bad in ({"lon": "x", "lat": "1"}, {"lon": "1", "lat": "1", "crs": "nowhere"}, {}):
            r = client.get("/route/county", params=bad)  # any pool answers these with its own 400/422
            assert r.status_code == 200 and r.headers["gridgis-county"] == "any"
        r = client.get("/route", params={"lon": lon[there], "lat": lat[there]})
        assert r.status_code == 421
        assert r.headers["content-type"].startswith("application/problem+json")
        assert COUNTIES[2] in r.json()["detail"]
        r = client.post("/route", json=[[lon[here], lat[here]], [lon[there], lat[there]]])
        assert r.status_code == 421
        assert client.post("/route", json=[[lon[here], lat[here]]]).status_code == 200
